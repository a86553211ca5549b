"""The traffic frame: every column, its dtype and how it is read from an entry.

One row per entry, indexed by the entry's position in the Session, so a filtered frame
(or its index) names entries for export. Timings are float milliseconds; HAR's -1
("does not apply") and absent values are NaN. Bodies never enter the frame.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from operator import attrgetter

import msgspec
import numpy as np
import pandas as pd

from necto_nb.har.model import Entry

#: column -> (dtype, meaning). The order here is the frame's column order.
COLUMNS: dict[str, tuple[str, str]] = {
    "started": ("datetime64[ns, UTC]", "entry.startedDateTime"),
    "method": ("category", "request.method"),
    "url": ("string", "request.url"),
    "scheme": ("category", "scheme of the URL"),
    "host": ("category", "host[:port] of the URL"),
    "path": ("string", "path and query of the URL"),
    "status": ("Int64", "response.status (0: no response)"),
    "status_text": ("string", "response.statusText"),
    "http_version": ("category", "response (else request) httpVersion, normalised: HTTP/1.1, HTTP/2, HTTP/3"),
    "mime_type": ("category", "response.content.mimeType without parameters"),
    "resource_type": ("category", "_resourceType, else guessed from the MIME type"),
    "request_size": ("float64", "request.bodySize (bytes)"),
    "response_size": ("float64", "response.content.size (bytes, decoded)"),
    "transfer_size": ("float64", "response._transferSize, else headersSize + bodySize (bytes on the wire)"),
    "time": ("float64", "entry.time (ms)"),
    "blocked": ("float64", "timings.blocked (ms)"),
    "dns": ("float64", "timings.dns (ms)"),
    "connect": ("float64", "timings.connect (ms, includes ssl)"),
    "ssl": ("float64", "timings.ssl (ms)"),
    "send": ("float64", "timings.send (ms)"),
    "wait": ("float64", "timings.wait (ms)"),
    "receive": ("float64", "timings.receive (ms)"),
    "server_ip": ("string", "serverIPAddress"),
    "page": ("category", "pageref"),
    "error": ("string", "response._error or entry._error; status 0 without one says 'no response'"),
}

PHASES = ["blocked", "dns", "connect", "ssl", "send", "wait", "receive"]

_URL = re.compile(r"^(?:([A-Za-z][A-Za-z0-9+.\-]*):)?(?://([^/?#]*))?(.*)$", re.S)
_VERSIONS = {
    "h2": "HTTP/2", "http/2": "HTTP/2", "http/2.0": "HTTP/2", "h3": "HTTP/3", "http/3": "HTTP/3",
    "http/3.0": "HTTP/3", "http/1.1": "HTTP/1.1", "http/1.0": "HTTP/1.0", "http/0.9": "HTTP/0.9",
}
_TYPE_BY_MIME = [  # first match wins: image/svg+xml is an image, not xml
    ("text/html", "document"), ("application/xhtml", "document"), ("text/css", "stylesheet"),
    ("javascript", "script"), ("ecmascript", "script"), ("image/", "image"), ("font/", "font"),
    ("woff", "font"), ("video/", "media"), ("audio/", "media"), ("text/event-stream", "eventsource"),
    ("json", "fetch"), ("xml", "fetch"),
]


def _resource_type(declared: object, mime: str) -> str:
    if declared and isinstance(declared, str):
        return declared
    for needle, kind in _TYPE_BY_MIME:
        if needle in mime:
            return kind
    return "other"


_phases = attrgetter(*PHASES)  # one call per entry for all seven phases


def _error(value: object) -> str | None:
    """Tools write errors as text, or as objects (capture-har: {message, code})."""
    if not value:
        return None
    if isinstance(value, dict) and isinstance(value.get("message"), str):
        return value["message"]
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()


def _ms(values: Sequence[float]) -> np.ndarray:
    arr = np.asarray(values, dtype="float64")
    arr[arr < 0] = np.nan
    return arr


def _number(values: Sequence) -> np.ndarray:
    """Custom numeric fields (some tools write them as strings)."""
    return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy("float64")


def empty() -> pd.DataFrame:
    return build([], start=0)


def build(entries: Sequence[Entry], start: int = 0) -> pd.DataFrame:
    """The frame for `entries`, whose first one is entry number `start` of its Session."""
    req = [e.request for e in entries]
    resp = [e.response for e in entries]
    content = [r.content for r in resp]
    timings = [e.timings for e in entries]
    urls = [r.url for r in req]
    parts = [_URL.match(u).groups() for u in urls]
    mimes = [c.mimeType.partition(";")[0].strip().lower() for c in content]
    versions = [r.httpVersion or q.httpVersion for r, q in zip(resp, req)]
    declared_transfer = _number([r.transferSize for r in resp])
    wire = np.asarray([r.headersSize + r.bodySize if r.headersSize >= 0 and r.bodySize >= 0 else np.nan
                       for r in resp], dtype="float64")
    status = [r.status for r in resp]
    errors = [_error(r.error or e.error) or ("no response" if s == 0 else None)
              for r, e, s in zip(resp, entries, status)]
    data = {
        "started": pd.to_datetime([e.startedDateTime for e in entries], utc=True, format="ISO8601").as_unit("ns"),
        "method": [r.method for r in req],
        "url": urls,
        "scheme": [(p[0] or "").lower() for p in parts],
        "host": [(p[1] or "").lower() for p in parts],
        "path": [p[2] for p in parts],
        "status": status,
        "status_text": [r.statusText for r in resp],
        "http_version": [_VERSIONS.get(v.lower(), v) for v in versions],
        "mime_type": mimes,
        "resource_type": [_resource_type(e.resourceType, m) for e, m in zip(entries, mimes)],
        "request_size": _ms([r.bodySize for r in req]),
        "response_size": _ms([c.size for c in content]),
        "transfer_size": np.where(np.isnan(declared_transfer), wire, declared_transfer),
        "time": _ms([e.time for e in entries]),
        **dict(zip(PHASES, _ms([_phases(t) for t in timings]).reshape(-1, len(PHASES)).T)),
        "server_ip": [e.serverIPAddress or None for e in entries],
        "page": [e.pageref or None for e in entries],
        "error": errors,
    }
    index = pd.RangeIndex(start, start + len(entries), name="entry")
    frame = pd.DataFrame(data, index=index)
    return frame.astype({name: dtype for name, (dtype, _) in COLUMNS.items() if name != "started"})


def concat(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Frames of consecutive entry ranges as one; categoricals stay categorical.

    New categories are appended after the old ones, so the first (large) frame's codes
    stay as they are: appending a batch to a long capture costs a copy, not a re-encode.
    """
    frames = [f for f in frames if len(f)] or [empty()]
    if len(frames) == 1:
        return frames[0]
    categorical = [n for n, (dtype, _) in COLUMNS.items() if dtype == "category"]
    union = {c: pd.Index(pd.unique(np.concatenate([f[c].cat.categories.to_numpy(object) for f in frames])))
             for c in categorical}
    aligned = [f.assign(**{c: f[c].cat.set_categories(union[c]) for c in categorical}) for f in frames]
    return pd.concat(aligned)
