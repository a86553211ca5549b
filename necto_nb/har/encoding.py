"""What can surround a HAR's JSON: a byte order mark, a JSONP wrapper, bytes that are not UTF-8."""

from __future__ import annotations

import codecs
import re

from necto_nb.har.json_errors import where
from necto_nb.har.report import Report

_BOM = b"\xef\xbb\xbf"
_JSONP = re.compile(rb"^\s*([A-Za-z_$][\w$.]*)\s*\((.*)\)\s*;?\s*$", re.S)
_UTF8_CHUNK = 1 << 20


def unwrap(data: bytes, report: Report) -> bytes:
    """The JSON without a byte order mark or a JSONP call around it (reported)."""
    if data.startswith(_BOM):
        report.add("info", "$", "UTF-8 byte order mark before the JSON", "ignored")
        data = data[len(_BOM):]
    if data[:64].lstrip()[:1] not in (b"{", b"[") and (match := _JSONP.match(data)):
        report.add("warning", "$", f"JSONP wrapper {match.group(1).decode()}(...) around the JSON", "unwrapped")
        data = match.group(2)
    return data


def valid_utf8(data: bytes, report: Report) -> bytes:
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
            at = where(data, f"(byte {start - pending + exc.start})")
            report.add("warning", "$", f"invalid UTF-8 at {at}: {exc.reason}", "replaced with U+FFFD")
            return bytes(data).decode("utf-8", "replace").encode()
    return data
