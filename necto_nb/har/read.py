"""Read a HAR: bytes in, validated entries, metadata and a report out.

Reading comes in two parts. `parse` decodes what the traffic frame reads of each entry
(`model.FrameEntry`, checked in C without building dicts) and hands those views, a chunk
at a time, to whoever builds the frame. `Rest.check` later checks every other field
(`model.Entry`) — the headers, cookies, bodies — which costs as much again and which a
Session runs on first need. Either part sends an entry that fails to `repair.Repairer`,
the only place entries become Python dicts.
"""

from __future__ import annotations

import codecs
import gc
import json
import math
import re
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import Any

import msgspec
from msgspec import UNSET

from necto_nb.har import model
from necto_nb.har.body import side_file
from necto_nb.har.entries import Entries
from necto_nb.har.repair import Repairer, check_base64, is_date
from necto_nb.errors import HarError
from necto_nb.har.report import Report
from necto_nb.har.source import load

_BOM = b"\xef\xbb\xbf"
_JSONP = re.compile(rb"^\s*([A-Za-z_$][\w$.]*)\s*\((.*)\)\s*;?\s*$", re.S)
_OFFSET = re.compile(r"\(byte (\d+)\)")
_UTF8_CHUNK = 1 << 20
_split = msgspec.json.Decoder(list[msgspec.Raw])
_frame_decoder = msgspec.json.Decoder(model.FrameEntry)
_entry_decoder = msgspec.json.Decoder(model.Entry)
_fields = msgspec.json.Decoder(dict[str, msgspec.Raw])
_log_fields = msgspec.json.Decoder(dict[str, dict[str, msgspec.Raw]])
_any = msgspec.json.Decoder()
_any_raw = msgspec.json.Decoder(msgspec.Raw)
_string = msgspec.json.Decoder(str)


#: Entries are decoded and handed on in chunks, so the typed views of only one chunk
#: exist at a time: import memory stays near the file's size.
CHUNK = 4096
#: Imports and exports of at least this many entries show a progress bar.
PROGRESS_FROM = 20_000

Sink = Callable[[list[model.FrameEntry]], None]


class _Log(msgspec.Struct, forbid_unknown_fields=True):
    """A log with only the keys HAR 1.2 names, entries split in the same pass (a file with
    any other key takes the general path)."""

    entries: list[msgspec.Raw]
    version: msgspec.Raw = msgspec.Raw()
    creator: msgspec.Raw = msgspec.Raw()
    browser: msgspec.Raw = msgspec.Raw()
    pages: msgspec.Raw = msgspec.Raw()
    comment: msgspec.Raw = msgspec.Raw()


class _Usual(msgspec.Struct, forbid_unknown_fields=True):
    log: _Log


_usual = msgspec.json.Decoder(_Usual)


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
def paused_gc():
    """Decoding allocates millions of acyclic objects; collecting during it only costs time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _where(data: bytes, message: str) -> str:
    match = _OFFSET.search(message)
    offset = int(match.group(1)) if match else len(data)
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


def _decode(decoder: msgspec.json.Decoder, data: Any, name: str, what: str):
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise HarError(f"{name}: {what}: {exc}") from None
    except msgspec.DecodeError as exc:
        message = str(exc)
        if "truncated" in message:
            raise HarError(f"{name}: invalid JSON: the file ends early ({_where(bytes(data), message)})") from None
        if "malformed" in message:
            reason = _OFFSET.sub("", message.split(": ", 1)[-1]).strip()
            raise HarError(f"{name}: invalid JSON at {_where(bytes(data), message)}: {reason}") from None
        raise HarError(f"{name}: {what}: {message}") from None
    except RecursionError:
        raise HarError(f"{name}: invalid HAR: {what} is nested too deeply to read") from None


def _utf8(exc: UnicodeDecodeError) -> str:
    return f"byte {exc.object[exc.start:exc.start + 1]!r} at offset {exc.start}: {exc.reason}"


def _valid_utf8(data: bytes, report: Report) -> bytes:
    """msgspec checks UTF-8 only in the strings it decodes, and bodies and custom fields stay
    raw: check the whole file once, a chunk at a time so memory stays flat, and replace what
    is invalid with U+FFFD, saying where."""
    if data.isascii():  # most HAR files: a scan in C, no decoding
        return data
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    for start in range(0, len(view), _UTF8_CHUNK):
        pending = len(decoder.getstate()[0])
        try:
            decoder.decode(view[start:start + _UTF8_CHUNK], final=start + _UTF8_CHUNK >= len(view))
        except UnicodeDecodeError as exc:
            where = _where(data, f"(byte {start - pending + exc.start})")
            report.add("warning", "$", f"invalid UTF-8 at {where}: {exc.reason}", "replaced with U+FFFD")
            return bytes(data).decode("utf-8", "replace").encode()
    return data


def _unwrap(data: bytes, report: Report) -> bytes:
    if data.startswith(_BOM):
        report.add("info", "$", "UTF-8 byte order mark before the JSON", "ignored")
        data = data[len(_BOM):]
    if data[:64].lstrip()[:1] not in (b"{", b"[") and (match := _JSONP.match(data)):
        report.add("warning", "$", f"JSONP wrapper {match.group(1).decode()}(...) around the JSON", "unwrapped")
        data = match.group(2)
    return data


def _find_log(top: dict, name: str, report: Report) -> dict[str, msgspec.Raw]:
    """log's fields: under "log", or under another key (some tools nest it), or at the top."""
    if "log" in top:
        log = top["log"]
        if isinstance(log, msgspec.Raw):
            log = _fields_of(log, name, "log")
        return log
    if "entries" in top:
        report.add("warning", "$", "no 'log' object: entries are at the top level", "read the top level as log")
        return {k: v for k, v in top.items()}
    for key, value in top.items():
        inner = value if isinstance(value, dict) else _fields_of(value, name, key, quiet=True)
        if inner and "log" in inner:
            report.add("warning", f"$.{key}.log", f"the log is nested under {key!r}", "read from there")
            return _fields_of(inner["log"], name, f"{key}.log")
    keys = ", ".join(repr(k) for k in list(top)[:5]) or "none"
    raise HarError(f"{name}: not a HAR: no 'log' object at the top level (keys: {keys})")


