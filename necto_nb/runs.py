"""Runs: many HAR files (a month of nightly test runs) as one frame, each file still a Session.

`read_hars` reads every file's frame fields into one `frame.Builder`, so the frame is built
once for a group of files, not once per file; groups are read in parallel processes. A run's
entries are read again from its file when its Session is asked for (a file that changed since
is an error, not other entries), so a run comes back as a Session with every field it was
read with, and many runs take the memory of their frame, not of their files.
"""

from __future__ import annotations

import glob
from collections import Counter
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import current_process, get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from necto_nb import frame
from necto_nb.errors import ArgumentError, ArgumentTypeError, HarError, UnknownKeyError, WorkerError
from necto_nb.har.deferred import Rest
from necto_nb.har.entries import Entries, Stored
from necto_nb.har.progress import CHUNK
from necto_nb.har.locate import InFile
from necto_nb.har.read import AtPath, parse, paused_gc
from necto_nb.har.report import Report
from necto_nb.har.source import stamp
from necto_nb.session import Session, SessionState

HAR_SUFFIXES = (".har", ".har.gz", ".zhar")
#: Below this many bytes of HAR the files are read in this process: starting workers costs more.
PARALLEL_FROM = 32 << 20
#: Files read into one frame at a time (in a worker, then sent back whole).
GROUP = 32
#: Reads of at least this many files show a progress bar.
PROGRESS_FROM = 100


@dataclass(frozen=True)
class Packed:
    """Entries' JSON bytes back to back, and where each ends (`entries.Stored`)."""

    data: bytes | memoryview
    ends: np.ndarray

    @classmethod
    def of(cls, raws: Sequence[Any]) -> Packed:
        return cls(b"".join(raws), np.cumsum([len(r) for r in raws], dtype=np.int64))

    def __len__(self) -> int:
        return len(self.ends)

    def load(self) -> list[memoryview]:
        view = memoryview(self.data)
        starts = np.concatenate([[0], self.ends[:-1]]) if len(self.ends) else self.ends
        return [view[a:b] for a, b in zip(starts.tolist(), self.ends.tolist())]


@dataclass
class RunData:
    """What a Session is made of, but its frame (which is in the Runs' frame): one file's
    metadata, its report, and where its entries' JSON is (`entries.Stored`: the file, read
    again; entries packed back to back; a Parquet file) until a Session asks."""

    name: str
    file: str
    log: dict[str, Any]
    pages: list[dict]
    report: Report
    entries: Stored
    page_ids: set[str] = field(default_factory=set)
    folder: str | None = None
    origin: list[int] | None = None  # each entry's position in the file, where some were set aside
    pages_absent: bool = False

    def raws(self) -> list:
        return self.entries.load()

    def packed(self) -> Packed:
        return self.entries if isinstance(self.entries, Packed) else Packed.of(self.raws())


def find_files(sources: Any) -> list[str]:
    """The HAR files `sources` names: a glob, a folder (searched below for .har, .har.gz,
    .zhar), a path, an fsspec URL (s3://..., globs too) or a list of those; in order, sorted
    within a glob or folder."""
    items = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    if not items:
        raise ArgumentError("read_hars: no sources given")
    found: list[str] = []
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            raise ArgumentTypeError(f"read_hars: a path, glob, folder or URL, not {type(item).__name__}")
        text = os.fspath(item)
        if "://" in text and not text.startswith("file://"):
            found += _remote(text)
        elif Path(text).is_dir():
            found += sorted(str(p) for p in Path(text).rglob("*") if p.name.lower().endswith(HAR_SUFFIXES))
        elif glob.has_magic(text):
            matched = sorted(glob.glob(text, recursive=True))
            if not matched:
                raise HarError(f"{text}: no files match")
            found += matched
        else:
            found.append(text.removeprefix("file://"))
    if not found:
        raise HarError(f"{', '.join(map(str, items))}: no HAR files there")
    return found


def _remote(url: str) -> list[str]:
    import fsspec  # comes with dask

    try:
        fs, _, paths = fsspec.core.get_fs_token_paths(url)
    except (ImportError, ValueError) as exc:  # a protocol whose package is missing (s3fs), or unknown
        raise HarError(f"{url}: {exc}") from None
    if not paths:
        raise HarError(f"{url}: no files match")
    return sorted(fs.unstrip_protocol(p) for p in paths)


