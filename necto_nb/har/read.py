"""Read a HAR: bytes in, validated entries, metadata and a report out.

Each entry is decoded into a typed view (`model.Entry`), which checks it against HAR 1.2
in C without building dicts. Only an entry that fails is decoded into Python objects and
repaired (`repair.Repairer`); the views go, a chunk at a time, to whoever builds the frame.
"""

from __future__ import annotations

import codecs
import gc
import json
import math
import re
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from msgspec import UNSET

from necto_nb.har import model
from necto_nb.har.body import side_file
from necto_nb.har.entries import Entries
from necto_nb.har.repair import Repairer, check_base64
from necto_nb.har.report import HarError, Report
from necto_nb.har.source import load

_BOM = b"\xef\xbb\xbf"
_JSONP = re.compile(rb"^\s*([A-Za-z_$][\w$.]*)\s*\((.*)\)\s*;?\s*$", re.S)
_OFFSET = re.compile(r"\(byte (\d+)\)")
_UTF8_CHUNK = 1 << 20
_split = msgspec.json.Decoder(list[msgspec.Raw])
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

Sink = Callable[[list[model.Entry], int], None]


@dataclass
class Parsed:
    """A HAR read and checked: what a Session is made of (its frame came through the sink)."""

    name: str
    log: dict[str, Any]  # every log field but entries and pages, as read (and repaired)
    pages: list[dict]
    entries: Entries
    report: Report
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
    """Read `source`; `sink(views, start)` receives the typed views of each chunk of entries."""
    loaded = load(source)
    name = name or loaded.name
    report = Report()
    data = _valid_utf8(_unwrap(loaded.data, report), report)
    try:
        top = _log_fields.decode(data)  # the usual {"log": {...}} in one pass
    except (msgspec.DecodeError, RecursionError):  # unusual shape, or not JSON: say where
        top = _fields_of(_decode(_any_raw, data, name, "the file"), name, "the top level")
    log = _find_log(top, name, report)
    if "entries" not in log:
        report.add("error", "log.entries", "log.entries is missing", "cannot read traffic")
        raise HarError.from_issues(report, name)
    entries_raw = log.pop("entries")
    meta = {key: _decode(_any, raw, name, f"log.{key}") for key, raw in log.items()}
    repairer = Repairer(report)
    repairer.log(meta)
    pages = meta.pop("pages", [])
    if not isinstance(pages, list):
        meta["_pages"] = pages
        report.add("warning", "log.pages", "log.pages is not a list", "kept as log._pages; no pages")
        pages = []
    checks = _Checks(report, {p.get("id") for p in pages if isinstance(p, dict) and isinstance(p.get("id"), str)},
                     loaded.folder)
    entries = _read_entries(entries_raw, name, repairer, meta, lambda views, start: (checks(views, start), sink(views, start)),
                            progress)
    parsed = Parsed(name, meta, _read_pages(pages, checks.first_seen, repairer, meta), entries, report,
                    loaded.folder, pages_absent="pages" not in log)
    if not len(entries):
        report.add("warning", "log.entries", "no entries", "a valid HAR with no traffic")
    if strict and (report.errors or report.warnings):
        raise HarError.from_issues([i for i in report if i.severity != "info"], name)
    return parsed


def _read_entries(raw: msgspec.Raw, name: str, repairer: Repairer, meta: dict, sink: Sink,
                  progress: bool | None) -> Entries:
    try:
        raws = _split.decode(raw)
    except msgspec.ValidationError:
        raise HarError(f"{name}: log.entries is {_json_kind(raw)}, not a list", [*repairer.report]) from None
    kept, invalid, repaired = [], [], False
    chunks = range(0, len(raws), CHUNK)
    if progress or (progress is None and len(raws) >= PROGRESS_FROM):
        from tqdm.auto import tqdm  # only for long imports: tqdm.auto costs an ipywidgets import

        chunks = tqdm(chunks, desc=f"read {name}", unit="chunk", leave=False)
    for first in chunks:
        views, start = [], len(kept)
        for i in range(first, min(first + CHUNK, len(raws))):
            view = valid_view(raws[i])
            if view is not None:
                views.append(view)
                kept.append(raws[i])
                continue
            repaired = True
            fixed = repair_entry(raws[i], f"log.entries[{i}]", repairer)
            if fixed is None:
                invalid.append(_decode(_any, raws[i], name, f"log.entries[{i}]"))
                continue
            views.append(fixed[0])
            kept.append(fixed[1])
        sink(views, start)
    if invalid:
        meta["_invalidEntries"] = invalid
    return Entries(kept, array=None if repaired else raw)


def valid_view(raw: Any) -> model.Entry | None:
    """The typed view of an entry that needs no repair, else None (invalid UTF-8 can reach
    here only through `Session.extend`: a file is checked whole)."""
    try:
        view = _entry_decoder.decode(raw)
    except (msgspec.ValidationError, RecursionError, UnicodeDecodeError):
        return None
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
        self.first_seen: dict[str, str] = {}  # pageref -> its first entry's start

    def __call__(self, views: list[model.Entry], start: int) -> None:
        report = self.report
        for i, view in enumerate(views, start):
            if view.pageref:
                self.first_seen.setdefault(view.pageref, view.startedDateTime)
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


def repair_entry(raw: Any, path: str, repairer: Repairer) -> tuple[model.Entry, bytes] | None:
    """Repair one entry; None (reported) if it is not an object at all or cannot be repaired."""
    obj = _decode_leniently(raw, path, repairer.report)
    if not isinstance(obj, dict):
        repairer.report.add("warning", path, f"an entry must be an object, not {_json_kind(raw)}",
                            "kept in log._invalidEntries")
        return None
    repairer.entry(obj, path)
    data = msgspec.json.encode(obj)
    try:
        return _entry_decoder.decode(data), data
    except msgspec.ValidationError as exc:
        repairer.report.add("warning", path, f"could not be repaired: {exc}", "kept in log._invalidEntries")
        return None


def _decode_leniently(raw: Any, path: str, report: Report) -> Any:
    """An entry msgspec will not decode: a number beyond a float such as 1e400 (kept as its
    text, for the repair to set aside), or (from `Session.extend`) invalid UTF-8 (replaced,
    reported); None if nested too deeply."""
    try:
        return msgspec.json.decode(raw)
    except RecursionError:
        return None
    except UnicodeDecodeError as exc:
        report.add("warning", path, f"invalid UTF-8 ({_utf8(exc)})", "replaced with U+FFFD")
        raw = bytes(raw).decode("utf-8", "replace")
    except msgspec.DecodeError:
        raw = bytes(raw)
    try:  # the standard library's decoder lets a number that no float holds be kept as text
        return json.loads(raw, parse_float=_finite_or_text, parse_constant=str)
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
