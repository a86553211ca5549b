"""Runs kept as a Parquet dataset: the frame's typed columns, queryable by any Parquet reader,
and each entry's JSON, so a run read back is the Session it was.

    history/
      run=2026-11-01/part-0.parquet   entry, every column of `frame.COLUMNS`, har (the entry's JSON text)
      run=2026-11-02/part-0.parquet
      _runs.parquet                   one row per run: file, log, pages, report (readers skip "_" files)

Hive partitioning by run: DuckDB, Polars, Spark and `pyarrow.dataset` read `run` from the
folder names. Writing into an existing dataset adds runs after those it holds and replaces
those of the same name in place.
"""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import numpy as np
import pandas as pd

from necto_nb import frame
from necto_nb.errors import HarError, UnknownKeyError
from necto_nb.har.report import Issue, Report

if TYPE_CHECKING:
    from necto_nb.runs import Runs

RUNS_FILE = "_runs.parquet"
PART = "part-0.parquet"  # one file per run
_CATEGORIES = [name for name, (dtype, _) in frame.COLUMNS.items() if dtype == "category"]


def write_parquet(runs: Runs, path: str | os.PathLike, *, compression: str = "zstd") -> Path:
    """Write `runs` to the dataset at `path` (a folder, made if absent)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(path)
    if out.exists() and not out.is_dir():
        raise HarError(f"{out}: is a file; a Parquet dataset is a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / RUNS_FILE).is_file():
        raise HarError(f"{out}: a folder with other files in it, not a necto_nb dataset: give a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    df = runs.df.drop(columns=list(frame.RUN_COLUMNS))
    table = pa.Table.from_pandas(df, preserve_index=True).append_column("har", _har_column(runs))
    table = table.cast(_schema()).replace_schema_metadata(None)  # the same types whatever the runs hold
    start = 0
    for name, size in zip(runs.names, runs._sizes.values()):
        folder = out / f"run={quote(name, safe='')}"
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir()
        pq.write_table(table.slice(start, size), folder / PART, compression=compression)
        start += size
    _write_runs(runs, out)
    return out


def _schema():
    """Every run's file has these types: categoricals as plain strings (Parquet encodes them
    as dictionaries anyway), so files written at different times read back as one table."""
    import pyarrow as pa

    types = {"category": pa.string(), "string": pa.large_string(), "Int64": pa.int64(), "float64": pa.float64(),
             "datetime64[ns, UTC]": pa.timestamp("ns", tz="UTC")}
    return pa.schema([*((name, types[dtype]) for name, (dtype, _) in frame.COLUMNS.items()),
                      ("entry", pa.int64()), ("har", pa.large_string())])


def _har_column(runs: Runs):
    """Every entry's JSON as one Arrow column, built from the runs' buffers (no object per entry)."""
    import pyarrow as pa

    data, ends, base = [], [np.zeros(1, np.int64)], 0
    for run in runs._runs.values():
        packed = run.packed()
        data.append(packed.data)
        ends.append(packed.ends + base)
        base += len(packed.data)
    offsets = np.concatenate(ends)
    # JSON text, UTF-8 checked on import: a string column, so SQL engines read it as JSON
    return pa.LargeStringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(b"".join(data)))


def _write_runs(runs: Runs, out: Path) -> None:
    """The runs' metadata, merged with what the dataset held, replaced in one rename."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{
        "run": r.name, "file": r.file, "entries": len(r.entries), "log": json.dumps(r.log),
        "pages": json.dumps(r.pages), "pages_absent": r.pages_absent, "page_ids": json.dumps(sorted(r.page_ids)),
        "folder": r.folder, "origin": None if r.origin is None else json.dumps(r.origin),
        "report": json.dumps([[i.severity, i.path, i.message, i.action] for i in r.report]),
    } for r in runs._runs.values()]
    table = pd.DataFrame(rows, columns=["run", "file", "entries", "log", "pages", "pages_absent", "page_ids",
                                        "folder", "origin", "report"])
    if (out / RUNS_FILE).is_file():
        both = pd.concat([pq.read_table(out / RUNS_FILE).to_pandas(), table], ignore_index=True)
        order = pd.unique(both["run"])  # a replaced run keeps its place, new ones come last
        table = both.drop_duplicates("run", keep="last").set_index("run").loc[order].reset_index()
    temporary = out / f".{RUNS_FILE}.tmp"
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), temporary)
    os.replace(temporary, out / RUNS_FILE)


