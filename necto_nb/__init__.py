"""necto_nb: capture, import, inspect and compare HTTP traffic as HAR 1.2 in Jupyter.

    import necto_nb as nn
    s = nn.read_har("devtools.har")
    s.report, s.df
    s.to_har("bug.har", rows=s.df[s.df.status >= 500], redact=True)
    runs = nn.read_hars("nightly/*.har")   # many files as one frame; runs["name"] is a Session
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from necto_nb import frame
from necto_nb.errors import (
    ArgumentError, ArgumentTypeError, CaptureRunningError, CommandError, Error, HarError, ProxyError, RowError,
    UnknownKeyError, UrlscanError, WorkerError,
)
from necto_nb.har.redact import Redactor
from necto_nb.har.report import Issue, Report
from necto_nb.match import CACHE_BUSTERS, Rule, match_requests, normalise_url
from necto_nb.parquet import read_parquet
from necto_nb.runs import Runs, read_hars
from necto_nb.session import Session, concat, read_har
from necto_nb.urlscan import read_urlscan

if TYPE_CHECKING:  # what the lazy names are, for type checkers and editors; nothing imported at run time
    from necto_nb import demo
    from necto_nb.analysis.compare import compare_timings
    from necto_nb.analysis.diff import diff
    from necto_nb.analysis.replay import replay
    from necto_nb.capture.proxy import Proxy
    from necto_nb.plots.waterfall import waterfall
    from necto_nb.widgets.grid import TrafficGrid

__all__ = [
    "CACHE_BUSTERS",
    "Error",
    "ArgumentError",
    "ArgumentTypeError",
    "CaptureRunningError",
    "CommandError",
    "HarError",
    "ProxyError",
    "RowError",
    "UnknownKeyError",
    "Issue",
    "Redactor",
    "Report",
    "Runs",
    "Rule",
    "Session",
    "concat",
    "frame",
    "match_requests",
    "normalise_url",
    "read_har",
    "read_hars",
    "read_parquet",
    "read_urlscan",
    "UrlscanError",
    "WorkerError",
    "demo",
    "TrafficGrid",
    "waterfall",
    "compare_timings",
    "diff",
    "replay",
    "trend",
    "Proxy",
    "rules",
    "load_ipython_extension",
]

# Submodules that cost an import (the demo site pulls in tornado) load on first use.
_LAZY = {"demo": "necto_nb.demo", "rules": "necto_nb.rules"}
# Names whose module costs an import (anywidget, ipywidgets): name -> module defining it.
_LAZY_NAMES = {"TrafficGrid": "necto_nb.widgets", "waterfall": "necto_nb.plots",  # plotly
               "compare_timings": "necto_nb.analysis", "diff": "necto_nb.analysis",  # scipy, httpx
               "replay": "necto_nb.analysis", "trend": "necto_nb.analysis",  # scipy, ruptures
               "Proxy": "necto_nb.capture",  # mitmproxy
               "load_ipython_extension": "necto_nb.capture.magic"}  # %load_ext necto_nb


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return importlib.import_module(_LAZY[name])
    if name in _LAZY_NAMES:
        import importlib

        return getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    raise AttributeError(f"module 'necto_nb' has no attribute {name!r}")


def __dir__() -> list[str]:
    """What is here and what loads on first use, so dir() and tab completion show the whole API."""
    return sorted({*globals(), *_LAZY, *_LAZY_NAMES})
