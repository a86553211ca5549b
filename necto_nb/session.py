"""Session: a HAR log held losslessly, its traffic frame, and a selection."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype

from necto_nb import frame
from necto_nb.har import body, write
from necto_nb.har.entries import Entries, decode
from necto_nb.har.read import Rest, parse, paused_gc, repair_entry, valid_view
from necto_nb.har.repair import Repairer
from necto_nb.errors import ArgumentError, HarError, RowError
from necto_nb.har.report import Report

if TYPE_CHECKING:
    from necto_nb.capture import Proxy
    from necto_nb.widgets import TrafficGrid

Rows = Any  # index labels, a boolean mask, or a filtered frame


class Session:
    """Entries, pages and log metadata of one HAR, and the frame derived from them.

    Entries keep every field they came with; `df` is derived, one row per entry, and its
    index is the entry's position, so filtering the frame names entries to export.
    Appending (`extend`) is thread-safe: a capture fills a Session while you read `df`.
    """

    def __init__(self, name: str = "session", entries: Iterable[dict | bytes] = (), *,
                 pages: Iterable[dict] = (), log: dict | None = None) -> None:
        self.name = name
        self.log: dict = {"version": "1.2", "creator": {"name": "necto_nb", "version": _version()}}
        self.log.update(log or {})
        self.pages: list[dict] = []
        self.folder: Path | None = None
        self._report = Report()
        self._entries = Entries()
        self._rest: Rest | None = None  # the import's check of what the frame does not read, until run
        self._frames: list[pd.DataFrame] = []
        self._df: pd.DataFrame | None = None
        self._selected: list[int] = []
        self._pages_absent = False
        self._from_file = 0  # leading entries whose order a file gave: exports keep it
        self._observers: list[Callable[[Session], None]] = []
        #: what observers raised (a grid, a live view): collected here, never raised into `extend`
        self.observer_errors: list[str] = []
        self._lock = threading.RLock()
        self.extend(entries, pages)

    @classmethod
    def _read(cls, source: Any, name: str | None, strict: bool, progress: bool | None) -> Session:
        builder = frame.Builder()
        parsed = parse(source, builder.add, strict=strict, name=name, progress=progress)
        session = cls(parsed.name)
        session.log, session.pages, session._report = parsed.log, parsed.pages, parsed.report
        session.folder, session._pages_absent = parsed.folder, parsed.pages_absent
        session._entries, session._frames = parsed.entries, [builder.frame()]
        session._from_file = len(parsed.entries)
        session._rest = None if strict else parsed.rest  # strict: checked already
        return session

    def _check_rest(self) -> None:
        """Finish the import: check (and repair) each entry's fields that the frame does not read."""
        with self._lock:
            if self._rest is not None:
                with paused_gc():
                    self._rest.check()
                self._rest = None

    # -- contents ----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def entries(self) -> Entries:
        """The entries as HAR dicts, decoded on demand (each access gives a fresh dict)."""
        self._check_rest()
        return self._entries

    @property
    def report(self) -> Report:
        """What the import repaired or doubts, with JSON paths, and what `extend` repaired since.

        `read_har` returns once the fields the frame reads are checked; the first look at
        the report (or the entries, or an export) checks the rest of every entry.
        """
        self._check_rest()
        return self._report

    @property
    def df(self) -> pd.DataFrame:
        """One row per entry; see `necto_nb.frame.COLUMNS`. A snapshot: safe to keep."""
        with self._lock:
            if self._df is None:
                self._df = frame.concat(self._frames)
                self._frames = [self._df]
            return self._df

    def extend(self, entries: Iterable[dict | bytes], pages: Iterable[dict] = ()) -> None:
        """Append entries (dicts or JSON bytes), checked and repaired as on import."""
        pages = [dict(p) for p in pages]
        encoded = [e if isinstance(e, (bytes, bytearray, memoryview)) else msgspec.json.encode(e) for e in entries]
        if not encoded and not pages:
            return
        with self._lock:
            renamed = self._add_pages(pages)
            if renamed:
                encoded = [_repoint(raw, renamed) for raw in encoded]
            start = len(self._entries)
            views, raws = [], []
            repairer = Repairer(self._report)
            for i, raw in enumerate(encoded, start):
                view = valid_view(raw)  # checked whole, as on import
                if view is None:
                    fixed = repair_entry(raw, f"log.entries[{i}]", repairer)
                    if fixed is None:
                        self.log.setdefault("_invalidEntries", []).append(msgspec.json.decode(raw))
                        continue
                    view, raw = fixed
                views.append(view)
                raws.append(raw)
            self._entries.append_raws(raws)
            if views:
                self._frames.append(frame.build(views, start=start))
                self._df = None
        self._notify()

    def _add_pages(self, pages: list[dict]) -> dict[str, str]:
        """Add `pages`; a page whose id another page already has gets a new id, returned as
        {old: new} (two DevTools exports both call their first page "page_1")."""
        known = {p.get("id"): p for p in self.pages}
        renamed = {}
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
            self.pages.append(page)
        return renamed

    def clear(self) -> None:
        with self._lock:
            self._entries, self._rest = Entries(), None
            self._frames, self._df, self._from_file = [], None, 0
            self.pages, self._selected = [], []
        self._notify()

    # -- selection ---------------------------------------------------------------------

    @property
    def selection(self) -> pd.DataFrame:
        """The selected rows of `df` (what the grid shows as selected)."""
        df = self.df
        return df.loc[[i for i in self._selected if i in df.index]]

    @selection.setter
    def selection(self, rows: Rows) -> None:
        self.select(rows)

    def select(self, rows: Rows) -> None:
        self._selected = self._positions(rows)
        self._notify()

    def _positions(self, rows: Rows) -> list[int]:
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

    def to_har(self, path: str | Path | None = None, *, rows: Rows = None, redact: bool | Any = False,
               bodies: str = "all", progress: bool | None = None) -> dict | Path:
        """The HAR of all entries (or `rows`) as a dict, or written to `path` (.har, .har.gz).

        Entries are written in the order they started (a capture appends them as they end).

        `redact=True` replaces credentials with a marker (`necto_nb.har.redact.Redactor`
        configures what counts); `bodies` is "all", "text" (drop binary bodies) or "none".
        Only the pages the exported entries refer to are written.
        """
        with self._lock:
            self._check_rest()
            positions = None if rows is None else self._positions(rows)
            if positions is None:
                pages = self.pages
            else:
                refs = set(self.df["page"].iloc[positions].dropna())
                pages = [p for p in self.pages if p.get("id") in refs]
            log = {k: v for k, v in self.log.items() if k != "_invalidEntries" or positions is None}
            positions = _in_start_order(self.df["started"], positions, self._from_file)
            if self._pages_absent and not pages:
                pages = None  # the source had no pages key: write none back
            document = write.Document(log, pages, self._entries, positions)
        pieces = document.pieces(redact=redact, bodies=bodies, progress=progress)
        if path is None:
            return decode(b"".join(pieces))
        return write.atomic_write(Path(path), pieces)

    # -- doors to the heavier parts (imported only when used) --------------------------

    def capture(self, **options: Any) -> Proxy:
        """Start a proxy that records into this Session; see `necto_nb.capture.start`."""
        from necto_nb.capture import start

        return start(self, **options)

    def grid(self, **options: Any) -> TrafficGrid:
        from necto_nb.widgets import TrafficGrid

        return TrafficGrid(self, **options)

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


def _repoint(raw: Any, renamed: dict[str, str]) -> Any:
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


def read_har(source: Any, *, name: str | None = None, strict: bool = False, progress: bool | None = None) -> Session:
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
