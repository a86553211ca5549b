"""Runs.to_parquet and read_parquet: a dataset partitioned by run that reads back as the Runs it was."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import necto_nb as nn
from necto_nb.parquet import RUNS_FILE
from tests.conftest import corpus_files
from tests.factory import entry, har


@pytest.fixture
def runs(corpus):
    # the k6 file's missing start is repaired to the time of reading: not the same twice
    files = [f for f in corpus_files() if not f.name.startswith("odd__har-to-k6")]
    return nn.read_hars(files, progress=False)


def test_read_back_gives_the_same_frame_entries_pages_and_reports(runs, tmp_path):
    assert runs.report.errors  # the broken__ files: reported, not written
    runs.to_parquet(tmp_path / "history")
    again = nn.read_parquet(tmp_path / "history")
    assert again.names == runs.names and again.files == runs.files
    pd.testing.assert_frame_equal(again.df, runs.df, check_categorical=False)  # categories: first seen first
    assert [str(t) for t in again.df.dtypes] == [str(t) for t in runs.df.dtypes]
    for name in runs.names:
        assert again[name].to_har() == runs[name].to_har(), name
        assert [str(i) for i in again[name].report] == [str(i) for i in runs[name].report], name
        pd.testing.assert_frame_equal(again[name].df, runs[name].df, check_categorical=False)
    # some runs: the frame read_hars gives of their files; categories those they hold, first seen first
    some = runs.names[7:1:-2]
    alone = nn.read_hars([runs.files[runs.names.index(n)] for n in some], progress=False)
    df = nn.read_parquet(tmp_path / "history", runs=some).df
    pd.testing.assert_frame_equal(df.drop(columns=["run", "file"]), alone.df.drop(columns=["run", "file"]),
                                  check_categorical=False)
    for name in df.select_dtypes("category"):
        assert list(df[name].cat.categories) == list(pd.unique(df[name].dropna())), name


def test_the_dataset_is_partitioned_by_run_and_readable_by_pyarrow(runs, tmp_path):
    import pyarrow.dataset as ds

    runs.to_parquet(tmp_path / "history")
    folders = sorted(p.name for p in (tmp_path / "history").iterdir() if p.is_dir())
    assert len(folders) == len(runs) and all(f.startswith("run=") for f in folders)
    table = ds.dataset(tmp_path / "history", format="parquet", partitioning="hive").to_table()
    assert table.num_rows == len(runs.df)
    assert {"run", "entry", "har", *nn.frame.COLUMNS} == set(table.column_names)
    first = json.loads(table.filter(ds.field("entry") == 0).column("har")[0].as_py())  # JSON text
    assert "request" in first and "timings" in first


def test_writing_again_adds_runs_and_replaces_those_of_the_same_name(tmp_path):
    for day in (1, 2):
        (tmp_path / f"day{day}.har").write_text(json.dumps(har(*[entry(f"https://example.com/{i}") for i in range(day)])))
    history = tmp_path / "history"
    nn.read_hars(tmp_path / "day1.har").to_parquet(history)
    nn.read_hars(tmp_path / "day2.har").to_parquet(history)
    assert nn.read_parquet(history).names == ["day1", "day2"]
    (tmp_path / "day1.har").write_text(json.dumps(har(*[entry(f"https://example.com/{i}") for i in range(5)])))
    nn.read_hars(tmp_path / "day1.har").to_parquet(history)
    again = nn.read_parquet(history)
    assert again.names == ["day1", "day2"] and len(again["day1"]) == 5 and len(again.df) == 7
    assert nn.read_parquet(history, runs=["day1"]).names == ["day1"]


def test_duckdb_queries_the_dataset(runs, tmp_path):
    duckdb = pytest.importorskip("duckdb", reason="DuckDB is an optional extra here: pip install duckdb")
    runs.to_parquet(tmp_path / "history")
    slowest = duckdb.sql(f"""
        SELECT run, count(*) AS requests, median("time") AS median_ms
        FROM read_parquet('{tmp_path}/history/*/*.parquet', hive_partitioning = true)
        GROUP BY run ORDER BY run""").df()
    expected = runs.df.groupby("run", observed=True).agg(requests=("url", "size"), median_ms=("time", "median"))
    assert len(slowest) == len(runs)
    got = slowest.set_index("run").loc[expected.index]
    assert got["requests"].tolist() == expected["requests"].tolist()
    pd.testing.assert_series_equal(got["median_ms"], expected["median_ms"], check_names=False, check_index=False)
    methods = duckdb.sql(f"""
        SELECT json_extract_string(har, '$.request.method') AS method, count(*) AS n
        FROM read_parquet('{tmp_path}/history/*/*.parquet') GROUP BY 1""").df()
    assert dict(zip(methods["method"], methods["n"])) == runs.df["method"].value_counts().to_dict()


def test_errors_name_the_folder(tmp_path):
    with pytest.raises(nn.HarError, match="not a necto_nb Parquet dataset"):
        nn.read_parquet(tmp_path)
    (tmp_path / "other.txt").write_text("x")
    (tmp_path / "a.har").write_text(json.dumps(har(entry())))
    with pytest.raises(nn.HarError, match="a folder with other files in it"):
        nn.read_hars(tmp_path / "a.har").to_parquet(tmp_path)
    nn.read_hars(tmp_path / "a.har").to_parquet(tmp_path / "ds")
    (tmp_path / "ds" / "run=a" / "part-0.parquet").unlink()
    with pytest.raises(nn.HarError, match="run 'a' is in _runs.parquet but .* is missing"):
        nn.read_parquet(tmp_path / "ds")
    with pytest.raises(KeyError, match="no run 'b'"):
        nn.read_parquet(tmp_path / "ds", runs=["b"])
    assert (tmp_path / "ds" / RUNS_FILE).is_file()


def test_entries_are_read_from_a_run_s_file_only_when_asked_and_a_changed_file_is_named(tmp_path):
    entries = [entry(f"https://example.com/{i}") for i in range(3)]
    (tmp_path / "day1.har").write_text(json.dumps(har(*entries)))
    (tmp_path / "day2.har").write_text(json.dumps(har(entry())))
    history = tmp_path / "history"
    nn.read_hars([tmp_path / "day1.har", tmp_path / "day2.har"]).to_parquet(history)
    runs = nn.read_parquet(history)
    assert len(runs["day1"]) == 3 and runs["day1"]._state.entries.stored is not None  # not read yet
    assert runs["day1"].to_har()["log"]["entries"] == entries
    # the dataset written again under the same name: a run read before says so, not the new entries
    (tmp_path / "day1.har").write_text(json.dumps(har(entry("https://example.org/new"))))
    nn.read_hars(tmp_path / "day1.har").to_parquet(history)
    with pytest.raises(nn.HarError, match=r"run=day1.*part-0.parquet: changed since the dataset was read"):
        runs["day1"].to_har()
    assert nn.read_parquet(history)["day1"].to_har()["log"]["entries"][0]["request"]["url"] == "https://example.org/new"
    assert runs["day2"].to_har()["log"]["entries"] == [entry()]


def test_the_frame_is_read_from_one_file_unless_a_run_file_changed(tmp_path, monkeypatch):
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    import necto_nb.parquet as parquet

    for day in (1, 2, 3):
        (tmp_path / f"day{day}.har").write_text(json.dumps(har(*[entry(f"https://example.com/{day}/{i}", time=10.0 * i)
                                                                 for i in range(day + 1)])))
    history = tmp_path / "history"
    nn.read_hars([tmp_path / "day1.har", tmp_path / "day2.har"]).to_parquet(history)
    nn.read_hars([tmp_path / "day3.har", tmp_path / "day1.har"]).to_parquet(history)  # day1 replaced in place
    expected = nn.read_hars([tmp_path / f"day{d}.har" for d in (1, 2, 3)])

    def no_run_files(part):
        raise AssertionError(f"read {part}")

    with monkeypatch.context() as patched:
        patched.setattr(parquet, "_read_frame", no_run_files)
        again = nn.read_parquet(history)
        pd.testing.assert_frame_equal(again.df.drop(columns="file"), expected.df.drop(columns="file"),
                                      check_categorical=False)
        assert nn.read_parquet(history, runs=["day3", "day1"]).df["url"].tolist() == [
            *expected["day3"].df["url"], *expected["day1"].df["url"]]
    # another tool rewrites a run's file: its frame now comes from the runs' files
    part = history / "run=day2" / "part-0.parquet"
    table = pq.read_table(part)
    pq.write_table(table.set_column(table.schema.get_field_index("time"), "time", pc.multiply(table.column("time"), 2)), part)
    changed = nn.read_parquet(history)
    assert changed["day2"].df["time"].tolist() == [2 * t for t in expected["day2"].df["time"]]
    assert changed["day1"].df["time"].tolist() == expected["day1"].df["time"].tolist()
