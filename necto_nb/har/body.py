"""Bodies on demand: base64 decoded, side files (`_file`) read from the HAR's own folder only."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from necto_nb.errors import HarError


def _decode(text: str, encoding: str | None, where: str) -> bytes:
    if encoding == "base64":
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise HarError(f"{where}: marked base64 but is not valid base64") from None
    return text.encode("utf-8", "surrogatepass")


def side_file(folder: Path | None, name: str) -> Path:
    """The path of a side file, refusing anything outside the HAR's folder."""
    if folder is None:
        raise HarError(f"the body is in side file {name!r}, but the HAR was not read from a folder")
    root = folder.resolve()
    try:
        path = (root / name).resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # a name too long, a symlink loop, a NUL byte
        raise HarError(f"side file {name[:200]!r} cannot be resolved ({exc})") from None
    if not path.is_relative_to(root):
        raise HarError(f"side file {name!r} points outside the HAR's folder; not read")
    return path


def response_body(entry: dict, folder: Path | None = None) -> bytes | None:
    content = (entry.get("response") or {}).get("content") or {}
    if content.get("_file") and isinstance(content["_file"], str):  # "" names no file
        path = side_file(folder, content["_file"])
        try:
            return path.read_bytes()
        except OSError as exc:
            raise HarError(f"side file {content['_file']!r}: {exc.strerror or exc}") from None
    text = content.get("text")
    if not isinstance(text, str):
        return None
    return _decode(text, content.get("encoding"), "response.content.text")


def request_body(entry: dict) -> bytes | None:
    post = (entry.get("request") or {}).get("postData") or {}
    text = post.get("text")
    if not isinstance(text, str):
        return None
    return _decode(text, post.get("encoding") or post.get("_encoding"), "request.postData.text")
