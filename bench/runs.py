"""Many runs: read_hars against the per-file loop, orjson and Arrow's JSON reader, Dask 2 workers
against 1, compare_timings of 500 runs against 500, and the Parquet dataset read back.

    python3 bench/runs.py                  # 2,000 files of 150 entries; prints a table
    python3 bench/runs.py --write-docs     # and updates docs/benchmarks.md

Every contender runs in a fresh process of its own, in turn with the others (best of
--repeat), so import state and the other engineers' load hurt all alike; peak memory is
that process's (and its worker processes') high-water mark of resident memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

SECTION = "## Many runs"


# -- the data -------------------------------------------------------------------------


def write_files(folder: Path, files: int, entries: int, distinct: int = 20) -> int:
    """`files` HAR files of `entries` entries (`distinct` different ones, repeated); their bytes."""
    import orjson

    import generate

    folder.mkdir(parents=True, exist_ok=True)
    documents = [orjson.dumps(generate.generate(entries, seed=seed)) for seed in range(distinct)]
    for i in range(files):
        (folder / f"run-{i:05d}.har").write_bytes(documents[i % distinct])
    return sum(len(documents[i % distinct]) for i in range(files))


def write_history(folder: Path, runs: int, requests: int, slow: int = 7) -> None:
    """`runs` baseline then `runs` candidate files of `requests` requests each, every run's
    timings drawn afresh; the candidate's request number `slow` waits 40 ms longer. Bodies
    are left out: the comparison reads timings."""
    import numpy as np
    import orjson

    import generate

    rng = np.random.default_rng(1)
    document = generate.generate(requests, seed=1)
    for entry in document["log"]["entries"]:
        entry["response"]["content"].pop("text", None)
        entry["response"]["content"].pop("encoding", None)
    folder.mkdir(parents=True, exist_ok=True)
    base = np.array([e["timings"]["wait"] for e in document["log"]["entries"]])
    for side in ("baseline", "candidate"):
        for run in range(runs):
            waits = base * rng.lognormal(0, 0.2, len(base))
            if side == "candidate":
                waits[slow] += 40
            for entry, wait in zip(document["log"]["entries"], waits):
                timings = entry["timings"]
                entry["time"] += float(wait) - timings["wait"]
                timings["wait"] = float(wait)
            (folder / f"{side}-{run:04d}.har").write_bytes(orjson.dumps(document))


# -- the contenders, each run in a process of its own ----------------------------------


#: What each contender imports before its clock starts: a notebook has them imported already.
IMPORTS = {"read_hars": ["necto_nb"], "loop": ["necto_nb", "pandas"], "orjson": ["orjson"], "decode": ["necto_nb"],
           "arrow": ["pyarrow.json"], "parquet": ["necto_nb", "pyarrow.parquet"],
           "dask": ["necto_nb.dask_engine", "dask.dataframe"], "compare": ["necto_nb"]}


def measure(name: str, folder: str, workers: int) -> dict:
    import importlib

    for module in IMPORTS.get(name, ()):
        importlib.import_module(module)
    files = sorted(Path(folder).glob("*.har"))
    start = time.perf_counter()
    rows = CONTENDERS[name](files, folder, workers)
    seconds = time.perf_counter() - start
    # VmHWM, not ru_maxrss: Linux carries a parent's ru_maxrss across fork and exec. Workers are
    # forked from a small forkserver, so their ru_maxrss is their own.
    peak = _vm_hwm_mb()
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": seconds, "peak_mb": peak, "children_peak_mb": children, "rows": rows}


def _vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _read_hars(files, folder, workers):
    import necto_nb as nn

    return len(nn.read_hars(folder, progress=False, workers=workers).df)


def _loop_concat(files, folder, workers):
    import pandas as pd

    import necto_nb as nn

    return len(pd.concat([nn.read_har(f).df for f in files]))


def _orjson(files, folder, workers):
    import orjson

    return sum(len(orjson.loads(f.read_bytes())["log"]["entries"]) for f in files)


def _decode(files, folder, workers):
    """The floor of any read that checks what the frame reads: msgspec's one pass per file."""
    from necto_nb.har.locate import viewed

    return sum(len(viewed(f.read_bytes())[1]) for f in files)