def _fields_of(raw: Any, name: str, path: str, quiet: bool = False) -> dict | None:
    try:
        return _fields.decode(raw)
    except msgspec.ValidationError:
        if quiet:
            return None
        raise HarError(f"{name}: {path} is {_json_kind(raw)}, not an object") from None


def _json_kind(raw: Any) -> str:
    first = bytes(memoryview(raw)[:1]) if not isinstance(raw, (dict, list)) else b""
    return {b"{": "an object", b"[": "a list", b'"': "a string", b"n": "null", b"t": "a boolean", b"f": "a boolean"}.get(
        first, "a number" if first[:1].isdigit() or first == b"-" else "not an object")


def parse(source: Any, sink: Sink, *, strict: bool = False, name: str | None = None,
          progress: bool | None = None) -> Parsed:
    """Read `source`; `sink(views)` receives the frame views of each chunk of entries, in order."""
    loaded = load(source)
    name = name or loaded.name
    report = Report()
    data = _valid_utf8(_unwrap(loaded.data, report), report)
    log, raws = _log_and_entries(data, name, report)
    meta = {key: _decode(_any, raw, name, f"log.{key}") for key, raw in log.items()}
    repairer = Repairer(report)
    repairer.log(meta)
    pages = meta.pop("pages", [])
    if not isinstance(pages, list):
        meta["_pages"] = pages
        report.add("warning", "log.pages", "log.pages is not a list", "kept as log._pages; no pages")
        pages = []
    page_ids = {p.get("id") for p in pages if isinstance(p, dict) and isinstance(p.get("id"), str)}
    # a page without its start gets its first entry's: note those only if one is needed
    starts = any(isinstance(p, dict) and not is_date(p.get("startedDateTime")) for p in pages)
    entries, first_seen, dropped = _read_entries(raws, name, repairer, meta, sink, progress, starts)
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


def _log_and_entries(data: bytes, name: str, report: Report) -> tuple[dict[str, msgspec.Raw], list[msgspec.Raw]]:
    """log's fields but entries, and each entry's bytes."""
    try:
        usual = _usual.decode(data).log  # {"log": {...}}: one pass
    except (msgspec.DecodeError, RecursionError):  # another shape, or not JSON
        pass
    else:
        return {key: getattr(usual, key) for key in _LOG_KEYS if getattr(usual, key)}, usual.entries
    try:
        top = _log_fields.decode(data)
    except (msgspec.DecodeError, RecursionError):  # not {"log": {...}}, or not JSON: say where
        top = _fields_of(_decode(_any_raw, data, name, "the file"), name, "the top level")
    log = _find_log(top, name, report)
    if "entries" not in log:
        report.add("error", "log.entries", "log.entries is missing", "cannot read traffic")
        raise HarError.from_issues(report, name)
    raw = log.pop("entries")
    if isinstance(raw, dict):  # entries at the top level, decoded with their siblings
        raise HarError(f"{name}: log.entries is an object, not a list", [*report])
    try:
        return log, _split.decode(raw)
    except msgspec.ValidationError:
        raise HarError(f"{name}: log.entries is {_json_kind(raw)}, not a list", [*report]) from None


