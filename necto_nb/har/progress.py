"""Long reads, checks and exports go a chunk of entries at a time, with a progress bar."""

from __future__ import annotations

from collections.abc import Iterable

#: Entries are decoded and handed on in chunks, so the typed views of only one chunk
#: exist at a time: import memory stays near the file's size.
CHUNK = 4096
#: Imports and exports of at least this many entries show a progress bar.
PROGRESS_FROM = 20_000


def chunks(count: int, progress: bool | None, what: str) -> Iterable[int]:
    """Where each chunk of `count` entries starts; a progress bar for long runs."""
    starts = range(0, count, CHUNK)
    if progress or (progress is None and count >= PROGRESS_FROM):
        from tqdm.auto import tqdm  # only for long imports: tqdm.auto costs an ipywidgets import

        return tqdm(starts, desc=what, unit="chunk", leave=False)
    return starts
