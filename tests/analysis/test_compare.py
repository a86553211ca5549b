"""compare_timings: matching, deltas, runs with a known slowdown, page totals, the figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import necto_nb as nn
from necto_nb import CACHE_BUSTERS, normalise_url
from necto_nb.analysis import TimingComparison
from tests.factory import entry, page, runs


def test_urls_are_normalised_for_matching():
    assert normalise_url("HTTPS://Ex.COM:443/a?b=2&a=1&_=123#top") == "https://ex.com/a?a=1&b=2"
    assert normalise_url("http://h:8080?x=1&CB=2") == "http://h:8080/?x=1"
    assert normalise_url("http://[::1]:80/p?%5F=1&q") == "http://[::1]/p?q"
    assert normalise_url("https://h/p?a=1&t=5", ignore_query=True) == "https://h/p"
    assert normalise_url("https://h/p?_=1&b=2", ignore_query=False) == "https://h/p?_=1&b=2"
    assert normalise_url("https://h/p?_=1&b=2", ignore_query=["B"]) == "https://h/p?_=1"
    assert {"_", "cb", "t"} <= CACHE_BUSTERS


def test_one_run_each_side_matches_requests_and_computes_deltas():
    base = nn.Session("base", [
        entry("https://example.com/app.js?_=111", at=0, timings={"wait": 100}),
        entry("https://example.com/api", at=10, timings={"wait": 50}),
        entry("https://example.com/api", at=20, timings={"wait": 60}),  # a repeat: matched in order
        entry("https://example.com/gone", at=30),
    ])
    cand = nn.Session("cand", [
        entry("https://example.com/app.js?_=222", at=0, timings={"wait": 100, "dns": 5, "connect": 30, "ssl": 20}),
        entry("https://example.com/api", at=10, timings={"wait": 80}),
        entry("https://example.com/api", at=20, timings={"wait": 30}),
        entry("https://example.com/new", method="POST", at=30),
    ])
    t = nn.compare_timings(base, cand)
    assert isinstance(t, TimingComparison)
    assert t[["method", "url", "occurrence", "change"]].values.tolist() == [
        ["GET", "https://example.com/app.js", 0, "matched"],
        ["GET", "https://example.com/api", 0, "matched"],
        ["GET", "https://example.com/api", 1, "matched"],
        ["GET", "https://example.com/gone", 0, "removed"],
        ["POST", "https://example.com/new", 0, "added"],
    ]
    assert t["entry_baseline"].tolist()[:4] == [0, 1, 2, 3] and pd.isna(t["entry_baseline"].iloc[4])
    assert t["entry_candidate"].tolist()[:3] == [0, 1, 2] and pd.isna(t["entry_candidate"].iloc[3])
    assert t["wait_delta"].tolist()[:3] == [0.0, 30.0, -30.0]
    assert t["wait_ratio"].iloc[1] == pytest.approx(1.6)
    # phases that do not apply count as 0 ms: a new connection shows as its whole cost
    assert (t["dns_baseline"].iloc[0], t["dns_candidate"].iloc[0], t["connect_delta"].iloc[0]) == (0.0, 5.0, 30.0)
    assert t["time_delta"].iloc[0] == pytest.approx(35.0)  # dns + connect; ssl is inside connect
    assert t["regression"].tolist() == [True, True, False, False, False]  # one run: thresholds only
    assert "p_value" not in t and "runs_baseline" not in t
    assert pd.isna(t.loc[3, "time_candidate"]) and pd.isna(t.loc[4, "time_baseline"])


def test_the_result_stays_a_comparison_through_pandas_operations():
    s = nn.Session("s", [entry(at=0), entry("https://example.com/b", at=5)])
    t = nn.compare_timings(s, s)
    picked = t[t["change"] == "matched"].sort_values("time_delta")
    assert isinstance(picked, TimingComparison)
    assert picked.pages.equals(t.pages) and picked.settings["runs"] == {"baseline": 1, "candidate": 1}
    assert picked.attrs["pages"].equals(t.pages)  # extras live in attrs, which pandas carries along
    assert not t["regression"].any() and (t["time_delta"] == 0).all()


def test_runs_with_a_known_slowdown_flag_exactly_that_request():
    baseline = runs(12, 60, seed=1)
    candidate = runs(12, 60, seed=2, slow={7: 1.6})
    t = nn.compare_timings(baseline, candidate)
    assert t["change"].eq("matched").all() and len(t) == 60  # cache-busters changed every run
    assert t.index[t["regression"]].tolist() == [7]
    row = t.loc[7]
    assert row["p_value"] < 1e-4 and row["q_value"] < 0.05 and row["wait_ratio"] > 1.3
    assert (row["runs_baseline"], row["runs_candidate"]) == (12, 12)
    assert row["time_spread_baseline"] > 0
    # the same page, measured again without a change: noise is not a regression
    again = nn.compare_timings(baseline, runs(12, 60, seed=3))
    assert not again["regression"].any()


def test_identical_runs_flag_nothing():
    sessions = runs(5, 40, seed=4)
    t = nn.compare_timings(sessions, sessions)
    assert not t["regression"].any()
    assert (t["p_value"] == 1.0).all() and (t["time_delta"] == 0).all()
    assert not t.pages["regression"].any() and (t.pages["delta"].dropna() == 0).all()


def test_without_fdr_the_raw_p_value_decides(monkeypatch):
    baseline, candidate = runs(6, 30, seed=5), runs(6, 30, seed=6, slow={3: 2.0})
    strict = nn.compare_timings(baseline, candidate)
    loose = nn.compare_timings(baseline, candidate, fdr=False)
    assert "q_value" not in loose
    assert set(strict.index[strict["regression"]]) <= set(loose.index[loose["regression"]])
    assert 3 in loose.index[loose["regression"]]


def test_runs_missing_a_request_are_counted_and_still_tested():
    baseline = runs(4, 10, seed=7)
    candidate = runs(4, 10, seed=8)
    short = nn.Session("short", [candidate[0].entries[i] for i in range(9)], pages=candidate[0].pages)
    t = nn.compare_timings(baseline, [short, *candidate[1:]])
    last = t.iloc[9]
    assert (last["runs_baseline"], last["runs_candidate"]) == (4, 3)
    assert 0 < last["p_value"] <= 1


def test_page_totals_compare_page_timings_and_session_totals():
    base = nn.Session("b", [entry(at=0, page="page_1"), entry("https://example.com/x", at=100, page="page_1")],
                      pages=[page(onContentLoad=300.0, onLoad=500.0, _firstPaint=120.0)])
    cand = nn.Session("c", [entry(at=0, page="page_1"), entry("https://example.com/x", at=400, page="page_1")],
                      pages=[page(onContentLoad=300.0, onLoad=900.0, _firstPaint=120.0)])
    pages = nn.compare_timings(base, cand).pages
    assert pages.loc["onLoad", ["baseline", "candidate", "delta"]].tolist() == [500.0, 900.0, 400.0]
    assert pages.loc["onLoad", "regression"] and not pages.loc["onContentLoad", "regression"]
    assert pages.loc["_firstPaint", "delta"] == 0
    assert pages.loc["requests", "unit"] == "requests" and pages.loc["requests", "delta"] == 0
    assert pages.loc["span", "delta"] == pytest.approx(300.0)


def test_corpus_files_with_pages_compare_to_themselves(corpus):
    for name in ["webpagetest__perfcascade-github-2.19.har", "chrome-har__sitespeed-greenweb-0.11.4.har"]:
        s = nn.read_har(corpus / name)
        t = nn.compare_timings(s, s)
        assert len(t) == len(s) and t["change"].eq("matched").all()
        assert not t["regression"].any() and t["time_delta"].abs().max() == 0
        assert {"onLoad", "onContentLoad"} & set(t.pages.index)


def test_webpagetest_slowed_down_is_found(corpus):
    base = nn.read_har(corpus / "webpagetest__perfcascade-github-2.19.har")
    entries = [base.entries[i] for i in range(len(base))]
    entries[5]["timings"]["wait"] += 400
    entries[5]["time"] += 400
    slower = nn.Session("slower", entries, pages=base.pages)
    t = nn.compare_timings(base, slower)
    assert t.index[t["regression"]].tolist() == [5]
    assert t.loc[5, "wait_delta"] == 400


def test_frames_can_be_compared_too():
    s = nn.Session("s", [entry(at=0), entry("https://example.com/b", at=5, timings={"wait": 90})])
    df = s.df
    t = nn.compare_timings(df[df["url"].str.endswith("/api")], df)
    assert t["change"].tolist() == ["matched", "added"]
    assert list(t.pages.index) == ["requests", "transfer_size", "time (sum)", "span"]


def test_bad_arguments_are_named():
    s = nn.Session("s", [entry()])
    with pytest.raises(ValueError, match="baseline: no runs"):
        nn.compare_timings([], s)
    with pytest.raises(TypeError, match=r"candidate\[0\]: a Session or a traffic frame, not str"):
        nn.compare_timings(s, ["x.har"])
    with pytest.raises(ValueError, match="not a traffic frame"):
        nn.compare_timings(s, pd.DataFrame({"url": ["x"]}))
    with pytest.raises(ValueError, match="alpha"):
        nn.compare_timings(s, s, alpha=0)


def test_pandas_plot_is_pandas_and_the_figure_has_its_own_name():
    s = nn.Session("s", [entry(at=0), entry("https://example.com/b", at=5)])
    t = nn.compare_timings(s, s)
    assert isinstance(t.plot, pd.DataFrame.plot)  # the accessor users know: t.plot.bar(), t.plot(x=..., y=...)
    assert t.plot.bar is not None


def test_figure_draws_phase_deltas_with_regressions_first():
    baseline = runs(8, 20, seed=9)
    candidate = runs(8, 20, seed=10, slow={4: 1.8})
    t = nn.compare_timings(baseline, candidate)
    fig = t.figure(top=5)
    names = [trace.name for trace in fig.data]
    assert names == ["blocked", "dns", "connect (without ssl)", "ssl", "send", "wait", "receive", "total"]
    assert all(len(trace.y) == 5 for trace in fig.data)
    labels = list(fig.data[0].y)
    assert labels[0].startswith("▲ GET https://cdn1.example.com/asset/4.js")
    wait = fig.data[5]
    assert wait.x[0] == pytest.approx(t.loc[4, "wait_delta"])
    assert "1 regression(s) among 20 matched requests" in fig.layout.title.text
    total = fig.data[-1]
    assert total.x[0] == pytest.approx(t.loc[4, "time_delta"])


def test_plot_labels_are_escaped_and_connect_excludes_ssl():
    # the core percent-encodes < and > in URLs; & is what is left for plotly to misread
    base = nn.Session("b", [entry("https://example.com/x?a=1&lt=2", timings={"connect": 10, "ssl": 5})])
    cand = nn.Session("c", [entry("https://example.com/x?a=1&lt=2", timings={"connect": 30, "ssl": 15})])
    fig = nn.compare_timings(base, cand).figure()
    assert fig.data[0].y[0] == "▲ GET https://example.com/x?a=1&amp;lt=2"
    by_name = {trace.name: trace for trace in fig.data}
    assert by_name["ssl"].x[0] == 10 and by_name["connect (without ssl)"].x[0] == 10
    assert np.nansum([by_name[n].x[0] for n in by_name if n != "total"]) == by_name["total"].x[0]
