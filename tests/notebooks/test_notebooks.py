"""The example notebooks run top to bottom in a real kernel, and do what they say."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from tests.kernel import execute

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def test_notebooks_are_stored_without_outputs():
    for path in NOTEBOOKS.glob("*.ipynb"):
        cells = json.loads(path.read_text())["cells"]
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in cells if c["cell_type"] == "code"), path.name


def run(name: str, folder: Path, checks: str) -> None:
    """Execute notebook `name` in `folder`, then `checks` in the same kernel."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(checks))
    execute(notebook, folder, timeout=600)


pytestmark = [pytest.mark.integration, pytest.mark.proxy]


def test_capture_and_export(tmp_path):
    run("01-capture-and-export.ipynb", tmp_path, """
import json
df = session.df
assert len(df) >= 16, len(df)
assert {"document", "stylesheet", "script", "image", "websocket"} <= set(df.resource_type), set(df.resource_type)
failures = set(df.index[df.status >= 400])
assert failures and set(grid.selected.index) == failures == set(session.selection.index)
assert len(json.load(open("demo-failures.har"))["log"]["entries"]) == len(failures)
assert len(json.load(open("demo-all.har"))["log"]["entries"]) == len(df)
shared = open("demo-shared.har").read()
assert "demo-token" not in shared and "sk_live_0123456789abcdefghij" not in shared
replaced = json.loads(shared)["log"]["_redaction"]["replaced"]
assert replaced["request header authorization"] >= 1 and replaced["url api_key"] == 1, replaced
""")


def test_import_devtools_hars_from_the_corpus(tmp_path, corpus, monkeypatch):
    monkeypatch.setenv("NECTO_HARS", str(corpus))
    run("02-import-devtools-hars.ipynb", tmp_path, """
assert len(sessions) == 25 and sorted(failures) == [
    "broken__harviewer-no-entries.har", "broken__harviewer-not-json.har", "broken__mitmproxy-invalid-json.har"]
assert len(everything) == sum(len(s) for s in sessions.values())
assert len(again) == len(suspicious) > 0
""")


def test_import_devtools_hars_recorded_on_the_spot(tmp_path, monkeypatch):
    empty = tmp_path / "none"
    empty.mkdir()
    monkeypatch.setenv("NECTO_HARS", str(empty))
    run("02-import-devtools-hars.ipynb", tmp_path, """
creators = {s.log["creator"]["name"] for s in sessions.values()}
assert {"mitmproxy", "necto_nb"} <= creators, creators
assert not failures and all(len(s) >= 12 for s in sessions.values())
""")


def test_timing_regression(tmp_path):
    run("03-timing-regression.ipynb", tmp_path, """
flagged = comparison[comparison.regression]
slow = flagged[flagged.url.str.contains("/slow")]
assert len(slow) == 1 and slow.time_delta.iloc[0] > 200, flagged[["url", "time_delta"]]
# the deploy renamed every static file, and each was still paired with its baseline
renamed = comparison[comparison.url.str.contains("/build-1041/static/")]
assert len(renamed) >= 6 and (renamed.change == "matched").all() and (renamed.matched_by == "template").all()
assert not comparison.change.isin(["added", "removed"]).any(), comparison[["url", "change"]]
assert len(replayed) == len(baseline[0])
""")


def test_many_runs(tmp_path):
    run("04-many-runs.ipynb", tmp_path, """
assert len(runs) == 30 and not runs.report, runs.report
assert runs.names[0] == "2026-11-01/checkout" and runs.names[-1] == "2026-11-30/checkout"
# other requests may drift with the machine's load; the deployed slowdown must stand out
flagged = comparison[comparison.regression]
slow = flagged[flagged.url.str.contains("/slow")]
assert len(slow) == 1 and slow.time_delta.iloc[0] > 150, flagged[["url", "time_delta"]]
assert changes[changes.url.str.contains("/slow")].run.tolist() == ["2026-11-18/checkout"], changes
assert len(history) == 30 and len(per_night) == 30
on_dask = distributed_comparison.set_index("url")["time_delta"]
assert on_dask.round(6).equals(comparison.set_index("url")["time_delta"].round(6))
""")
