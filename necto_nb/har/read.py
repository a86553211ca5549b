"""Read a HAR: bytes in, validated entries, metadata and a report out.

The fast path decodes `log.entries` once into typed views (`model.Entry`), which checks
every entry against HAR 1.2 in C. Only when that fails are the entries split and the
failing ones repaired one by one in Python (`repair.Repairer`).
"""

from __future__ import annotations

import gc
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from necto_nb.har import model
from necto_nb.har.entries import Entries
from necto_nb.har.repair import Repairer, check_base64
from necto_nb.har.report import HarError, Report
from necto_nb.har.source import load

_BOM = b"\xef\xbb\xbf"
_JSONP = re.compile(rb"^\s*([A-Za-z_$][\w$.]*)\s*\((.*)\)\s*;?\s*$", re.S)
_OFFSET = re.compile(r"\(byte (\d+)\)")
_entries_decoder = msgspec.json.Decoder(list[model.Entry])
_entry_decoder = msgspec.json.Decoder(model.Entry)
_fields = msgspec.json.Decoder(dict[str, msgspec.Raw])
_log_fields = msgspec.json.Decoder(dict[str, dict[str, msgspec.Raw]])
_any = msgspec.json.Decoder()
_any_raw = msgspec.json.Decoder(msgspec.Raw)


class _Text(msgspec.Struct, gc=False, frozen=True):
    text: str = ""


class _Content(msgspec.Struct, gc=False, frozen=True):
    content: _Text = _Text()


class _Body(msgspec.Struct, gc=False):
    response: _Content = _Content()


_body_decoder = msgspec.json.Decoder(_Body)


@dataclass
class Parsed:
    """A HAR read and checked: what a Session is made of."""

    name: str
    log: dict[str, Any]  # every log field but entries and pages, as read (and repaired)
    pages: list[dict]
    entries: Entries
    views: list[model.Entry]  # typed view of each entry, for the frame
    report: Report
    folder: Path | None = None
    side_files: dict[int, str] = field(default_factory=dict)
    pages_absent: bool = False  # the file had no log.pages (written back the same way)


@contextmanager
def _no_gc():
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
            reason = message.split(": ", 1)[-1]
            raise HarError(f"{name}: invalid JSON at {_where(bytes(data), message)}: {reason}") from None
        raise HarError(f"{name}: {what}: {message}") from None
    except RecursionError:
        raise HarError(f"{name}: invalid HAR: {what} is nested too deeply to read") from None


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
    first = bytes(raw[:1]) if not isinstance(raw, (dict, list)) else b""
    return {b"[": "a list", b'"': "a string", b"n": "null", b"t": "a boolean", b"f": "a boolean"}.get(
        first, "a number" if first[:1].isdigit() or first == b"-" else "not an object")


def parse(source: Any, *, strict: bool = False, name: str | None = None) -> Parsed:
    loaded = load(source)
    name = name or loaded.name
    report = Report()
    data = _unwrap(loaded.data, report)
    with _no_gc():
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
        entries, views = _read_entries(entries_raw, name, report, repairer, meta)
    parsed = Parsed(name, meta, [], entries, views, report, loaded.folder, pages_absent="pages" not in log)
    parsed.pages = _read_pages(pages, views, report, repairer, meta)
    _cross_check(parsed)
    if strict and (report.errors or report.warnings):
        raise HarError.from_issues([i for i in report if i.severity != "info"], name)
    return parsed


def _read_entries(raw: msgspec.Raw, name: str, report: Report, repairer: Repairer, meta: dict):
    try:
        views = _entries_decoder.decode(raw)
        return Entries(raw, len(views)), views
    except (msgspec.ValidationError, RecursionError):
        pass  # some entry breaks HAR 1.2: find which, and repair those
    try:
        raws = msgspec.json.decode(raw, type=list[msgspec.Raw])
    except msgspec.ValidationError:
        raise HarError(f"{name}: log.entries is {_json_kind(raw)}, not a list",
                       [*report]) from None
    entries, views, invalid = Entries(), [], []
    for i, one in enumerate(raws):
        try:
            views.append(_entry_decoder.decode(one))
            entries.append_raws([one])
            continue
        except (msgspec.ValidationError, RecursionError):
            pass
        fixed = repair_entry(one, f"log.entries[{i}]", repairer)
        if fixed is None:
            invalid.append(_decode(_any, one, name, f"log.entries[{i}]"))
            continue
        view, data = fixed
        views.append(view)
        entries.append_raws([data])
    if invalid:
        meta["_invalidEntries"] = invalid
    return entries, views


def repair_entry(raw: Any, path: str, repairer: Repairer) -> tuple[model.Entry, bytes] | None:
    """Repair one entry; None (reported) if it is not an object at all or cannot be repaired."""
    try:
        obj = msgspec.json.decode(raw)
    except RecursionError:
        obj = None
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


def _read_pages(pages: Any, views: list[model.Entry], report: Report, repairer: Repairer, meta: dict) -> list[dict]:
    if not isinstance(pages, list):
        meta["_pages"] = pages
        report.add("warning", "log.pages", "log.pages is not a list", "kept as log._pages; no pages")
        return []
    first_seen: dict[str, str] = {}
    for view in views:
        if view.pageref and view.pageref not in first_seen:
            first_seen[view.pageref] = view.startedDateTime
    kept = []
    for i, page in enumerate(pages):
        if not isinstance(page, dict):
            meta.setdefault("_invalidPages", []).append(page)
            report.add("warning", f"log.pages[{i}]", "a page must be an object", "kept in log._invalidPages")
            continue
        repairer.page(page, f"log.pages[{i}]", first_seen.get(page.get("id")))
        kept.append(page)
    return kept


def _cross_check(parsed: Parsed) -> None:
    report = parsed.report
    if not parsed.views:
        report.add("warning", "log.entries", "no entries", "a valid HAR with no traffic")
    ids = [p["id"] for p in parsed.pages]
    if len(set(ids)) != len(ids):
        report.add("warning", "log.pages", "page ids are not unique", "entries refer to the first")
    known = set(ids)
    for i, view in enumerate(parsed.views):
        if view.pageref and view.pageref not in known:
            report.add("warning", f"log.entries[{i}].pageref", f"refers to page {view.pageref!r}, which is not in log.pages",
                       "kept")
        if view.response.status == 0:
            report.add("info", f"log.entries[{i}].response.status", "status 0: no response was received",
                       f"error: {view.response.error or view.error or 'not given'}")
        content = view.response.content
        if content.encoding == "base64" and not check_base64(_body_decoder.decode(parsed.entries.raw(i)).response.content.text):
            report.add("warning", f"log.entries[{i}].response.content.text", "content is marked base64 but is not",
                       "kept as is; the body cannot be decoded")
        if content.file:
            parsed.side_files[i] = content.file
