"""The slow path: bring a HAR object that failed the fast check up to HAR 1.2, saying what changed.

What is checked is what the HAR JSON Schema defines (`schema.OBJECTS`): every object, every
field, optional ones included, its type, format and bounds. Every repair is reported with
the JSON path it touched. Nothing is thrown away: a value that cannot be made valid is kept
beside the field under an underscore name (`_url`, `_expires`, ...), which HAR allows for
custom data, and the report says so. Runs only for the entries (and the log metadata) that
need it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from copy import copy
from datetime import datetime, timezone
from functools import cache
from typing import Any
from urllib.parse import quote

import msgspec

from necto_nb.har import model, schema
from necto_nb.har.conventions import BARE_PERCENT, no_response, total_time
from necto_nb.har.schema import Field
from necto_nb.har.report import Report

_DATE_TIME = re.compile(model.DATE_TIME)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*:)(//[^/?#]*)?(.*)$", re.S)
_SAFE_AUTHORITY = "!$&'()*+,;=:@[]%-._~"
_SAFE_REST = "!$&'()*+,;=:@/?#%-._~"
#: datetime64[ns] spans 1677-09-21 to 2262-04-11: whole years inside that.
FRAME_YEARS = (1678, 2261)

STRING, INTEGER, NUMBER, BOOLEAN, ARRAY, OBJECT, NULL = "string", "integer", "number", "boolean", "array", "object", "null"


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
    authority = quote(BARE_PERCENT.sub("%25", authority or ""), safe=_SAFE_AUTHORITY + "/")
    return scheme + authority + quote(BARE_PERCENT.sub("%25", rest), safe=_SAFE_REST)


class _Unfixable(Exception):
    """A required field that has no value to give (a cache state without `lastAccess`): the
    optional object that holds it is set aside whole."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


#: Lists of name/value objects: some tools write {"name": "value", ...} instead.
_PAIRS = {"cookie", "header", "query", "param"}
#: A cache state without these says nothing true: no value is made up for them.
_NO_DEFAULT = {(state, key) for state in ("beforeRequest", "afterRequest") for key in ("lastAccess", "eTag", "hitCount")}
_BY_TYPE = {STRING: "", INTEGER: -1, NUMBER: -1, ARRAY: [], OBJECT: {}}


