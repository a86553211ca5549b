"""necto_nb.labview: what the HAR view's warm kernel runs. The imports are checked in a fresh
interpreter: making them ahead of need is the point, so they must not be there already."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from necto_nb import labview
from tests.conftest import REPO


def run(code: str, cwd: Path) -> str:
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                            env={"PYTHONPATH": str(REPO), "PATH": ""}, check=True)
    return result.stdout


def test_warm_imports_what_the_view_cells_use_without_binding_names(tmp_path):
    out = run("import sys\n"
              "before = set(globals())\n"
              "__import__('necto_nb.labview').labview.warm()\n"
              "print(sorted(m for m in ('pandas', 'anywidget', 'ipywidgets', 'plotly', 'tqdm.auto',"
              " 'necto_nb.widgets', 'necto_nb.plots') if m in sys.modules))\n"
              "print(sorted(set(globals()) - before - {'before'}))", tmp_path)
    assert out.splitlines() == [
        "['anywidget', 'ipywidgets', 'necto_nb.plots', 'necto_nb.widgets', 'pandas', 'plotly', 'tqdm.auto']",
        "[]"]


def test_take_moves_into_the_har_folder_relative_to_the_start(tmp_path, monkeypatch):
    (tmp_path / "a b" / "c").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)  # and back afterwards
    labview.take("")
    assert Path.cwd() == tmp_path
    labview.take("a b/c")
    assert Path.cwd() == tmp_path / "a b" / "c"
