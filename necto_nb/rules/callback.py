"""A Python function as a rule: a breakpoint written as code."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from necto_nb.errors import ArgumentError, ArgumentTypeError
from necto_nb.rules.base import Match, Rule

if TYPE_CHECKING:
    from mitmproxy import http


class Callback(Rule):
    """Call `fn(flow)` for matching flows, with mitmproxy's `HTTPFlow`: `phase="request"`
    before the request goes upstream (change `flow.request`, or set `flow.response` to
    answer it yourself), `"response"` once the response is complete (change `flow.response`).

    `fn` runs in a worker thread, never on the proxy's loop, on a copy of the flow: its
    changes apply when it returns, and if it raises the flow goes on unchanged (the error
    is in `proxy.rule_errors` and the entry's `_ruleError`).
    """

    kind = "callback"

    def __init__(self, match: Match = None, fn: Callable[[http.HTTPFlow], object] | None = None, *,
                 phase: str = "request", method: str | Iterable[str] | None = None, name: str | None = None) -> None:
        super().__init__(match, method=method, name=name)
        if not callable(fn):
            raise ArgumentTypeError(f"fn must be a function taking the flow, not {fn!r}")
        try:
            inspect.signature(fn).bind(None)
        except TypeError:
            raise ArgumentTypeError(f"fn={getattr(fn, '__name__', fn)!r} must take one argument, the flow") from None
        except ValueError:  # a builtin without a signature: trust it
            pass
        if phase not in ("request", "response"):
            raise ArgumentError(f"phase must be 'request' or 'response', not {phase!r}")
        self.fn, self.phase = fn, phase
        self.whole_response = phase == "response"

    def request(self, flow: http.HTTPFlow):
        return self._call(flow) if self.phase == "request" else None

    def response(self, flow: http.HTTPFlow):
        return self._call(flow) if self.phase == "response" else None

    async def _call(self, flow: http.HTTPFlow) -> None:
        copy = flow.copy()
        await asyncio.to_thread(self.fn, copy)  # raises: the flow is untouched
        flow.request.data = copy.request.data
        if copy.response is not None:
            if flow.response is None:
                flow.response = copy.response
            else:
                flow.response.data = copy.response.data

    def _arguments(self) -> list[str]:
        return [getattr(self.fn, "__name__", "fn")] + ([f"phase={self.phase!r}"] if self.phase != "request" else [])
