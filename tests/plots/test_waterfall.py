"""waterfall: lanes, phases (ssl inside connect drawn once), page marks, hover, status marks, panels."""

from __future__ import annotations

import base64
import re
from datetime import timedelta

import numpy as np
import pytest

import necto_nb as nn
from necto_nb.plots.style import PHASE_COLORS, escape
from necto_nb.plots.waterfall import BARS_UP_TO
from tests import factory
from tests.factory import T0, page


def entry(*args, timings: dict | None = None, **kw) -> dict:
    """The shared entry with the phases these figures are drawn from (1 + 0.5 + 20 + 3 = 24.5 ms)
    and no status text, so a label shows the status alone."""
    return factory.entry(*args, timings={"wait": 20.0, "receive": 3.0} | (timings or {}), status_text="", **kw)

PHASE_NAMES = ["blocked", "dns", "connect (without ssl)", "ssl", "send", "wait", "receive"]


def values(array) -> np.ndarray:
    """A trace array, whether plotly keeps it as a list, an ndarray or a typed-array spec."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
    return np.asarray(array, dtype="float64")


def hover(fig, yaxis: str = "y") -> dict[int, str]:
    """lane -> its hover label, the template filled in as plotly.js would (",.1f" numbers;
    sizes stay as their template field: d3's SI format is checked in the browser test)."""
    labels = {}
    for t in fig.data:
        if t.name != "request" or (t.yaxis or "y") != yaxis:
            continue
        numbers = values(t.customdata).reshape(len(t.hovertext), -1)
        for lane, text, row in zip(values(t.y).astype(int), t.hovertext, numbers):
            label = t.hovertemplate.replace("%{hovertext}", text).replace("<extra></extra>", "")
            for i, v in enumerate(row):
                label = label.replace(f"%{{customdata[{i}]:,.1f}}", f"{v:,.1f}")
            labels[lane] = label
    return labels


def bars(fig, name: str, yaxis: str = "y") -> dict[int, tuple[float, float]]:
    """lane -> (start, length) of the phase `name` in the panel on `yaxis`."""
    (trace,) = [t for t in fig.data if t.name == name and (t.yaxis or "y") == yaxis]
    return {int(y): (b, x) for y, b, x in zip(values(trace.y), values(trace.base), values(trace.x))}


def test_webpagetest_lanes_phases_and_page_marks(corpus):
    s = nn.read_har(corpus / "webpagetest__perfcascade-github-2.19.har")
    fig = nn.waterfall(s)
    hovers = [t for t in fig.data if t.name == "request"]  # one per pattern of n/a phases: a handful
    assert [t.name for t in fig.data[len(hovers):]] == PHASE_NAMES  # one trace per phase, none per request
    assert {t.type for t in hovers} == {"scatter"} and [t.type for t in fig.data[len(hovers):]] == ["bar"] * 7
    assert sum(len(t.hovertext) for t in hovers) == len(s) and len(hovers) <= 4
    assert [t.marker.color for t in fig.data[len(hovers):]] == [PHASE_COLORS[p] for p in
                                                       ["blocked", "dns", "connect", "ssl", "send", "wait", "receive"]]
    # entry 0 starts 272 ms after its page: connect 130 of which ssl 130, wait 138, receive 28
    assert bars(fig, "ssl")[0] == (272.0, 130.0)
    assert 0 not in bars(fig, "connect (without ssl)")  # connect - ssl = 0: not drawn, never twice
    assert bars(fig, "wait")[0] == (402.0, 138.0) and bars(fig, "receive")[0] == (540.0, 28.0)
    # entry 1: dns 38, connect 87 including ssl 49, back to back
    assert bars(fig, "dns")[1][1] == 38 and bars(fig, "connect (without ssl)")[1][1] == 38
    assert bars(fig, "ssl")[1][0] == sum(bars(fig, "connect (without ssl)")[1])
    ends = {}
    for name in PHASE_NAMES:
        for lane, (start, length) in bars(fig, name).items():
            ends[lane] = max(ends.get(lane, 0), start + length)
    assert "https://github.com/" in hover(fig)[0] and "connect 130.0 ms (ssl 130.0 ms)" in hover(fig)[0]
    df = s.df.sort_values("started", kind="stable")
    first = ((df["started"] - df["started"].min()).dt.total_seconds() * 1000 + 272).to_numpy()
    assert np.allclose([ends[i] for i in range(len(s))], first + df["time"].to_numpy())
    marks = {a.text: a.x for a in fig.layout.annotations if a.text != s.name}
    assert marks == {"onLoad": 3592.0, "_startRender": 2007.0}  # onContentLoad is -1: not drawn
    assert {(sh.x0, sh.line.dash) for sh in fig.layout.shapes} == {(3592.0, "solid"), (2007.0, "dot")}
    assert fig.layout.xaxis.title.text == "ms since the start of the session"
    assert len(fig.layout.yaxis.ticktext) == len(s) and fig.layout.yaxis.ticktext[0] == "GET /"
    assert fig.layout.yaxis.autorange == "reversed"  # first request on top


def test_chrome_har_page_timings_are_labelled_lines(corpus):
    s = nn.read_har(corpus / "chrome-har__sitespeed-greenweb-0.11.4.har")
    fig = nn.waterfall(s, page="page_1")
    labels = [a.text for a in fig.layout.annotations][1:]
    assert labels == ["onContentLoad", "onLoad", "_firstPaint", "_domInteractiveTime", "_domContentLoadedTime"]
    lines = {a.text: a.x for a in fig.layout.annotations[1:]}
    assert lines["onLoad"] == pytest.approx(1573.977) and lines["_firstPaint"] == 1309
    assert all(sh.yref == "y domain" and sh.y0 == 0 and sh.y1 == 1 for sh in fig.layout.shapes)
    assert fig.layout.xaxis.title.text == "ms since the start of the page"
    assert sum(len(values(t.x)) for t in fig.data if t.name == "wait") == len(s.df[s.df["page"] == "page_1"])


def test_hover_names_url_status_size_and_every_phase():
    s = nn.Session("s", [entry("https://example.com/a?x=1&y=2", body={"k": "v" * 2000},
                               timings={"dns": 4, "connect": 20, "ssl": 12}), entry(at=5)])
    fig = nn.waterfall(s)
    text = hover(fig)[0]
    assert text.startswith("<b>GET</b> https://example.com/a?x=1&amp;y=2<br>")  # & escaped: plotly reads entities
    assert "status 200" in text and "size %{customdata[0]:.3~s}B" in text and "total 48.5 ms" in text
    for phase in ["blocked 1.0 ms", "dns 4.0 ms", "connect 20.0 ms (ssl 12.0 ms)", "send 0.5 ms", "wait 20.0 ms",
                  "receive 3.0 ms"]:
        assert phase in text
    assert "dns – · connect – (ssl –)" in hover(fig)[1]  # does not apply: a dash, not 0.0
    (first,) = [t for t in fig.data if t.name == "request" and 0 in values(t.y)]
    assert values(first.customdata)[0] == 2000 + len('{"k": ""}')  # response size, bytes


def test_har_text_in_hover_titles_and_labels_is_escaped():
    bad = entry("https://example.com/x?a=<script>", status=500, error="<img src=x onerror='window.__pwned=1'>")
    bad["response"]["statusText"] = "<script>window.__pwned=2</script>"
    s = nn.Session("<b onmouseover=alert(1)>run</b>", [bad], pages=[])
    fig = nn.waterfall(s, title="A & <B>")
    text = hover(fig)[0]
    assert "<script" not in text and "<img" not in text
    assert "&lt;script&gt;window.__pwned=2&lt;/script&gt;" in text
    assert "error: &lt;img src=x onerror='window.__pwned=1'&gt;" in text
    assert fig.layout.annotations[0].text == "&lt;b onmouseover=alert(1)&gt;run&lt;/b&gt;"
    assert fig.layout.title.text == "A &amp; &lt;B&gt;"
    assert escape("a < b > c & d", limit=5) == "a &lt; …"


def test_failed_redirect_client_and_server_errors_are_marked():
    s = nn.Session("s", [entry(at=0), entry(status=301, at=10), entry(status=404, at=20), entry(status=503, at=30),
                         entry(status=0, at=40, error="net::ERR_CONNECTION_RESET"),
                         entry(status=200, at=50, error="aborted")])
    fig = nn.waterfall(s)
    marks = {t.name: values(t.y).astype(int).tolist() for t in fig.data if t.type == "scatter" and t.name != "request"}
    assert marks == {"failed": [4, 5], "3xx": [1], "4xx": [2], "5xx": [3]}
    symbols = {t.name: t.marker.symbol for t in fig.data if t.name in marks}
    assert len(set(symbols.values())) == 4  # told apart by shape, not only colour
    (failed,) = [t for t in fig.data if t.name == "failed"]
    assert values(failed.x)[0] == pytest.approx(40 + 24.5)  # at the end of the request's bar
    labels = hover(fig)
    assert "status no response<br>error: net::ERR_CONNECTION_RESET" in labels[4]
    assert "status 200<br>error: aborted" in labels[5]


def test_several_sessions_share_the_x_axis_and_each_starts_at_zero():
    a = nn.Session("before", [entry(at=0), entry("https://example.com/b", at=100)], pages=[page()])
    later = T0 + timedelta(days=3)
    b = nn.Session("after", [entry(at=0, t0=later), entry("https://example.com/b", at=250, t0=later)],
                   pages=[page(t0=later, onLoad=800.0)])
    fig = nn.waterfall([a, b])
    assert [ann.text for ann in fig.layout.annotations if ann.text in ("before", "after")] == ["before", "after"]
    per_panel = {}
    for t in fig.data:
        per_panel.setdefault(t.yaxis, []).append(t.name)
    assert per_panel == {"y": ["request", *PHASE_NAMES], "y2": ["request", *PHASE_NAMES]}
    assert fig.layout.xaxis.matches == "x2" and fig.layout.xaxis.showticklabels is False
    assert fig.layout.yaxis.domain[0] > fig.layout.yaxis2.domain[1]  # before above after
    assert [t.showlegend for t in fig.data if t.name == "wait"] == [True, False]  # one legend entry per phase
    assert bars(fig, "blocked", "y")[1][0] == 100 and bars(fig, "blocked", "y2")[1][0] == 250
    onload = [(ann.x, ann.xref) for ann in fig.layout.annotations if ann.text == "onLoad"]
    assert onload == [(500.0, "x"), (800.0, "x2")]


def test_several_pages_are_marked_from_their_own_start():
    s = nn.Session("two pages", [entry(at=0, page="p1"), entry(at=2000, page="p2")],
                   pages=[page("p1", onLoad=500.0), page("p2", at=2000, onLoad=300.0)])
    fig = nn.waterfall(s)
    marks = {a.text: a.x for a in fig.layout.annotations[1:]}
    assert marks == {"page p1": 0.0, "onLoad (p1)": 500.0, "page p2": 2000.0, "onLoad (p2)": 2300.0}
    only = nn.waterfall(s, page=1)
    assert [a.text for a in only.layout.annotations[1:]] == ["onLoad"]
    assert list(hover(only)) == [0] and "page_1" not in str(only.layout.annotations)


def test_rows_and_pages_are_checked():
    s = nn.Session("s", [entry(at=0), entry("https://example.com/b", at=5, status=404)], pages=[page()])
    assert "status 404" in hover(nn.waterfall(s, rows=s.df[s.df["status"] == 404]))[0]
    assert len(hover(nn.waterfall(s, rows=[1]))) == 1
    two = nn.waterfall([s, s], rows=[[0], None])
    assert (len(hover(two, "y")), len(hover(two, "y2"))) == (1, 2)
    with pytest.raises(ValueError, match="2 sessions"):
        nn.waterfall([s, s], rows=[[0]])
    with pytest.raises(ValueError, match=r"page='nope' is not a page id of session 's' \(its pages: 'page_1'\)"):
        nn.waterfall(s, page="nope")
    with pytest.raises(ValueError, match="has 1 pages"):
        nn.waterfall(s, page=3)
    with pytest.raises(IndexError):
        nn.waterfall(s, rows=[7])
    with pytest.raises(ValueError, match="at least one session"):
        nn.waterfall([])
    empty = nn.waterfall(nn.Session("empty"))
    assert all(len(values(t.x)) == 0 for t in empty.data)


def test_time_beyond_the_phases_is_drawn_as_untimed():
    e = entry(at=0)
    e["time"] = 500.0  # the phases add up to 24.5 ms
    fig = nn.waterfall(nn.Session("s", [e, entry(at=10)]))
    assert fig.data[-1].name == "untimed"
    assert bars(fig, "untimed") == {0: (24.5, 475.5)}


def test_beyond_the_bar_limit_phases_are_webgl_lines_still_one_trace_each():
    n = BARS_UP_TO + 200
    s = nn.Session("many", [entry(f"https://example.com/{i}", at=i * 3.0, status=404 if i % 100 == 0 else 200)
                            for i in range(n)])
    fig = nn.waterfall(s)
    assert {t.type for t in fig.data} == {"scattergl"}
    assert [t.name for t in fig.data] == ["request", *PHASE_NAMES, "4xx"]  # one n/a pattern: one hover trace
    wait = next(t for t in fig.data if t.name == "wait")
    x, y = values(wait.x), values(wait.y)
    assert len(x) == 3 * n and np.isnan(x[2::3]).all()  # start, end, gap per request
    assert x[0] == pytest.approx(1.5) and x[1] == pytest.approx(21.5) and y[0] == y[1] == 0
    assert wait.line.width >= 1
    assert fig.layout.hovermode == "y" and len(hover(fig)) == n


def test_runs_align_by_matched_request():
    from necto_nb.demo import deploys

    (before,), (after,) = deploys.deploy_pair(30, seed=3)
    fig = nn.waterfall([before, after], align=True)
    # the hover points carry each request's lane; a request keeps its lane across the deploy
    lanes = [{}, {}]
    for trace in fig.data:
        if trace.name == "request":
            panel = 0 if trace.yaxis == "y" else 1
            for text, y in zip(trace.hovertext, trace.y):
                lanes[panel][re.search(r"</b> (\S+)<br>", text).group(1)] = y
    ids_before = {e["request"]["url"]: e["_request"] for e in before.entries}
    ids_after = {e["request"]["url"]: e["_request"] for e in after.entries}
    lane_before = {ids_before[u.replace("&amp;", "&")]: y for u, y in lanes[0].items()}
    lane_after = {ids_after[u.replace("&amp;", "&")]: y for u, y in lanes[1].items()}
    shared = set(lane_before) & set(lane_after)
    assert len(shared) == 30 and all(lane_before[k] == lane_after[k] for k in shared)
    # the 5 requests only after the deploy get lanes after the first panel's last
    assert sorted(y for k, y in lane_after.items() if k not in shared) == list(range(35, 40))
    assert len(fig.layout.yaxis2.tickvals) == 35
    with pytest.raises(TypeError, match="unexpected keyword argument 'hostz'"):
        nn.waterfall([before, after], align={"hostz": {}})