_LOG_KEYS = [key for key in _Log.__struct_fields__ if key != "entries"]
_pageref, _started = attrgetter("pageref"), attrgetter("startedDateTime")


def _chunks(count: int, progress: bool | None, what: str) -> Iterable[int]:
    """Where each chunk of `count` entries starts; a progress bar for long runs."""
    starts = range(0, count, CHUNK)
    if progress or (progress is None and count >= PROGRESS_FROM):
        from tqdm.auto import tqdm  # only for long imports: tqdm.auto costs an ipywidgets import

        return tqdm(starts, desc=what, unit="chunk", leave=False)
    return starts


def _read_entries(raws: list[msgspec.Raw], name: str, repairer: Repairer, meta: dict, sink: Sink,
                  progress: bool | None, starts: bool) -> tuple[Entries, dict[str, str], set[int]]:
    """The entries whose frame fields are valid or repaired, (if `starts`) each page's first
    entry's start, and where the entries that are not kept were."""
    kept, invalid, dropped = [], [], set()
    first_seen: dict[str, str] = {}
    for first in _chunks(len(raws), progress, f"read {name}"):
        chunk = raws[first:first + CHUNK]
        try:
            views = list(map(_frame_decoder.decode, chunk))  # the usual chunk: every entry decodes
            usual = model.on_pattern(views)
        except (msgspec.ValidationError, RecursionError):
            views, usual = list(map(frame_view, chunk)), False
        if usual:
            kept += chunk
        else:
            views = _repaired(chunk, views, first, name, repairer, kept, invalid, dropped)
        if starts:  # reversed: the first entry of a page is the last written, so it stays
            first_seen = dict(zip(map(_pageref, reversed(views)), map(_started, reversed(views)))) | first_seen
        sink(views)
    if invalid:
        meta["_invalidEntries"] = invalid
    return Entries(kept), first_seen, dropped


def _repaired(chunk: list, views: list, first: int, name: str, repairer: Repairer, kept: list,
              invalid: list, dropped: set) -> list[model.FrameEntry]:
    """The chunk's views with its failing entries repaired (appending to the lists given)."""
    good = []
    for i, (raw, view) in enumerate(zip(chunk, views), first):
        if view is None or not model.on_pattern([view]):
            fixed = repair_entry(raw, f"log.entries[{i}]", repairer)
            if fixed is None:
                invalid.append(_decode(_any, raw, name, f"log.entries[{i}]"))
                dropped.add(i)
                continue
            raw = fixed[1]
            view = frame_view(raw)
        good.append(view)
        kept.append(raw)
    return good


def frame_view(raw: Any) -> model.FrameEntry | None:
    """What the frame reads of an entry, its types checked (not its patterns); None if they fail."""
    try:
        return _frame_decoder.decode(raw)
    except (msgspec.ValidationError, RecursionError):
        return None


@dataclass
class Rest:
    """What `parse` leaves for later: every field of each entry that the frame does not read.

    Checking it costs about as much as the import; a Session runs it on first need (its
    report, its entries, an export), so a frame is there as soon as its fields are read.
    """

    name: str
    entries: Entries
    report: Report
    page_ids: set[str]
    folder: Path | None
    origin: list[int] | None  # each entry's position in the file, where some were set aside
    progress: bool | None = None

    def check(self) -> None:
        repairer = Repairer(self.report)
        checks = _Checks(self.report, self.page_ids, self.folder)
        entries, count = self.entries, len(self.entries)
        where = range(count) if self.origin is None else self.origin  # positions as the file has them
        for first in _chunks(count, self.progress, f"check {self.name}"):
            positions = range(first, min(first + CHUNK, count))
            views = list(map(_whole_view, entries.raws(positions)))  # the frame's formats are checked
            for i, view in zip(positions, views):
                if view is None:  # the repair leaves the frame's fields alone: they are valid
                    fixed = repair_entry(entries.raw(i), f"log.entries[{where[i]}]", repairer, unrepaired="kept as read")
                    if fixed is not None:
                        views[i - first] = fixed[0]
                        entries.replace(i, fixed[1])
            checks([(where[i], view) for i, view in zip(positions, views) if view is not None])


def valid_view(raw: Any) -> model.Entry | None:
    """The typed view of an entry that needs no repair, else None (invalid UTF-8 can reach
    here only through `Session.extend`: a file is checked whole)."""
    view = _whole_view(raw)
    return view if view is not None and model.on_pattern([view]) else None


