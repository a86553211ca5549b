"""The traffic frame: every column, its dtype and how it is read from an entry.

One row per entry, indexed by the entry's position in the Session, so a filtered frame
(or its index) names entries for export. Timings are float milliseconds; HAR's -1
("does not apply") and absent values are NaN. Bodies never enter the frame.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
from msgspec.structs import astuple
import numpy as np
import pandas as pd

from necto_nb.har.conventions import NO_RESPONSE, PHASES
from necto_nb.har.model import FrameEntry

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


def arrow_strings() -> bool:
    """Whether pandas keeps "string" columns in Arrow (pandas 3), so an Arrow array of strings
    becomes one as it is."""
    return pd.StringDtype().storage == "pyarrow"


def _strings(values: Sequence[str | None]) -> Any:
    """A "string" column. Where pandas keeps strings in Arrow, Arrow takes them in C:
    `pd.array` checks each one in Python first, five times the cost."""
    if arrow_strings():
        import pyarrow as pa

        return pd.arrays.ArrowStringArray(pa.array(values, pa.large_string()))
    return pd.array(values, dtype="string")


def _present(value: str) -> str | None:
    return value or None


def _fields(views: Sequence[msgspec.Struct]) -> dict[str, tuple]:
    """The fields of `views`, all of one type, as columns: transposed in C."""
    return dict(zip(type(views[0]).__struct_fields__, zip(*map(astuple, views))))


class _Chunk:
    """The fields of a chunk of views by dotted path ("response.content.size"), each level
    transposed once, on first use; `memo` keeps a value several columns share."""

    def __init__(self, views: Sequence[msgspec.Struct]) -> None:
        self.size = len(views)
        self._levels: dict[str, dict[str, tuple]] = {"": _fields(views)}
        self._memo: dict[Callable, Any] = {}

    def __getitem__(self, path: str) -> tuple:
        parent, _, name = path.rpartition(".")
        return self._level(parent)[name]

    def _level(self, path: str) -> dict[str, tuple]:
        if path not in self._levels:
            self._levels[path] = _fields(self[path])
        return self._levels[path]

    def memo(self, compute: Callable[[_Chunk], Any]) -> Any:
        if compute not in self._memo:
            self._memo[compute] = compute(self)
        return self._memo[compute]


@dataclass(frozen=True)
class Source:
    """A value gathered from every entry, a chunk at a time, as a list ("plain"), an array
    ("number": float64, "integer": int64), or codes of its distinct values ("coded")."""

    kind: Literal["plain", "number", "integer", "coded"]
    key: str  # columns naming the same key share the gathered values
    read: Callable[[_Chunk], Sequence] = field(compare=False)


def field_at(kind: Literal["plain", "number", "integer", "coded"], path: str) -> Source:
    """The field at `path` of `model.FrameEntry`."""
    return Source(kind, path, lambda chunk: chunk[path])


@dataclass(frozen=True)
class Column:
    """One column of the frame: its dtype, what it means, what it is made of, how.

    `make` receives the gathered values of `sources`, in order (a list, an array, or
    `_Codes`). Adding a column is adding one of these to `SPECS` (and, if it reads a HAR
    field the frame did not read before, that field to `model.FrameEntry`).
    """

    dtype: str
    meaning: str
    sources: tuple[Source, ...]
    make: Callable[..., Any]


def _url_parts(chunk: _Chunk) -> list[tuple]:
    """scheme, authority and path (with query) of each URL: one match for the three columns."""
    return list(zip(*[m.groups() for m in map(_URL.match, chunk["request.url"]) if m]))  # the pattern matches any text


def _errors(chunk: _Chunk) -> list:
    errors = chunk["response.error"], chunk["error"]
    if any(errors[0]) or any(errors[1]):
        return [_error(r or e) for r, e in zip(*errors)]
    return [None] * chunk.size


def _with_no_response(errors: list, status: np.ndarray) -> np.ndarray:
    values = np.asarray(errors, dtype=object)
    values[(status == 0) & pd.isna(values)] = NO_RESPONSE
    return values


def _transfer(declared: list, headers: np.ndarray, body: np.ndarray) -> np.ndarray:
    declared_transfer = _number(declared)
    wire = np.where((headers >= 0) & (body >= 0), headers + body, np.nan)
    return np.where(np.isnan(declared_transfer), wire, declared_transfer)


_STATUS = field_at("integer", "response.status")
_MIME = field_at("coded", "response.content.mimeType")
_DECLARED_TYPE = Source("coded", "_resourceType", lambda chunk: [t if isinstance(t, str) else "" for t in
                                                                 chunk["resourceType"]])  # any JSON value
_PHASE_MEANING = {"connect": "timings.connect (ms, includes ssl)"}

#: Every column of the frame, in order: its dtype, meaning, sources and how it is made.
SPECS: dict[str, Column] = {
    # cache=False: pandas' cache of distinct values costs 3-4x the parse itself, repeated dates or not
    "started": Column("datetime64[ns, UTC]", "entry.startedDateTime", (field_at("plain", "startedDateTime"),),
                      lambda v: pd.to_datetime(v, utc=True, format="ISO8601", cache=False).as_unit("ns")),
    "method": Column("category", "request.method", (field_at("coded", "request.method"),), lambda c: c.labelled(str)),
    "url": Column("string", "request.url", (field_at("plain", "request.url"),), lambda v: v),
    "scheme": Column("category", "scheme of the URL",
                     (Source("coded", "url scheme", lambda chunk: chunk.memo(_url_parts)[0]),),
                     lambda c: c.labelled(_lower)),
    "host": Column("category", "host[:port] of the URL",
                   (Source("coded", "url host", lambda chunk: chunk.memo(_url_parts)[1]),),
                   lambda c: c.labelled(_lower)),
    "path": Column("string", "path and query of the URL",
                   (Source("plain", "url path", lambda chunk: chunk.memo(_url_parts)[2]),), lambda v: v),
    "status": Column("Int64", "response.status (0: no response)", (_STATUS,), lambda v: v),
    "status_text": Column("string", "response.statusText", (field_at("plain", "response.statusText"),), lambda v: v),
    "http_version": Column(
        "category", "response (else request) httpVersion, normalised: HTTP/1.1, HTTP/2, HTTP/3",
        (Source("coded", "httpVersion", lambda chunk: [r or q for r, q in zip(chunk["response.httpVersion"],
                                                                                chunk["request.httpVersion"])]),),
        lambda c: c.labelled(_version)),
    "mime_type": Column("category", "response.content.mimeType without parameters", (_MIME,),
                        lambda c: c.labelled(_mime)),
    "resource_type": Column("category", "_resourceType, else guessed from the MIME type", (_DECLARED_TYPE, _MIME),
                            _resource_types),
    "request_size": Column("float64", "request.bodySize (bytes)", (field_at("number", "request.bodySize"),), _ms),
    "response_size": Column("float64", "response.content.size (bytes, decoded)",
                            (field_at("number", "response.content.size"),), _ms),
    "transfer_size": Column("float64", "response._transferSize, else headersSize + bodySize (bytes on the wire)",
                            (field_at("plain", "response.transferSize"), field_at("number", "response.headersSize"),
                             field_at("number", "response.bodySize")), _transfer),
    "time": Column("float64", "entry.time (ms)", (field_at("number", "time"),), _ms),
    **{phase: Column("float64", _PHASE_MEANING.get(phase, f"timings.{phase} (ms)"),
                     (field_at("number", f"timings.{phase}"),), _ms) for phase in PHASES},
    "server_ip": Column("string", "serverIPAddress", (field_at("plain", "serverIPAddress"),),
                        lambda v: list(map(_present, v))),
    "page": Column("category", "pageref", (field_at("coded", "pageref"),), lambda c: c.labelled(_present)),
    "error": Column("string", "response._error or entry._error; status 0 without one says 'no response'",
                    (Source("plain", "_error", _errors), _STATUS), _with_no_response),
}
#: column -> (dtype, meaning). The order here is the frame's column order.
COLUMNS: dict[str, tuple[str, str]] = {name: (column.dtype, column.meaning) for name, column in SPECS.items()}

#: The columns `Runs.df` adds in front of `COLUMNS`: which file each row came from.
RUN_COLUMNS: dict[str, tuple[str, str]] = {
    "run": ("category", "the run: its file's name without the .har suffix, unique among the runs"),
    "file": ("category", "the file's path or URL"),
}


class Builder:
    """Gathers the frame's sources a chunk of entries at a time, then builds the frame once.

    Each chunk is read while its freshly decoded views are still in the CPU cache (read
    later, cold, the same work takes about twice as long); columns with few distinct
    values are kept as codes, and only their distinct values are normalised.
    """

    def __init__(self) -> None:
        self._specs = dict(SPECS)
        self._sources = list({source.key: source for column in self._specs.values() for source in column.sources}.values())
        self._count = 0
        self._plain: defaultdict[str, list] = defaultdict(list)
        self._arrays: defaultdict[str, list[np.ndarray]] = defaultdict(list)
        self._coded: defaultdict[str, _Codes] = defaultdict(_Codes)

    def add(self, views: Sequence[FrameEntry]) -> Builder:
        """Add entries: views all of `FrameEntry`, or all of `Entry`."""
        if not views:
            return self
        if len(set(map(type, views))) > 1:  # the fields are read by position
            raise TypeError("views to add must be all FrameEntry or all Entry")
        chunk = _Chunk(views)
        for source in self._sources:
            values = source.read(chunk)
            if source.kind == "plain":
                self._plain[source.key] += values
            elif source.kind == "coded":
                self._coded[source.key].add(values)
            else:
                dtype = "float64" if source.kind == "number" else "int64"
                self._arrays[source.key].append(np.fromiter(values, dtype, len(views)))
        self._count += len(views)
        return self

    def _gathered(self, source: Source) -> Any:
        if source.kind == "plain":
            return self._plain[source.key]
        if source.kind == "coded":
            return self._coded[source.key]
        arrays = self._arrays[source.key]
        return np.concatenate(arrays) if arrays else np.empty(0, "float64" if source.kind == "number" else "int64")

    def frame(self, start: int = 0) -> pd.DataFrame:
        """The frame of the entries added, the first one being entry number `start`."""
        gathered = {source.key: self._gathered(source) for source in self._sources}
        typed = {}
        for name, column in self._specs.items():
            values = column.make(*(gathered[source.key] for source in column.sources))
            # in their final dtype at once: no inference, no second conversion
            typed[name] = (_strings(values) if column.dtype == "string" else
                           pd.array(values, dtype=column.dtype) if column.dtype == "Int64" else values)
        return pd.DataFrame(typed, index=pd.RangeIndex(start, start + self._count, name="entry"), copy=False)


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