def run_names(files: Sequence[str]) -> list[str]:
    """Each file's name without its HAR suffix; where two share one, with the folders below
    the one all files share (nightly/11-01/run1.har and nightly/11-02/run1.har give
    11-01/run1 and 11-02/run1); a file listed twice gets ~2."""
    stems = [_stem(f) for f in files]
    counts = Counter(stems)
    parents = [os.path.dirname(f.split("://", 1)[-1]) for f in files]
    try:
        common = os.path.commonpath(parents) if len(files) > 1 else ""
    except ValueError:  # absolute and relative paths mixed
        common = ""
    names = []
    for stem, parent in zip(stems, parents):
        below = os.path.relpath(parent, common) if common and parent else parent
        names.append(f"{below}/{stem}" if counts[stem] > 1 and below not in ("", ".") else stem)
    seen: Counter = Counter()
    for i, name in enumerate(names):
        seen[name] += 1
        if seen[name] > 1:
            names[i] = f"{name}~{seen[name]}"
    return names


def _stem(path: str) -> str:
    name = path.rstrip("/").rsplit("/", 1)[-1]
    for suffix in sorted(HAR_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _load(file: str) -> Any:
    """A local path as itself (side-file bodies are found beside it), a URL as its bytes."""
    if "://" not in file:
        return file
    import fsspec

    try:
        with fsspec.open(file, "rb") as f:
            return f.read()
    except OSError as exc:
        raise HarError(f"{file}: cannot read ({exc})") from None


def _stamp(file: str) -> tuple[int, int] | None:
    """A local file's stamp (None for a URL, or a file the read will say it cannot find)."""
    try:
        return None if "://" in file else stamp(Path(file))
    except OSError:
        return None


def _kept(entries: Entries, file: str, before: tuple[int, int] | None) -> Stored:
    """What a run keeps of its entries: a local file read in one pass and unchanged while
    read, its path (a year of runs is more than memory holds); else their bytes, as read or
    as repaired."""
    if isinstance(entries.stored, InFile) and before is not None and _stamp(file) == before:
        return AtPath(Path(os.path.abspath(file)), len(entries), before)
    return entries.stored or Packed.of(entries.raws())


def read_group(files: Sequence[tuple[str, str]]) -> tuple[pd.DataFrame, list[RunData], list[tuple[str, str]]]:
    """Read `(run, file)` pairs into one frame (with `run` and `file` columns), the runs' other
    parts, and `(file, what was wrong)` for each file that could not be read."""
    builder = frame.Builder()
    runs, failed, sizes = [], [], []
    batch: list = []  # views of several files, added at once: a small file's chunk costs as much to add as a large one
    with paused_gc():
        for run, file in files:
            chunks: list = []
            try:
                before = _stamp(file)
                parsed = parse(_load(file), chunks.append, name=_stem(file) if "://" in file else None)
            except (HarError, OSError) as exc:  # the message without the name the reader gave the file
                failed.append((file, str(exc).removeprefix(f"{_stem(file) if '://' in file else file}: ")
                               .removeprefix(f"{Path(file).name}: ")))
                continue
            except RecursionError:
                failed.append((file, "nested too deeply to read"))
                continue
            for views in chunks:  # added once the whole file read: a failure leaves no rows behind
                batch += views
            if len(batch) >= CHUNK:
                builder.add(batch)
                batch = []
            stored = _kept(parsed.entries, file, before)
            runs.append(RunData(run, file, parsed.log, parsed.pages, parsed.report, stored,
                                parsed.rest.page_ids, str(parsed.folder) if parsed.folder else None,
                                parsed.rest.origin, parsed.pages_absent))
            sizes.append(len(stored))
        df = builder.add(batch).frame()
    counts = np.asarray(sizes, dtype=np.int64)
    df.index = pd.Index(np.concatenate([np.arange(n) for n in counts]) if len(counts) else [], dtype="int64",
                        name="entry")
    return with_runs(df, [r.name for r in runs], [r.file for r in runs], sizes), runs, failed


def with_runs(df: pd.DataFrame, names: Sequence[str], files: Sequence[str], sizes: Sequence[int]) -> pd.DataFrame:
    """`df`, whose rows are each run's entries one run after another, with `run` and `file`
    (`frame.RUN_COLUMNS`) put in front. A file listed twice is two runs of one file."""
    rows = np.repeat(np.arange(len(names)), sizes)
    distinct = list(dict.fromkeys(files))
    position = {file: i for i, file in enumerate(distinct)}
    of_run = np.fromiter((position[file] for file in files), np.int64, len(files))
    df.insert(0, "file", pd.Categorical.from_codes(of_run[rows], distinct))
    df.insert(0, "run", pd.Categorical.from_codes(rows, names))
    return df


class Runs:
    """Many HAR files read as one: `df` has every column of `Session.df` plus `run` (the
    file's name without its suffix) and `file`; its index is each entry's position in its run.

    `runs[name]` is that run as a Session (lossless, as `read_har` gives it); iterating gives
    every run's Session in order; `runs[[names]]`, `runs.where(mask)` and `runs.head(n)`
    select runs. `report` names the files that could not be read.
    """

    def __init__(self, df: pd.DataFrame, runs: Sequence[RunData], report: Report | None = None) -> None:
        self.df = df
        self._runs = {r.name: r for r in runs}
        self.report = report if report is not None else Report()
        sizes = np.array([len(r.entries) for r in runs], dtype=np.int64)
        self._ends = dict(zip(self._runs, np.cumsum(sizes).tolist()))
        self._sizes = dict(zip(self._runs, sizes.tolist()))

    # -- what is in it -----------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return list(self._runs)

    @property
    def files(self) -> list[str]:
        return [r.file for r in self._runs.values()]

    def __len__(self) -> int:
        return len(self._runs)

    def __contains__(self, name: object) -> bool:
        return name in self._runs

    def __iter__(self) -> Iterator[Session]:
        return map(self.session, self._runs)

    def __getitem__(self, key: str | Sequence[str] | slice) -> Session | Runs:
        if isinstance(key, str):
            return self.session(key)
        if isinstance(key, slice):
            return self.select(self.names[key])
        return self.select(key)

    @property
    def summary(self) -> pd.DataFrame:
        """One row per run: its file, first start, entries, failed requests (status 0 or >= 400),
        summed request time and bytes on the wire, and how many issues its import reported."""
        df = self.df
        grouped = df.groupby("run", observed=True, sort=False)
        table = pd.DataFrame({
            "started": grouped["started"].min(),
            "entries": grouped.size(),
            "failed": ((df["status"] == 0) | (df["status"] >= 400)).groupby(df["run"], observed=True).sum(),
            "time": grouped["time"].sum(),
            "transfer_size": grouped["transfer_size"].sum(),
        }).reindex(pd.Index(self.names, name="run"))
        table.insert(0, "file", self.files)
        table["entries"] = table["entries"].fillna(0).astype("int64")
        table["issues"] = [len(r.report) for r in self._runs.values()]
        return table

    # -- selecting ---------------------------------------------------------------------

    def select(self, names: Iterable[str]) -> Runs:
        """The runs named, in the order given."""
        names = list(names)
        missing = [n for n in names if n not in self._runs]
        if missing:
            raise UnknownKeyError(f"no run {missing[0]!r} (runs: {_some(self.names)})")
        positions = np.concatenate([np.arange(self._ends[n] - self._sizes[n], self._ends[n]) for n in names]
                                   ) if names else np.empty(0, np.int64)
        df = with_runs(self.df.iloc[positions].drop(columns=list(frame.RUN_COLUMNS)), names,
                       [self._runs[n].file for n in names], [self._sizes[n] for n in names])
        return Runs(df, [self._runs[n] for n in names], self.report)

    def where(self, condition: pd.Series | Callable[[pd.DataFrame], pd.Series] | Iterable[bool]) -> Runs:
        """The runs where `condition` holds: a boolean Series indexed by run (made from
        `summary`, or from `df` grouped by run), a function of `summary` giving one, or a
        boolean per run in order. `runs.where(lambda s: s.started < "2026-11-14")`."""
        if callable(condition):
            condition = condition(self.summary)
        if isinstance(condition, pd.Series):
            unknown = set(condition.index) - set(self._runs)
            if unknown:
                raise UnknownKeyError(f"where: no run {sorted(map(str, unknown))[0]!r}")
            keep = condition.reindex(self.names).fillna(False).astype(bool).to_numpy()
        else:
            keep = np.asarray(list(condition), dtype=bool)
            if len(keep) != len(self):
                raise ArgumentError(f"where: {len(keep)} booleans for {len(self)} runs")
        return self.select([n for n, k in zip(self.names, keep) if k])

    def head(self, n: int = 5) -> Runs:
        return self.select(self.names[:n])

    # -- one run -----------------------------------------------------------------------

    def session(self, name: str) -> Session:
        """Run `name` as a Session, with its entries, pages, log and report as read."""
        try:
            run = self._runs[name]
        except KeyError:
            raise UnknownKeyError(f"no run {name!r} (runs: {_some(self.names)})") from None
        end = self._ends[name]
        rows = self.df.iloc[end - self._sizes[name]:end].drop(columns=list(frame.RUN_COLUMNS))
        rows = rows.assign(**{c: rows[c].cat.remove_unused_categories()
                              for c, (dtype, _) in frame.COLUMNS.items() if dtype == "category"})
        entries, report = Entries(stored=run.entries), Report(run.report)
        folder = Path(run.folder) if run.folder else None
        return Session._of(run.name, SessionState(
            run.log, list(run.pages), report, entries, [rows],
            rest=Rest(run.name, entries, report, run.page_ids, folder, run.origin),
            folder=folder, pages_absent=run.pages_absent,
            from_file=len(entries)))  # the file's order, kept on export

    def split(self) -> list[tuple[pd.DataFrame, list[dict]]]:
        """Each run's rows of `df` and its pages, in order: what the comparisons read of a run,
        without making a Session of each."""
        return [(self.df.iloc[end - self._sizes[name]:end], self._runs[name].pages) for name, end in self._ends.items()]

    # -- keeping -----------------------------------------------------------------------

    def to_parquet(self, path: str | os.PathLike, **options: Any) -> Path:
        """Write a Parquet dataset partitioned by run; see `necto_nb.parquet.write_parquet`."""
        from necto_nb.parquet import write_parquet

        return write_parquet(self, path, **options)

    def __repr__(self) -> str:
        failed = f", {len(self.report.errors)} file(s) unreadable" if self.report.errors else ""
        return f"<Runs: {len(self)} runs, {len(self.df)} entries{failed}>"

    def _repr_html_(self) -> str:
        import html

        return f"<p>{html.escape(repr(self))}</p>" + self.summary.head(20)._repr_html_()


def _some(names: list[str]) -> str:
    return ", ".join(map(repr, names[:5])) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def read_hars(sources: Any, *, engine: str = "pandas", progress: bool | None = None,
              workers: int | None = None, files_per_partition: int = 64) -> Any:
    """Read many HAR files as one: `Runs` (engine="pandas") or a `dask.dataframe.DataFrame`
    (engine="dask", computed by the active Dask client; see `necto_nb.dask_engine`).

    `sources`: a glob (`"nightly/2026-11-*/*.har"`), a folder, a path, an fsspec URL
    (`s3://...` with s3fs) or a list of them. A file that cannot be read is named in
    `runs.report` with its error; the others are read. Reads of 32 MB and more run in
    `workers` processes, this one included (default: one per core); reads of 100 files and
    more show a progress bar unless `progress=False`.
    """
    if getattr(current_process(), "_inheriting", False):  # multiprocessing's own test of this (spawn.py)
        raise WorkerError("read_hars was called while a worker process imported the script that started it: "
                          "guard the script's code with `if __name__ == \"__main__\":`")
    files = find_files(sources)
    names = run_names(files)
    if engine == "dask":
        from necto_nb.dask_engine import read_hars as read_dask

        return read_dask(list(zip(names, files)), files_per_partition=files_per_partition)
    if engine != "pandas":
        raise ArgumentError(f"engine={engine!r}: 'pandas' or 'dask'")
    pairs = list(zip(names, files))
    workers = workers or os.cpu_count() or 1
    if workers < 1:
        raise ArgumentError(f"workers={workers}: at least 1")
    parallel = len(files) > GROUP and _size(files) >= PARALLEL_FROM and _workers_can_start()
    helpers = workers - 1 if parallel else 0
    groups = [pairs[i:i + GROUP] for i in range(0, len(pairs), GROUP)]
    return _combine(_read(groups, helpers, _bar(len(files), progress)), pairs)


def _size(files: Sequence[str]) -> int:
    return sum(os.path.getsize(f) for f in files if "://" not in f and os.path.isfile(f))


def _workers_can_start() -> bool:
    """A forkserver's worker first runs this process's script again from its path (as
    `__mp_main__`); a script read from standard input (`python - < x.py`) has no path to run."""
    main = sys.modules["__main__"]
    path = getattr(main, "__file__", None)
    return getattr(main, "__spec__", None) is not None or path is None or os.path.exists(path)


def _bar(total: int, progress: bool | None):
    if progress or (progress is None and total >= PROGRESS_FROM):
        from tqdm.auto import tqdm  # only for long reads: tqdm.auto costs an ipywidgets import

        return tqdm(total=total, desc="read_hars", unit="file", leave=False)
    return None


def _read(groups: list, helpers: int, bar: Any) -> list:
    """Each group read, in order: by this process, and by `helpers` worker processes that join
    once started, each taking the next group not yet taken.

    Workers come from a forkserver (a kernel's threads are not forked) and start by importing
    pandas, a second or more: a thread starts them and feeds them, so this process reads
    meanwhile instead of waiting, and a read done before they are up does not wait for them.
    """
    results: list = [None] * len(groups)
    lock = threading.Lock()
    taken = 0

    def take() -> int | None:
        nonlocal taken
        with lock:
            if taken == len(groups):
                return None
            taken += 1
            return taken - 1

    finished = threading.Condition(lock)
    failure: list[BaseException] = []

    def done(i: int, result: tuple) -> None:
        with finished:
            results[i] = result
            finished.notify()
        if bar is not None:
            bar.update(len(groups[i]))

    def fail(exc: BaseException) -> None:
        with finished:
            failure.append(exc)
            finished.notify()

    if helpers:
        threading.Thread(target=_feed, args=(helpers, take, done, fail, groups), daemon=True).start()
    try:
        while not failure and (i := take()) is not None:  # a worker that failed ends the read
            done(i, read_group(groups[i]))
    except BaseException:  # interrupted (KeyboardInterrupt in a notebook): the workers take no more
        with lock:
            taken = len(groups)
        raise
    with finished:  # the groups workers took; not a worker still starting
        finished.wait_for(lambda: failure or None not in results)
    if bar is not None:
        bar.close()
    if failure:
        if isinstance(failure[0], BrokenProcessPool):
            raise WorkerError(
                "read_hars: a worker process stopped before its files were read. A script that calls "
                "read_hars must guard its code with `if __name__ == \"__main__\":` (each worker imports "
                "the script again); else pass workers=1") from failure[0]
        raise failure[0]
    return results


def _feed(helpers: int, take: Callable[[], int | None], done: Callable[[int, tuple], None],
          fail: Callable[[BaseException], None], groups: list) -> None:
    """Start `helpers` worker processes; once each has started, keep it reading the next group."""
    pool = ProcessPoolExecutor(helpers, mp_context=get_context("forkserver"))
    try:
        waiting: dict = {pool.submit(int): None for _ in range(helpers)}  # started: ready for a group
        while waiting:
            finished, _ = wait(waiting, return_when=FIRST_COMPLETED)
            for future in finished:
                i = waiting.pop(future)
                if i is not None:
                    done(i, future.result())
                if (j := take()) is not None:
                    waiting[pool.submit(read_group, groups[j])] = j
    except BaseException as exc:  # a worker that died: the read fails, saying why
        fail(exc)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a worker still starting exits when it can


def _combine(results: list, pairs: list[tuple[str, str]]) -> Runs:
    """The groups (consecutive files, in order) as one Runs."""
    report = Report()
    failed = dict(f for _, _, fails in results for f in fails)
    for _, file in pairs:
        if file in failed:
            report.add("error", file, failed[file], "skipped")
    runs = [r for _, group, _ in results for r in group]
    frames = [df.drop(columns=list(frame.RUN_COLUMNS)) for df, _, _ in results if len(df)]
    df = frame.concat(frames) if frames else frame.empty()  # unifies the categories of COLUMNS
    return Runs(with_runs(df, [r.name for r in runs], [r.file for r in runs], [len(r.entries) for r in runs]),
                runs, report)


__all__ = ["Runs", "find_files", "read_hars", "run_names"]