class Repairer:
    """Walks one HAR object, fixing it in place and reporting each fix at its JSON path.

    Every object and field comes from `schema.OBJECTS` (the HAR JSON Schema's types): a
    value of the wrong type anywhere is converted where no information is lost, else kept
    beside its field as `_field` with a default in its place where the field is required.
    What a default is, where HAR has a convention for one, is `_default`'s.
    """

    def __init__(self, report: Report, imported_at: str | None = None) -> None:
        self.report = report
        self.imported_at = imported_at or now_iso()
        self._page_start: str | None = None

    # -- reporting ---------------------------------------------------------------------

    def _warn(self, path: str, message: str, action: str) -> None:
        self.report.add("warning", path, message, action)

    def _keep_aside(self, obj: dict, key: str, path: str, message: str, default: Any = ...) -> None:
        """Move an invalid value to `_key` (kept, not lost) and put `default` in its place."""
        aside = _free_name(obj, key)
        obj[aside] = obj.pop(key)
        action = f"kept as {aside}"
        if default is not ...:
            obj[key] = default
            action += f"; set to {default!r}"
        self._warn(f"{path}.{key}", message, action)

    # -- the HAR objects ---------------------------------------------------------------

    def log(self, log: dict) -> None:
        """version, creator, browser and comment of `log` (entries and pages are separate)."""
        self._object("log", log, "log", None, skip=("entries", "pages"))

    def page(self, page: dict, path: str, started: str | None) -> None:
        """A page; `started` (its first entry's start) stands in for a start it lacks."""
        self._page_start = started
        self._object("page", page, path, None)

    def entry(self, entry: dict, path: str) -> None:
        self._object("entry", entry, path, None)

    def _object(self, kind: str, obj: dict, path: str, parent: dict | None, skip: tuple[str, ...] = ()) -> None:
        fields = schema.OBJECTS[kind]
        for key in _ORDER.get(kind, fields):
            if key not in skip:
                self._field(kind, key, fields[key], obj, path, parent)
        if kind == "postData" and "text" not in obj and "params" not in obj:
            obj["text"] = ""
            self._warn(f"{path}.text", "postData has neither text nor params", "set text to ''")

    def _field(self, kind: str, key: str, field: Field, obj: dict, path: str, parent: dict | None) -> None:
        if key not in obj:
            if field.required:
                why = f"required {_noun(field.kind)} '{key}' is missing"
                obj[key] = default = self._default(kind, key, field, obj, parent, path, why)
                self._warn(f"{path}.{key}", why, f"set to {default!r}")
                self._value(kind, key, field, obj, path, parent)
            return
        value = obj[key]
        if any(_is(value, type_) for type_ in field.types) or self._retype(kind, key, field, obj, path, parent):
            self._value(kind, key, field, obj, path, parent)

    def _retype(self, kind: str, key: str, field: Field, obj: dict, path: str, parent: dict | None) -> bool:
        """Give obj[key] one of its field's types; whether a value is left to check further."""
        value, where = obj[key], f"{path}.{key}"
        why = f"{_kind(value)} where {_a(field.kind)} is {'required' if field.required else 'expected'}"
        if value is None and not field.required:
            del obj[key]
            self._warn(where, why, "removed")
            return False
        if value is None:
            obj[key] = default = self._default(kind, key, field, obj, parent, path, why)
            self._warn(where, why, f"set to {default!r}")
            return True
        if isinstance(value, dict) and field.of in _PAIRS:
            obj[key] = [{"name": str(k), "value": v} for k, v in value.items()]
            self._warn(where, "an object where a list of name/value pairs is required", "converted to a list")
            return True
        coerced = _coerce(value, field.kind)
        if coerced is not None:
            obj[key] = coerced
            self._warn(where, why, f"converted to {coerced!r}")
            return True
        if field.required:
            self._keep_aside(obj, key, path, why, self._default(kind, key, field, obj, parent, path, why))
            return True
        self._keep_aside(obj, key, path, why)
        return False

    def _value(self, kind: str, key: str, field: Field, obj: dict, path: str, parent: dict | None) -> None:
        """obj[key] has its type: check what is inside it, or its format."""
        value, where, of = obj[key], f"{path}.{key}", field.of
        if isinstance(value, dict) and of:
            self._optional(obj, key, path, lambda value: self._object(of, value, where, obj), field.required)
        elif isinstance(value, list) and of:
            self._items(of, obj, key, path)
        elif isinstance(value, str) and (field.formats or field.pattern):
            self._format(kind, key, field, obj, path)
        elif field.min is not None and isinstance(value, (int, float)) and value < field.min:
            why = f"{value!r} is below {field.min:g}"
            default = self._default(kind, key, field, obj, parent, path, why)
            self._warn(where, why, f"set to {default!r}")
            obj[key] = default

    def _optional(self, obj: dict, key: str, path: str, repair: Callable[[dict], None], required: bool) -> None:
        """Run `repair` on obj[key]; an optional object it cannot make valid is set aside whole,
        as it came (repaired on a copy, so a half-made repair is neither kept nor reported)."""
        if required:
            repair(obj[key])
            return
        # a copy through msgspec: copy.deepcopy recurses in Python, and what a file nests can be deeper
        report, attempt = self.report, msgspec.json.decode(msgspec.json.encode(obj[key]))
        self.report = Report()
        try:
            repair(attempt)
        except _Unfixable as failed:
            self.report = report
            self._keep_aside(obj, key, path, f"{failed.path.removeprefix(f'{path}.{key}.')}: {failed}")
            return
        found, self.report = self.report, report
        report.extend(found)
        obj[key] = attempt

    def _items(self, of: str, obj: dict, key: str, path: str) -> None:
        items = obj[key]
        if not all(isinstance(item, dict) for item in items):
            aside = _free_name(obj, key)
            obj[aside] = items
            obj[key] = [item for item in items if isinstance(item, dict)]
            for i, item in enumerate(items):
                if not isinstance(item, dict):
                    self._warn(f"{path}.{key}[{i}]", f"{_kind(item)} where an object is required",
                               f"the list kept as {aside}; its objects kept in {key}")
        for i, item in enumerate(obj[key]):
            self._object(of, item, f"{path}.{key}[{i}]", obj)

    def _format(self, kind: str, key: str, field: Field, obj: dict, path: str) -> None:
        if "date-time" in field.formats:
            self._date(kind, key, field, obj, path, framed=kind == "entry")
        elif "uri" in field.formats:
            self._uri(obj, key, path)
        elif "ipv4" in field.formats:
            self._address(obj, key, path)
        elif not _pattern(field.pattern)(obj[key]):
            message = f"{obj[key][:200]!r} is not a date"  # the one pattern the schema has beyond formats
            if field.required:
                raise _Unfixable(f"{path}.{key}", f"{message}, and a cache state needs one")
            self._keep_aside(obj, key, path, message)

    def _date(self, kind: str, key: str, field: Field, obj: dict, path: str, framed: bool) -> None:
        """A date; `framed` (an entry's start) must also be one the traffic frame can hold."""
        value = obj[key]
        if frame_date(value) if framed else is_date(value):
            return
        normal = normalise_date(value)
        if normal is not None and (frame_date(normal) or not framed):
            obj[key] = normal
            self._warn(f"{path}.{key}", f"date {value!r} is not RFC 3339", f"rewritten as {normal!r}")
            return
        message = (f"{value[:200]!r} is not a date" if normal is None
                   else f"{value!r} is outside the years {FRAME_YEARS[0]}-{FRAME_YEARS[1]} the traffic frame holds")
        if field.required:
            self._keep_aside(obj, key, path, message, self._default(kind, key, field, obj, None, path, message))
        else:
            self._keep_aside(obj, key, path, message)

    def _uri(self, obj: dict, key: str, path: str) -> None:
        url = obj[key]
        if model.is_uri(url):
            return
        quoted = quote_uri(url)
        if model.is_uri(quoted):
            obj[key] = quoted
            self._warn(f"{path}.{key}", "characters a URI may not contain (RFC 3986)", f"percent-encoded: {quoted!r}")
        else:
            self.report.add("warning", f"{path}.{key}", f"{url[:200]!r} is not an absolute URI", "kept as is")

    def _address(self, obj: dict, key: str, path: str) -> None:
        value = obj[key]
        if model.is_ip(value):
            return
        if value == "":
            del obj[key]
            self._warn(f"{path}.{key}", "empty address", "removed")
        elif model.is_ip(value.strip("[]")):
            obj[key] = value.strip("[]")
            self._warn(f"{path}.{key}", f"bracketed IPv6 literal {value!r}", "brackets removed")
        else:
            self._keep_aside(obj, key, path, f"{value[:200]!r} is not an IP address")

    def _default(self, kind: str, key: str, field: Field, obj: dict, parent: dict | None, path: str, why: str) -> Any:
        """What stands in for a required field that is missing or cannot be made valid (`why`)."""
        if (kind, key) in _NO_DEFAULT:
            raise _Unfixable(f"{path}.{key}", f"{why}, and a cache state needs it")
        match kind, key:
            case "log", "version":
                return "1.2"
            case ("creator" | "browser"), "name":
                return "Unknown"
            case "page", "startedDateTime":
                return self._page_start or self.imported_at
            case "page", "id":
                return path.rpartition("[")[2].rstrip("]")
            case "entry", "startedDateTime":
                return self.imported_at
            case "entry", "time":
                timings = obj.get("timings")
                return round(total_time(timings), 3) if isinstance(timings, dict) else 0
            case "entry", "response":
                return no_response("no response recorded")
            case "response", "status":
                return 0
            case "response", "redirectURL":
                return _header(obj, "location")
            case ("content" | "postData"), "mimeType":
                return _header(parent or {}, "content-type")
            case "content", "size":
                return _body_size(obj)
        return copy(_BY_TYPE[field.kind])


