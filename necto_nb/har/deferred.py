"""The check an import leaves for later: every field of each entry that the frame does not read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import msgspec

from necto_nb.errors import HarError
from necto_nb.har import model
from necto_nb.har.admit import repair_entry, whole_view
from necto_nb.har.body import side_file
from necto_nb.har.entries import Entries
from necto_nb.har.progress import CHUNK, chunks
from necto_nb.har.repair import Repairer, check_base64
from necto_nb.har.report import Report

_string = msgspec.json.Decoder(str)


@dataclass
class Rest:
    """What `read.parse` leaves for later: every field of each entry that the frame does not read.

    Checking it costs about as much as the import; a Session runs it on first need (its
    report, its entries, an export), so a frame is there as soon as its fields are read.
    """

    name: str
    entries: Entries
    report: Report
    page_ids: set[str]
    folder: Path | None
    origin: list[int] | None  # each entry's position in the file, where some were set aside
    progress: bool | None = None

    def check(self) -> None:
        repairer = Repairer(self.report)
        checks = _Checks(self.report, self.page_ids, self.folder)
        entries, count = self.entries, len(self.entries)
        where = range(count) if self.origin is None else self.origin  # positions as the file has them
        for first in chunks(count, self.progress, f"check {self.name}"):
            positions = range(first, min(first + CHUNK, count))
            views = list(map(whole_view, entries.raws(positions)))  # the frame's formats are checked
            for i, view in zip(positions, views):
                if view is None:  # the repair leaves the frame's fields alone: they are valid
                    fixed = repair_entry(entries.raw(i), f"log.entries[{where[i]}]", repairer, unrepaired="kept as read")
                    if fixed is not None:
                        views[i - first] = fixed[0]
                        entries.replace(i, fixed[1])
            checks([(where[i], view) for i, view in zip(positions, views) if view is not None])


class _Checks:
    """What one entry alone cannot show: references to pages, undecodable bodies, failures."""

    def __init__(self, report: Report, page_ids: set, folder: Path | None) -> None:
        self.report = report
        self.page_ids = page_ids
        self.folder = folder

    def __call__(self, views: list[tuple[int, model.Entry]]) -> None:
        """`views`: (position, view) of entries."""
        report = self.report
        for i, view in views:
            if view.pageref:
                if view.pageref not in self.page_ids:
                    report.add("warning", f"log.entries[{i}].pageref",
                               f"refers to page {view.pageref!r}, which is not in log.pages", "kept")
            response = view.response
            if response.status == 0:
                report.add("info", f"log.entries[{i}].response.status", "status 0: no response was received",
                           f"error: {response.error or view.error or 'not given'}")
            if (response.content.encoding == "base64" and response.content.text
                    and not check_base64(_string.decode(response.content.text))):
                report.add("warning", f"log.entries[{i}].response.content.text", "content is marked base64 but is not",
                           "kept as is; the body cannot be decoded")
            if response.content.file:
                self._side_file(response.content.file, f"log.entries[{i}].response.content._file")

    def _side_file(self, name: str, path: str) -> None:
        try:
            found = side_file(self.folder, name).is_file()
        except OSError:  # not a name this file system can look up
            found = False
        except HarError as exc:
            self.report.add("warning", path, str(exc), "body unavailable")
            return
        if not found:
            self.report.add("warning", path, f"the body is in side file {name!r}, which is not beside the HAR",
                            "body unavailable")
