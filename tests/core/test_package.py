"""The package's face: every public name visible to dir() and tab completion, the import light."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import necto_nb as nn

HEAVY = ["mitmproxy", "plotly", "anywidget", "ipywidgets", "scipy", "httpx", "tornado", "necto_nb.capture",
         "necto_nb.plots", "necto_nb.analysis", "necto_nb.widgets", "necto_nb.demo"]


def test_dir_lists_every_public_name_lazy_ones_included():
    names = dir(nn)
    assert set(nn.__all__) <= set(names)
    for lazy in ("waterfall", "compare_timings", "diff", "replay", "TrafficGrid", "Proxy", "demo"):
        assert lazy in names and lazy in nn.__all__
    assert names == sorted(names)


def test_every_name_in_all_resolves():
    for name in nn.__all__:
        assert getattr(nn, name) is not None, name


def test_import_and_dir_stay_light():
    # dir() is what a notebook's tab completion calls: it must not import what it lists.
    code = f"import sys, necto_nb; dir(necto_nb); print([m for m in {HEAVY!r} if m in sys.modules])"
    loaded = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert loaded.strip() == "[]"


def _options(function, skip: int) -> list[inspect.Parameter]:
    return list(inspect.signature(function).parameters.values())[skip:]


def test_session_doors_show_the_real_options_in_signature_help():
    from necto_nb.capture import start
    from necto_nb.widgets import TrafficGrid

    assert _options(nn.Session.capture, 1) == _options(start, 1)  # self / session
    assert _options(nn.Session.grid, 1) == _options(TrafficGrid.__init__, 2)  # self / self, session
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in _options(nn.Session.capture, 1))


def test_the_package_says_it_is_typed():
    assert (Path(nn.__file__).parent / "py.typed").is_file()
    from typing import get_overloads

    returns = [inspect.signature(f).return_annotation for f in get_overloads(nn.Session.to_har)]
    assert returns == ["dict[str, Any]", "Path"]  # to_har() a dict, to_har(path) a path
