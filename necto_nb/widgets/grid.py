"""TrafficGrid: toolbar + traffic table + detail pane over one Session, kept in step with it.

    grid = nn.TrafficGrid(s)          # or s.grid()
    grid.selected                     # DataFrame of the selected rows (== s.selection)
    grid.select(s.df.status >= 400)   # shows in the grid

The Session is the single source of truth for rows and selection: clicks call
`Session.select`, and the grid follows `Session.observe` notifications, which a capture
sends from its own thread many times a second. Those are coalesced into at most one
refresh per `interval` seconds, run on a timer thread under the grid's lock; ipykernel
sends widget messages from any thread through its IOPub thread.
"""

from __future__ import annotations

import html
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import ipywidgets as w
import numpy as np
import pandas as pd

from necto_nb.errors import HarError
from necto_nb.har.report import Report
from necto_nb.widgets import detail, view
from necto_nb.widgets.table import TrafficTable
from necto_nb.widgets.toolbar import Toolbar

if TYPE_CHECKING:
    from necto_nb.capture import Proxy
    from necto_nb.rules import Mock
    from necto_nb.session import Rows, Session

esc = html.escape


class Throttle:
    """Call `fn` on a timer thread at most once per `interval` s, coalescing the calls between."""

    def __init__(self, interval: float, fn: Callable[[], None]) -> None:
        self.interval = interval
        self._fn = fn
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._last = 0.0
        self._closed = False

    def __call__(self) -> None:
        with self._lock:
            if self._timer is not None or self._closed:
                return  # the pending run will see this change too
            delay = max(0.0, self._last + self.interval - time.monotonic())
            self._timer = threading.Timer(delay, self._run)
            self._timer.daemon = True
            self._timer.start()

    def _run(self) -> None:
        with self._lock:
            self._timer = None
            self._last = time.monotonic()
        self._fn()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:60] or "session"


def _free_path(folder: Path, stem: str) -> Path:
    path = folder / f"{stem}.har"
    n = 2
    while path.exists():
        path = folder / f"{stem}-{n}.har"
        n += 1
    return path


def _upload_name(name: Any) -> str:
    """The upload's own name as a single path component (its suffix tells .gz and .zhar)."""
    base = re.sub(r"[/\\\x00]", "_", str(name or ""))
    return base if base not in ("", ".", "..") else "upload.har"