def _arrow(files, folder, workers):
    """A compiled reader made for the job: Arrow's JSON reader, given the fields the frame reads
    as its schema (the rest skipped), one file at a time into typed columns."""
    import pyarrow as pa
    import pyarrow.json as pj

    number, text = pa.float64(), pa.string()
    entry = pa.struct([
        ("startedDateTime", text), ("time", number), ("pageref", text), ("serverIPAddress", text),
        ("request", pa.struct([("method", text), ("url", text), ("httpVersion", text), ("bodySize", pa.int64())])),
        ("response", pa.struct([("status", pa.int64()), ("statusText", text), ("httpVersion", text),
                                ("content", pa.struct([("size", pa.int64()), ("mimeType", text)])),
                                ("headersSize", pa.int64()), ("bodySize", pa.int64()), ("_transferSize", pa.int64())])),
        ("timings", pa.struct([(phase, number) for phase in ("blocked", "dns", "connect", "ssl", "send", "wait",
                                                            "receive")]))])
    parse = pj.ParseOptions(explicit_schema=pa.schema([("log", pa.struct([("entries", pa.list_(entry))]))]),
                            unexpected_field_behavior="ignore")
    rows = 0
    for f in files:
        data = f.read_bytes()
        table = pj.read_json(pa.py_buffer(data), parse_options=parse,
                             read_options=pj.ReadOptions(use_threads=False, block_size=len(data) + 1))
        rows += len(table.column("log")[0]["entries"])
    return rows


def _parquet(files, folder, workers):
    import necto_nb as nn

    return len(nn.read_parquet(Path(folder) / "history").df)


def _dask(files, folder, workers):
    from distributed import Client, LocalCluster

    import necto_nb as nn

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        # workers started and warm (what they run imported): time the work, not the start
        client.run(lambda: [__import__(m) for m in ("necto_nb.dask_engine", "dask.dataframe")])
        start = time.perf_counter()
        ddf = nn.read_hars(folder, engine="dask", files_per_partition=50)
        per_run = ddf.groupby("run", observed=True)["time"].sum().compute()
        print(json.dumps({"work_seconds": time.perf_counter() - start}), file=sys.stderr)
        return len(per_run)


def _compare(files, folder, workers):
    import necto_nb as nn

    start = time.perf_counter()
    runs = nn.read_hars(folder, progress=False)
    read = time.perf_counter() - start
    start = time.perf_counter()
    import scipy.stats  # noqa: F401  a second or more, once per process: timed apart from the comparison

    imports = time.perf_counter() - start
    start = time.perf_counter()
    result = nn.compare_timings(runs.where(lambda s: s.index.str.startswith("baseline")),
                                runs.where(lambda s: s.index.str.startswith("candidate")))
    flagged = result[result.regression]
    print(json.dumps({"work_seconds": time.perf_counter() - start, "import_seconds": imports, "read_seconds": read,
                      "flagged": flagged.url.tolist()}), file=sys.stderr)
    return len(result)


def _compare_dask(files, folder, workers):
    """The same comparison on a LocalCluster: the workers read, parse and key the files; timed
    from the read (the pandas contender's read and comparison together compare with it)."""
    from distributed import Client, LocalCluster

    import necto_nb as nn

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.run(lambda: __import__("necto_nb.analysis.on_dask"))  # workers started and warm
        import scipy.stats  # noqa: F401  imported before the clock starts, as for the pandas contender

        start = time.perf_counter()
        ddf = nn.read_hars(folder, engine="dask", files_per_partition=50)
        names = list(ddf["run"].cat.categories)
        result = nn.compare_timings(ddf[ddf.run.isin([n for n in names if n.startswith("baseline")])],
                                    ddf[ddf.run.isin([n for n in names if n.startswith("candidate")])])
        flagged = result[result.regression]
        print(json.dumps({"work_seconds": time.perf_counter() - start, "flagged": flagged.url.tolist()}),
              file=sys.stderr)
        return len(result)


