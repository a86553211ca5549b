"""compare_timings and trend on a Dask DataFrame (`read_hars(..., engine="dask")`).

The workers read the files and keep, of each request of each run, only what a comparison
reads (its run, method, URL, start, status, bytes and timings): the per-request table. That
comes back to the client, where requests are paired across runs (`nn.match_requests`
learns from all runs at once, which no single partition sees) and tested. The HAR bytes
and every other column stay on the workers.
"""

from __future__ import annotations

import sys
from typing import Any

import pandas as pd

from necto_nb.frame import PHASES

#: What compare_timings and trend read of each request.
COMPARED = ["run", "method", "url", "started", "status", "transfer_size", "time", *PHASES]


def is_dask(value: Any) -> bool:
    """Whether `value` is a Dask collection (without importing Dask where nobody has)."""
    if "dask" not in sys.modules:
        return False
    from dask import is_dask_collection

    return is_dask_collection(value)


def per_request(value: Any) -> Any:
    """A Dask DataFrame as the per-request table, computed on the workers; anything else as given."""
    if not is_dask(value):
        return value
    missing = [c for c in COMPARED if c not in value.columns]
    if missing:
        raise ValueError(f"not a frame of runs from read_hars(engine='dask'): no {', '.join(missing)} column")
    table = value[COMPARED].compute()
    # runs in order of first appearance, as the pandas engine has them
    return table.assign(run=table["run"].cat.remove_unused_categories()) if len(table) else table


__all__ = ["COMPARED", "is_dask", "per_request"]