class TrafficGrid(w.VBox):
    """A browser-network-panel view of `session`: filter, sort, select, inspect, import, export.

    `height`: the table's height (CSS). `redact`: the initial state of "Redact secrets",
    applied to both exports. `folder`: where exports are written (default: the kernel's
    working directory, which is the notebook's folder). `interval`: the least time between
    two refreshes caused by a capture or other outside change, in seconds.
    """

    def __init__(self, session: Session, *, height: str = "360px", redact: bool = True,
                 folder: str | os.PathLike | None = None, interval: float = 0.25) -> None:
        self.session = session
        self.folder = Path(folder) if folder is not None else None
        self.toolbar = Toolbar(redact=redact)
        # One lock for grid and table: a click's selection and the session's update are one step.
        self._lock = threading.RLock()
        self.table = TrafficTable(height=height, on_select=self._selected_in_table,
                                  on_sort=lambda _key, _ascending: self.refresh(view=True), lock=self._lock)
        self.detail = w.HTML(detail.render(session, None))
        self.messages = w.Output()
        self._df: pd.DataFrame | None = None
        self._detail_of: tuple | None = None  # which entry the detail pane shows
        self._throttle = Throttle(interval, self.refresh)
        self.toolbar.on_filter(lambda _filter: self.refresh(view=True))
        self.toolbar.export_session.on_click(lambda _b: self.export(selected=False))
        self.toolbar.export_selected.on_click(lambda _b: self.export(selected=True))
        self.toolbar.mock.on_click(lambda _b: self.mock_selected())
        self.toolbar.clear.on_click(lambda _b: self.clear())
        self.toolbar.upload.observe(self._uploaded, "value")
        super().__init__([self.toolbar, self.table, self.messages, self.detail])
        self.add_class("necto-grid")
        self.refresh()
        self._unobserve = session.observe(lambda _s: self._throttle())

    # -- selection ---------------------------------------------------------------------

    @property
    def selected(self) -> pd.DataFrame:
        """The selected rows of `session.df` (the same as `session.selection`)."""
        return self.session.selection

    def select(self, rows: Rows) -> None:
        """Select `rows` (index labels, a boolean mask or a filtered frame), as `Session.select`."""
        self.session.select(rows)
        self.refresh()

    def _selected_in_table(self, labels: list[int]) -> None:
        with self._lock:
            self.session.select(labels)
            self.refresh()

    # -- keeping in step with the session -----------------------------------------------

    def refresh(self, *, view: bool = False) -> None:
        """Bring the grid up to date with the session; `view=True` re-applies filters and sort."""
        with self._lock:
            df = self.session.df
            if view or df is not self._df:
                self._df = df
                self.toolbar.set_choices(df)
                key, direction = self.table.sort
                self.table.set_view(df, self._order(df, key, direction == "asc"))
            selected = self.session.selection.index.to_numpy("int64")
            if set(selected.tolist()) != self.table.selected:
                self.table.set_selected(selected.tolist())
            hidden = int((~np.isin(selected, self.table.order)).sum())
            self.toolbar.set_count(len(self.table.order), len(df), len(selected), hidden)
            focus = self.table.focus if self.table.focus is not None else (int(selected[0]) if len(selected) else None)
            # Entries only grow (until cleared): the same label, URL and start is the same entry,
            # so a live capture's refreshes do not redraw (and re-decode) the open entry.
            shown = None if focus is None or focus not in df.index else (focus, df.at[focus, "url"], df.at[focus, "started"])
            if shown != self._detail_of:
                self._detail_of = shown
                self.detail.value = detail.render(self.session, focus)

    def _order(self, df: pd.DataFrame, key: str, ascending: bool) -> np.ndarray:
        try:
            return view.order(df, self.toolbar.filter, key, ascending)
        except ValueError as exc:  # an unknown sort key sent by the browser
            self._say(f'<span class="necto-error">{esc(str(exc))}</span>')
            return view.order(df, self.toolbar.filter)

    # -- buttons -----------------------------------------------------------------------

    def export(self, *, selected: bool = False) -> Path | None:
        """Write the session (or its selection) beside the notebook; say where, offer a download."""
        rows = self.session.selection.index if selected else None
        if rows is not None and not len(rows):
            self._say("Nothing is selected: click rows first (shift-click for a range, ctrl-click to add).")
            return None
        folder = self.folder or Path.cwd()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = _free_path(folder, f"{_slug(self.session.name)}-{stamp}{'-selected' if selected else ''}")
        redact = bool(self.toolbar.redact.value)
        try:
            written = self.session.to_har(path, rows=rows, redact=redact)
        except (OSError, ValueError) as exc:
            self._say(f'<span class="necto-error">Export failed: {esc(str(exc))}</span>')
            return None
        count = len(rows) if rows is not None else len(self.session)
        try:
            href = Path(os.path.relpath(written, Path.cwd())).as_posix()
        except ValueError:  # another drive (Windows): no relative link possible
            href = written.name
        self._say(
            f"Wrote <b>{esc(written.name)}</b>: {count:,} entries, secrets "
            f"{'redacted' if redact else '<b>not</b> redacted'} ({esc(str(written))}). "
            f'<a href="{esc(quote(href))}" download="{esc(written.name)}">Download {esc(written.name)}</a>'
        )
        return written

    def import_files(self, files: list[tuple[str, bytes]]) -> list[Session]:
        """Add the entries of HAR files, given as (name, content). All or nothing: if one file
        cannot be read, its error is shown and the session is left as it was."""
        from necto_nb.session import read_har

        read: list[tuple[str, Session]] = []
        errors: list[str] = []
        with tempfile.TemporaryDirectory(prefix="necto-import-") as tmp:
            for name, content in files:
                path = Path(tmp) / _upload_name(name)
                path.write_bytes(content)  # read from a path: .gz/.zhar handled, messages name the file
                try:
                    read.append((path.name, read_har(path)))
                except HarError as exc:
                    errors.append(f"<li>{esc(str(exc))}</li>")
                finally:
                    path.unlink()
        if errors:
            self._say(f'<span class="necto-error">Nothing imported: {len(errors)} of {len(files)} file(s) '
                      f"cannot be read as HAR.</span><ul>{''.join(errors)}</ul>")
            return []
        parts = []
        for name, new in read:
            self.session.extend([bytes(new.entries.raw(i)) for i in range(len(new))], new.pages)
            self.session.report.extend(new.report)
            parts.append(self._import_summary(name, new))
        self.refresh()
        self._say("".join(parts))
        return [new for _, new in read]

    @staticmethod
    def _import_summary(name: str, new: Session) -> str:
        report: Report = new.report
        head = f"Imported <b>{esc(name)}</b>: {len(new):,} entries"
        if not report:
            return f"<p>{head}, no issues.</p>"
        return (f"<p>{head}, {len(report.errors)} error(s), {len(report.warnings)} warning(s) "
                f"found and handled:</p>{report._repr_html_()}")

    def _uploaded(self, change: dict) -> None:
        files = change["new"]
        if not files:
            return
        self.toolbar.upload.value = ()  # so choosing the same file again is noticed
        self.import_files([(f["name"], bytes(f["content"])) for f in files])

    def mock_selected(self, proxy: Proxy | None = None) -> list[Mock]:
        """A `nn.rules.Mock` per selected row, answering its request with its recorded response,
        added to the front of `proxy.rules` (default: the capture running in this kernel)."""
        from necto_nb.capture.proxy import running
        from necto_nb.rules import Mock

        rows = self.session.selection.index.tolist()
        if not rows:
            self._say("Nothing is selected: click the rows to mock first.")
            return []
        mocks, skipped = [], []
        for row in rows:
            try:
                mocks.append(Mock.from_entry(self.session, row))
            except ValueError as exc:
                skipped.append(f"<li>{esc(str(exc))}</li>")
        proxy = proxy if proxy is not None else running()
        if proxy is not None and proxy.state in ("running", "paused"):
            proxy.rules[0:0] = mocks  # before the others: the user's latest word wins
            where = f"added to the rules of the capture at {esc(proxy.url)}"
        else:
            where = "no capture is running: add them with <code>proxy.rules.extend(grid.mock_selected())</code>"
        self._say(f"{len(mocks)} mock(s) {where}."
                  + (f" Not mocked:<ul>{''.join(skipped)}</ul>" if skipped else ""))
        return mocks

    def clear(self) -> None:
        self.session.clear()
        self.refresh()
        self._say("Cleared.")

    def _say(self, markup: str) -> None:
        """Show a message under the toolbar (an output area, so JupyterLab resolves links)."""
        self.messages.outputs = ({
            "output_type": "display_data",
            "data": {"text/html": f'<div class="necto-status">{markup}</div>',
                     "text/plain": html.unescape(re.sub(r"<[^>]+>", "", markup))},
            "metadata": {},
        },)

    def close(self) -> None:
        self._unobserve()
        self._throttle.close()
        for child in (self.toolbar, self.table, self.detail, self.messages):
            child.close()
        super().close()
