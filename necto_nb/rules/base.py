"""What every rule shares: which flows it matches, how it names itself, and its kind.

A rule matches a flow by a URL glob on the URL as its entry shows it (`s.df.url`) (`*` any run of characters, `?` one, `[...]` a set;
a glob without `://` matches any scheme), a predicate on the mitmproxy flow, or nothing
(every flow), optionally narrowed by `method`. Arguments are checked when the rule is
made, so a bad one fails in the cell that wrote it, naming the argument.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from necto_nb.errors import ArgumentError, ArgumentTypeError

if TYPE_CHECKING:
    from mitmproxy import http

Match = str | Callable[["http.HTTPFlow"], bool] | None
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # RFC 9110 method characters


def compile_glob(glob: str, argument: str = "match") -> re.Pattern[str]:
    """`glob` as a regular expression on the whole URL; ValueError naming `argument` if it is not a glob."""
    if not isinstance(glob, str) or not glob.strip():
        raise ArgumentError(f"{argument} must be a URL glob such as '*/api/*', not {glob!r}")
    if any(c.isspace() for c in glob):
        raise ArgumentError(f"{argument}={glob!r}: a URL glob has no spaces (use %20)")
    opened = glob.rfind("[")
    if opened >= 0 and "]" not in glob[opened + 2:]:  # fnmatch would read it as a literal '['
        raise ArgumentError(f"{argument}={glob!r}: the '[' set is not closed with ']' (write [[] for a literal '[')")
    if "://" not in glob and not glob.startswith("*"):
        glob = "*://" + glob  # "api.example.com/*" means any scheme
    return re.compile(fnmatch.translate(glob), re.DOTALL)


def methods(method: str | Iterable[str] | None) -> frozenset[str] | None:
    if method is None:
        return None
    names = [method] if isinstance(method, str) else list(method) if isinstance(method, Iterable) else [method]
    for m in names:
        if not isinstance(m, str) or not _TOKEN.match(m):
            raise ArgumentError(f"method must be an HTTP method such as 'GET' (or a list of them), not {m!r}")
    return frozenset(m.upper() for m in names)


class Rule:
    """A change to traffic: subclasses say what (`request`/`response`) and of which `kind`.

    Of several rules of one kind matching a flow, the first in the list applies; rules of
    different kinds combine (a Delay before a Mock delays the mock).
    """

    #: rules of one kind conflict; the order they run in is `engine.KINDS`
    kind: ClassVar[str]
    #: whether `response` needs the whole body before the client gets any of it
    whole_response: bool = False

    def __init__(self, match: Match = None, *, method: str | Iterable[str] | None = None,
                 name: str | None = None) -> None:
        if match is None or isinstance(match, str):
            self._pattern = None if match in (None, "*") else compile_glob(match)
            self._predicate = None
        elif callable(match):
            self._pattern, self._predicate = None, match
        else:
            raise ArgumentTypeError(f"match must be a URL glob, a function of the flow, or None, not {match!r}")
        self.match = match
        self.method = methods(method)
        if name is not None and not isinstance(name, str):
            raise ArgumentTypeError(f"name must be a string, not {name!r}")
        self.name = name

    def matches(self, flow: http.HTTPFlow, url: str) -> bool:
        """Whether this rule applies to `flow` (whose URL is `url`). A predicate may raise: the engine keeps it."""
        if self.method is not None and flow.request.method.upper() not in self.method:
            return False
        if self._pattern is not None:
            return self._pattern.match(url) is not None
        if self._predicate is not None:
            return bool(self._predicate(flow))
        return True

    def request(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        """On the proxy's loop before the request goes upstream; return an awaitable to wait."""
        return None

    def response(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        """On the proxy's loop once the response is complete, before the client gets it."""
        return None

    def _arguments(self) -> list[str]:
        """What the rule does, as keyword arguments for its repr."""
        return []

    def __repr__(self) -> str:
        if self.name:
            return self.name
        if self._predicate is not None:
            target = getattr(self.match, "__name__", "predicate")
        else:
            target = repr(self.match if self.match is not None else "*")
        parts = [target, *self._arguments()]
        if self.method is not None:
            parts.append(f"method={'/'.join(sorted(self.method))!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


def number(value: Any, argument: str, *, low: float = 0.0, high: float | None = None, above: bool = False) -> float:
    """`value` as a float in range, else ValueError/TypeError naming `argument`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArgumentTypeError(f"{argument} must be a number, not {value!r}")
    if value != value or (value <= low if above else value < low) or (high is not None and value > high):
        bound = f"more than {low:g}" if above else f"at least {low:g}"
        limit = f" and at most {high:g}" if high is not None else ""
        raise ArgumentError(f"{argument} must be {bound}{limit}, not {value!r}")
    return float(value)


#: flow.metadata key of the HAR fields a flow's entry gets (the recorder merges them in)
ENTRY_FIELDS = "necto_nb.entry"


def note(flow: http.HTTPFlow, field: str, value: Any) -> None:
    """Add `field` (a HAR custom field such as `_rule`) to the entry this flow becomes."""
    flow.metadata.setdefault(ENTRY_FIELDS, {})[field] = value
