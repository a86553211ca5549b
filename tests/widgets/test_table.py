"""TrafficTable without a browser: the window it sends and the selection rules of its clicks.

Messages from the browser are fed through the widget's own custom-message handler, the
path a real comm message takes.
"""

from __future__ import annotations

import numpy as np
import pytest

import necto_nb as nn
from necto_nb.widgets.table import TrafficTable, human_ms, human_size
from necto_nb.widgets.view import Filter, order
from tests.factory import entry, har


def browser(table: TrafficTable, **content) -> None:
    table._handle_custom_msg(content, [])


@pytest.fixture
def session():
    entries = [entry(f"https://example.com/{i}", 200 + (i % 3) * 100) for i in range(10)]
    return nn.read_har(har(*entries))


@pytest.fixture
def table(session):
    picked: list[list[int]] = []
    t = TrafficTable(on_select=picked.append)
    t.picked = picked
    t.set_view(session.df, order(session.df, Filter()))
    return t


def selected_rows(table):
    return [r["id"] for r in table.window["rows"] if r["sel"]]


def test_window_holds_the_viewport_rows_as_plain_strings(table):
    assert table.row_count == 10
    assert table.window["start"] == 0
    first = table.window["rows"][0]
    assert first["cells"][:6] == ["0", "GET", "200", "example.com", "/0", "fetch"]
    assert first["cls"] == "s2"
    assert table.window["rows"][1]["cls"] == "s3" and table.window["rows"][2]["cls"] == "s4"
    table.viewport = [4, 3]  # the browser scrolled
    assert [r["id"] for r in table.window["rows"]] == [4, 5, 6]
    assert table.window["start"] == 4


def test_viewport_past_the_end_is_clamped(table):
    table.viewport = [50, 10]
    assert table.window == {"start": 10, "rows": []}
    table.viewport = [8, 100]
    assert [r["id"] for r in table.window["rows"]] == [8, 9]


def test_click_ctrl_click_and_shift_click(table):
    browser(table, type="click", pos=2, id=2, ctrl=False, shift=False)
    assert table.picked[-1] == [2] and table.focus == 2
    browser(table, type="click", pos=5, id=5, ctrl=False, shift=True)
    assert table.picked[-1] == [2, 3, 4, 5]          # range from the anchor
    browser(table, type="click", pos=8, id=8, ctrl=True, shift=False)
    assert table.picked[-1] == [2, 3, 4, 5, 8]       # ctrl adds, and moves the anchor
    browser(table, type="click", pos=6, id=6, ctrl=True, shift=True)
    assert table.picked[-1] == [2, 3, 4, 5, 6, 7, 8]  # ctrl+shift adds a range
    browser(table, type="click", pos=3, id=3, ctrl=True, shift=False)
    assert table.picked[-1] == [2, 4, 5, 6, 7, 8]    # ctrl toggles off
    browser(table, type="click", pos=0, id=0, ctrl=False, shift=True)
    assert table.picked[-1] == [0, 1, 2, 3]          # shift replaces, from anchor 3
    browser(table, type="click", pos=9, id=9)
    assert table.picked[-1] == [9]
    assert selected_rows(table) == [9]


def test_shift_click_spans_rows_the_browser_never_drew(session):
    picked = []
    t = TrafficTable(on_select=picked.append)
    t.set_view(session.df, order(session.df, Filter()))
    t.viewport = [0, 2]
    t.click(0)
    t.viewport = [8, 2]
    t.click(9, label=9, shift=True)
    assert picked[-1] == list(range(10))


def test_shift_click_follows_the_sorted_order(session):
    picked = []
    t = TrafficTable(on_select=picked.append)
    t.set_view(session.df, order(session.df, Filter(), "#", ascending=False))
    t.click(0)            # entry 9
    t.click(3, shift=True)  # entry 6
    assert picked[-1] == [6, 7, 8, 9]


def test_a_click_on_a_row_that_moved_finds_it_by_its_id(table, session):
    table.set_view(session.df, np.array([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]))  # re-sorted meanwhile
    browser(table, type="click", pos=2, id=2)  # the browser still drew entry 2 at row 2
    assert table.picked[-1] == [2]
    table.set_view(session.df, np.array([0, 1]))
    browser(table, type="click", pos=5, id=5)  # filtered away: ignored
    assert table.picked[-1] == [2]


