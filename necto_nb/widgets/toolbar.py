"""The grid's toolbar: search and filters, the row count, and the Import/Export/Clear buttons.

Plain ipywidgets; it knows nothing of sessions. `TrafficGrid` reads `filter`, listens to
`on_filter` and wires the buttons.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w
import pandas as pd

from necto_nb.widgets.view import ALL, STATUS_CLASSES, Filter, options

_STATUS_OPTIONS = [("any status", ALL)] + [(k, k) for k in STATUS_CLASSES]


def _dropdown(description: str, choices: list[tuple[str, str]]) -> w.Dropdown:
    return w.Dropdown(options=choices, value=ALL, description=description,
                      layout=w.Layout(width="auto", min_width="9em"), style={"description_width": "initial"})


class Toolbar(w.VBox):
    def __init__(self, *, redact: bool = True) -> None:
        self.search = w.Text(placeholder="Filter URL, host, method", continuous_update=True,
                             layout=w.Layout(width="22em"))
        self.status = _dropdown("", _STATUS_OPTIONS)
        self.method = _dropdown("", [("any method", ALL)])
        self.type = _dropdown("", [("any type", ALL)])
        self.count = w.HTML(layout=w.Layout(margin="0 0 0 1em"))
        self.export_session = w.Button(description="Export session", icon="download",
                                       tooltip="Write every entry to a .har file beside the notebook")
        self.export_selected = w.Button(description="Export selected", icon="download", disabled=True,
                                        tooltip="Write the selected entries to a .har file beside the notebook")
        self.upload = w.FileUpload(description="Import HAR", accept=".har,.json,.gz,.zhar", multiple=True,
                                   tooltip="Add the entries of one or more HAR files")
        self.mock = w.Button(description="Mock selected", icon="magic", disabled=True,
                             tooltip="Answer the selected requests with their recorded responses from now on "
                                     "(rules of the running capture)")
        self.clear = w.Button(description="Clear", icon="trash", tooltip="Remove every entry from the session")
        self.redact = w.Checkbox(value=redact, description="Redact secrets", indent=False,
                                 layout=w.Layout(width="auto"),
                                 tooltip="Exports replace cookies, tokens and passwords with a marker")
        self._listeners: list[Callable[[Filter], None]] = []
        self._quiet = False  # set while choices are replaced: not a user's change
        for control in (self.search, self.status, self.method, self.type):
            control.observe(self._changed, "value")
        filters = w.HBox([self.search, self.status, self.method, self.type, self.count],
                         layout=w.Layout(align_items="center", flex_flow="row wrap"))
        buttons = w.HBox([self.export_session, self.export_selected, self.mock, self.upload, self.clear,
                          self.redact],
                         layout=w.Layout(align_items="center", flex_flow="row wrap"))
        super().__init__([filters, buttons])

    @property
    def filter(self) -> Filter:
        return Filter(self.search.value, self.status.value, self.method.value, self.type.value)

    def on_filter(self, callback: Callable[[Filter], None]) -> None:
        self._listeners.append(callback)

    def _changed(self, _change) -> None:
        if self._quiet:
            return
        current = self.filter
        for callback in self._listeners:
            callback(current)

    def set_choices(self, df: pd.DataFrame) -> None:
        """Offer the methods and resource types present in `df` (keeping the current choice)."""
        for control, column, any_label in ((self.method, "method", "any method"), (self.type, "resource_type", "any type")):
            choices = [(any_label, ALL)] + [(v, v) for v in options(df, column)]
            if control.value not in {v for _, v in choices}:
                choices.append((control.value, control.value))  # keep a choice its rows left
            if list(control.options) != choices:
                value, self._quiet = control.value, True
                try:
                    control.options = choices
                    control.value = value
                finally:
                    self._quiet = False

    def set_count(self, shown: int, total: int, selected: int, hidden: int) -> None:
        text = f"<b>{shown:,}</b> of {total:,}"
        if selected:
            text += f" &middot; {selected:,} selected"
            if hidden:
                text += f" ({hidden:,} hidden by the filters)"
        self.count.value = text
        self.export_selected.disabled = self.mock.disabled = selected == 0
