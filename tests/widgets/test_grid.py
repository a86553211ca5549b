"""TrafficGrid without a browser: session and grid in step, filters, import, export, live rows."""

from __future__ import annotations

import gzip
import json
import threading
import time
from datetime import datetime, timezone

import orjson
import pytest

import necto_nb as nn
from necto_nb.widgets import TrafficGrid
from tests.factory import entry, har


def click(grid, pos, **keys):
    """A click as the browser reports it (the comm message path)."""
    row = grid.table.order[pos]
    grid.table._handle_custom_msg({"type": "click", "pos": pos, "id": int(row), **keys}, [])


def message(grid) -> str:
    return "".join(o["data"]["text/plain"] for o in grid.messages.outputs)


def message_html(grid) -> str:
    return "".join(o["data"]["text/html"] for o in grid.messages.outputs)


def wait_for(predicate, timeout=60.0):  # long: only a failing test waits it out, a loaded machine may need it
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture
def session():
    entries = [entry(f"https://api.example.com/item/{i}", [200, 404, 500, 200, 301][i]) for i in range(5)]
    entries[2]["request"]["headers"].append({"name": "Authorization", "value": "Bearer s3cr3t-token"})
    return nn.read_har(har(*entries), name="api run")


@pytest.fixture
def grid(session, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the kernel's working directory is the notebook's folder
    g = TrafficGrid(session)
    yield g
    g.close()


def test_the_doors_and_the_first_view(session, grid):
    assert nn.TrafficGrid is TrafficGrid
    other = session.grid(height="200px")
    assert isinstance(other, TrafficGrid) and other.table.height == "200px"
    other.close()
    assert grid.table.row_count == 5
    assert "5</b> of 5" in grid.toolbar.count.value
    assert grid.toolbar.export_selected.disabled
    assert grid.toolbar.redact.value is True
    assert "Select a row" in grid.detail.value


def test_clicks_select_in_the_session(session, grid):
    click(grid, 1)
    click(grid, 3, shift=True)
    assert grid.selected.index.tolist() == [1, 2, 3]
    assert session.selection.index.tolist() == [1, 2, 3]
    assert not grid.toolbar.export_selected.disabled
    assert "3 selected" in grid.toolbar.count.value
    assert "item/3" in grid.detail.value  # the detail pane shows the row clicked last


def test_selection_from_python_shows_in_the_grid(session, grid):
    grid.select(session.df.status >= 400)
    assert [r["id"] for r in grid.table.window["rows"] if r["sel"]] == [1, 2]
    assert "item/1" in grid.detail.value
    session.select([4])  # someone else's code: the grid follows within its refresh interval
    assert wait_for(lambda: [r["id"] for r in grid.table.window["rows"] if r["sel"]] == [4])
    grid.select([])
    assert grid.toolbar.export_selected.disabled


def test_filters_narrow_the_view_and_count_hidden_selection(session, grid):
    grid.select([0, 1])
    grid.toolbar.status.value = "4xx"
    assert grid.table.order.tolist() == [1]
    assert "1</b> of 5" in grid.toolbar.count.value
    assert "2 selected (1 hidden by the filters)" in grid.toolbar.count.value
    grid.toolbar.status.value = "all"
    grid.toolbar.search.value = "item/4"
    assert grid.table.order.tolist() == [4]
    grid.toolbar.search.value = ""
    assert grid.toolbar.method.options[1:] == (("GET", "GET"),)


def test_header_click_sorts_the_view(grid):
    grid.table._handle_custom_msg({"type": "sort", "key": "status"}, [])
    assert grid.table.order.tolist() == [0, 3, 4, 1, 2]
    grid.table._handle_custom_msg({"type": "sort", "key": "status"}, [])
    assert grid.table.order.tolist() == [2, 1, 4, 0, 3]


def test_export_selected_writes_exactly_those_entries(session, grid, tmp_path):
    click(grid, 0)
    click(grid, 2, ctrl=True)
    grid.toolbar.redact.value = False
    grid.toolbar.export_selected.click()
    files = list(tmp_path.glob("*.har"))
    assert len(files) == 1 and files[0].name.startswith("api-run-") and files[0].name.endswith("-selected.har")
    written = json.loads(files[0].read_text())["log"]["entries"]
    assert written == [session.entries[0], session.entries[2]]
    text = message(grid)
    assert files[0].name in text and "2 entries" in text and "not redacted" in text
    assert f'href="{files[0].name}" download="{files[0].name}"' in message_html(grid)


def test_exports_redact_by_default(session, grid, tmp_path):
    grid.toolbar.export_session.click()
    path = next(tmp_path.glob("*.har"))
    data = path.read_text()
    assert "s3cr3t-token" not in data
    assert len(json.loads(data)["log"]["entries"]) == 5
    assert "secrets redacted" in message(grid)
    grid.toolbar.export_session.click()  # a second export never overwrites the first
    assert len(list(tmp_path.glob("*.har"))) == 2


def test_export_selected_with_nothing_selected_writes_nothing(grid, tmp_path):
    assert grid.export(selected=True) is None
    assert "Nothing is selected" in message(grid)
    assert not list(tmp_path.glob("*.har"))


def test_export_failure_is_reported(session, tmp_path):
    g = TrafficGrid(session, folder=tmp_path / "missing" / "folder")
    assert g.export() is None
    assert "Export failed" in message(g)
    g.close()


def upload(grid, *files):
    grid.toolbar.upload.value = tuple(
        {"name": name, "type": "application/json", "size": len(data), "content": memoryview(data),
         "last_modified": datetime.now(timezone.utc)} for name, data in files)


def test_import_adds_rows_and_shows_the_warnings(session, grid):
    odd = entry("https://new.example/a b", 200)  # a space: repaired, with a warning
    upload(grid, ("odd.har", orjson.dumps(har(odd))), ("plain.har.gz", gzip.compress(orjson.dumps(har(entry())))))
    assert len(session) == 7 and grid.table.row_count == 7
    text = message(grid)
    assert "Imported odd.har: 1 entries, 0 error(s), 1 warning(s)" in text
    assert "log.entries[0].request.url" in text
    assert "Imported plain.har.gz: 1 entries, no issues." in text
    assert any("odd.har" not in str(i) and "request.url" in i.path for i in session.report)
    assert grid.toolbar.upload.value == ()  # ready for the same file again


def test_an_invalid_file_changes_nothing(session, grid):
    grid.select([1])
    before = [session.entries[i] for i in range(len(session))]
    upload(grid, ("good.har", orjson.dumps(har(entry()))), ("<img src=x onerror=alert(1)>.har", b"{not json"))
    assert len(session) == 5 and grid.table.row_count == 5
    assert [session.entries[i] for i in range(len(session))] == before
    assert session.selection.index.tolist() == [1]
    text, markup = message(grid), message_html(grid)
    assert "Nothing imported: 1 of 2 file(s) cannot be read as HAR." in text
    assert "<img src=x onerror=alert(1)>.har: invalid JSON at line 1" in text
    assert "&lt;img src=x onerror=alert(1)&gt;.har" in markup and "<img" not in markup


def test_clear_empties_session_and_grid(session, grid):
    grid.select([0])
    grid.toolbar.clear.click()
    assert len(session) == 0 and grid.table.row_count == 0
    assert grid.toolbar.export_selected.disabled
    assert "0</b> of 0" in grid.toolbar.count.value


def test_live_rows_arrive_throttled_from_another_thread(session, grid):
    counts = []
    grid.table.observe(lambda change: counts.append(change["new"]), "row_count")

    def capture():
        for i in range(60):
            session.extend([entry(f"https://live.example/{i}")])
            time.sleep(0.01)

    worker = threading.Thread(target=capture)
    started = time.monotonic()
    worker.start()
    worker.join()
    took = time.monotonic() - started
    assert wait_for(lambda: grid.table.row_count == 65)
    # 60 changes in `took` seconds became at most one refresh per 0.25 s (and one at the end)
    assert len(counts) <= took / 0.25 + 2, (counts, took)
    assert counts[-1] == 65


def test_close_stops_following_the_session(session, grid):
    grid.close()
    session.extend([entry("https://after.example/")])
    time.sleep(0.4)
    assert grid.table.row_count == 5


def test_live_rows_do_not_redraw_the_open_entry(session, grid, monkeypatch):
    from necto_nb.widgets import grid as grid_module

    click(grid, 1)
    drawn = []
    original = grid_module.detail.render
    monkeypatch.setattr(grid_module.detail, "render", lambda s, label: drawn.append(label) or original(s, label))
    session.extend([entry("https://live.example/more")])
    grid.refresh()
    assert grid.table.row_count == 6 and drawn == []
    session.clear()
    session.extend([entry("https://other.example/")] * 3)
    grid.refresh()
    assert drawn == [None]  # the entry it showed is gone
    assert "Select a row" in grid.detail.value
