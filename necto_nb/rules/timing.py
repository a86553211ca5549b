"""Rules that slow traffic down: a fixed delay, and a bandwidth limit.

Both wait with `asyncio.sleep` on the proxy's loop, so a slowed flow never holds up the others.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from necto_nb.rules.base import Match, Rule, number

if TYPE_CHECKING:
    from mitmproxy import http


class Delay(Rule):
    """Hold matching requests `ms` milliseconds before they go upstream (or to a mock)."""

    kind = "delay"

    def __init__(self, match: Match = None, ms: float = 0, *, method: str | Iterable[str] | None = None,
                 name: str | None = None) -> None:
        super().__init__(match, method=method, name=name)
        self.ms = number(ms, "ms", high=600_000)

    def request(self, flow: http.HTTPFlow):
        return asyncio.sleep(self.ms / 1000) if self.ms else None

    def _arguments(self) -> list[str]:
        return [f"ms={self.ms:g}"]


class Throttle(Rule):
    """Limit matching exchanges to `kbps` kilobits per second (1000 bits), in both directions.

    mitmproxy hands a hook the whole body, so the limit is kept on delivery: a body reaches
    the other side once its size at `kbps` has passed since its first byte arrived
    (1 MB at 1000 kbps: 8 s), not paced in between.
    """

    kind = "throttle"
    whole_response = True

    def __init__(self, match: Match = None, kbps: float = 0, *, method: str | Iterable[str] | None = None,
                 name: str | None = None) -> None:
        super().__init__(match, method=method, name=name)
        self.kbps = number(kbps, "kbps", above=True)

    def _seconds(self, size: int) -> float:
        return size * 8 / (self.kbps * 1000)

    def request(self, flow: http.HTTPFlow):
        body = flow.request.raw_content or b""
        if not body:
            return None
        return asyncio.sleep(max(0.0, self._seconds(len(body)) - _since(flow.request.timestamp_start)))

    def response(self, flow: http.HTTPFlow):
        response = flow.response
        if response is None or not response.raw_content:
            return None
        return asyncio.sleep(max(0.0, self._seconds(len(response.raw_content)) - _since(response.timestamp_start)))

    def _arguments(self) -> list[str]:
        return [f"kbps={self.kbps:g}"]


def _since(timestamp: float | None) -> float:
    return 0.0 if timestamp is None else max(0.0, time.time() - timestamp)
