"""Runs kept as a Parquet dataset: the frame's typed columns, queryable by any Parquet reader,
and each entry's JSON, so a run read back is the Session it was.

    history/
      run=2026-11-01/part-0.parquet   entry, every column of `frame.COLUMNS`, har (the entry's JSON text)
      run=2026-11-02/part-0.parquet
      _runs.parquet                   one row per run: file, log, pages, report (readers skip "_" files)
      _frame.parquet                  every run's frame columns (and run) in one file

Hive partitioning by run: DuckDB, Polars, Spark and `pyarrow.dataset` read `run` from the
folder names. Writing into an existing dataset adds runs after those it holds and replaces
those of the same name in place.

`_frame.parquet` is there for `read_parquet`: opening a run's file costs about what parsing
its HAR does, so the frame of thousands of runs is read from one file instead. `_runs.parquet`
records each run file's size and modification time as written; where any differs (a run
file rewritten by another tool) or the file is absent (a dataset written before it), the
frame is read from the runs' files.
"""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import numpy as np
import pandas as pd

from necto_nb import frame
from necto_nb.atomic import replacing
from necto_nb.errors import HarError, UnknownKeyError
from necto_nb.har.report import Issue, Report
from necto_nb.har.source import stamp

if TYPE_CHECKING:
    from necto_nb.runs import Runs

RUNS_FILE = "_runs.parquet"
FRAME_FILE = "_frame.parquet"
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
    # the frame's columns uncompressed: a few kB a run, and a zstd context per column chunk
    # cost more to set up than reading them does
    codecs = {name: "none" for name in table.schema.names} | {"har": compression}
    start, stamps = 0, []
    for name, size in zip(runs.names, runs._sizes.values()):
        folder = out / f"run={quote(name, safe='')}"
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir()
        pq.write_table(table.slice(start, size), folder / PART, compression=codecs)
        stamps.append(stamp(folder / PART))
        start += size
    _write_frames(table.drop_columns(["har"]), runs, out)
    _write_runs(runs, stamps, out)  # last: until it names the new files' stamps, the frame is read from them
    return out


def _write_frames(table: Any, runs: Runs, out: Path) -> None:
    """Every run's frame columns in FRAME_FILE: those written now, and those of the runs kept."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    codes = np.repeat(np.arange(len(runs), dtype=np.int32), list(runs._sizes.values()))
    table = table.append_column("run", pa.DictionaryArray.from_arrays(codes, pa.array(runs.names, pa.string())))
    if (out / FRAME_FILE).is_file():
        kept = pq.read_table(out / FRAME_FILE, read_dictionary=["run"])
        kept = kept.filter(pc.invert(pc.is_in(kept.column("run").cast(pa.string()), pa.array(runs.names))))
        table = pa.concat_tables([kept, table], promote_options="permissive").combine_chunks()
    with replacing(out / FRAME_FILE) as file:
        pq.write_table(table, file)


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


def _write_runs(runs: Runs, stamps: list[tuple[int, int]], out: Path) -> None:
    """The runs' metadata, merged with what the dataset held, replaced in one rename."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{
        "run": r.name, "file": r.file, "entries": len(r.entries), "log": json.dumps(r.log),
        "pages": json.dumps(r.pages), "pages_absent": r.pages_absent, "page_ids": json.dumps(sorted(r.page_ids)),
        "folder": r.folder, "origin": None if r.origin is None else json.dumps(r.origin),
        "report": json.dumps([[i.severity, i.path, i.message, i.action] for i in r.report]),
        "part_size": size, "part_mtime_ns": mtime,
    } for r, (size, mtime) in zip(runs._runs.values(), stamps)]
    table = pd.DataFrame(rows, columns=["run", "file", "entries", "log", "pages", "pages_absent", "page_ids",
                                        "folder", "origin", "report", "part_size", "part_mtime_ns"])
    if (out / RUNS_FILE).is_file():
        both = pd.concat([pq.read_table(out / RUNS_FILE).to_pandas(), table], ignore_index=True)
        order = pd.unique(both["run"])  # a replaced run keeps its place, new ones come last
        table = both.drop_duplicates("run", keep="last").set_index("run").loc[order].reset_index()
    with replacing(out / RUNS_FILE) as file:
        pq.write_table(pa.Table.from_pandas(table, preserve_index=False), file)


