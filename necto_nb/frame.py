"""The traffic frame: every column, its dtype and how it is read from an entry.

One row per entry, indexed by the entry's position in the Session, so a filtered frame
(or its index) names entries for export. Timings are float milliseconds; HAR's -1
("does not apply") and absent values are NaN. Bodies never enter the frame.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
from msgspec.structs import astuple
import numpy as np
import pandas as pd

from necto_nb.har.conventions import NO_RESPONSE, PHASES
from necto_nb.har.model import FrameEntry

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

#: The columns `Runs.df` adds in front of `COLUMNS`: which file each row came from.
RUN_COLUMNS: dict[str, tuple[str, str]] = {
    "run": ("category", "the run: its file's name without the .har suffix, unique among the runs"),
    "file": ("category", "the file's path or URL"),
}


_URL = re.compile(r"^(?:([A-Za-z][A-Za-z0-9+.\-]*):)?(?://([^/?#]*))?(.*)$", re.S)
# An HTTP version as tools write it: HTTP/1.1, http/2.0, h2, h3, 1.1, "2 2" (WebPageTest).
_VERSION = re.compile(r"(?:https?/|h)?([0-3])(?:\.([0-9]))?(?:\s+[0-9.]+)?", re.I)
_TYPE_BY_MIME = [  # first match wins: image/svg+xml is an image, not xml
    ("text/html", "document"), ("application/xhtml", "document"), ("text/css", "stylesheet"),
    ("javascript", "script"), ("ecmascript", "script"), ("image/", "image"), ("font/", "font"),
    ("woff", "font"), ("video/", "media"), ("audio/", "media"), ("text/event-stream", "eventsource"),
    ("json", "fetch"), ("xml", "fetch"),
]


def _guess_type(mime: str) -> str:
    for needle, kind in _TYPE_BY_MIME:
        if needle in mime:
            return kind
    return "other"


def _mime(value: str) -> str:
    return value.partition(";")[0].strip().lower()


def _error(value: object) -> str | None:
    """Tools write errors as text, or as objects (capture-har: {message, code})."""
    if not value:
        return None
    if isinstance(value, dict) and isinstance(value.get("message"), str):
        return value["message"]
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()


def _ms(values: np.ndarray) -> np.ndarray:
    """HAR's -1 ("does not apply") as NaN."""
    return np.where(values < 0, np.nan, values)


def _number(values: list) -> np.ndarray:
    """Custom numeric fields (some tools write them as strings)."""
    if values.count(None) == len(values):  # most tools write none
        return np.full(len(values), np.nan)
    return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy("float64")


class _Codes:
    """A categorical column gathered a chunk at a time: each value's code among those seen so far."""

    def __init__(self) -> None:
        self.index: dict = {}
        self.chunks: list[np.ndarray] = []

    def add(self, values: Sequence) -> None:
        index = self.index
        distinct = dict.fromkeys(values)  # the few distinct values, in C
        for value in distinct:
            index.setdefault(value, len(index))
        if len(distinct) == 1:  # often so for a chunk's scheme, method, version or page
            self.chunks.append(np.full(len(values), index[values[0]], np.int32))
        else:
            self.chunks.append(np.fromiter(map(index.__getitem__, values), np.int32, count=len(values)))

    def codes(self) -> np.ndarray:
        return np.concatenate(self.chunks) if self.chunks else np.empty(0, np.int32)

    def labelled(self, label: Callable[[Any], str | None]) -> pd.Categorical:
        """The column as `label(value)`, computed once per distinct value; None is missing."""
        labels = [label(value) for value in self.index]
        categories = list(dict.fromkeys(label for label in labels if label is not None))
        return pd.Categorical.from_codes(_positions(labels, categories)[self.codes()], categories)


def _positions(labels: list, categories: list) -> np.ndarray:
    """Each label's position in `categories` (-1: not there)."""
    position = {category: i for i, category in enumerate(categories)}
    return np.array([position.get(label, -1) for label in labels], dtype=np.int32)


def _resource_types(declared: _Codes, mime: _Codes) -> pd.Categorical:
    """_resourceType where the tool wrote one, else a guess from the MIME type."""
    guessed = [_guess_type(_mime(m)) for m in mime.index]
    categories = list(dict.fromkeys([*filter(None, declared.index), *guessed]))
    written = _positions(list(declared.index), categories)[declared.codes()]
    codes = np.where(written >= 0, written, _positions(guessed, categories)[mime.codes()])
    return pd.Categorical.from_codes(codes, categories)


def _lower(value: str | None) -> str:
    return (value or "").lower()


def _version(value: str) -> str | None:
    """HTTP/1.0, HTTP/1.1, HTTP/2 or HTTP/3 (and 0.9); missing where empty; anything else as written."""
    match = _VERSION.fullmatch(value.strip())
    if match is None:
        return value.strip() or None
    major, minor = match.groups()
    return f"HTTP/{major}" if major in "23" else f"HTTP/{major}.{minor or ('1' if major == '1' else '9')}"


def _present(value: str) -> str | None:
    return value or None


def _fields(views: Sequence[msgspec.Struct]) -> dict[str, tuple]:
    """The fields of `views`, all of one type, as columns: transposed in C."""
    return dict(zip(type(views[0]).__struct_fields__, zip(*map(astuple, views))))


