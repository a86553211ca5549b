"""read_hars(..., engine="dask"): the runs' frame as a Dask DataFrame, read on the workers.

Each partition is a group of files read by `runs.read_group` on whichever worker the active
Dask client (a `LocalCluster`, a remote scheduler) gives it; only the frame leaves the
worker, never the entries. The partitions' meta is `frame.meta(runs=True)`, the same
columns and dtypes as `Runs.df`. The runs and files are known before any is read, so
`run` and `file` have them as categories in every partition (a groupby by run needs no
shuffle to learn them); the other categoricals' categories are known once computed.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from necto_nb import frame
from necto_nb.errors import ArgumentError, HarError
from necto_nb.runs import read_group


def meta(pairs: Sequence[tuple[str, str]] = ()) -> pd.DataFrame:
    """`Runs.df` with no rows: `run` and `file` categorical over `pairs`' runs and files, the
    other categoricals marked as having unknown categories."""
    from dask.dataframe.utils import clear_known_categories

    empty = clear_known_categories(frame.meta(runs=True), cols=[
        name for name, (dtype, _) in frame.COLUMNS.items() if dtype == "category"])
    return _known_runs(empty, pairs)


def _known_runs(df: pd.DataFrame, pairs: Sequence[tuple[str, str]]) -> pd.DataFrame:
    return df.assign(run=df["run"].cat.set_categories([run for run, _ in pairs]),
                     file=df["file"].cat.set_categories(list(dict.fromkeys(file for _, file in pairs))))


def read_partition(group: Sequence[tuple[str, str]], pairs: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """One partition: the frame of a group of `(run, file)`, `run` and `file` categorical over
    all `pairs`; an unreadable file fails the computation, naming the file (a history with a
    silent hole would compare wrongly)."""
    df, _, failed = read_group(group)
    if failed:
        file, error = failed[0]
        raise HarError(f"{file}: {error}")
    return _known_runs(df if len(df) else frame.meta(runs=True), pairs)


def read_hars(pairs: Sequence[tuple[str, str]], *, files_per_partition: int = 64):
    """A Dask DataFrame over `(run, file)` pairs, `files_per_partition` files a partition."""
    import dask.dataframe as dd

    if files_per_partition < 1:
        raise ArgumentError(f"files_per_partition={files_per_partition}: at least 1")
    groups = [list(pairs[i:i + files_per_partition]) for i in range(0, len(pairs), files_per_partition)]
    pairs = list(pairs)
    return dd.from_map(read_partition, groups, args=(pairs,), meta=meta(pairs), label="read-hars",
                       enforce_metadata=False)


__all__ = ["meta", "read_hars", "read_partition"]