CONTENDERS = {"read_hars": _read_hars, "loop": _loop_concat, "orjson": _orjson, "decode": _decode, "arrow": _arrow,
              "parquet": _parquet, "dask": _dask, "compare": _compare, "compare-dask": _compare_dask}


def run_one(name: str, folder: Path, workers: int = 2) -> dict:
    result = subprocess.run([sys.executable, __file__, "--measure", name, "--folder", str(folder),
                             "--workers", str(workers)], capture_output=True, text=True, check=False)
    if result.returncode:
        raise RuntimeError(f"{name}: {result.stderr[-2000:]}")
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    for line in result.stderr.splitlines():
        if line.startswith("{"):
            measured.update(json.loads(line))
    return measured


def best_of(names: list[tuple[str, int]], folder: Path, repeat: int, only: set[str] | None = None) -> dict:
    """Each (contender, workers) `repeat` times in turn; the fastest run of each."""
    runs: dict = {}
    names = [n for n in names if only is None or n[0] in only]
    for _ in range(repeat):
        for name, workers in names:
            got = run_one(name, folder, workers)
            key = (name, workers)
            if key not in runs or got.get("work_seconds", got["seconds"]) < runs[key].get("work_seconds", runs[key]["seconds"]):
                runs[key] = got
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--entries", type=int, default=150)
    parser.add_argument("--runs", type=int, default=500, help="runs a side for compare_timings")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--only", help="measure only these contenders (comma-separated), the others from --results")
    parser.add_argument("--results", type=Path, help="a JSON file keeping what was measured, for --only")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.folder, args.workers)))
        return

    import necto_nb as nn
    from report import write_docs

    only = set(args.only.split(",")) if args.only else None
    kept = json.loads(args.results.read_text()) if args.results and args.results.exists() else {}
    got = {tuple(json.loads(k)): v for k, v in kept.get("got", {}).items()}
    size = kept.get("size", 0)

    def keep(measured: dict) -> None:  # saved as it comes, so a later failure loses nothing
        got.update(measured)
        if args.results:
            args.results.write_text(json.dumps({"size": size, "got": {json.dumps(k): v for k, v in got.items()}}))

    with tempfile.TemporaryDirectory() as tmp:
        files = Path(tmp) / "files"
        if only is None or only - {"compare", "compare-dask"}:
            size = write_files(files, args.files, args.entries)
            nn.read_hars(files, progress=False).to_parquet(files / "history")
            os.sync()  # the written files reach the disk now, not while a contender is timed
            keep(best_of([("read_hars", 2), ("read_hars", 1), ("orjson", 1), ("decode", 1), ("arrow", 1),
                          ("parquet", 1)], files, args.repeat, only))
            keep(best_of([("loop", 1)], files, 1, only))
            keep(best_of([("dask", 2), ("dask", 1)], files, args.repeat, only))
        if only is None or {"compare", "compare-dask"} & only:
            history = Path(tmp) / "history"
            write_history(history, args.runs, args.requests)
            os.sync()
            keep(best_of([("compare", 1), ("compare-dask", 2)], history, args.repeat, only))
    missing = {"read_hars", "loop", "orjson", "decode", "arrow", "parquet", "dask", "compare", "compare-dask"} - {
        k[0] for k in got}
    if missing:
        print(f"measured {sorted(k[0] for k in got)}; still to measure: {sorted(missing)}")
        return
    text = report(got, args, size)
    print(text)
    if args.write_docs:
        write_docs(SECTION, text)


