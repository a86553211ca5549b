"""Rules that slow traffic down: a fixed delay, and a bandwidth limit.

Both wait on the proxy's loop (`asyncio.sleep`, paced writes), so a slowed flow never holds
up the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING

from necto_nb.rules.base import Match, Rule, number
from necto_nb.rules.pacing import PACING

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

    The bytes leave the proxy paced (`pacing.py`): the request body to the origin, the
    response to the client, a slice every 10 ms (1 MB at 1000 kbps: 8 s, half of it by 4 s).
    The entry's `send` ends when the request's last byte left for the origin, its `receive`
    when the response's last byte left for the client.
    """

    kind = "throttle"

    def __init__(self, match: Match = None, kbps: float = 0, *, method: str | Iterable[str] | None = None,
                 name: str | None = None) -> None:
        super().__init__(match, method=method, name=name)
        self.kbps = number(kbps, "kbps", above=True)

    # The engine paces the flow's connections when it picks this rule (Pacing.set).

    def response(self, flow: http.HTTPFlow):
        pacing = flow.metadata.get(PACING)
        return None if pacing is None else pacing.delivered(flow)

    def _arguments(self) -> list[str]:
        return [f"kbps={self.kbps:g}"]
