"""JSON errors as a reader wants them: line and column, the JSON path, what the value is."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from necto_nb.errors import HarError

_OFFSET = re.compile(r"\(byte (\d+)\)")
_BLANK = re.compile(rb"[ \t\r\n]*")  # JSON's whitespace


def where(data: bytes, message: str) -> str:
    """'line L, column C' of the byte offset a msgspec message names (else the end)."""
    match = _OFFSET.search(message)
    offset = int(match.group(1)) if match else len(data)
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


def decode_or_raise(decoder: msgspec.json.Decoder, data: Any, name: str, what: str) -> Any:
    """`decoder.decode(data)`, or a HarError naming the file, `what` was read, and where it failed."""
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise HarError(f"{name}: {what}: {exc}") from None
    except msgspec.DecodeError as exc:
        message = str(exc)
        if "truncated" in message:
            if _BLANK.fullmatch(data):  # a capture that wrote nothing
                raise HarError(f"{name}: {what} is empty, not JSON") from None
            raise HarError(f"{name}: invalid JSON: the file ends early ({where(bytes(data), message)})") from None
        if "malformed" in message:
            reason = _OFFSET.sub("", message.split(": ", 1)[-1]).strip()
            raise HarError(f"{name}: invalid JSON at {where(bytes(data), message)}: {reason}") from None
        raise HarError(f"{name}: {what}: {message}") from None
    except RecursionError:
        raise HarError(f"{name}: invalid HAR: {what} is nested too deeply to read") from None


def utf8_problem(data: bytes) -> str | None:
    """Where and why `data` is not UTF-8, or None if it is."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"byte {exc.object[exc.start:exc.start + 1]!r} at offset {exc.start}: {exc.reason}"
    return None


def json_kind(raw: Any) -> str:
    """What a JSON value is ('an object', 'null', ...), from its first byte."""
    first = bytes(memoryview(raw)[:1]) if not isinstance(raw, (dict, list)) else b""
    return {b"{": "an object", b"[": "a list", b'"': "a string", b"n": "null", b"t": "a boolean", b"f": "a boolean"}.get(
        first, "a number" if first[:1].isdigit() or first == b"-" else "not an object")
