"""Lossless entry storage: each entry's JSON bytes, decoded only when someone asks."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol, overload

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


class Stored(Protocol):
    """Entries' JSON bytes kept in a compact form (a file's bytes, a Parquet column), split
    into one buffer per entry only when someone asks; `load` gives a fresh list each time."""

    def __len__(self) -> int: ...
    def load(self) -> list: ...


class Entries(Sequence[dict]):
    """A sequence of HAR entry dicts backed by each entry's JSON bytes.

    Raw slices share the imported buffer, so the entries cost about the file's size, and
    an entry nobody changed is written back as the bytes it came as. Made from `stored`,
    the entries are split out of it on first use (most reads of many runs never need them).
    """

    def __init__(self, raws: list | None = None, *, stored: Stored | None = None) -> None:
        self._list = raws if raws is not None or stored is not None else []
        self.stored = stored if raws is None else None  # until split

    @property
    def _raws(self) -> list:
        if self._list is None:
            assert self.stored is not None  # one of the two is always set
            self._list = self.stored.load()
            self.stored = None
        return self._list

    def __len__(self) -> int:
        if self._list is None:
            assert self.stored is not None  # one of the two is always set
            return len(self.stored)
        return len(self._list)

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

    def replace(self, i: int, raw: bytes) -> None:
        """Entry `i` is now `raw` (a repaired entry)."""
        self._raws[i] = raw

    def raws(self, positions: Iterable[int] | None = None) -> list:
        """The JSON bytes of all entries, or of those at `positions`, in that order."""
        return list(self._raws) if positions is None else [self._raws[i] for i in positions]

    def __repr__(self) -> str:
        return f"<Entries: {len(self)}>"
