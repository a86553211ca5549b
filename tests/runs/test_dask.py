"""read_hars(engine="dask") on a real LocalCluster started here: the same frame as the pandas engine."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import necto_nb as nn
from necto_nb import frame
from tests.conftest import corpus_files
from tests.factory import entry, har

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  memory_limit="2GiB") as cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def readable(corpus):
    # broken__ files cannot be read; the k6 file's missing start is repaired to the time of reading
    return [str(f) for f in corpus_files() if not f.name.startswith(("broken__", "odd__har-to-k6"))]


def test_the_same_rows_and_dtypes_as_the_pandas_engine(client, readable):
    ddf = nn.read_hars(readable, engine="dask", files_per_partition=5)
    assert ddf.npartitions == -(-len(readable) // 5)
    assert list(ddf.columns) == [*frame.RUN_COLUMNS, *frame.COLUMNS]
    expected = nn.read_hars(readable, progress=False).df
    assert [str(t) for t in ddf.dtypes] == [str(t) for t in expected.dtypes]
    # the runs are known before any file is read: a groupby by run needs no shuffle to learn them
    assert ddf["run"].cat.known and list(ddf["run"].cat.categories) == list(expected["run"].cat.categories)
    got = ddf.compute()
    assert set(client.run(lambda: 1)) and len(client.scheduler_info()["workers"]) == 2
    pd.testing.assert_frame_equal(got, expected, check_categorical=False)
    assert [str(t) for t in got.dtypes] == [str(t) for t in expected.dtypes]


def test_aggregations_run_on_the_workers(client, readable):
    ddf = nn.read_hars(readable, engine="dask", files_per_partition=4)
    per_run = ddf.groupby("run", observed=True)["time"].sum().compute()
    expected = nn.read_hars(readable, progress=False).df.groupby("run", observed=True)["time"].sum()
    pd.testing.assert_series_equal(per_run.sort_index(), expected.sort_index(), check_categorical=False,
                                   check_index_type=False)
    tasks = client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.transition_log))
    assert tasks > 0


def test_an_unreadable_file_fails_the_computation_naming_it(client, tmp_path):
    (tmp_path / "good.har").write_text(json.dumps(har(entry())))
    (tmp_path / "bad.har").write_text('{"log": ')
    ddf = nn.read_hars(tmp_path, engine="dask")
    with pytest.raises(nn.HarError, match=f"{tmp_path / 'bad.har'}: invalid JSON"):
        ddf.compute()


def test_compare_timings_and_trend_take_the_dask_frame(client, tmp_path):
    from tests.factory import runs as make_runs

    sessions = make_runs(6, 8, seed=1) + make_runs(6, 8, seed=2, slow={3: 3.0})
    for night, session in enumerate(sessions, 1):
        session.to_har(tmp_path / f"2026-11-{night:02d}.har")
    runs = nn.read_hars(tmp_path, progress=False)
    ddf = nn.read_hars(tmp_path, engine="dask", files_per_partition=5)
    before, after = runs.names[:6], runs.names[6:]
    on_dask = nn.compare_timings(ddf[ddf.run.isin(before)], ddf[ddf.run.isin(after)])
    here = nn.compare_timings(runs[before], runs[after])
    columns = ["method", "url", "change", "time_baseline", "time_candidate", "time_delta", "p_value", "regression"]
    pd.testing.assert_frame_equal(on_dask[columns], here[columns])
    assert on_dask[on_dask.regression].url.str.contains("/asset/3.js").tolist() == [True]
    changes = nn.trend(ddf)
    assert changes[["url", "run"]].values.tolist() == nn.trend(runs)[["url", "run"]].values.tolist()
    assert changes[changes.url.str.contains("/asset/3.js")].run.tolist() == ["2026-11-07"]
    # the workers key each request as the client would (the options given reach them) and
    # time it from its run's start; a key made there pairs as one made here
    from necto_nb.analysis.on_dask import per_request
    from necto_nb.match import KEY, OFFSET

    table = per_request(ddf, ignore_query=True)
    assert table[KEY].tolist() == [nn.normalise_url(u, ignore_query=True) for u in table["url"]]
    first = table.groupby("run", observed=True)["started"].transform("min")
    assert table[OFFSET].tolist() == ((table["started"] - first) / pd.Timedelta(milliseconds=1)).tolist()
    by_path = nn.compare_timings(ddf[ddf.run.isin(before)], ddf[ddf.run.isin(after)], ignore_query=True)
    pd.testing.assert_frame_equal(by_path[columns], nn.compare_timings(runs[before], runs[after],
                                                                       ignore_query=True)[columns])
