"""read_hars: many HAR files as one frame, each file still a lossless Session."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

import necto_nb as nn
from necto_nb import frame
from necto_nb.runs import _feed, _read, read_group, run_names
from tests.conftest import corpus_files
from tests.factory import entry, har

ROOT = Path(__file__).resolve().parents[2]


def nightly(folder: Path, days: int = 3, per_day: int = 2) -> list[Path]:
    """days/2026-11-DD/runN.har, each with a different number of entries."""
    written = []
    for day in range(1, days + 1):
        for run in range(1, per_day + 1):
            path = folder / f"2026-11-{day:02d}" / f"run{run}.har"
            path.parent.mkdir(parents=True, exist_ok=True)
            entries = [entry(f"https://example.com/{day}/{run}/{i}", time=10.0 * day + i) for i in range(day + run)]
            path.write_text(json.dumps(har(*entries)))
            written.append(path)
    return written


def test_one_frame_with_run_and_file_in_front_of_the_session_columns(tmp_path):
    files = nightly(tmp_path)
    runs = nn.read_hars(str(tmp_path / "2026-11-*" / "*.har"), progress=False)
    assert list(runs.df.columns) == [*frame.RUN_COLUMNS, *frame.COLUMNS]
    assert [str(t) for t in runs.df.dtypes] == [*("category", "category"), *(d for d, _ in frame.COLUMNS.values())]
    assert len(runs) == 6 and len(runs.df) == sum(d + r for d in (1, 2, 3) for r in (1, 2))
    # run names: the stems clash (run1, run2 every day), so the folder names them
    assert runs.names == [f"2026-11-{d:02d}/run{r}" for d in (1, 2, 3) for r in (1, 2)]
    assert list(runs.df["file"].cat.categories) == [str(f) for f in files]
    assert runs.df.groupby("run", observed=True).size().tolist() == [2, 3, 3, 4, 4, 5]
    assert runs.df.loc[runs.df.run == "2026-11-03/run2"].index.tolist() == list(range(5))


def test_a_run_is_the_session_read_har_gives(corpus):
    # broken__ files cannot be read; the k6 file's missing start is repaired to the time of reading
    files = [f for f in corpus_files() if not f.name.startswith(("broken__", "odd__har-to-k6"))]
    runs = nn.read_hars(files, progress=False)
    assert len(runs) == len(files) > 20
    for path, name in zip(files, runs.names):
        alone, run = nn.read_har(path), runs[name]
        # the same rows and dtypes; categories are those of all the runs, in their order
        pd.testing.assert_frame_equal(run.df, alone.df, check_categorical=False)
        assert run.to_har() == alone.to_har(), path.name
        assert [str(i) for i in run.report] == [str(i) for i in alone.report], path.name
        assert run.pages == alone.pages and run.log == alone.log
    assert len(runs.df) == sum(len(nn.read_har(f)) for f in files)


def test_runs_keep_their_files_paths_not_their_bytes_and_say_when_a_file_changed(tmp_path):
    gz = tmp_path / "2026-11-02" / "run1.har.gz"
    files = [*nightly(tmp_path, days=1), gz]
    gz.parent.mkdir()
    gz.write_bytes(gzip.compress(files[0].read_bytes()))
    runs = nn.read_hars(files, progress=False)
    stored = [run.entries for run in runs._runs.values()]
    assert [type(s).__name__ for s in stored] == ["AtPath"] * 3 and not any(hasattr(s, "data") for s in stored)
    assert [runs[n].to_har() for n in runs.names] == [nn.read_har(f).to_har() for f in files]
    first, second, third = runs.names
    files[0].write_text(files[0].read_text().replace("example.com", "example.org"))  # same size, later
    with pytest.raises(nn.HarError, match=r"run1\.har: changed since it was read; read it again"):
        runs[first].to_har()
    files[1].unlink()
    with pytest.raises(nn.HarError, match=r"run2\.har: cannot read its entries again \(No such file"):
        list(runs[second].entries)
    assert runs[third].entries[0]["request"]["url"] == "https://example.com/1/1/0"  # the gzip file: read again


def test_an_unreadable_file_is_reported_and_the_others_read(tmp_path, corpus):
    good = nightly(tmp_path, days=1)
    bad = corpus / "broken__harviewer-not-json.har"
    runs = nn.read_hars([*map(str, good), str(bad)], progress=False)
    assert len(runs) == 2 and runs.names == ["run1", "run2"]
    [issue] = runs.report
    assert issue.severity == "error" and issue.path == str(bad) and "invalid JSON" in issue.message
    assert "1 file(s) unreadable" in repr(runs)


def test_sources_folder_list_gzip_and_errors(tmp_path):
    nightly(tmp_path, days=2, per_day=1)
    (tmp_path / "extra.har.gz").write_bytes(gzip.compress(json.dumps(har(entry())).encode()))
    (tmp_path / "notes.txt").write_text("not a HAR")
    runs = nn.read_hars(tmp_path, progress=False)  # a folder: HAR files below it, sorted
    assert runs.names == ["2026-11-01/run1", "2026-11-02/run1", "extra"]
    assert "extra" in runs and len(runs["extra"]) == 1
    with pytest.raises(nn.HarError, match="no files match"):
        nn.read_hars(str(tmp_path / "*.nothing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(nn.HarError, match="no HAR files there"):
        nn.read_hars(tmp_path / "empty")
    missing = tmp_path / "missing.har"
    runs = nn.read_hars([tmp_path / "2026-11-01", missing], progress=False)
    assert runs.names == ["run1"] and runs.report[0].path == str(missing)
    assert runs.report[0].message == "No such file or directory"
    with pytest.raises(TypeError, match="not int"):
        nn.read_hars([1])
    with pytest.raises(ValueError, match="engine='spark'"):
        nn.read_hars(tmp_path, engine="spark")


def test_a_file_listed_twice_is_two_runs_of_one_file(tmp_path):
    one, two = map(str, nightly(tmp_path, days=1))
    runs = nn.read_hars([one, two, one], progress=False)
    assert runs.names == ["run1", "run2", "run1~2"] and runs.files == [one, two, one]
    assert list(runs.df["file"].cat.categories) == [one, two]
    assert runs.df.groupby("run", observed=True)["file"].first().tolist() == [one, two, one]
    assert list(runs[["run1~2", "run1"]].df["file"].cat.categories) == [one]
    assert nn.read_parquet(runs.to_parquet(tmp_path / "history")).df.equals(runs.df)


def test_run_names_are_stems_made_unique_by_their_folders():
    assert run_names(["a/x.har", "a/y.har.gz", "a/z.zhar"]) == ["x", "y", "z"]
    assert run_names(["n/01/run.har", "n/02/run.har", "n/02/other.har"]) == ["01/run", "02/run", "other"]
    assert run_names(["a/x.har", "a/x.har"]) == ["x", "x~2"]


def test_selecting_runs(tmp_path):
    nightly(tmp_path)
    runs = nn.read_hars(tmp_path, progress=False)
    early = runs.where(lambda s: s.entries <= 3)
    assert early.names == ["2026-11-01/run1", "2026-11-01/run2", "2026-11-02/run1"]
    assert set(early.df["run"]) == set(early.names) and list(early.df["run"].cat.categories) == early.names
    by_mask = runs.where(runs.df.groupby("run", observed=True).time.max() > 30)
    assert by_mask.names == ["2026-11-03/run1", "2026-11-03/run2"]
    picked = runs[["2026-11-02/run2", "2026-11-01/run1"]]
    assert picked.names == ["2026-11-02/run2", "2026-11-01/run1"]
    assert picked.df.groupby("run", observed=True, sort=False).size().tolist() == [4, 2]
    assert picked["2026-11-01/run1"].df.url.tolist() == runs["2026-11-01/run1"].df.url.tolist()
    assert runs[:2].names == runs.names[:2] and runs.head(1).names == runs.names[:1]
    assert [s.name for s in runs] == runs.names and all(isinstance(s, nn.Session) for s in runs)
    with pytest.raises(KeyError, match="no run 'nope'"):
        runs["nope"]
    with pytest.raises(ValueError, match="2 booleans for 6 runs"):
        runs.where([True, False])
    summary = runs.summary
    assert summary.index.tolist() == runs.names and summary["entries"].tolist() == [2, 3, 3, 4, 4, 5]
    assert summary["file"].tolist() == runs.files


def test_parallel_workers_give_the_same_runs(tmp_path, monkeypatch):
    bad = tmp_path / "2026-11-00" / "broken.har"
    bad.parent.mkdir()
    bad.write_text('{"log": {"entries": [')
    files = [bad, *nightly(tmp_path, days=4, per_day=3)]
    serial = nn.read_hars(files, progress=False, workers=1)
    monkeypatch.setattr("necto_nb.runs.PARALLEL_FROM", 0)  # real processes on a few small files
    monkeypatch.setattr("necto_nb.runs.GROUP", 2)
    parallel = nn.read_hars(files, progress=False, workers=2)
    pd.testing.assert_frame_equal(parallel.df, serial.df)
    assert parallel.names == serial.names and len(parallel) == 12
    assert all(parallel[n].to_har() == serial[n].to_har() for n in serial.names)
    [issue] = parallel.report
    assert issue.path == str(bad) and "ends early" in issue.message and issue.action == "skipped"


def test_a_worker_process_reads_groups_as_this_process_does(tmp_path):
    # the calling process may read every group before a worker has started: the workers' part alone
    bad = tmp_path / "broken.har"
    bad.write_text('{"log": {"entries": [')
    files = [str(bad), *map(str, nightly(tmp_path, days=2, per_day=2))]
    pairs = list(zip(run_names(files), files))
    groups = [pairs[:2], pairs[2:4], pairs[4:]]
    left, got, failure = iter(range(len(groups))), {}, []
    _feed(2, lambda: next(left, None), got.__setitem__, failure.append, groups)
    assert not failure and sorted(got) == [0, 1, 2]
    for i, group in enumerate(groups):
        df, runs, failed = read_group(group)
        pd.testing.assert_frame_equal(got[i][0], df)
        assert [(r.name, list(map(bytes, r.raws()))) for r in got[i][1]] == [(r.name, list(map(bytes, r.raws()))) for r in runs]
        assert got[i][2] == failed  # the unreadable file named, as here
    assert got[0][2][0][0] == str(bad) and "ends early" in got[0][2][0][1]


def test_a_failing_file_leaves_no_rows_in_its_group(tmp_path):
    good = tmp_path / "good.har"
    good.write_text(json.dumps(har(entry())))
    bad = tmp_path / "bad.har"
    bad.write_text('{"log": {"entries": [')
    df, runs, failed = read_group([("bad", str(bad)), ("good", str(good))])
    assert len(df) == 1 and [r.name for r in runs] == ["good"] and failed[0][0] == str(bad)
    assert "ends early" in failed[0][1]


def test_progress_bar_over_files(tmp_path, capsys):
    nightly(tmp_path, days=1)
    nn.read_hars(tmp_path, progress=True)
    assert "read_hars" in capsys.readouterr().err


def test_fsspec_urls_and_their_globs():
    import fsspec

    memory = fsspec.filesystem("memory")
    for name in ("a", "b"):
        memory.pipe(f"/necto-test/{name}.har", json.dumps(har(entry(f"https://example.com/{name}"))).encode())
    try:
        runs = nn.read_hars("memory://necto-test/*.har", progress=False)
        assert runs.names == ["a", "b"] and all(f.startswith("memory://") for f in runs.files)
        assert runs["b"].df.url.tolist() == ["https://example.com/b"]
        with pytest.raises(nn.HarError, match="no files match"):
            nn.read_hars("memory://necto-test/*.zhar")
    finally:
        memory.rm("/necto-test", recursive=True)


def test_an_interrupted_read_raises_and_gives_workers_no_more_groups(tmp_path, monkeypatch):
    files = list(map(str, nightly(tmp_path, days=2, per_day=2)))
    groups = [[pair] for pair in zip(run_names(files), files)]
    submitted, closed = [], threading.Event()

    class Watched(ProcessPoolExecutor):
        def submit(self, fn, *args, **kwargs):
            submitted.append(fn)
            return super().submit(fn, *args, **kwargs)

        def shutdown(self, *args, **kwargs):
            super().shutdown(*args, **kwargs)
            closed.set()

    def interrupted(group):
        raise KeyboardInterrupt

    monkeypatch.setattr("necto_nb.runs.ProcessPoolExecutor", Watched)
    monkeypatch.setattr("necto_nb.runs.read_group", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _read(groups, 1, None)
    assert closed.wait(300)  # the worker started, found nothing left to read, and was let go
    assert submitted == [int]  # its start only


SCRIPT = """
import sys, time
import necto_nb.runs, necto_nb as nn
necto_nb.runs.PARALLEL_FROM, necto_nb.runs.GROUP = 0, 1  # real processes on a few small files
read_group = necto_nb.runs.read_group
def slowly(group):  # this process reads slowly, so that workers start while it reads
    time.sleep(float(sys.argv[2]))
    return read_group(group)
necto_nb.runs.read_group = slowly
print(len(nn.read_hars(sys.argv[1], progress=False, workers=2)))
"""


def test_a_script_without_the_main_guard_is_told_to_add_it(tmp_path):
    nightly(tmp_path / "runs", days=4, per_day=2)
    script = tmp_path / "unguarded.py"
    script.write_text(SCRIPT)
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "runs"), "2"], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert out.returncode == 1 and out.stdout == "", out.stdout  # neither this process nor a worker read on
    last = out.stderr.splitlines()[-1]
    assert last.startswith("necto_nb.errors.WorkerError: read_hars: a worker process stopped"), out.stderr
    assert 'if __name__ == "__main__":' in last


def test_a_script_read_from_standard_input_reads_in_this_process(tmp_path):
    nightly(tmp_path / "runs", days=2, per_day=2)
    out = subprocess.run([sys.executable, "-", str(tmp_path / "runs"), "0"], input=SCRIPT, capture_output=True,
                         text=True, timeout=300, cwd=ROOT)
    assert (out.returncode, out.stdout, out.stderr) == (0, "4\n", "")