def test_keys_move_and_extend_and_select_all(table):
    browser(table, type="key", key="ArrowDown", shift=False)
    assert table.picked[-1] == [0]
    browser(table, type="key", key="ArrowDown", shift=False)
    assert table.picked[-1] == [1]
    browser(table, type="key", key="ArrowDown", shift=True)
    browser(table, type="key", key="ArrowDown", shift=True)
    assert table.picked[-1] == [1, 2, 3]
    browser(table, type="key", key="ArrowUp", shift=False)
    assert table.picked[-1] == [2]
    browser(table, type="all")
    assert table.picked[-1] == list(range(10))
    browser(table, type="key", key="Delete")  # not ours: nothing happens
    assert len(table.picked) == 6


def test_selection_from_python_shows_in_the_window(table):
    table.set_selected([1, 7])
    assert selected_rows(table) == [1, 7]
    table.set_selected([])
    assert selected_rows(table) == []


def test_header_click_sorts(session):
    sorted_by = []
    t = TrafficTable(on_sort=lambda key, asc: sorted_by.append((key, asc)))
    browser(t, type="sort", key="time")
    browser(t, type="sort", key="time")
    browser(t, type="sort", key="host")
    assert sorted_by == [("time", True), ("time", False), ("host", True)]
    assert t.sort == ["host", "asc"]


def test_markup_reaches_the_browser_as_data_not_html():
    e = entry("https://x.test/", 200)
    e["_resourceType"] = "<img src=x onerror=alert(1)>"
    e["response"]["statusText"] = "<script>alert(2)</script>"
    s = nn.read_har(har(e))
    t = TrafficTable()
    t.set_view(s.df, order(s.df, Filter()))
    row = t.window["rows"][0]
    assert row["cells"][5] == "<img src=x onerror=alert(1)>"  # table.js sets it as textContent
    assert row["tips"][2] == "<script>alert(2)</script>"


def test_failed_requests_and_missing_numbers():
    e = entry("https://x.test/", 0, time=-1)
    e["timings"] = {"send": -1, "wait": -1, "receive": -1}
    s = nn.read_har(har(e))
    t = TrafficTable()
    t.set_view(s.df, order(s.df, Filter()))
    row = t.window["rows"][0]
    assert row["cells"][2] == "(failed)" and row["cls"] == "s0"
    assert all(0 <= v <= 100 for v in row["bar"])


@pytest.mark.parametrize(("n", "text"), [(0, "0 B"), (999, "999 B"), (1500, "1.5 kB"), (2_500_000, "2.5 MB"),
                                         (float("nan"), "")])
def test_human_size(n, text):
    assert human_size(n) == text


@pytest.mark.parametrize(("ms", "text"), [(0.4, "0 ms"), (999, "999 ms"), (1234, "1.23 s"), (float("nan"), "")])
def test_human_ms(ms, text):
    assert human_ms(ms) == text


def test_bars_of_an_older_file_and_of_live_traffic_each_fill_the_width():
    """After importing last week's file into a live session, neither set is pinned to an edge."""
    def at(when: str, time: float) -> dict:
        return entry("https://x.test/", 200, startedDateTime=when, time=time,
                     timings={"blocked": 0, "dns": -1, "connect": -1, "ssl": -1, "send": 0, "wait": time, "receive": 0})

    s = nn.Session("live", [at("2026-11-01T10:00:00.000Z", 100), at("2026-11-01T10:00:00.100Z", 100)])
    s.extend([at("2026-11-08T09:00:00.000Z", 50), at("2026-11-08T09:00:00.150Z", 50)])
    t = TrafficTable()
    t.set_view(s.df, order(s.df, Filter()))
    t.viewport = [0, 4]
    bars = [row["bar"] for row in t.window["rows"]]
    assert bars == [[0, 0, 50, 0], [50, 0, 50, 0], [0, 0, 25, 0], [75, 0, 25, 0]]
