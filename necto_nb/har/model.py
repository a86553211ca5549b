"""HAR 1.2 entries as msgspec types: the fast check, in two parts.

`FrameEntry` holds what the traffic frame reads; decoding an entry with it checks those
fields' types in C and skips the rest unread. `Entry` extends it to the whole entry: every
field of every object the HAR 1.2 schema defines (`schema.OBJECTS`), optional ones included,
with its type (bodies and custom fields stay raw; `tests/core/test_schema_table.py` checks
that no field is missing), so `Rest.check` sends a wrong type anywhere to the repair.
`on_pattern` checks the formats of the frame's date, URL and address. An entry that fails
goes to `repair`. `gc=False`: these objects hold no cycles, and tracking a million of them
costs more than the decode itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import repeat
from operator import attrgetter
from typing import Annotated, Any

from msgspec import UNSET, Meta, Raw, Struct, UnsetType, field

from necto_nb.har.conventions import BARE_PERCENT

# RFC 3986 characters only; brackets only around an IP literal host. Written with single
# character classes and an atomic group: a group repeated per character made `re` keep
# state per character (3 MB of URL took 750 MB), and overlapping parts backtracked in
# quartic time (a 2,000-character authority took minutes). `%` is checked once, up front.
_UNRESERVED = r"A-Za-z0-9\-._~!$&'()*+,;="
URI = (
    rf"^(?!.*{BARE_PERCENT.pattern})[A-Za-z][A-Za-z0-9+.\-]*:"
    rf"(?://(?>[{_UNRESERVED}:%]*@?)(?:\[[0-9A-Fa-f:.vV]+\])?)?"
    rf"[{_UNRESERVED}:@/?#%]*\Z"
)
IPV4 = r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}"
IPV6 = r"[0-9A-Fa-f]*:[0-9A-Fa-f:.]*"  # the first colon ends the first run: no backtracking
IP = rf"^({IPV4}|{IPV6})$"
# The cache schema's looser date pattern (zone optional).
CACHE_DATE = r"^\d{4}-?\d\d-?\d\dT?\d\d:?\d\d:?\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?"

# An entry's start, as the frame (datetime64[ns]) reads it: a real calendar date in the
# years 1678-2261, ASCII digits (`\d` takes any Unicode digit), upper-case T and Z, at most
# nanoseconds. In the pattern so that C checks it; `repair.frame_date` says the same in
# Python (tests/core/test_model.py holds them equal).
_YEAR = r"(1(6(7[89]|[89][0-9])|[7-9][0-9][0-9])|2([01][0-9][0-9]|2([0-5][0-9]|6[01])))"
_MONTH_DAY = r"((0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|(0[13-9]|1[0-2])-(29|30)|(0[13578]|1[02])-31|02-29)"
# The date is its first ten characters: `on_pattern` checks each day of a chunk once.
_ENTRY_DAY = (
    r"^(?!(1[789]|2[12])00-02-29)(?=[0-9][0-9](0[48]|[2468][048]|[13579][26]|00)-02-29|[0-9]{4}-(?!02-29))"
    rf"{_YEAR}-{_MONTH_DAY}"
)
_ENTRY_TIME = r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
ENTRY_DATE_TIME = _ENTRY_DAY + _ENTRY_TIME

# RFC 3339 as the HAR schema's `date-time` format wants it: a zone is required, and the date
# and time are on a calendar (no February 30th, no 25:00), any year from 0001 to 9999.
_LEAP_YEAR = r"([0-9]{2}(0[48]|[2468][048]|[13579][26])|(0[48]|[2468][048]|[13579][26])00)"
DATE_TIME = (
    rf"^(?!0000)({_LEAP_YEAR}-02-29|[0-9]{{4}}-(?!02-29){_MONTH_DAY})"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?(Z|z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])\Z"
)
DateTime = Annotated[str, Meta(pattern=DATE_TIME)]
#: msgspec reads integers of any size; numpy, pandas and most tools hold 64 bits.
INT64 = (-(2 ** 63), 2 ** 63 - 1)
Int = Annotated[int, Meta(ge=INT64[0], le=INT64[1])]
Phase = Annotated[float, Meta(ge=-1)]


class NameValue(Struct, gc=False):
    name: str
    value: str
    comment: str = ""


class Cookie(Struct, gc=False):
    name: str
    value: str
    expires: DateTime | None = None
    path: str = ""
    domain: str = ""
    httpOnly: bool = False
    secure: bool = False
    comment: str = ""


class Param(Struct, gc=False):
    name: str
    value: str = ""
    fileName: str = ""
    contentType: str = ""
    comment: str = ""


class PostData(Struct, gc=False):
    mimeType: str
    params: list[Param] | UnsetType = UNSET
    text: Raw = Raw(b"")
    comment: str = ""


class FrameContent(Struct, gc=False):
    size: Int
    mimeType: str


class Content(FrameContent, kw_only=True):
    compression: Int = 0
    encoding: str = ""
    # Raw: a view into the file, not a copy of the body (`read._texts_ok` checks it is a string).
    text: Raw = Raw(b"")
    file: str = field(default="", name="_file")  # Playwright: body in a side file
    comment: str = ""


class CacheState(Struct, gc=False):
    eTag: str
    hitCount: Int
    lastAccess: Annotated[str, Meta(pattern=CACHE_DATE)]
    expires: Annotated[str, Meta(pattern=CACHE_DATE)] = ""
    comment: str = ""


class Cache(Struct, gc=False):
    beforeRequest: CacheState | None = None
    afterRequest: CacheState | None = None
    comment: str = ""


class Timings(Struct, gc=False):
    send: Phase
    wait: Phase
    receive: Phase
    blocked: Phase = -1
    dns: Phase = -1
    connect: Phase = -1
    ssl: Phase = -1
    comment: str = ""


class FrameRequest(Struct, gc=False):
    method: str
    url: str  # an absolute URI: see `on_pattern`
    httpVersion: str
    bodySize: Int


class Request(FrameRequest, kw_only=True):
    cookies: list[Cookie]
    headers: list[NameValue]
    queryString: list[NameValue]
    headersSize: Int
    postData: PostData | UnsetType = UNSET
    comment: str = ""


class FrameResponse(Struct, gc=False):
    status: Int
    statusText: str
    httpVersion: str
    content: FrameContent
    headersSize: Int
    bodySize: Int
    # Custom fields are never wrong: tools write numbers as strings, errors as objects.
    transferSize: Any = field(default=None, name="_transferSize")
    error: Any = field(default=None, name="_error")


class Response(FrameResponse, kw_only=True):
    cookies: list[Cookie]
    headers: list[NameValue]
    content: Content
    redirectURL: str
    comment: str = ""


class FrameEntry(Struct, gc=False):
    """What the traffic frame reads of an entry: decoding only this skips the rest unchecked."""

    startedDateTime: str  # a date the frame can hold: see `on_pattern`
    time: Annotated[float, Meta(ge=0)]
    request: FrameRequest
    response: FrameResponse
    timings: Timings
    pageref: str = ""
    serverIPAddress: str | UnsetType = UNSET  # see `on_pattern`: a present "" is not an address
    resourceType: Any = field(default=None, name="_resourceType")
    error: Any = field(default=None, name="_error")


class Entry(FrameEntry, kw_only=True):
    """A whole entry, checked against HAR 1.2."""

    request: Request
    response: Response
    cache: Cache
    connection: str = ""
    comment: str = ""


_start, _url, _address = attrgetter("startedDateTime"), attrgetter("request.url"), attrgetter("serverIPAddress")
#: Matchers of the three formats, for one value (the repairer) or a chunk (`on_pattern`).
is_entry_date, is_uri, is_ip = (re.compile(pattern).match for pattern in (ENTRY_DATE_TIME, URI, IP))
_is_entry_day, _is_entry_time = re.compile(_ENTRY_DAY).match, re.compile(_ENTRY_TIME).match


def on_pattern(views: Sequence[FrameEntry]) -> bool:
    """Whether every view's start, URL and server address has its HAR 1.2 form.

    Not `Meta(pattern=...)`: msgspec would call `re` once per value, a quarter of the
    frame's decode; here each pattern runs over a chunk in one C loop, and each distinct
    address and day (a page has few) is matched once.
    """
    addresses = set(map(_address, views))
    addresses.discard(UNSET)
    starts = list(map(_start, views))
    return (all(map(is_ip, addresses)) and all(map(_is_entry_day, {start[:10] for start in starts}))
            and all(map(_is_entry_time, starts, repeat(10))) and all(map(is_uri, map(_url, views))))