def report(got: dict, args: argparse.Namespace, size: int) -> str:
    ours, one, loop, orj, decode, arrow, parquet = (got[k] for k in (("read_hars", 2), ("read_hars", 1), ("loop", 1),
                                                                       ("orjson", 1), ("decode", 1), ("arrow", 1),
                                                                       ("parquet", 1)))
    dask2, dask1, compare, compare_dask = got[("dask", 2)], got[("dask", 1)], got[("compare", 1)], got[("compare-dask", 2)]
    mb = size / 1e6
    s = lambda m: f"{m['seconds']:.2f} s"  # noqa: E731
    rows = [
        ("files", f"{args.files:,} x {args.entries} entries", f"{mb:,.0f} MB (`bench/generate.py`), {ours['rows']:,} rows"),
        ("`nn.read_hars(folder)` (this process and 1 worker)", s(ours),
         f"peak {ours['peak_mb']:.0f} MB in the calling process ({ours['peak_mb'] / mb:.2f}x the files' size: "
         "the frame; a run's entries are read again from its file when asked)"),
        ("`nn.read_hars(folder, workers=1)`", s(one), f"peak {one['peak_mb']:.0f} MB: {one['peak_mb'] / mb:.2f}x the files' size"),
        ("`read_har` in a loop + `pd.concat`", s(loop), f"takes **{loop['seconds'] / ours['seconds']:.1f}x** the time of `read_hars` (target ≥ 10x), {loop['seconds'] / one['seconds']:.1f}x that of one process; peak {loop['peak_mb']:.0f} MB (frames only, no entries kept)"),
        ("`orjson.loads` of every file", s(orj), f"`read_hars` takes **{ours['seconds'] / orj['seconds']:.2f}x** its time (target ≤ 1.0); one process: {one['seconds'] / orj['seconds']:.2f}x"),
        ("msgspec's pass over every file, decoding what the frame reads", s(decode),
         f"the floor of any read that checks each entry: the loop takes {loop['seconds'] / decode['seconds']:.1f}x it, so "
         f"`read_hars` on N cores can be at most about {loop['seconds'] / decode['seconds']:.1f} x N times faster than the loop"),
        ("Arrow's JSON reader of every file, the frame's fields as its schema", s(arrow),
         f"a compiled reader made for the job, and {arrow['seconds'] / decode['seconds']:.1f}x msgspec's pass: no faster "
         "floor there"),
        ("`nn.read_parquet(history)`", s(parquet), f"`read_hars` of the files takes **{ours['seconds'] / parquet['seconds']:.1f}x** its time (target ≥ 5x); the loop {loop['seconds'] / parquet['seconds']:.1f}x"),
        ("Dask, `LocalCluster` of 2 workers", f"{dask2['work_seconds']:.2f} s", f"1 worker takes **{dask1['work_seconds'] / dask2['work_seconds']:.2f}x** its time (target ≥ 1.7x); {dask2['rows']} runs summed on the workers, each worker's peak {dask2['children_peak_mb']:.0f} MB"),
        ("Dask, 1 worker", f"{dask1['work_seconds']:.2f} s", "the same files, 50 a partition"),
        (f"`compare_timings` of {args.runs} runs against {args.runs}, {args.requests} requests each",
         f"{compare['work_seconds']:.2f} s", f"target < 5 s; flagged: {', '.join(compare['flagged']) or 'none'}; "
         f"importing scipy.stats on first use takes {compare.get('import_seconds', float('nan')):.2f} s more"),
        ("the same on a `LocalCluster` of 2 workers, from the files", f"{compare_dask['work_seconds']:.2f} s",
         f"the workers read, parse and key the files; `read_hars` + `compare_timings` in one process take "
         f"{compare['read_seconds'] + compare['work_seconds']:.2f} s; flagged: {', '.join(compare_dask['flagged']) or 'none'}"),
    ]
    from report import table

    return table(rows) + (
        f"\n\nPython {sys.version.split()[0]}, best of {args.repeat} (the loop: one run), each contender in a fresh "
        "process with what it uses imported before the clock starts (necto_nb, pandas, orjson, pyarrow.json, dask.dataframe), "
        "on a 2-core machine: compare the ratios, not the seconds. `read_hars` times include starting its worker; Dask times exclude starting the cluster (its "
        "workers started and warm).")


if __name__ == "__main__":
    main()
