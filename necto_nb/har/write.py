"""Write a HAR: entries spliced in as the bytes they came as, files replaced atomically."""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from necto_nb.atomic import replacing
from necto_nb.errors import ArgumentError
from necto_nb.har.entries import Entries
from necto_nb.har.progress import PROGRESS_FROM
from necto_nb.har.redact import Redaction, Redactor

BODIES = ("all", "text", "none")


def redaction_for(redact: bool | Redactor | Redaction) -> Redaction | None:
    """The redaction of one export: its counts start at zero unless one was given to count into."""
    if isinstance(redact, Redaction):
        return redact
    if isinstance(redact, Redactor):
        return redact.redaction()
    return Redactor().redaction() if redact else None


@dataclass
class Document:
    """What to write: log fields, pages, and which entries."""

    log: dict[str, Any]
    pages: list[dict] | None  # None: the source had no pages key, and none were added
    entries: Entries
    positions: Sequence[int] | None = None

    def pieces(self, *, redact: bool | Redactor | Redaction = False, bodies: str = "all",
               progress: bool | None = None) -> list[bytes]:
        """The HAR as pieces to write one after another: entries go out as the bytes they
        are held as, never joined into one copy of the file. `redact`: True for the default
        settings, a Redactor's settings, or a Redaction to count into (this export's)."""
        if bodies not in BODIES:
            raise ArgumentError(f"bodies must be one of {', '.join(BODIES)}, not {bodies!r}")
        redactor = redaction_for(redact)
        log = dict(self.log)
        pages = self.pages
        if pages is not None and redactor is not None:
            # a copy through msgspec: copy.deepcopy recurses in Python and a page can be deep
            pages = [redactor.page(msgspec.json.decode(msgspec.json.encode(p))) for p in pages]
        if redactor is None and bodies == "all":
            entries = self.entries.raws(self.positions)  # as held: no decode, no re-encode
        else:
            entries = self._transformed(redactor, bodies, progress)
            if redactor is not None:
                log["_redaction"] = redactor.summary()
        if pages is not None:
            log["pages"] = pages
        head = msgspec.json.encode({"log": log})[:-2]  # {"log":{...   (entries go last)
        out = [head + (b',"entries":[' if log else b'"entries":[')]
        for entry in entries:
            out += (entry, b",")
        if entries:
            out.pop()
        out.append(b"]}}")
        return out

    def _transformed(self, redactor: Redaction | None, bodies: str, progress: bool | None) -> list[bytes]:
        positions = range(len(self.entries)) if self.positions is None else self.positions
        if progress or (progress is None and len(positions) >= PROGRESS_FROM):
            from tqdm.auto import tqdm

            positions = tqdm(positions, desc="export", unit="entry")
        out = []
        for i in positions:
            entry = self.entries[i]
            if bodies != "all":
                _drop_bodies(entry, keep_text=bodies == "text")
            if redactor is not None:
                redactor.entry(entry)
            out.append(msgspec.json.encode(entry))
        return out


def _drop_bodies(entry: dict, keep_text: bool) -> None:
    """Remove response bodies (all, or the binary ones), saying so in the content's comment."""
    content = entry.get("response", {}).get("content", {})
    if "text" in content and not (keep_text and content.get("encoding") != "base64"):
        del content["text"]
        content.pop("encoding", None)
        content["comment"] = (content.get("comment", "") + " [body not exported]").strip()


def atomic_write(path: Path, pieces: Sequence[bytes]) -> Path:
    """Write `pieces` (gzip for .gz) so that `path` is either the old file or the whole new one."""
    with replacing(path) as out:
        if path.suffix == ".gz":
            with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6, mtime=0) as packed:
                packed.writelines(pieces)
        else:
            out.writelines(pieces)
    return path
