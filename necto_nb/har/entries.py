"""Lossless entry storage: each entry's JSON bytes, decoded only when someone asks."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload

import msgspec

_split = msgspec.json.Decoder(list[msgspec.Raw])


class Entries(Sequence[dict]):
    """A sequence of HAR entry dicts backed by their original bytes.

    An imported file's entries stay one unsplit JSON array until an entry is needed on
    its own (export of a subset, a repair, a look at one entry): most sessions are read,
    filtered in the frame and written whole, and never pay for the split.
    Raw slices share the imported buffer, so the entries cost about the file's size.
    """

    def __init__(self, array: bytes | msgspec.Raw | None = None, count: int = 0) -> None:
        self._array = array
        self._count = count if array is not None else 0
        self._raws: list | None = None if array is not None else []

    def _all(self) -> list:
        if self._raws is None:
            self._raws = _split.decode(self._array)
            self._array = None
        return self._raws

    def __len__(self) -> int:
        return self._count if self._raws is None else len(self._raws)

    @overload
    def __getitem__(self, i: int) -> dict: ...
    @overload
    def __getitem__(self, i: slice) -> list[dict]: ...
    def __getitem__(self, i):
        if isinstance(i, slice):
            return [msgspec.json.decode(raw) for raw in self._all()[i]]
        return msgspec.json.decode(self._all()[i])

    def __iter__(self) -> Iterator[dict]:
        return (msgspec.json.decode(raw) for raw in self._all())

    def raw(self, i: int) -> Any:
        """Entry `i` as JSON bytes (or a buffer over them)."""
        return self._all()[i]

    def set_raw(self, i: int, raw: bytes) -> None:
        self._all()[i] = raw

    def append_raws(self, raws: Iterable[bytes]) -> None:
        self._all().extend(raws)

    def json_array(self, positions: Iterable[int] | None = None) -> bytes:
        """The entries (all, or those at `positions`, in that order) as one JSON array."""
        if positions is None and self._raws is None:
            return bytes(self._array)
        raws = self._all()
        chosen = raws if positions is None else [raws[i] for i in positions]
        return b"[" + b",".join(chosen) + b"]"

    def __repr__(self) -> str:
        return f"<Entries: {len(self)}>"