def _whole_view(raw: Any) -> model.Entry | None:
    """The whole entry's typed view if its types and bodies need no repair (the formats of
    its frame fields are `model.on_pattern`'s to check)."""
    try:
        view = _entry_decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return None  # DecodeError: invalid UTF-8 from msgspec 0.23 on (before it, UnicodeDecodeError)
    return view if _texts_ok(view) else None


def _texts_ok(view: model.Entry) -> bool:
    """Bodies are kept as raw JSON, unchecked by the decode: they must be strings.

    postData must also carry its body, as text or as params.
    """
    text = view.response.content.text
    if text and memoryview(text)[:1] != b'"':
        return False
    post = view.request.postData
    if post is UNSET:
        return True
    if post.text:
        return memoryview(post.text)[:1] == b'"'
    return post.params is not UNSET


class _Checks:
    """What one entry alone cannot show: references to pages, undecodable bodies, failures."""

    def __init__(self, report: Report, page_ids: set, folder: Path | None) -> None:
        self.report = report
        self.page_ids = page_ids
        self.folder = folder

    def __call__(self, views: list[tuple[int, model.Entry]]) -> None:
        """`views`: (position, view) of entries."""
        report = self.report
        for i, view in views:
            if view.pageref:
                if view.pageref not in self.page_ids:
                    report.add("warning", f"log.entries[{i}].pageref",
                               f"refers to page {view.pageref!r}, which is not in log.pages", "kept")
            response = view.response
            if response.status == 0:
                report.add("info", f"log.entries[{i}].response.status", "status 0: no response was received",
                           f"error: {response.error or view.error or 'not given'}")
            if (response.content.encoding == "base64" and response.content.text
                    and not check_base64(_string.decode(response.content.text))):
                report.add("warning", f"log.entries[{i}].response.content.text", "content is marked base64 but is not",
                           "kept as is; the body cannot be decoded")
            if response.content.file:
                self._side_file(response.content.file, f"log.entries[{i}].response.content._file")

    def _side_file(self, name: str, path: str) -> None:
        try:
            found = side_file(self.folder, name).is_file()
        except OSError:  # not a name this file system can look up
            found = False
        except HarError as exc:
            self.report.add("warning", path, str(exc), "body unavailable")
            return
        if not found:
            self.report.add("warning", path, f"the body is in side file {name!r}, which is not beside the HAR",
                            "body unavailable")


def repair_entry(raw: Any, path: str, repairer: Repairer,
                 unrepaired: str = "kept in log._invalidEntries") -> tuple[model.Entry, bytes] | None:
    """Repair one entry; None (reported, saying `unrepaired` happens to it) if it is not an
    object at all or cannot be repaired."""
    obj = _decode_leniently(raw, path, repairer.report)
    if not isinstance(obj, dict):
        repairer.report.add("warning", path, f"an entry must be an object, not {_json_kind(raw)}", unrepaired)
        return None
    repairer.entry(obj, path)
    data = msgspec.json.encode(obj)
    try:
        view = _entry_decoder.decode(data)
    except msgspec.ValidationError as exc:
        repairer.report.add("warning", path, f"could not be repaired: {exc}", unrepaired)
        return None
    if not model.on_pattern([view]):  # a URL the repairer could only keep as it was
        repairer.report.add("warning", path, "could not be repaired: the URL is still not an absolute URI", unrepaired)
        return None
    return view, data


def _decode_leniently(raw: Any, path: str, report: Report) -> Any:
    """An entry msgspec will not decode: a number beyond a float such as 1e400 (kept as its
    text, for the repair to set aside), or (from `Session.extend`) invalid UTF-8 (replaced,
    reported); None if nested too deeply."""
    try:
        return msgspec.json.decode(raw)
    except RecursionError:
        return None
    except (msgspec.DecodeError, UnicodeDecodeError):  # invalid UTF-8 raises either, by msgspec version
        data = bytes(raw)
    try:
        text = data.decode()
    except UnicodeDecodeError as exc:
        report.add("warning", path, f"invalid UTF-8 ({_utf8(exc)})", "replaced with U+FFFD")
        text = data.decode("utf-8", "replace")
    try:  # the standard library's decoder lets a number that no float holds be kept as text
        return json.loads(text, parse_float=_finite_or_text, parse_constant=str)
    except (ValueError, RecursionError):
        return None


def _finite_or_text(text: str) -> float | str:
    value = float(text)
    return value if math.isfinite(value) else text


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
