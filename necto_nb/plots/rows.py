"""`rows=` as every necto_nb function reads it: what `Session.select` accepts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def pick(df: pd.DataFrame, rows: Any, name: str) -> pd.DataFrame:
    """The rows of `df` named by `rows`: None (all), index labels, a boolean mask or a filtered frame."""
    if rows is None:
        return df
    if isinstance(rows, pd.DataFrame):
        labels = rows.index
    elif isinstance(rows, pd.Series) and rows.dtype == bool:
        labels = rows.index[rows.to_numpy()]
    else:
        arr = np.asarray(list(rows) if not hasattr(rows, "__array__") else rows)
        if arr.dtype == bool:
            if len(arr) != len(df):
                raise ValueError(f"rows: a mask of {len(arr)} values for session {name!r} of {len(df)} entries")
            return df[arr]
        labels = pd.Index(arr)
    missing = labels.difference(df.index)
    if len(missing):
        shown = ", ".join(map(str, missing[:5])) + (" ..." if len(missing) > 5 else "")
        raise ValueError(f"rows: entries {shown} are not in session {name!r} (entries 0..{len(df) - 1})")
    return df.loc[labels]
