"""Lossless entry storage: each entry's JSON bytes, decoded only when someone asks."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload

import json

import msgspec

_decode_fast = msgspec.json.Decoder().decode


def decode(raw: Any) -> Any:
    """JSON bytes as Python values. JSON allows numbers no float holds (1e400), which msgspec
    refuses and the fast check skips inside custom fields: those read as Python's json reads
    them (inf); the stored bytes, and files written from them, keep the number as it came."""
    try:
        return _decode_fast(raw)
    except msgspec.ValidationError:
        return json.loads(bytes(raw))


class Entries(Sequence[dict]):
    """A sequence of HAR entry dicts backed by each entry's JSON bytes.

    Raw slices share the imported buffer, so the entries cost about the file's size, and
    an unchanged import is written back as the very array it was read from.
    """

    def __init__(self, raws: list | None = None, *, array: Any = None) -> None:
        self._raws = raws if raws is not None else []
        self._array = array  # the source's JSON array, while it still matches _raws

    def __len__(self) -> int:
        return len(self._raws)

    @overload
    def __getitem__(self, i: int) -> dict: ...
    @overload
    def __getitem__(self, i: slice) -> list[dict]: ...
    def __getitem__(self, i):
        if isinstance(i, slice):
            return [decode(raw) for raw in self._raws[i]]
        return decode(self._raws[i])

    def __iter__(self) -> Iterator[dict]:
        return map(decode, self._raws)

    def raw(self, i: int) -> Any:
        """Entry `i` as JSON bytes (or a buffer over them)."""
        return self._raws[i]

    def append_raws(self, raws: Iterable[bytes]) -> None:
        self._raws.extend(raws)
        self._array = None

    def json_array(self, positions: Iterable[int] | None = None) -> bytes:
        """The entries (all, or those at `positions`, in that order) as one JSON array."""
        if positions is None and self._array is not None:
            return bytes(self._array)
        chosen = self._raws if positions is None else [self._raws[i] for i in positions]
        return b"[" + b",".join(chosen) + b"]"

    def __repr__(self) -> str:
        return f"<Entries: {len(self)}>"
