"""Session: a HAR log held losslessly, its traffic frame, and a selection."""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union, overload

import msgspec
import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype

from necto_nb import frame
from necto_nb.errors import ArgumentError, HarError, RowError
from necto_nb.har import body, write
from necto_nb.har.admit import admit
from necto_nb.har.deferred import Rest
from necto_nb.har.entries import Entries, decode
from necto_nb.har.read import parse, paused_gc
from necto_nb.har.repair import Repairer
from necto_nb.har.redact import Redaction, Redactor
from necto_nb.har.report import Report
from necto_nb.har.source import Source

if TYPE_CHECKING:
    from collections.abc import Mapping

    from necto_nb.capture import Proxy
    from necto_nb.rules import Rule
    from necto_nb.widgets import TrafficGrid

#: Which entries: an index label, index labels, a boolean mask, or a filtered frame (its index).
Rows = Union[int, np.integer, Sequence[int], Sequence[bool], np.ndarray, pd.Index, pd.Series, pd.DataFrame]
#: What `to_har` does with bodies: keep them all, only text ones, or none.
Bodies = Literal["all", "text", "none"]

#: log fields that hold what a Session set aside from its entries and pages
_SET_ASIDE = ("_invalidEntries", "_invalidPages")


@dataclass(frozen=True)
class SessionState:
    """Everything a Session holds, in one value: changes build a new one and swap it in
    under the lock, so no reader sees half a change and `clear()` cannot forget a part."""

    log: dict
    pages: list[dict] = field(default_factory=list)
    report: Report = field(default_factory=Report)
    entries: Entries = field(default_factory=Entries)
    frames: list[pd.DataFrame] = field(default_factory=list)  # the frame in pieces, joined on first look
    rest: Rest | None = None  # the import's check of what the frame does not read, until run
    folder: Path | None = None  # where side files (`_file` bodies) are read from
    pages_absent: bool = False  # the source had no log.pages: write none back
    from_file: int = 0  # leading entries whose order a file gave: exports keep it
    selected: list[int] = field(default_factory=list)


