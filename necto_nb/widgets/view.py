"""Which rows the grid shows, and in which order: the toolbar's filters and the sort.

Everything runs in the kernel on the traffic frame, so a view of 50,000 rows costs a few
pandas passes and the browser only ever receives the rows it draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from necto_nb.errors import ArgumentError
#: status filter -> (low, high) range of status codes; "failed" is status 0 (no response)
STATUS_CLASSES: dict[str, tuple[int, int]] = {
    "1xx": (100, 199), "2xx": (200, 299), "3xx": (300, 399), "4xx": (400, 499), "5xx": (500, 599),
    "failed": (0, 0),
}

#: sort key -> frame column (None: the entry number, the frame's index)
SORT_KEYS: dict[str, str | None] = {
    "#": None, "method": "method", "status": "status", "host": "host", "path": "path",
    "type": "resource_type", "size": "transfer_size", "time": "time", "timing": "started",
}

ALL = "all"


@dataclass(frozen=True)
class Filter:
    """The toolbar's filters; `ALL` means no filter on that field.

    `search` is case-insensitive text; every whitespace-separated word must occur in the
    URL (which includes the host) or be the method.
    """

    search: str = ""
    status: str = ALL
    method: str = ALL
    type: str = ALL

    def mask(self, df: pd.DataFrame) -> np.ndarray:
        keep = np.ones(len(df), dtype=bool)
        for word in self.search.split():
            in_url = df["url"].str.contains(word, case=False, regex=False).fillna(False).to_numpy(bool)
            is_method = (df["method"].astype("string").str.upper() == word.upper()).fillna(False).to_numpy(bool)
            keep &= in_url | is_method
        if self.status != ALL:
            if self.status not in STATUS_CLASSES:
                raise ArgumentError(f"unknown status class {self.status!r}: use one of {', '.join(STATUS_CLASSES)}")
            low, high = STATUS_CLASSES[self.status]
            status = df["status"].fillna(0).to_numpy("int64")
            keep &= (status >= low) & (status <= high)
        if self.method != ALL:
            keep &= (df["method"].astype("string") == self.method).fillna(False).to_numpy(bool)
        if self.type != ALL:
            keep &= (df["resource_type"].astype("string") == self.type).fillna(False).to_numpy(bool)
        return keep


def order(df: pd.DataFrame, rows: Filter, key: str = "#", ascending: bool = True) -> np.ndarray:
    """Entry labels of the rows `rows` keeps, sorted by `key` (missing values last, ties by #)."""
    if key not in SORT_KEYS:
        raise ArgumentError(f"cannot sort by {key!r}: use one of {', '.join(SORT_KEYS)}")
    kept = df[rows.mask(df)] if len(df) else df
    column = SORT_KEYS[key]
    if column is None:
        labels = kept.index.to_numpy("int64")
        return labels if ascending else labels[::-1].copy()
    values = kept[column]
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype("string")  # by value, not by order of first appearance
    ranked = values.sort_values(ascending=ascending, kind="stable", na_position="last")
    return ranked.index.to_numpy("int64")


def options(df: pd.DataFrame, column: str) -> list[str]:
    """The values a filter on `column` can pick, sorted (stable while a capture adds rows)."""
    return sorted(v for v in df[column].astype("string").dropna().unique() if v != "")
