"""Admitting entries: keep the valid, repair the rest, set aside what no repair saves.

The reader and `Session.extend` admit entries through `admit`, so an entry appended to a
Session is checked, repaired and reported exactly as one read from a file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import msgspec
from msgspec import UNSET

from necto_nb.har import model
from necto_nb.har.json_errors import decode_or_raise, json_kind, utf8_problem
from necto_nb.har.repair import Repairer
from necto_nb.har.report import Report

_frame_decoder = msgspec.json.Decoder(model.FrameEntry)
_entry_decoder = msgspec.json.Decoder(model.Entry)
_any = msgspec.json.Decoder()

#: What the frame reads of an entry (`model.FrameEntry`) or the whole entry (`model.Entry`).
View = TypeVar("View", model.FrameEntry, model.Entry)


@dataclass
class Admitted(Generic[View]):
    """Entries admitted in order: their views and JSON bytes, and those set aside."""

    views: list[View] = field(default_factory=list)
    raws: list[Any] = field(default_factory=list)
    invalid: list[Any] = field(default_factory=list)  # as read: they belong in log._invalidEntries
    dropped: list[int] = field(default_factory=list)  # the positions of those


def admit(raws: Sequence[Any], first: int, repairer: Repairer, *, whole: bool, name: str = "",
          views: Sequence[View | None] | None = None) -> Admitted[View]:
    """Check the entries `raws` (at positions `first`...), repair those that fail, set aside
    those no repair saves; every repair and every entry set aside is in the repairer's report.

    `whole`: check every field (`Session.extend`); else only what the frame reads (the
    reader, which leaves the rest to `deferred.Rest`). `views`: the views already decoded.
    """
    view_of: Callable[[Any], Any] = valid_view if whole else valid_frame_view
    out: Admitted = Admitted()
    for i, raw in enumerate(raws, first):
        view = view_of(raw) if views is None else _on_pattern(views[i - first])
        if view is None:
            path = f"log.entries[{i}]"
            fixed = repair_entry(raw, path, repairer)
            if fixed is None:
                out.invalid.append(decode_or_raise(_any, raw, name, path))
                out.dropped.append(i)
                continue
            view, raw = fixed
            if not whole:
                view = frame_view(raw)
        out.views.append(view)
        out.raws.append(raw)
    return out


def _on_pattern(view: Any) -> Any:
    return view if view is not None and model.on_pattern([view]) else None


def frame_view(raw: Any) -> model.FrameEntry | None:
    """What the frame reads of an entry, its types checked (not its patterns); None if they fail."""
    try:
        return _frame_decoder.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return None


def valid_frame_view(raw: Any) -> model.FrameEntry | None:
    """What the frame reads of an entry, if it needs no repair."""
    return _on_pattern(frame_view(raw))


def valid_view(raw: Any) -> model.Entry | None:
    """The typed view of an entry that needs no repair, else None (invalid UTF-8 can reach
    here only through `Session.extend`: a file is checked whole)."""
    return _on_pattern(whole_view(raw))


def whole_view(raw: Any) -> model.Entry | None:
    """The whole entry's typed view if its types and bodies need no repair (the formats of
    its frame fields are `model.on_pattern`'s to check)."""
    try:
        view = _entry_decoder.decode(raw)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):  # DecodeError: invalid UTF-8, too
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


def repair_entry(raw: Any, path: str, repairer: Repairer,
                 unrepaired: str = "kept in log._invalidEntries") -> tuple[model.Entry, bytes] | None:
    """Repair one entry; None (reported, saying `unrepaired` happens to it) if it is not an
    object at all or cannot be repaired."""
    obj = _decode_leniently(raw, path, repairer.report)
    if not isinstance(obj, dict):
        repairer.report.add("warning", path, f"an entry must be an object, not {json_kind(raw)}", unrepaired)
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
    except (msgspec.DecodeError, UnicodeDecodeError):
        raw = bytes(raw)
    if problem := utf8_problem(raw):  # msgspec says only "invalid UTF-8", not where
        report.add("warning", path, f"invalid UTF-8 ({problem})", "replaced with U+FFFD")
        raw = raw.decode("utf-8", "replace")
    try:  # the standard library's decoder lets a number that no float holds be kept as text
        return json.loads(raw, parse_float=_finite_or_text, parse_constant=str)
    except (ValueError, RecursionError):
        return None


def _finite_or_text(text: str) -> float | str:
    value = float(text)
    return value if math.isfinite(value) else text
