"""Read a HAR: bytes in, validated entries, metadata and a report out.

Reading comes in two parts. `parse` decodes what the traffic frame reads of each entry
(`model.FrameEntry`, checked in C without building dicts) and hands those views, a chunk
at a time, to whoever builds the frame. `deferred.Rest.check` later checks every other
field (`model.Entry`) — the headers, cookies, bodies — which costs as much again and which
a Session runs on first need. Either part sends an entry that fails to `admit`'s repair,
the only place entries become Python dicts. A file of the usual shape whose frame fields
are all valid (most) is decoded in one pass, its entries kept as the file's bytes and split
one by one only when asked; any other goes entry by entry. The steps have their own
modules: `encoding` (BOM, JSONP, UTF-8), `locate` (where the log is), `json_errors`, `progress`.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import Any, cast

import msgspec

from necto_nb.errors import HarError
from necto_nb.har import model
from necto_nb.har.admit import admit, frame_view
from necto_nb.har.deferred import Rest
from necto_nb.har.encoding import unwrap, valid_utf8
from necto_nb.har.entries import Entries
from necto_nb.har.json_errors import decode_or_raise
from necto_nb.har.locate import InFile, log_and_entries, viewed
from necto_nb.har.progress import CHUNK, chunks
from necto_nb.har.repair import Repairer, is_date
from necto_nb.har.report import Report
from necto_nb.har.source import Source, load, stamp

_frame_decoder = msgspec.json.Decoder(model.FrameEntry)
#: Files up to this size are decoded in one pass, every entry's view at once (see `parse`).
ONE_PASS_UP_TO = 32 << 20
_any = msgspec.json.Decoder()

Sink = Callable[[list[model.FrameEntry]], object]


@dataclass
class Parsed:
    """A HAR read and checked: what a Session is made of (its frame came through the sink)."""

    name: str
    log: dict[str, Any]  # every log field but entries and pages, as read (and repaired)
    pages: list[dict]
    entries: Entries
    report: Report
    rest: Rest  # the check of what the frame does not read, left for later
    folder: Path | None = None
    pages_absent: bool = False  # the file had no log.pages (written back the same way)


@contextmanager
def paused_gc() -> Iterator[None]:
    """Decoding allocates millions of acyclic objects; collecting during it only costs time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse(source: Source, sink: Sink, *, strict: bool = False, name: str | None = None,
          progress: bool | None = None) -> Parsed:
    """Read `source`; `sink(views)` receives the frame views of each chunk of entries, in order."""
    loaded = load(source)
    name = name or loaded.name
    report = Report()
    data = _json(loaded.data, report)
    one_pass = viewed(data) if len(data) <= ONE_PASS_UP_TO else None
    if one_pass is not None and not model.on_pattern(one_pass[1]):
        one_pass = None  # an entry to repair: entry by entry
    log, raws = one_pass if one_pass is not None else log_and_entries(data, name, report)
    meta = {key: decode_or_raise(_any, raw, name, f"log.{key}") for key, raw in log.items()}
    repairer = Repairer(report)
    repairer.log(meta)
    pages = meta.pop("pages", [])
    if not isinstance(pages, list):
        meta["_pages"] = pages
        report.add("warning", "log.pages", "log.pages is not a list", "kept as log._pages; no pages")
        pages = []
    page_ids: set[str] = {p["id"] for p in pages if isinstance(p, dict) and isinstance(p.get("id"), str)}
    # a page without its start gets its first entry's: note those only if one is needed
    starts = any(isinstance(p, dict) and not is_date(p.get("startedDateTime")) for p in pages)
    dropped: set[int] = set()
    if one_pass is not None:
        entries = _viewed_entries(data, one_pass[1], sink, progress, name)
        first_seen = _first_seen(one_pass[1]) if starts else {}
    else:  # the entries' raw JSON
        entries, first_seen, dropped = _read_entries(cast("list[msgspec.Raw]", raws), name, repairer, meta, sink,
                                                     progress, starts)
    origin = [i for i in range(len(raws)) if i not in dropped] if dropped else None
    parsed = Parsed(name, meta, _read_pages(pages, first_seen, repairer, meta), entries, report,
                    Rest(name, entries, report, page_ids, loaded.folder, origin, progress), loaded.folder,
                    pages_absent="pages" not in log)
    if not len(entries):
        report.add("warning", "log.entries", "no entries", "a valid HAR with no traffic")
    if strict:
        parsed.rest.check()
        if report.errors or report.warnings:
            raise HarError.from_issues([i for i in report if i.severity != "info"], name)
    return parsed


