"""Every mistake necto_nb reports, under one root: `except nn.Error` catches them all.

    Error                       Exception
    ├── HarError                + ValueError: a HAR that cannot be read (strict=True: one that needed repairs)
    │   └── UrlscanError        the URL Scanner gave no HAR (refused, unreachable, not a HAR)
    ├── ArgumentError           + ValueError: an argument out of range or of the wrong form
    │   ├── ArgumentTypeError   + TypeError: an argument of the wrong type
    │   ├── RowError            + IndexError: rows naming an entry the session does not have
    │   └── UnknownKeyError     + KeyError: a name (a run) the collection does not have
    ├── ProxyError              + OSError: the capture proxy cannot listen or start
    ├── CaptureRunningError     + RuntimeError: a second capture in one process
    ├── WorkerError             + RuntimeError: a worker process of read_hars stopped
    └── CommandError            the command line: a file it cannot read or write, a tool not installed

Each keeps the built-in base callers caught before the tree existed (a `HarError` is still a
`ValueError`, a `ProxyError` an `OSError`). Failures of the machine (a full disk) stay `OSError`;
bugs stay whatever Python raised.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from necto_nb.har.report import Issue

_ORDER = {"error": 0, "warning": 1, "info": 2}


class Error(Exception):
    """The root of necto_nb's errors: a problem to show in one line, naming where it is."""


class HarError(Error, ValueError):
    """A HAR that cannot be read (or, with strict=True, one that needed repairs); `issues` says where."""

    def __init__(self, message: str, issues: Iterable[Issue] = ()) -> None:
        self.issues = list(issues)
        super().__init__(message)

    @classmethod
    def from_issues(cls, issues: Iterable[Issue], source: str = "") -> HarError:
        issues = list(issues)
        worst = sorted(issues, key=lambda i: _ORDER[i.severity])
        head = "; ".join(f"{i.path}: {i.message}" for i in worst[:3])
        more = f" (and {len(issues) - 3} more)" if len(issues) > 3 else ""
        where = f"{source}: " if source else ""
        return cls(f"{where}{head}{more}", issues)


class UrlscanError(HarError):
    """The URL Scanner did not give a HAR: `status` (None when no answer), `retry_after` (s, 429)."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None,
                 issues: Iterable[Issue] = ()) -> None:
        super().__init__(message, issues)
        self.status = status
        self.retry_after = retry_after


class ArgumentError(Error, ValueError):
    """An argument out of range or of the wrong form; the message names the argument and the value."""


class ArgumentTypeError(ArgumentError, TypeError):
    """An argument of the wrong type."""


class RowError(ArgumentError, IndexError):
    """`rows` names an entry the session does not have."""


class UnknownKeyError(ArgumentError, KeyError):
    """A name (a run) the collection does not have."""

    def __str__(self) -> str:  # the message, not KeyError's repr of it
        return str(self.args[0]) if self.args else ""


class ProxyError(Error, OSError):
    """The proxy could not listen (busy port, bad address) or could not start."""


class CaptureRunningError(Error, RuntimeError):
    """A capture is already running in this process (mitmproxy keeps its options process-wide)."""


class WorkerError(Error, RuntimeError):
    """A worker process of `read_hars` stopped before its files were read."""


class CommandError(Error):
    """A problem of the command line itself: a file it cannot read or write, a tool not installed."""