def read_parquet(path: str | os.PathLike, *, runs: list[str] | None = None) -> Runs:
    """The dataset at `path` (written by `Runs.to_parquet`) as Runs; only `runs` if given."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from necto_nb.runs import RunData, Runs

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
    parts = [_part(folder, name) for name in meta["run"]]
    stamps = [stamp(part) for part in parts]
    table = _frames_of(folder, meta) if _as_written(meta, stamps) else None
    if table is None:
        # Each run's file, in the runs' order, its frame's columns only (the entries' JSON, most
        # of the bytes, is read when a run's entries are asked for), on threads: pyarrow decodes
        # without the GIL.
        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            tables = list(pool.map(_read_frame, parts))
        sizes = [len(t) for t in tables]
        if sizes != meta["entries"].tolist():
            wrong = next(i for i, (a, b) in enumerate(zip(sizes, meta["entries"])) if a != b)
            raise HarError(f"{folder}: run {meta['run'][wrong]!r} holds {sizes[wrong]} entries, "
                           f"{RUNS_FILE} says {meta['entries'][wrong]}")
        table = pa.concat_tables(tables).combine_chunks()  # one chunk, not one a run: converted in one go
    df = _frame(table, meta)
    runs_data = [RunData(
        row.run, row.file, json.loads(row.log), json.loads(row.pages),
        Report(Issue(*issue) for issue in json.loads(row.report)), InParquet(part.absolute(), int(row.entries), written),
        set(json.loads(row.page_ids)), row.folder, None if row.origin is None else json.loads(row.origin),
        bool(row.pages_absent)) for row, part, written in zip(meta.itertuples(index=False), parts, stamps)]
    return Runs(df, runs_data)


@dataclass(frozen=True)
class InParquet:
    """A run's entries in its Parquet file's `har` column, read when asked (`entries.Stored`):
    as the file was when the dataset was read, or an error saying it changed."""

    path: Path
    count: int
    stamp: tuple[int, int]  # size and modification time when read

    def __len__(self) -> int:
        return self.count

    def load(self) -> list[memoryview]:
        import pyarrow.parquet as pq

        from necto_nb.runs import Packed

        try:
            changed = stamp(self.path) != self.stamp
            har = None if changed else pq.ParquetFile(self.path).read(columns=["har"]).column("har").combine_chunks()
        except OSError as exc:
            raise HarError(f"{self.path}: cannot read the run's entries ({exc})") from None
        if har is None or len(har) != self.count:
            raise HarError(f"{self.path}: changed since the dataset was read; read it again")
        offsets = np.frombuffer(har.buffers()[1], dtype=np.int64)[har.offset:har.offset + len(har) + 1]
        first = int(offsets[0])  # one chunk: no copy, the entries stay in the column's buffer
        return Packed(memoryview(har.buffers()[2])[first:int(offsets[-1])], offsets[1:] - first).load()


def _as_written(meta: pd.DataFrame, stamps: list[tuple[int, int]]) -> bool:
    """Whether every run's file is as this package wrote it (so FRAME_FILE holds its frame)."""
    if "part_size" not in meta.columns or meta["part_size"].isna().any():
        return False
    return stamps == list(zip(meta["part_size"].astype("int64").tolist(), meta["part_mtime_ns"].astype("int64").tolist()))


def _frames_of(folder: Path, meta: pd.DataFrame) -> Any:
    """The runs' frame columns from FRAME_FILE, in the runs' order; None where it lacks a run."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    options = ds.ParquetReadOptions(dictionary_columns=["run", *_CATEGORIES])  # no string per row
    try:
        table = ds.dataset(folder / FRAME_FILE, format=ds.ParquetFileFormat(read_options=options)).to_table(
            memory_pool=_pool())
    except (OSError, ValueError):  # absent, or not a Parquet file: the runs' files have it all
        return None
    run = table.column("run").combine_chunks()
    codes = run.indices.to_numpy(zero_copy_only=False)
    position = {name: i for i, name in enumerate(run.dictionary.to_pylist())}
    wanted = [position.get(name, -1) for name in meta["run"]]
    counts = np.bincount(codes, minlength=len(position))
    if -1 in wanted or counts[wanted].tolist() != meta["entries"].tolist():
        return None
    order = np.argsort(codes, kind="stable")  # each run's rows, in their order, one run after another
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rows = np.concatenate([order[starts[c]:starts[c] + counts[c]] for c in wanted])
    table = table.drop_columns(["run"])
    if len(rows) == len(table) and np.array_equal(rows, np.arange(len(rows))):  # all runs, as written: no copy
        return table
    table = pc.take(table, rows, memory_pool=_pool())
    for name in _CATEGORIES:  # some runs: categories as they first appear in them, not in the whole file
        table = table.set_column(table.schema.get_field_index(name), name,
                                 pc.cast(table.column(name), pa.string(), memory_pool=_pool()))
    return table


def _part(folder: Path, name: str) -> Path:
    part = folder / f"run={quote(name, safe='')}" / PART
    if not part.is_file():
        raise HarError(f"{folder}: run {name!r} is in {RUNS_FILE} but {part} is missing")
    return part


def _read_frame(part: Path):
    import pyarrow.parquet as pq

    # a small file: threads within it cost more than they save
    return pq.ParquetFile(part).read(columns=[*frame.COLUMNS, "entry"], use_threads=False)


def _pool() -> Any:
    """Where the frame's Arrow buffers are allocated: the system allocator. pyarrow's default
    (mimalloc) commits fresh huge pages eagerly, which a VM can take a second of system time to
    fault in for a read that takes a fifth of one (docs/benchmarks.md); passed to these calls
    only, so the user's own choice for their process stands."""
    import pyarrow as pa

    return pa.system_memory_pool()


def _frame(table: Any, meta: pd.DataFrame) -> pd.DataFrame:
    """The frame as `Runs.df` has it: `run` and `file` in front, each column in its dtype,
    made by Arrow in one conversion (the frame's columns are the table's, in order)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from necto_nb.runs import with_runs

    for name in _CATEGORIES:  # categories in order of first appearance, as the frame builder makes them
        if not pa.types.is_dictionary(table.schema.field(name).type):  # read so from FRAME_FILE
            table = table.set_column(table.schema.get_field_index(name), name,
                                     pc.dictionary_encode(table.column(name), memory_pool=_pool()))
    types = {pa.int64(): pd.Int64Dtype(), pa.large_string(): pd.StringDtype() if frame.arrow_strings() else None}
    df = table.select(list(frame.COLUMNS)).to_pandas(types_mapper=types.get, memory_pool=_pool())
    for name, (dtype, _) in frame.COLUMNS.items():
        if str(df[name].dtype) != dtype:  # pandas 2: strings as objects
            df[name] = df[name].astype(dtype)
    if "entry" in table.column_names:
        df.index = pd.Index(table.column("entry").to_numpy(), name="entry")
    return with_runs(df, list(meta["run"]), list(meta["file"]), meta["entries"].to_numpy())


__all__ = ["read_parquet", "write_parquet"]