def _json(data: bytes, report: Report) -> bytes:
    return valid_utf8(unwrap(data, report), report)


@dataclass(frozen=True)
class AtPath:
    """The entries of a local file read in one pass, not kept but read again from the file
    when asked (`entries.Stored`), so that many runs take the memory of their frame, not of
    their files: as the file was when read, else an error saying it changed."""

    path: Path
    count: int
    stamp: tuple[int, int]  # size and modification time when read

    def __len__(self) -> int:
        return self.count

    def load(self) -> list[msgspec.Raw]:
        try:
            changed = stamp(self.path) != self.stamp
        except OSError as exc:
            raise HarError(f"{self.path}: cannot read its entries again ({exc.strerror or exc})") from None
        entries = None if changed else InFile(_json(load(self.path).data, Report()), self.count).load()
        if entries is None or len(entries) != self.count:
            raise HarError(f"{self.path}: changed since it was read; read it again")
        return entries


_pageref, _started = attrgetter("pageref"), attrgetter("startedDateTime")


def _viewed_entries(data: bytes, views: list[model.FrameEntry], sink: Sink, progress: bool | None,
                    name: str) -> Entries:
    """The entries of a file read in one pass: all valid, kept as the file's bytes."""
    for first in chunks(len(views), progress, f"read {name}"):
        sink(views[first:first + CHUNK])
    return Entries(stored=InFile(data, len(views)))


def _first_seen(views: list[model.FrameEntry]) -> dict[str, str]:
    """Each page's first entry's start (reversed: the first written is the one that stays)."""
    return dict(zip(map(_pageref, reversed(views)), map(_started, reversed(views))))


def _read_entries(raws: list[msgspec.Raw], name: str, repairer: Repairer, meta: dict, sink: Sink,
                  progress: bool | None, starts: bool) -> tuple[Entries, dict[str, str], set[int]]:
    """The entries whose frame fields are valid or repaired, (if `starts`) each page's first
    entry's start, and where the entries that are not kept were."""
    kept: list[Any] = []
    invalid: list[Any] = []
    dropped: set[int] = set()
    first_seen: dict[str, str] = {}
    for first in chunks(len(raws), progress, f"read {name}"):
        chunk = raws[first:first + CHUNK]
        maybe: list[model.FrameEntry | None]
        try:
            views = list(map(_frame_decoder.decode, chunk))  # the usual chunk: every entry decodes
            usual = model.on_pattern(views)
            maybe = list(views)
        except (msgspec.ValidationError, RecursionError):
            maybe, usual = list(map(frame_view, chunk)), False
        if usual:
            kept += chunk
        else:
            admitted = admit(chunk, first, repairer, whole=False, name=name, views=maybe)
            views = admitted.views
            kept += admitted.raws
            invalid += admitted.invalid
            dropped.update(admitted.dropped)
        if starts:
            first_seen = _first_seen(views) | first_seen
        sink(views)
    if invalid:
        meta["_invalidEntries"] = invalid
    return Entries(kept), first_seen, dropped


def _read_pages(pages: list, first_seen: dict[str, str], repairer: Repairer, meta: dict) -> list[dict]:
    kept = []
    for i, page in enumerate(pages):
        if not isinstance(page, dict):
            meta.setdefault("_invalidPages", []).append(page)
            repairer.report.add("warning", f"log.pages[{i}]", "a page must be an object", "kept in log._invalidPages")
            continue
        page_id = page.get("id")
        repairer.page(page, f"log.pages[{i}]", first_seen.get(page_id) if isinstance(page_id, str) else None)
        kept.append(page)
    ids = [p["id"] for p in kept]
    if len(set(ids)) != len(ids):
        repairer.report.add("warning", "log.pages", "page ids are not unique", "entries refer to the first")
    return kept