class Builder:
    """Gathers the frame's columns a chunk of entries at a time, then builds the frame once.

    Each chunk is read while its freshly decoded views are still in the CPU cache (read
    later, cold, the same work takes about twice as long); columns with few distinct
    values are kept as codes, and only their distinct values are normalised.
    """

    def __init__(self) -> None:
        self._plain: defaultdict[str, list] = defaultdict(list)
        self._numbers: defaultdict[str, list[np.ndarray]] = defaultdict(list)
        self._coded: defaultdict[str, _Codes] = defaultdict(_Codes)

    def add(self, views: Sequence[FrameEntry]) -> Builder:
        """Add entries: views all of `FrameEntry`, or all of `Entry`."""
        if not views:
            return self
        if len(set(map(type, views))) > 1:  # the fields are read by position
            raise TypeError("views to add must be all FrameEntry or all Entry")
        entry = _fields(views)
        request, response = _fields(entry["request"]), _fields(entry["response"])
        content = _fields(response["content"])
        scheme, host, path = zip(*[m.groups() for m in map(_URL.match, request["url"])])
        errors = response["error"], entry["error"]
        plain = {
            "started": entry["startedDateTime"], "url": request["url"], "path": path,
            "status_text": response["statusText"], "declared_transfer": response["transferSize"],
            "server_ip": entry["serverIPAddress"],
            "error": [_error(r or e) for r, e in zip(*errors)] if any(errors[0]) or any(errors[1]) else [None] * len(views),
        }
        numbers = {
            "request_size": request["bodySize"], "response_size": content["size"],
            "headers_size": response["headersSize"], "body_size": response["bodySize"], "time": entry["time"],
        }
        timings = _fields(entry["timings"])
        numbers.update((phase, timings[phase]) for phase in PHASES)
        coded = {
            "method": request["method"], "scheme": scheme, "host": host, "mime": content["mimeType"],
            "version": [r or q for r, q in zip(response["httpVersion"], request["httpVersion"])],
            "declared_type": [t if isinstance(t, str) else "" for t in entry["resourceType"]],  # any JSON value
            "page": entry["pageref"],
        }
        for name, values in plain.items():
            self._plain[name] += values
        for name, values in numbers.items():
            self._numbers[name].append(np.fromiter(values, "float64", len(values)))
        self._numbers["status"].append(np.fromiter(response["status"], "int64", len(views)))
        for name, values in coded.items():
            self._coded[name].add(values)
        return self

    def frame(self, start: int = 0) -> pd.DataFrame:
        """The frame of the entries added, the first one being entry number `start`."""
        plain, coded = self._plain, self._coded
        number = {name: np.concatenate(self._numbers[name]) if self._numbers[name] else np.empty(0)
                  for name in ("status", "request_size", "response_size", "headers_size", "body_size", "time", *PHASES)}
        status = number["status"]
        errors = np.asarray(plain["error"], dtype=object)
        errors[(status == 0) & pd.isna(errors)] = NO_RESPONSE
        declared_transfer = _number(plain["declared_transfer"])
        headers, body = number["headers_size"], number["body_size"]
        wire = np.where((headers >= 0) & (body >= 0), headers + body, np.nan)
        data = {
            "started": pd.to_datetime(plain["started"], utc=True, format="ISO8601").as_unit("ns"),
            "method": coded["method"].labelled(str),
            "url": plain["url"],
            "scheme": coded["scheme"].labelled(_lower),
            "host": coded["host"].labelled(_lower),
            "path": plain["path"],
            "status": status,
            "status_text": plain["status_text"],
            "http_version": coded["version"].labelled(_version),
            "mime_type": coded["mime"].labelled(_mime),
            "resource_type": _resource_types(coded["declared_type"], coded["mime"]),
            "request_size": _ms(number["request_size"]),
            "response_size": _ms(number["response_size"]),
            "transfer_size": np.where(np.isnan(declared_transfer), wire, declared_transfer),
            "time": _ms(number["time"]),
            **{phase: _ms(number[phase]) for phase in PHASES},
            "server_ip": list(map(_present, plain["server_ip"])),
            "page": coded["page"].labelled(_present),
            "error": errors,
        }
        typed = {name: pd.array(values, dtype=COLUMNS[name][0]) if COLUMNS[name][0] in ("string", "Int64") else values
                 for name, values in data.items()}  # no dtype inference, no second conversion
        return pd.DataFrame(typed, index=pd.RangeIndex(start, start + len(status), name="entry"), copy=False)


def empty() -> pd.DataFrame:
    return build([])


def meta(runs: bool = False) -> pd.DataFrame:
    """An empty frame with every column in its dtype (with `RUN_COLUMNS` first if `runs`):
    what the Dask engine declares its partitions to be."""
    df = empty()
    if runs:
        df.insert(0, "file", pd.Categorical([]))
        df.insert(0, "run", pd.Categorical([]))
    return df


def build(views: Sequence[FrameEntry], start: int = 0) -> pd.DataFrame:
    """The frame for `views`, whose first one is entry number `start` of its Session."""
    return Builder().add(views).frame(start)


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
