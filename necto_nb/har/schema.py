"""HAR 1.2 as the HAR JSON Schema (har-schema 2.0.0) types it: every object and every field.

The repair walks this table, so a field is checked because the schema has it, not because
someone listed it. Derived from the schema files; `tests/core/test_schema_table.py` derives
it again and fails if the two differ (and prints the new table to paste here).
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class Field:
    types: tuple[str, ...]  # JSON types the value may have
    required: bool = False
    of: str | None = None  # the object an "object" value, or each item of an "array", is
    formats: tuple[str, ...] = ()  # "date-time", "uri", "ipv4", "ipv6": any one of them
    pattern: str | None = None
    min: float | None = None

    @property
    def kind(self) -> str:
        """The type a value is repaired to (not null, where null is also allowed)."""
        return next(t for t in self.types if t != "null")

    def __repr__(self) -> str:
        given = [repr(self.types)] + [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self)[1:]
                                      if getattr(self, f.name) != f.default]
        return f"Field({', '.join(given)})"


_CACHE_DATE = "^(\\d{4})(-)?(\\d\\d)(-)?(\\d\\d)(T)?(\\d\\d)(:)?(\\d\\d)(:)?(\\d\\d)(\\.\\d+)?(Z|([+-])(\\d\\d)(:)?(\\d\\d))?"
_START = "^(\\d{4})(-)?(\\d\\d)(-)?(\\d\\d)(T)?(\\d\\d)(:)?(\\d\\d)(:)?(\\d\\d)(\\.\\d+)?(Z|([+-])(\\d\\d)(:)?(\\d\\d))"

OBJECTS: dict[str, dict[str, Field]] = {
    'afterRequest': {
        'expires': Field(('string',), pattern=_CACHE_DATE),
        'lastAccess': Field(('string',), required=True, pattern=_CACHE_DATE),
        'eTag': Field(('string',), required=True),
        'hitCount': Field(('integer',), required=True),
        'comment': Field(('string',)),
    },
    'beforeRequest': {
        'expires': Field(('string',), pattern=_CACHE_DATE),
        'lastAccess': Field(('string',), required=True, pattern=_CACHE_DATE),
        'eTag': Field(('string',), required=True),
        'hitCount': Field(('integer',), required=True),
        'comment': Field(('string',)),
    },
    'browser': {
        'name': Field(('string',), required=True),
        'version': Field(('string',), required=True),
        'comment': Field(('string',)),
    },
    'cache': {
        'beforeRequest': Field(('null', 'object'), of='beforeRequest'),
        'afterRequest': Field(('null', 'object'), of='afterRequest'),
        'comment': Field(('string',)),
    },
    'content': {
        'size': Field(('integer',), required=True),
        'compression': Field(('integer',)),
        'mimeType': Field(('string',), required=True),
        'text': Field(('string',)),
        'encoding': Field(('string',)),
        'comment': Field(('string',)),
    },
    'cookie': {
        'name': Field(('string',), required=True),
        'value': Field(('string',), required=True),
        'path': Field(('string',)),
        'domain': Field(('string',)),
        'expires': Field(('string', 'null'), formats=('date-time',)),
        'httpOnly': Field(('boolean',)),
        'secure': Field(('boolean',)),
        'comment': Field(('string',)),
    },
    'creator': {
        'name': Field(('string',), required=True),
        'version': Field(('string',), required=True),
        'comment': Field(('string',)),
    },
    'entry': {
        'pageref': Field(('string',)),
        'startedDateTime': Field(('string',), required=True, formats=('date-time',), pattern=_START),
        'time': Field(('number',), required=True, min=0),
        'request': Field(('object',), required=True, of='request'),
        'response': Field(('object',), required=True, of='response'),
        'cache': Field(('object',), required=True, of='cache'),
        'timings': Field(('object',), required=True, of='timings'),
        'serverIPAddress': Field(('string',), formats=('ipv4', 'ipv6')),
        'connection': Field(('string',)),
        'comment': Field(('string',)),
    },
    'header': {
        'name': Field(('string',), required=True),
        'value': Field(('string',), required=True),
        'comment': Field(('string',)),
    },
    'log': {
        'version': Field(('string',), required=True),
        'creator': Field(('object',), required=True, of='creator'),
        'browser': Field(('object',), of='browser'),
        'pages': Field(('array',), of='page'),
        'entries': Field(('array',), required=True, of='entry'),
        'comment': Field(('string',)),
    },
    'page': {
        'startedDateTime': Field(('string',), required=True, formats=('date-time',), pattern=_START),
        'id': Field(('string',), required=True),
        'title': Field(('string',), required=True),
        'pageTimings': Field(('object',), required=True, of='pageTimings'),
        'comment': Field(('string',)),
    },
    'pageTimings': {
        'onContentLoad': Field(('number',), min=-1),
        'onLoad': Field(('number',), min=-1),
        'comment': Field(('string',)),
    },
    'param': {
        'name': Field(('string',), required=True),
        'value': Field(('string',)),
        'fileName': Field(('string',)),
        'contentType': Field(('string',)),
        'comment': Field(('string',)),
    },
    'postData': {
        'mimeType': Field(('string',), required=True),
        'text': Field(('string',)),
        'params': Field(('array',), of='param'),
        'comment': Field(('string',)),
    },
    'query': {
        'name': Field(('string',), required=True),
        'value': Field(('string',), required=True),
        'comment': Field(('string',)),
    },
    'request': {
        'method': Field(('string',), required=True),
        'url': Field(('string',), required=True, formats=('uri',)),
        'httpVersion': Field(('string',), required=True),
        'cookies': Field(('array',), required=True, of='cookie'),
        'headers': Field(('array',), required=True, of='header'),
        'queryString': Field(('array',), required=True, of='query'),
        'postData': Field(('object',), of='postData'),
        'headersSize': Field(('integer',), required=True),
        'bodySize': Field(('integer',), required=True),
        'comment': Field(('string',)),
    },
    'response': {
        'status': Field(('integer',), required=True),
        'statusText': Field(('string',), required=True),
        'httpVersion': Field(('string',), required=True),
        'cookies': Field(('array',), required=True, of='cookie'),
        'headers': Field(('array',), required=True, of='header'),
        'content': Field(('object',), required=True, of='content'),
        'redirectURL': Field(('string',), required=True),
        'headersSize': Field(('integer',), required=True),
        'bodySize': Field(('integer',), required=True),
        'comment': Field(('string',)),
    },
    'timings': {
        'dns': Field(('number',), min=-1),
        'connect': Field(('number',), min=-1),
        'blocked': Field(('number',), min=-1),
        'send': Field(('number',), required=True, min=-1),
        'wait': Field(('number',), required=True, min=-1),
        'receive': Field(('number',), required=True, min=-1),
        'ssl': Field(('number',), min=-1),
        'comment': Field(('string',)),
    },
}