#: Fields whose default reads a sibling go after it (an entry's time is its phases' sum).
_ORDER = {"entry": [key for key in schema.OBJECTS["entry"] if key != "time"] + ["time"]}


def _free_name(obj: dict, key: str) -> str:
    """The name to keep obj[key] under, beside it: `_key` (or `__key`, ... if that is taken)."""
    aside = f"_{key}"
    while aside in obj:
        aside = f"_{aside}"
    return aside


@cache
def _pattern(pattern: str) -> Callable[[str], Any]:
    return re.compile(pattern).match


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
    """Whether `value` is of the JSON type `kind` (an integer in 64 bits, a finite number)."""
    if kind in _CLASSES:
        return isinstance(value, _CLASSES[kind])
    if kind == STRING:
        return isinstance(value, str)
    if kind == BOOLEAN:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == INTEGER:
        return isinstance(value, int) and model.INT64[0] <= value <= model.INT64[1]
    return isinstance(value, (int, float)) and value == value and abs(value) != float("inf")


_CLASSES: dict[str, type] = {OBJECT: dict, ARRAY: list, NULL: type(None)}


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


def _noun(kind: str) -> str:
    return "list" if kind == ARRAY else kind


def _a(kind: str) -> str:
    return f"an {kind}" if kind in (INTEGER, OBJECT) else f"a {_noun(kind)}"


def _kind(value: Any) -> str:
    return "null" if value is None else {bool: "a boolean", str: "a string", int: "a number", float: "a number",
                                         list: "a list", dict: "an object"}.get(type(value), type(value).__name__)

