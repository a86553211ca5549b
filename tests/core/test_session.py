"""Session: building, appending from threads, combining, selecting, observing."""

from __future__ import annotations

import threading

import msgspec
import pandas as pd
import pytest

import necto_nb as nn
from necto_nb import frame
from necto_nb.har.admit import frame_view, valid_view
from tests.factory import entry, har


def test_a_new_session_from_entries():
    s = nn.Session("mine", [entry(), entry(status=404)], pages=[{"id": "p", "title": "t",
                                                                 "startedDateTime": "2026-11-01T10:00:00Z",
                                                                 "pageTimings": {}}])
    assert (s.name, len(s), len(s.pages)) == ("mine", 2, 1)
    assert s.df["status"].tolist() == [200, 404]
    assert s.log["creator"]["name"] == "necto_nb"


def test_extend_repairs_like_an_import_and_grows_the_frame():
    s = nn.Session()
    broken = entry()
    del broken["timings"]
    s.extend([entry(), broken])
    s.extend([entry(url="https://example.org/x")])
    assert len(s) == 3 and list(s.df.index) == [0, 1, 2]
    assert s.df["host"].tolist() == ["example.com", "example.com", "example.org"]
    assert any(i.path == "log.entries[1].timings" for i in s.report)


def test_extend_from_many_threads_loses_nothing():
    s = nn.Session()
    frames = []

    def fill(n):
        for i in range(50):
            s.extend([entry(url=f"https://example.com/{n}/{i}")])
            frames.append(len(s.df))

    threads = [threading.Thread(target=fill, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(s) == 400 and len(s.df) == 400 and s.df["url"].is_unique
    assert list(s.df.index) == list(range(400))


def test_entries_are_lossless_and_fresh():
    e = entry(_custom={"deep": [1, 2]}, comment="hello")
    s = nn.read_har(har(e))
    got = s.entries[0]
    assert got["_custom"] == {"deep": [1, 2]} and got["comment"] == "hello"
    got["comment"] = "changed"
    assert s.entries[0]["comment"] == "hello"


def test_concat_and_add():
    a = nn.read_har(har(entry(url="https://a.example/")), name="a")
    b = nn.read_har(har(entry(url="https://b.example/"), entry(url="https://b.example/2")), name="b")
    both = a + b
    assert both.name == "a + b" and len(both) == 3
    assert both.df["host"].tolist() == ["a.example", "b.example", "b.example"]
    assert nn.concat([a, b], name="x").name == "x"
    with pytest.raises(ValueError):
        nn.concat([])


def test_select_and_observe():
    s = nn.Session(entries=[entry(status=200), entry(status=500), entry(status=503)])
    seen = []
    stop = s.observe(lambda session: seen.append(len(session.selection)))
    s.select(s.df.status >= 500)
    assert s.selection.index.tolist() == [1, 2]
    s.selection = [0]
    stop()
    s.select([1])
    assert seen == [2, 1]


def test_bodies_on_demand():
    binary = entry()
    binary["response"]["content"] = {"size": 3, "mimeType": "image/png", "text": "AAEC", "encoding": "base64"}
    binary["request"]["postData"] = {"mimeType": "text/plain", "text": "hi"}
    s = nn.Session(entries=[binary])
    assert s.response_body(0) == b"\x00\x01\x02"
    assert s.request_body(0) == b"hi"


def test_side_files_are_read_only_from_the_hars_folder(tmp_path):
    e = entry()
    e["response"]["content"] = {"size": 5, "mimeType": "text/plain", "_file": "body.txt"}
    outside = entry()
    outside["response"]["content"] = {"size": 5, "mimeType": "text/plain", "_file": "../secret.txt"}
    (tmp_path / "body.txt").write_text("hello")
    (tmp_path.parent / "secret.txt").write_text("nope")
    path = tmp_path / "x.har"
    import json

    path.write_text(json.dumps(har(e, outside)))
    s = nn.read_har(path)
    assert s.response_body(0) == b"hello"
    with pytest.raises(nn.HarError, match="outside the HAR's folder"):
        s.response_body(1)
    assert any("outside" in i.message for i in s.report)


def test_repr():
    s = nn.read_har(har(entry()), name="x")
    assert repr(s) == "<Session 'x': 1 entries, 0 pages from test 1>"
    assert "<table" in s._repr_html_()


def test_pages_with_the_same_id_from_two_files_stay_apart():
    page = {"id": "page_1", "title": "a", "startedDateTime": "2026-11-01T10:00:00.000Z", "pageTimings": {"onLoad": 10}}
    other = dict(page, title="b", pageTimings={"onLoad": 20})
    a = nn.Session("a", [entry(pageref="page_1")], pages=[page])
    b = nn.Session("b", [entry(pageref="page_1"), entry(pageref="page_1")], pages=[other])
    both = a + b
    assert [p["id"] for p in both.pages] == ["page_1", "page_1~2"]
    assert both.df["page"].tolist() == ["page_1", "page_1~2", "page_1~2"]
    assert [p["title"] for p in both.to_har(rows=[1])["log"]["pages"]] == ["b"]
    again = both + nn.Session("c", [entry(pageref="page_1")], pages=[page])  # the same page: no copy
    assert len(again.pages) == 2 and again.df["page"].iloc[-1] == "page_1"


def test_a_failing_observer_neither_undoes_nor_hides_the_change():
    s = nn.Session()

    def broken(session):
        raise RuntimeError("widget gone")

    s.observe(broken)
    s.extend([entry()])
    assert len(s) == 1 and len(s.df) == 1
    assert s.observer_errors and "widget gone" in s.observer_errors[0]


def test_appending_keeps_categories_and_codes():
    s = nn.Session(entries=[entry(url="https://a.example/")])
    s.df
    s.extend([entry(url="https://b.example/")])
    df = s.df
    assert df["host"].dtype == "category" and df["host"].tolist() == ["a.example", "b.example"]
    assert list(df["host"].cat.categories) == ["a.example", "b.example"]


def test_appended_entries_give_the_frame_an_import_gives():
    entries = [entry(status=200), entry(url="https://b.example/x", status=0), entry(status=404)]
    for e, declared in zip(entries, ["script", None, {"not": "a string"}]):
        e["_resourceType"] = declared
    imported, appended = nn.read_har(har(*entries)), nn.Session(entries=entries)
    pd.testing.assert_frame_equal(appended.df, imported.df)


def test_a_frame_is_built_from_views_of_one_kind():
    raw = msgspec.json.encode(entry())
    with pytest.raises(TypeError, match="all FrameEntry or all Entry"):
        frame.build([valid_view(raw), frame_view(raw)])


def test_long_reads_checks_and_exports_show_progress(capsys):
    doc = har(*[entry() for _ in range(3)])
    short = nn.read_har(doc, name="short")  # below PROGRESS_FROM entries: no bar
    short.report, short.to_har(redact=True)
    assert capsys.readouterr().err == ""
    long = nn.read_har(doc, name="long", progress=True)
    long.report, long.to_har(redact=True, progress=True)
    shown = capsys.readouterr().err
    assert "read long" in shown and "check long" in shown and "export" in shown


def test_http_versions_are_normalised_as_tools_write_them():
    written = ["HTTP/1.1", "http/1.1", "1.1", "h2", "http/2.0", "2 2", "h3", "HTTP/1.0", "", "spdy/3.1"]
    entries = []
    for version in written:
        e = entry()
        e["request"]["httpVersion"] = e["response"]["httpVersion"] = version
        entries.append(e)
    shown = nn.Session("versions", entries).df["http_version"]
    assert shown.tolist()[:8] == ["HTTP/1.1"] * 3 + ["HTTP/2"] * 3 + ["HTTP/3", "HTTP/1.0"]
    assert pd.isna(shown[8]) and shown[9] == "spdy/3.1"  # missing where empty; the unknown as written


def test_clear_forgets_the_import_its_report_and_what_it_set_aside():
    doc = har(entry(), entry(status=404), pages=[{"id": "p", "title": "t", "startedDateTime": "2026-11-01T10:00:00Z",
                                                  "pageTimings": {}}, "not a page"])
    doc["log"]["entries"].append("not an entry")
    doc["log"]["comment"] = "kept"
    s = nn.read_har(doc)
    s.select([1])
    assert s.report and s.log["_invalidEntries"] == ["not an entry"] and s.log["_invalidPages"] == ["not a page"]
    s.clear()
    assert (len(s), len(s.df), s.pages, len(s.selection), len(s.report)) == (0, 0, [], 0, 0)
    assert "_invalidEntries" not in s.log and "_invalidPages" not in s.log and s.log["comment"] == "kept"
    exported = s.to_har()["log"]
    assert exported["entries"] == [] and "_invalidEntries" not in exported
    s.extend([entry()])  # and it fills again from position 0
    assert list(s.df.index) == [0] and s.report.ok


def test_a_failed_extend_changes_nothing():
    s = nn.Session("s", [entry()])
    before = (len(s), len(s.report), dict(s.log))
    with pytest.raises(nn.HarError, match="nested too deeply"):
        s.extend([entry(url="https://example.org/"), b"[" * 100_000 + b"]" * 100_000])
    assert (len(s), len(s.report), dict(s.log)) == before and len(s.df) == 1


def test_a_column_is_one_spec(monkeypatch):
    spec = frame.Column("float64", "response.headersSize (bytes)",
                        (frame.field_at("number", "response.headersSize"),), lambda sizes: sizes)
    monkeypatch.setitem(frame.SPECS, "response_headers_size", spec)
    s = nn.read_har(har(entry(), entry(status=404)))
    assert s.df["response_headers_size"].tolist() == [120.0, 120.0]
    assert s.df["response_headers_size"].dtype == "float64"


def test_a_usual_file_keeps_its_entries_as_its_bytes_until_asked():
    entries = [entry(), entry(url="https://example.org/x", status=404)]
    data = msgspec.json.encode(har(*entries))
    s = nn.read_har(data)
    assert s._state.entries.stored is not None  # read in one pass: not split yet
    assert s.df["status"].tolist() == [200, 404]
    assert list(s.entries) == entries and s._state.entries.stored is None
    assert s.to_har()["log"]["entries"] == entries


def test_a_file_with_an_entry_to_repair_is_read_entry_by_entry_and_reported_where():
    broken = entry(url="https://example.org/x")
    broken["startedDateTime"] = "2026-11-01 10:00:00"  # a space for the T: repaired
    s = nn.read_har(har(entry(), broken))
    assert s._state.entries.stored is None
    assert any(i.path == "log.entries[1].startedDateTime" for i in s.report)
    assert s.df["host"].tolist() == ["example.com", "example.org"]
