"""HAR 1.2's conventions, each written once: phases, total time, "no response", default ports, bare `%`."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

#: The timing phases in the order the wire has them. `ssl` is a part of `connect` (HAR 1.2).
PHASES = ["blocked", "dns", "connect", "ssl", "send", "wait", "receive"]
#: The phases laid end to end: all but `ssl`, which `connect` already holds.
SEQUENTIAL_PHASES = [phase for phase in PHASES if phase != "ssl"]

#: What an entry without a response says, in the frame and in its `_error` when nothing better is known.
NO_RESPONSE = "no response"

#: The port a URL leaves out for its scheme.
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}

#: A `%` that does not start a percent-escape: RFC 3986 wants it written `%25`.
BARE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def total_time(timings: Mapping[str, Any]) -> float:
    """An entry's `time`: the sum of its phases that apply (-1 does not), `ssl` not counted twice."""
    return sum(value for phase in SEQUENTIAL_PHASES
               if isinstance(value := timings.get(phase), int | float) and not isinstance(value, bool)
               and 0 < value < math.inf)


def no_response(error: str = NO_RESPONSE) -> dict[str, Any]:
    """The response of an entry that got none: status 0, nothing received, `_error` saying why."""
    return {
        "status": 0, "statusText": "", "httpVersion": "", "cookies": [], "headers": [],
        "content": {"size": 0, "mimeType": "x-unknown"}, "redirectURL": "",
        "headersSize": -1, "bodySize": -1, "_error": error,
    }