class Session:
    """Entries, pages and log metadata of one HAR, and the frame derived from them.

    Entries keep every field they came with; `df` is derived, one row per entry, and its
    index is the entry's position, so filtering the frame names entries to export.
    Appending (`extend`) is thread-safe: a capture fills a Session while you read `df`.
    """

    def __init__(self, name: str = "session", entries: Iterable[dict | bytes] = (), *,
                 pages: Iterable[dict] = (), log: dict | None = None) -> None:
        self.name = name
        self._state = SessionState({"version": "1.2", "creator": {"name": "necto_nb", "version": _version()}, **(log or {})})
        self._observers: list[Callable[[Session], None]] = []
        #: what observers raised (a grid, a live view): collected here, never raised into `extend`
        self.observer_errors: list[str] = []
        self._lock = threading.RLock()
        self.extend(entries, pages)

    @classmethod
    def _of(cls, name: str, state: SessionState) -> Session:
        """A Session holding `state`: the door for the reader and `Runs.session`."""
        session = cls(name)
        session._state = state
        return session

    @classmethod
    def _read(cls, source: Source, name: str | None, strict: bool, progress: bool | None) -> Session:
        builder = frame.Builder()
        parsed = parse(source, builder.add, strict=strict, name=name, progress=progress)
        return cls._of(parsed.name, SessionState(
            parsed.log, parsed.pages, parsed.report, parsed.entries, [builder.frame()],
            rest=None if strict else parsed.rest,  # strict: checked already
            folder=parsed.folder, pages_absent=parsed.pages_absent, from_file=len(parsed.entries)))

    def _checked(self) -> SessionState:
        """The state with the import finished: each entry's fields that the frame does not
        read checked (and repaired)."""
        with self._lock:
            state = self._state
            if state.rest is not None:
                with paused_gc():
                    state.rest.check()
                state = self._state = dataclasses.replace(state, rest=None)
            return state

    # -- contents ----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._state.entries)

    @property
    def log(self) -> dict:
        """The log's fields but entries and pages: `creator`, `browser`, `comment`, custom fields."""
        return self._state.log

    @property
    def pages(self) -> list[dict]:
        return self._state.pages

    @property
    def folder(self) -> Path | None:
        """The folder of the HAR file read, where side files (`_file` bodies) may be."""
        return self._state.folder

    @property
    def entries(self) -> Entries:
        """The entries as HAR dicts, decoded on demand (each access gives a fresh dict)."""
        return self._checked().entries

    @property
    def report(self) -> Report:
        """What the import repaired or doubts, with JSON paths, and what `extend` repaired since.

        `read_har` returns once the fields the frame reads are checked; the first look at
        the report (or the entries, or an export) checks the rest of every entry.
        """
        return self._checked().report

    @property
    def df(self) -> pd.DataFrame:
        """One row per entry; see `necto_nb.frame.COLUMNS`. A snapshot: safe to keep."""
        with self._lock:
            state = self._state
            if len(state.frames) != 1:
                state = self._state = dataclasses.replace(state, frames=[frame.concat(state.frames)])
            return state.frames[0]

    def extend(self, entries: Iterable[dict | bytes], pages: Iterable[dict] = ()) -> None:
        """Append entries (dicts or JSON bytes), checked and repaired as on import."""
        pages = [dict(p) for p in pages]
        encoded = [e if isinstance(e, (bytes, bytearray, memoryview)) else msgspec.json.encode(e) for e in entries]
        if not encoded and not pages:
            return
        with self._lock:
            state = self._checked()  # the import's own check first: it numbers entries as the file did
            added, renamed = _new_pages(state.pages, pages)
            if renamed:
                encoded = [_repoint(raw, renamed) for raw in encoded]
            start = len(state.entries)
            report = Report(state.report)
            admitted = admit(encoded, start, Repairer(report), whole=True)  # checked whole, as on import
            log = state.log
            if admitted.invalid:
                log = {**log, "_invalidEntries": [*log.get("_invalidEntries", []), *admitted.invalid]}
            frames = state.frames
            if admitted.views:
                frames = [*frames, frame.build(admitted.views, start=start)]
            self._state = dataclasses.replace(
                state, log=log, pages=[*state.pages, *added], report=report,
                entries=Entries([*state.entries.raws(), *admitted.raws]), frames=frames)
        self._notify()

    def clear(self) -> None:
        """Remove every entry and page, and what the import reported and set aside; the log's
        metadata (creator, browser, comment) stays."""
        with self._lock:
            log = {k: v for k, v in self._state.log.items() if k not in _SET_ASIDE}
            self._state = SessionState(log)
        self._notify()

    # -- selection ---------------------------------------------------------------------

    @property
    def selection(self) -> pd.DataFrame:
        """The selected rows of `df` (what the grid shows as selected)."""
        df = self.df
        return df.loc[[i for i in self._state.selected if i in df.index]]

    @selection.setter
    def selection(self, rows: Rows | None) -> None:
        self.select(rows)

    def select(self, rows: Rows | None) -> None:
        positions = self._positions(rows)
        with self._lock:
            self._state = dataclasses.replace(self._state, selected=positions)
        self._notify()

    def _positions(self, rows: Rows | None) -> list[int]:
        """Entry positions from index labels, a boolean mask or a filtered frame."""
        if rows is None:
            return list(range(len(self)))
        if isinstance(rows, pd.DataFrame):
            rows = rows.index
        if isinstance(rows, pd.Series) and is_bool_dtype(rows.dtype):
            rows = rows.reindex(self.df.index).fillna(False).to_numpy(dtype=bool)
        if isinstance(rows, (int, np.integer)):
            rows = [rows]
        values = np.asarray(rows)
        if values.dtype == bool:
            if len(values) != len(self):
                raise ArgumentError(f"a boolean mask of length {len(values)} for a session of {len(self)} entries")
            return np.flatnonzero(values).tolist()
        positions = [int(i) for i in values]
        bad = [i for i in positions if not 0 <= i < len(self)]
        if bad:
            raise RowError(f"no entry {bad[0]} in a session of {len(self)} entries")
        return positions

    # -- observers ---------------------------------------------------------------------

    def observe(self, callback: Callable[[Session], None]) -> Callable[[], None]:
        """Call `callback(session)` after every change (from whichever thread made it)."""
        self._observers.append(callback)
        return lambda: self._observers.remove(callback) if callback in self._observers else None

    def _notify(self) -> None:
        # An observer's failure must not undo or hide the change it was told about.
        for callback in list(self._observers):
            try:
                callback(self)
            except Exception as exc:  # noqa: BLE001 - kept for the user, never raised into a capture
                self.observer_errors.append(f"{getattr(callback, '__qualname__', callback)!s}: {exc!r}")

    # -- bodies ------------------------------------------------------------------------

    def response_body(self, i: int) -> bytes | None:
        """Entry `i`'s response body, decoded (base64, side file); None if not recorded."""
        return body.response_body(self.entries[i], self.folder)

    def request_body(self, i: int) -> bytes | None:
        return body.request_body(self.entries[i])

    # -- export ------------------------------------------------------------------------

    @overload
    def to_har(self, path: None = None, *, rows: Rows | None = None, redact: bool | Redactor | Redaction = False,
               bodies: Bodies = "all", progress: bool | None = None) -> dict[str, Any]: ...
    @overload
    def to_har(self, path: str | os.PathLike[str], *, rows: Rows | None = None,
               redact: bool | Redactor | Redaction = False, bodies: Bodies = "all",
               progress: bool | None = None) -> Path: ...
    def to_har(self, path: str | os.PathLike[str] | None = None, *, rows: Rows | None = None,
               redact: bool | Redactor | Redaction = False, bodies: Bodies = "all",
               progress: bool | None = None) -> dict[str, Any] | Path:
        """The HAR of all entries (or `rows`) as a dict, or written to `path` (.har, .har.gz).

        Entries are written in the order they started (a capture appends them as they end).

        `redact=True` replaces credentials with a marker (`necto_nb.har.redact.Redactor`
        configures what counts); `bodies` is "all", "text" (drop binary bodies) or "none".
        Only the pages the exported entries refer to are written.
        """
        with self._lock:
            state = self._checked()
            positions = None if rows is None else self._positions(rows)
            pages: list[dict] | None
            if positions is None:
                pages = state.pages
            else:
                refs = set(self.df["page"].iloc[positions].dropna())
                pages = [p for p in state.pages if p.get("id") in refs]
            log = {k: v for k, v in state.log.items() if k != "_invalidEntries" or positions is None}
            positions = _in_start_order(self.df["started"], positions, state.from_file)
            if state.pages_absent and not pages:
                pages = None  # the source had no pages key: write none back
            document = write.Document(log, pages, state.entries, positions)
        pieces = document.pieces(redact=redact, bodies=bodies, progress=progress)
        if path is None:
            return decode(b"".join(pieces))
        return write.atomic_write(Path(path), pieces)

    # -- doors to the heavier parts (imported only when used) --------------------------

    def capture(self, *, port: int = 8080, host: str = "127.0.0.1", ignore_hosts: Iterable[str] = (),
                max_body: int | str | None = None, upstream: str | None = None, upstream_auth: str | None = None,
                ssl_insecure: bool = False, confdir: str | Path | None = None,
                proxyauth: str | tuple[str, str] | None = None, http2: bool = True,
                options: Mapping[str, Any] | None = None, batch_interval: float = 0.05,
                timeout: float = 30.0, rules: Iterable[Rule] = ()) -> Proxy:
        """Start a proxy that records into this Session; the options are
        `necto_nb.capture.start`'s (a test holds the two signatures equal)."""
        from necto_nb.capture import start

        return start(self, port=port, host=host, ignore_hosts=ignore_hosts, max_body=max_body, upstream=upstream,
                     upstream_auth=upstream_auth, ssl_insecure=ssl_insecure, confdir=confdir, proxyauth=proxyauth,
                     http2=http2, options=options, batch_interval=batch_interval, timeout=timeout, rules=rules)

    def grid(self, *, height: str = "360px", redact: bool = True, folder: str | os.PathLike | None = None,
             interval: float = 0.25) -> TrafficGrid:
        """The traffic grid for this session; the options are `TrafficGrid`'s."""
        from necto_nb.widgets import TrafficGrid

        return TrafficGrid(self, height=height, redact=redact, folder=folder, interval=interval)

    # -- combining and showing ---------------------------------------------------------

    def __add__(self, other: Session) -> Session:
        return concat([self, other])

    def __repr__(self) -> str:
        creator = self.log.get("creator", {})
        made = f" from {creator.get('name')} {creator.get('version', '')}".rstrip() if isinstance(creator, dict) else ""
        issues = f", {len(self.report)} report item(s)" if self.report else ""
        return f"<Session {self.name!r}: {len(self)} entries, {len(self.pages)} pages{made}{issues}>"

    def _repr_html_(self) -> str:
        import html

        return f"<p>{html.escape(repr(self))}</p>" + self.df.head(20)._repr_html_()


