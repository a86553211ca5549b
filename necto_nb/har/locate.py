"""Finding the log in a HAR's JSON, wherever a tool put it, and its entries' bytes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from necto_nb.errors import HarError
from necto_nb.har.model import FrameEntry
from necto_nb.har.json_errors import decode_or_raise, json_kind
from necto_nb.har.report import Report

_split = msgspec.json.Decoder(list[msgspec.Raw])
_fields = msgspec.json.Decoder(dict[str, msgspec.Raw])
_log_fields = msgspec.json.Decoder(dict[str, dict[str, msgspec.Raw]])
_any_raw = msgspec.json.Decoder(msgspec.Raw)


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


class _ViewedLog(_Log, forbid_unknown_fields=True):
    entries: list[FrameEntry]  # type: ignore[assignment]


class _Viewed(msgspec.Struct, forbid_unknown_fields=True):
    log: _ViewedLog


_usual = msgspec.json.Decoder(_Usual)
_viewed = msgspec.json.Decoder(_Viewed)
_LOG_KEYS = [key for key in _Log.__struct_fields__ if key != "entries"]


@dataclass(frozen=True)
class InFile:
    """The entries of a HAR of the usual shape, kept as the file's bytes: split into one
    buffer per entry (`load`) only when asked (`entries.Stored`)."""

    data: bytes
    count: int

    def __len__(self) -> int:
        return self.count

    def load(self) -> list[msgspec.Raw]:
        return _usual.decode(self.data).log.entries


def viewed(data: bytes) -> tuple[dict[str, msgspec.Raw], list[FrameEntry]] | None:
    """log's fields but entries, and what the frame reads of every entry, in one pass over
    a file of the usual shape whose frame fields all have their types; None for any other."""
    try:
        log = _viewed.decode(data).log
    except (msgspec.DecodeError, RecursionError):
        return None
    return {key: getattr(log, key) for key in _LOG_KEYS if getattr(log, key)}, log.entries


def log_and_entries(data: bytes, name: str, report: Report) -> tuple[dict[str, msgspec.Raw], list[msgspec.Raw]]:
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
        top = _fields_of(decode_or_raise(_any_raw, data, name, "the file"), name, "the top level")
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
        raise HarError(f"{name}: log.entries is {json_kind(raw)}, not a list", [*report]) from None


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


def _fields_of(raw: Any, name: str, path: str, quiet: bool = False) -> Any:
    try:
        return _fields.decode(raw)
    except msgspec.ValidationError:
        if quiet:
            return None
        raise HarError(f"{name}: {path} is {json_kind(raw)}, not an object") from None
