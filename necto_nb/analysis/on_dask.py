"""compare_timings and trend on a Dask DataFrame (`read_hars(..., engine="dask")`).

What runs where:

- On the workers, partition by partition (each a group of whole runs): the files are read
  and parsed, and each request of each run is reduced to what a comparison reads (its run,
  method, URL, start, status, bytes and timings) plus what pairing needs of it, computed
  there: its exact key (the normalised URL, `nn.normalise_url`) and its start in ms from its
  run's first. The HAR bytes and every other column stay on the workers.
- On the client: that per-request table (one row per request per run). Requests are paired
  across runs there, run after run against everything seen before (no partition sees the
  other runs); a run whose requests all pair by their keys is numbered with numpy, without
  parsing a URL. Then the rank statistics, which need every run's value of a request at once.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pandas as pd

from necto_nb.frame import PHASES
from necto_nb.match import CACHE_BUSTERS, KEY, OFFSET, Catalogue, IgnoreQuery, run_offsets

#: What compare_timings and trend read of each request.
COMPARED = ["run", "method", "url", "started", "status", "transfer_size", "time", *PHASES]


def is_dask(value: Any) -> bool:
    """Whether `value` is a Dask collection (without importing Dask where nobody has)."""
    if "dask" not in sys.modules:
        return False
    from dask import is_dask_collection

    return is_dask_collection(value)


def per_request(value: Any, ignore_query: IgnoreQuery = CACHE_BUSTERS) -> Any:
    """A Dask DataFrame as the per-request table, with each request's key and start offset
    (`KEY`, `OFFSET`; keys as `ignore_query` has them), computed on the workers; anything
    else as given."""
    if not is_dask(value):
        return value
    missing = [c for c in COMPARED if c not in value.columns]
    if missing:
        raise ValueError(f"not a frame of runs from read_hars(engine='dask'): no {', '.join(missing)} column")
    projected = value[COMPARED]
    meta = projected._meta.assign(**{KEY: pd.Series([], dtype=object), OFFSET: pd.Series([], dtype="float64")})
    table = projected.map_partitions(keyed, ignore_query, meta=meta).compute()
    # runs in order of first appearance, as the pandas engine has them
    return table.assign(run=table["run"].cat.remove_unused_categories()) if len(table) else table


def keyed(partition: pd.DataFrame, ignore_query: IgnoreQuery) -> pd.DataFrame:
    """A partition's requests with their exact keys and their starts from their run's first."""
    urls = partition["url"].astype("object").fillna("").tolist()
    runs = partition["run"].cat.codes.to_numpy() if len(partition) else np.empty(0, dtype="int64")
    return partition.assign(**{KEY: np.asarray(Catalogue(ignore_query=ignore_query).keys(urls), dtype=object),
                               OFFSET: run_offsets(partition["started"], runs)})


__all__ = ["COMPARED", "is_dask", "keyed", "per_request"]