def read_parquet(path: str | os.PathLike, *, runs: list[str] | None = None) -> Runs:
    """The dataset at `path` (written by `Runs.to_parquet`) as Runs; only `runs` if given."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from necto_nb.runs import Packed, RunData, Runs

    folder = Path(path)
    if not (folder / RUNS_FILE).is_file():
        raise HarError(f"{folder}: not a necto_nb Parquet dataset (no {RUNS_FILE}; write one with Runs.to_parquet)")
    meta = pq.read_table(folder / RUNS_FILE).to_pandas()
    if runs is not None:
        missing = sorted(set(runs) - set(meta["run"]))
        if missing:
            raise UnknownKeyError(f"{folder}: no run {missing[0]!r}")
        meta = meta.set_index("run").loc[runs].reset_index()
    if not len(meta):
        return Runs(frame.meta(runs=True), [])
    # Each run's file directly, in the runs' order (no discovery, no reordering after), on
    # threads: pyarrow decodes without the GIL.
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        tables = list(pool.map(lambda name: _read_run(folder, name, pq), meta["run"]))
    sizes = [len(t) for t in tables]
    if sizes != meta["entries"].tolist():
        wrong = next(i for i, (a, b) in enumerate(zip(sizes, meta["entries"])) if a != b)
        raise HarError(f"{folder}: run {meta['run'][wrong]!r} holds {sizes[wrong]} entries, "
                       f"{RUNS_FILE} says {meta['entries'][wrong]}")
    df = _frame(pa.concat_tables([t.drop_columns(["har"]) for t in tables]), meta)
    runs_data = []
    for row, table in zip(meta.itertuples(index=False), tables):
        har = table.column("har").combine_chunks()  # one chunk per file: no copy, the entries stay in its buffer
        offsets = np.frombuffer(har.buffers()[1], dtype=np.int64)[har.offset:har.offset + len(har) + 1]
        first = int(offsets[0])
        runs_data.append(RunData(
            row.run, row.file, json.loads(row.log), json.loads(row.pages),
            Report(Issue(*issue) for issue in json.loads(row.report)),
            Packed(memoryview(har.buffers()[2])[first:int(offsets[-1])], offsets[1:] - first),
            set(json.loads(row.page_ids)), row.folder, None if row.origin is None else json.loads(row.origin),
            bool(row.pages_absent)))
    return Runs(df, runs_data)


def _read_run(folder: Path, name: str, pq: Any):
    part = folder / f"run={quote(name, safe='')}" / PART
    if not part.is_file():
        raise HarError(f"{folder}: run {name!r} is in {RUNS_FILE} but {part} is missing")
    return pq.ParquetFile(part).read(use_threads=False)  # a small file: threads cost more than they save


def _categorical(values: pd.Series) -> pd.Categorical:
    """Categories in order of first appearance, as the frame builder makes them (not sorted)."""
    codes, categories = pd.factorize(values)
    return pd.Categorical.from_codes(codes, categories)


def _frame(table: Any, meta: pd.DataFrame) -> pd.DataFrame:
    """The frame as `Runs.df` has it: `run` and `file` in front, each column in its dtype."""
    df = table.to_pandas()
    df = df.set_index("entry") if "entry" in df.columns else df
    typed = {name: df[name] if str(df[name].dtype) == dtype else df[name].astype(dtype)
             for name, (dtype, _) in frame.COLUMNS.items() if name not in _CATEGORIES}
    typed.update({name: _categorical(df[name]) for name in _CATEGORIES})
    out = pd.DataFrame({name: typed[name] for name in frame.COLUMNS}, index=df.index)
    sizes = meta["entries"].to_numpy()
    codes = np.repeat(np.arange(len(meta)), sizes)
    out.insert(0, "file", pd.Categorical.from_codes(codes, list(meta["file"])))
    out.insert(0, "run", pd.Categorical.from_codes(codes, list(meta["run"])))
    return out


__all__ = ["read_parquet", "write_parquet"]