def _in_start_order(started: pd.Series, positions: list[int] | None, from_file: int) -> list[int] | None:
    """`positions` (None: all) with those past the first `from_file` ordered by startedDateTime.

    Entries a file brought keep its order (a round trip changes nothing); entries added
    since (a capture appends them as they end) follow in the order they started, as
    DevTools writes them. Ties keep their order; None stays None when nothing moves.
    """
    values = started.to_numpy(dtype="datetime64[ns]")
    kept = np.arange(len(values)) if positions is None else np.asarray(positions, dtype=np.int64)
    added = kept[kept >= from_file]
    order = np.argsort(values[added], kind="stable")
    if (order == np.arange(len(order))).all():
        return positions
    return np.concatenate([kept[kept < from_file], added[order]]).tolist()


def _new_pages(known_pages: list[dict], pages: list[dict]) -> tuple[list[dict], dict[Any, str]]:
    """Which of `pages` to add, and {old: new} ids for those whose id a known page already
    has (two DevTools exports both call their first page "page_1")."""
    known = {p.get("id"): p for p in known_pages}
    added: list[dict] = []
    renamed: dict[Any, str] = {}  # page ids as given: any JSON value
    for page in pages:
        pid = page.get("id")
        if pid in known and known[pid] == page:
            continue  # the same page again (a Session extended from its own export)
        if pid in known:
            n = 2
            while f"{pid}~{n}" in known:
                n += 1
            renamed[pid] = page["id"] = f"{pid}~{n}"
        known[page.get("id")] = page
        added.append(page)
    return added, renamed


