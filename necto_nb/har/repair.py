"""The slow path: bring a HAR object that failed the fast check up to HAR 1.2, saying what changed.

Every repair is reported with the JSON path it touched. Nothing is thrown away: a value
that cannot be made valid is kept beside the field under an underscore name (`_url`,
`_expires`, ...), which HAR allows for custom data, and the report says so.
Runs only for the entries (and the log metadata) that need it.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from necto_nb.har import model
from necto_nb.har.report import Report

_DATE_TIME = re.compile(model.DATE_TIME)
_CACHE_DATE = re.compile(model.CACHE_DATE)
_BARE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*:)(//[^/?#]*)?(.*)$", re.S)
_SAFE_AUTHORITY = "!$&'()*+,;=:@[]%-._~"
_SAFE_REST = "!$&'()*+,;=:@/?#%-._~"
#: datetime64[ns] spans 1677-09-21 to 2262-04-11: whole years inside that.
FRAME_YEARS = (1678, 2261)

STRING, INTEGER, NUMBER, BOOLEAN = "string", "integer", "number", "boolean"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def normalise_date(value: str) -> str | None:
    """An RFC 3339 form of a date the HAR schema would reject, or None if it is no date."""
    parsed = calendar_date(value.strip())
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def calendar_date(value: str) -> datetime | None:
    """`value` as a datetime, or None where no calendar has it (month 13, 25:00, +99:99)."""
    try:
        return datetime.fromisoformat(value.upper())  # Python 3.11 reads no lower-case 'z'
    except ValueError:
        return None


def is_date(value: Any) -> bool:
    """An RFC 3339 date-time with a zone, on a real calendar day."""
    return isinstance(value, str) and bool(_DATE_TIME.match(value)) and calendar_date(value) is not None


def frame_date(value: str) -> bool:
    """Whether the frame (pandas, datetime64[ns]) reads `value` as it is (`model.ENTRY_DATE_TIME`)."""
    return bool(model.is_entry_date(value))


def quote_uri(url: str) -> str:
    """Percent-encode what RFC 3986 does not allow, leaving valid escapes alone."""
    match = _SCHEME.match(url)
    if not match:
        return url
    scheme, authority, rest = match.groups()
    authority = quote(_BARE_PERCENT.sub("%25", authority or ""), safe=_SAFE_AUTHORITY + "/")
    return scheme + authority + quote(_BARE_PERCENT.sub("%25", rest), safe=_SAFE_REST)


class Repairer:
    """Walks one HAR object, fixing it in place and reporting each fix at its JSON path."""

    def __init__(self, report: Report, imported_at: str | None = None) -> None:
        self.report = report
        self.imported_at = imported_at or now_iso()

    # -- reporting ---------------------------------------------------------------------

    def _warn(self, path: str, message: str, action: str) -> None:
        self.report.add("warning", path, message, action)

    def _keep_aside(self, obj: dict, key: str, path: str, message: str, default: Any = ...) -> None:
        """Move an invalid value to `_key` (kept, not lost) and put `default` in its place."""
        aside = f"_{key}"
        while aside in obj:
            aside = f"_{aside}"
        obj[aside] = obj.pop(key)
        action = f"kept as {aside}"
        if default is not ...:
            obj[key] = default
            action += f"; set to {default!r}"
        self._warn(f"{path}.{key}", message, action)

    # -- scalars -------------------------------------------------------------------------

    def scalar(self, obj: dict, key: str, kind: str, path: str, default: Any = ..., required: bool = True) -> None:
        """Make obj[key] a JSON value of `kind`; `default` stands in when it is missing."""
        if key not in obj:
            if required:
                obj[key] = default
                self._warn(f"{path}.{key}", f"required {_a(kind)} '{key}' is missing", f"set to {default!r}")
            return
        value = obj[key]
        if _is(value, kind):
            return
        if value is None:
            if required:
                obj[key] = default
                self._warn(f"{path}.{key}", f"null where {_a(kind)} is required", f"set to {default!r}")
            else:
                del obj[key]
                self._warn(f"{path}.{key}", f"null where {_a(kind)} is expected", "removed")
            return
        coerced = _coerce(value, kind)
        if coerced is not None:
            obj[key] = coerced
            self._warn(f"{path}.{key}", f"{_kind(value)} where {_a(kind)} is required", f"converted to {coerced!r}")
        elif required:
            self._keep_aside(obj, key, path, f"{_kind(value)} where {_a(kind)} is required", default)
        else:
            self._keep_aside(obj, key, path, f"{_kind(value)} where {_a(kind)} is expected")

    def date(self, obj: dict, key: str, path: str, default: str, required: bool = True, framed: bool = False) -> None:
        """A date; `framed` (an entry's start) must also be one the traffic frame can hold."""
        self.scalar(obj, key, STRING, path, default, required)
        value = obj.get(key)
        if value is None or (frame_date(value) if framed else is_date(value)):
            return
        normal = normalise_date(value)
        if normal is not None and (frame_date(normal) or not framed):
            obj[key] = normal
            self._warn(f"{path}.{key}", f"date {value!r} is not RFC 3339", f"rewritten as {normal!r}")
            return
        message = (f"{value!r} is not a date" if normal is None
                   else f"{value!r} is outside the years {FRAME_YEARS[0]}-{FRAME_YEARS[1]} the traffic frame holds")
        if required:
            self._keep_aside(obj, key, path, message, default)
        else:
            self._keep_aside(obj, key, path, message)

    def object(self, obj: dict, key: str, path: str, required: bool = True) -> dict | None:
        value = obj.get(key)
        if isinstance(value, dict):
            return value
        if key not in obj:
            if not required:
                return None
            obj[key] = {}
            self._warn(f"{path}.{key}", f"required object '{key}' is missing", "set to {}")
        elif value is None and not required:
            del obj[key]
            self._warn(f"{path}.{key}", "null where an object is expected", "removed")
            return None
        else:
            self._keep_aside(obj, key, path, f"{_kind(value)} where an object is required", {})
        return obj[key]

    def pairs(self, obj: dict, key: str, path: str, *, cookie: bool = False) -> None:
        """A list of {name, value} objects (headers, cookies, query, params)."""
        value = obj.get(key)
        if isinstance(value, dict):
            # Some tools write {"name": "value"} instead of [{"name": ..., "value": ...}].
            obj[key] = [{"name": str(k), "value": v} for k, v in value.items()]
            self._warn(f"{path}.{key}", "an object where a list of name/value pairs is required",
                       "converted to a list")
        elif not isinstance(value, list):
            if key in obj and value is not None:
                self._keep_aside(obj, key, path, f"{_kind(value)} where a list is required", [])
            else:
                self._warn(f"{path}.{key}", f"required list '{key}' is missing" if key not in obj
                           else "null where a list is required", "set to []")
                obj[key] = []
            return
        items = obj[key]
        if not all(isinstance(item, dict) for item in items):
            obj[f"_{key}"] = items
            obj[key] = [item for item in items if isinstance(item, dict)]
            self._warn(f"{path}.{key}", "items that are not objects", f"list kept as _{key}; objects kept")
        for i, item in enumerate(obj[key]):
            where = f"{path}.{key}[{i}]"
            self.scalar(item, "name", STRING, where, "")
            self.scalar(item, "value", STRING, where, "")
            if cookie:
                if item.get("expires") is not None:  # the schema allows null here
                    self.date(item, "expires", where, "", required=False)
                self.scalar(item, "path", STRING, where, required=False)
                self.scalar(item, "domain", STRING, where, required=False)
                self.scalar(item, "httpOnly", BOOLEAN, where, required=False)
                self.scalar(item, "secure", BOOLEAN, where, required=False)

    # -- HAR objects ---------------------------------------------------------------------

    def log(self, log: dict) -> None:
        """version, creator, browser and comment of `log` (entries and pages are separate)."""
        if "version" not in log:
            log["version"] = "1.2"
            self._warn("log.version", "log.version is missing", "set to '1.2'")
        else:
            self.scalar(log, "version", STRING, "log", "1.2")
        if "creator" not in log:
            log["creator"] = {"name": "Unknown", "version": ""}
            self._warn("log.creator", "log.creator is missing", "set to {'name': 'Unknown', 'version': ''}")
        for key in ("creator", "browser"):
            part = self.object(log, key, "log", required=key == "creator")
            if part is not None:
                self.scalar(part, "name", STRING, f"log.{key}", "Unknown")
                self.scalar(part, "version", STRING, f"log.{key}", "")
                self.scalar(part, "comment", STRING, f"log.{key}", required=False)
        self.scalar(log, "comment", STRING, "log", required=False)

    def page(self, page: dict, path: str, started: str | None) -> None:
        self.date(page, "startedDateTime", path, started or self.imported_at)
        self.scalar(page, "id", STRING, path, path.rpartition("[")[2].rstrip("]"))
        self.scalar(page, "title", STRING, path, "")
        timings = self.object(page, "pageTimings", path)
        for key in ("onContentLoad", "onLoad"):
            self.scalar(timings, key, NUMBER, f"{path}.pageTimings", required=False)
        self.scalar(timings, "comment", STRING, f"{path}.pageTimings", required=False)
        self.scalar(page, "comment", STRING, path, required=False)

    def entry(self, entry: dict, path: str) -> None:
        self.date(entry, "startedDateTime", path, self.imported_at, framed=True)
        request = self.object(entry, "request", path)
        self.request(request, f"{path}.request")
        if "response" not in entry:
            entry["response"] = {"status": 0, "statusText": "", "_error": "no response recorded"}
            self._warn(f"{path}.response", "the entry has no response", "recorded as no response (status 0)")
        self.response(self.object(entry, "response", path), f"{path}.response")
        self.cache(self.object(entry, "cache", path), f"{path}.cache")
        timings = self.timings(self.object(entry, "timings", path), f"{path}.timings")
        total = sum(v for k, v in timings.items() if k in model.Timings.__struct_fields__
                    and k != "ssl" and _is(v, NUMBER) and v > 0)
        self.scalar(entry, "time", NUMBER, path, round(total, 3))
        if entry["time"] < 0:
            self._warn(f"{path}.time", f"negative time {entry['time']!r}", f"set to the sum of the phases, {total!r}")
            entry["time"] = round(total, 3)
        self.scalar(entry, "pageref", STRING, path, required=False)
        self.server_ip(entry, path)
        for key in ("connection", "comment"):
            self.scalar(entry, key, STRING, path, required=False)

    def request(self, request: dict, path: str) -> None:
        self.scalar(request, "method", STRING, path, "")
        self.scalar(request, "url", STRING, path, "")
        url = request["url"]
        if not model.is_uri(url):
            quoted = quote_uri(url)
            if model.is_uri(quoted):
                request["url"] = quoted
                self._warn(f"{path}.url", "characters a URI may not contain (RFC 3986)", f"percent-encoded: {quoted!r}")
            else:
                self.report.add("warning", f"{path}.url", f"{url[:200]!r} is not an absolute URI", "kept as is")
        self.scalar(request, "httpVersion", STRING, path, "")
        self.pairs(request, "cookies", path, cookie=True)
        self.pairs(request, "headers", path)
        self.pairs(request, "queryString", path)
        self.scalar(request, "headersSize", INTEGER, path, -1)
        self.scalar(request, "bodySize", INTEGER, path, -1)
        post = self.object(request, "postData", path, required=False)
        if post is not None:
            where = f"{path}.postData"
            self.scalar(post, "mimeType", STRING, where, _header(request, "content-type"))
            if "params" in post:
                self.pairs(post, "params", where)
            self.scalar(post, "text", STRING, where, required=False)
            if "text" not in post and "params" not in post:
                post["text"] = ""
                self._warn(f"{where}.text", "postData has neither text nor params", "set text to ''")

    def response(self, response: dict, path: str) -> None:
        self.scalar(response, "status", INTEGER, path, 0)
        self.scalar(response, "statusText", STRING, path, "")
        self.scalar(response, "httpVersion", STRING, path, "")
        self.pairs(response, "cookies", path, cookie=True)
        self.pairs(response, "headers", path)
        content = self.object(response, "content", path)
        where = f"{path}.content"
        self.scalar(content, "mimeType", STRING, where, _header(response, "content-type"))
        self.scalar(content, "size", INTEGER, where, _body_size(content))
        for key in ("compression",):
            self.scalar(content, key, INTEGER, where, required=False)
        for key in ("text", "encoding", "comment"):
            self.scalar(content, key, STRING, where, required=False)
        self.scalar(response, "redirectURL", STRING, path, _header(response, "location"))
        self.scalar(response, "headersSize", INTEGER, path, -1)
        self.scalar(response, "bodySize", INTEGER, path, -1)

    def cache(self, cache: dict, path: str) -> None:
        for key in ("beforeRequest", "afterRequest"):
            state = cache.get(key)
            if state is None:
                continue
            valid = (isinstance(state, dict) and _is(state.get("eTag"), STRING)
                     and _is(state.get("hitCount"), INTEGER)
                     and all(_is(state.get(k), STRING) and _CACHE_DATE.match(state[k])
                             for k in ("lastAccess", "expires") if k in state or k == "lastAccess"))
            if not valid:
                self._keep_aside(cache, key, path, "not a HAR 1.2 cache state (lastAccess, eTag, hitCount)")
        self.scalar(cache, "comment", STRING, path, required=False)

    def timings(self, timings: dict, path: str) -> dict:
        for key in ("send", "wait", "receive", "blocked", "dns", "connect", "ssl"):
            required = key in ("send", "wait", "receive")
            self.scalar(timings, key, NUMBER, path, -1, required=required)
            if key in timings and timings[key] < -1:
                self._warn(f"{path}.{key}", f"{timings[key]!r} is below -1", "set to -1 (does not apply)")
                timings[key] = -1
        self.scalar(timings, "comment", STRING, path, required=False)
        return timings

    def server_ip(self, entry: dict, path: str) -> None:
        value = entry.get("serverIPAddress")
        if value is None or (isinstance(value, str) and model.is_ip(value)):
            if "serverIPAddress" in entry and value is None:
                del entry["serverIPAddress"]
                self._warn(f"{path}.serverIPAddress", "null address", "removed")
            return
        if value == "":
            del entry["serverIPAddress"]
            self._warn(f"{path}.serverIPAddress", "empty address", "removed")
        elif isinstance(value, str) and model.is_ip(value.strip("[]")):
            entry["serverIPAddress"] = value.strip("[]")
            self._warn(f"{path}.serverIPAddress", f"bracketed IPv6 literal {value!r}", "brackets removed")
        else:
            self._keep_aside(entry, "serverIPAddress", path, f"{value!r} is not an IP address")


def check_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _header(message: dict, name: str) -> str:
    for header in message.get("headers") or ():
        if isinstance(header, dict) and str(header.get("name", "")).lower() == name:
            value = header.get("value")
            return value if isinstance(value, str) else ""
    return ""


def _body_size(content: dict) -> int:
    text = content.get("text")
    if not isinstance(text, str):
        return -1
    if content.get("encoding") == "base64" and check_base64(text):
        return len(base64.b64decode(text))
    return len(text.encode("utf-8", "surrogatepass"))


def _is(value: Any, kind: str) -> bool:
    if kind == STRING:
        return isinstance(value, str)
    if kind == BOOLEAN:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == INTEGER:
        return isinstance(value, int) and model.INT64[0] <= value <= model.INT64[1]
    return isinstance(value, (int, float)) and value == value and abs(value) != float("inf")


def _coerce(value: Any, kind: str) -> Any:
    """A lossless conversion of `value` to `kind`, or None."""
    if kind == STRING and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if kind in (INTEGER, NUMBER) and isinstance(value, (str, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except ValueError:
            return None
        if number != number or abs(number) == float("inf"):
            return None
        if kind == INTEGER:
            return int(number) if number.is_integer() else None
        return int(number) if number.is_integer() and isinstance(value, str) and "." not in value else number
    return None


def _a(kind: str) -> str:
    return f"an {kind}" if kind == INTEGER else f"a {kind}"


def _kind(value: Any) -> str:
    return "null" if value is None else {bool: "a boolean", str: "a string", int: "a number", float: "a number",
                                         list: "a list", dict: "an object"}.get(type(value), type(value).__name__)

