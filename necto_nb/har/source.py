"""Where a HAR comes from: a path, gzip, mitmproxy's .zhar, bytes, a file object, a dict, a URL."""

from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Union

import msgspec

from necto_nb.errors import HarError

Source = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO, dict]


@dataclass(frozen=True)
class Loaded:
    data: bytes
    name: str  # what to call the source in messages and as the Session's default name
    folder: Path | None  # where side files (`_file` bodies) may be read from


def _decompress(data: bytes, name: str) -> bytes:
    """gzip, or zlib as mitmproxy writes .zhar, told by their first bytes (JSON never starts
    so): the same for paths, bytes, file objects and URLs."""
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise HarError(f"{name}: gzip data is damaged ({exc})") from None
    if data[:1] == b"\x78" and int.from_bytes(data[:2], "big") % 31 == 0:  # a zlib header
        try:
            return zlib.decompress(data)
        except zlib.error as exc:
            raise HarError(f"{name}: zlib data is damaged ({exc})") from None
    return data


def _from_url(url: str) -> Loaded:
    import httpx  # only when a URL is given: keeps `import necto_nb` light

    try:
        response = httpx.get(url, follow_redirects=True, timeout=30)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise HarError(f"{url}: could not fetch the HAR ({exc})") from None
    name = url.rstrip("/").rsplit("/", 1)[-1] or url
    return Loaded(_decompress(response.content, url), name, None)


def stamp(path: Path) -> tuple[int, int]:
    """A file's size and modification time: what tells that it changed since it was read."""
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def load(source: Any) -> Loaded:
    """The raw JSON bytes of `source`. A dict is serialised once, so one code path reads all."""
    if isinstance(source, dict):
        try:
            return Loaded(msgspec.json.encode(source), "dict", None)
        except (TypeError, ValueError) as exc:
            raise HarError(f"dict: not JSON-serialisable ({exc})") from None
    if isinstance(source, (bytes, bytearray, memoryview)):
        return Loaded(_decompress(bytes(source), "bytes"), "bytes", None)
    if isinstance(source, str) and source.startswith(("http://", "https://")):
        return _from_url(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise HarError(f"{path}: {exc.strerror or exc}") from None
        return Loaded(_decompress(data, str(path)), path.name, path.resolve().parent)
    if hasattr(source, "read"):
        data = source.read()
        if isinstance(data, str):
            data = data.encode("utf-8")
        name = Path(getattr(source, "name", "") or "file").name
        folder = Path(source.name).resolve().parent if isinstance(getattr(source, "name", None), str) else None
        return Loaded(_decompress(data, name), name, folder)
    raise HarError(f"cannot read a HAR from {type(source).__name__}: give a path, bytes, a file, a dict or a URL")