def _repoint(raw: Any, renamed: dict[Any, str]) -> Any:
    """Entry bytes with its pageref changed to a page's new id."""
    entry = msgspec.json.decode(raw)
    if isinstance(entry, dict) and entry.get("pageref") in renamed:
        entry["pageref"] = renamed[entry["pageref"]]
        return msgspec.json.encode(entry)
    return raw


def concat(sessions: Sequence[Session], name: str | None = None) -> Session:
    """One Session with the entries and pages of all of `sessions`, in order."""
    if not sessions:
        raise ArgumentError("concat needs at least one Session")
    first = sessions[0]
    combined = Session(name or " + ".join(s.name for s in sessions), log=dict(first.log))
    for session in sessions:
        raws = [session.entries.raw(i) for i in range(len(session))]
        combined.extend([bytes(r) for r in raws], session.pages)
        combined.report.extend(session.report)
    return combined


def read_har(source: Source, *, name: str | None = None, strict: bool = False, progress: bool | None = None) -> Session:
    """Read a HAR file (path, .har.gz, .zhar, bytes, file object, dict or http(s) URL).

    Spec breaks found in real files are repaired and listed in `session.report` with their
    JSON path; `strict=True` raises `HarError` instead. An unreadable file raises `HarError`.
    Large files show a progress bar unless `progress=False`.
    """
    with paused_gc():  # the typed views are many small acyclic objects: see har.read
        return Session._read(source, name, strict, progress)


def _version() -> str:
    from necto_nb import __version__

    return __version__


__all__ = ["Session", "concat", "read_har", "HarError"]
