"""The validation table of the HAR core, row by row, and the repairs beyond it."""

from __future__ import annotations

import gzip
import io
import json
import zlib

import pytest

import necto_nb as nn
from tests.factory import entry, har


def issue_at(session, path: str):
    found = [i for i in session.report if i.path == path]
    assert found, f"no issue at {path}: {session.report!r}"
    return found[0]


# -- the table ---------------------------------------------------------------------------

def test_missing_version_is_a_warning_and_defaults_to_1_2():
    doc = har(entry())
    del doc["log"]["version"]
    s = nn.read_har(doc)
    assert issue_at(s, "log.version").severity == "warning"
    assert s.log["version"] == "1.2"
    assert s.to_har()["log"]["version"] == "1.2"


def test_missing_creator_is_a_warning_and_becomes_unknown():
    doc = har(entry())
    del doc["log"]["creator"]
    s = nn.read_har(doc)
    assert issue_at(s, "log.creator").severity == "warning"
    assert s.log["creator"]["name"] == "Unknown"


def test_missing_started_uses_the_import_time():
    e = entry()
    del e["startedDateTime"]
    s = nn.read_har(har(e))
    assert issue_at(s, "log.entries[0].startedDateTime").severity == "warning"
    started = s.df["started"].iloc[0]
    assert abs((pd_now() - started).total_seconds()) < 60


def pd_now():
    import pandas as pd

    return pd.Timestamp.now(tz="UTC")


@pytest.mark.parametrize("data, where", [
    (b'{"log": {"entries": [}', "line 1, column 22"),
    (b'{\n  "log": {\n    "entries": [1,,]\n', "line 3, column 19"),
    (b'{"log": {"version": "1.2", "entries": []}} trailing', "line 1, column 4[45]: trailing characters$"),
])
def test_invalid_json_is_an_error_naming_line_and_column(data, where):
    with pytest.raises(nn.HarError, match=where):
        nn.read_har(data)


@pytest.mark.parametrize("data", [b"", b" \r\n\t", b"\xef\xbb\xbf"], ids=["nothing", "whitespace", "a BOM"])
def test_an_empty_file_is_an_error_saying_so(data, tmp_path):
    path = tmp_path / "capture.har"  # what a capture that wrote nothing leaves
    path.write_bytes(data)
    with pytest.raises(nn.HarError, match=r"^capture\.har: the file is empty, not JSON$"):
        nn.read_har(path)


def test_missing_entries_is_an_error():
    with pytest.raises(nn.HarError, match="log.entries is missing") as caught:
        nn.read_har({"log": {"version": "1.2", "creator": {"name": "x", "version": "1"}}})
    assert isinstance(caught.value, ValueError)
    assert [i.path for i in caught.value.issues] == ["log.entries"]


def test_empty_entries_is_a_warning_and_a_valid_session():
    s = nn.read_har(har(entry())  | {"log": {"version": "1.2", "creator": {"name": "x", "version": "1"}, "entries": []}})
    assert len(s) == 0 and len(s.df) == 0
    assert issue_at(s, "log.entries").severity == "warning"
    assert list(s.df.columns) == list(nn.frame.COLUMNS)


def test_strict_turns_warnings_into_errors():
    doc = har(entry())
    del doc["log"]["version"]
    with pytest.raises(nn.HarError, match="log.version") as caught:
        nn.read_har(doc, strict=True)
    assert caught.value.issues[0].severity == "warning"
    nn.read_har(har(entry()), strict=True)  # a clean file passes


# -- beyond the table --------------------------------------------------------------------

def test_null_where_a_string_is_required():
    e = entry()
    e["response"]["statusText"] = None
    e["request"]["headers"][0]["value"] = None
    s = nn.read_har(har(e))
    assert s.entries[0]["response"]["statusText"] == ""
    assert s.entries[0]["request"]["headers"][0]["value"] == ""
    assert issue_at(s, "log.entries[0].request.headers[0].value").action == "set to ''"


def test_cookies_as_an_object_become_a_list():
    e = entry()
    e["request"]["cookies"] = {"sid": "abc", "theme": "dark"}
    s = nn.read_har(har(e))
    assert s.entries[0]["request"]["cookies"] == [{"name": "sid", "value": "abc"}, {"name": "theme", "value": "dark"}]
    assert "converted to a list" in issue_at(s, "log.entries[0].request.cookies").action


def test_missing_sizes_and_timings():
    e = entry()
    del e["request"]["headersSize"], e["response"]["content"]["size"], e["timings"]
    e["time"] = None
    s = nn.read_har(har(e))
    got = s.entries[0]
    assert got["request"]["headersSize"] == -1
    assert got["response"]["content"]["size"] == len('{"ok": true}')
    assert got["timings"]["send"] == -1 and got["time"] == 0
    assert s.df[["send", "wait", "receive"]].isna().all(axis=None)


@pytest.mark.parametrize("value, expect", [("", None), ("[2001:db8::1]", "2001:db8::1")])
def test_server_ip_empty_or_bracketed(value, expect):
    s = nn.read_har(har(entry(serverIPAddress=value)))
    assert s.entries[0].get("serverIPAddress") == expect
    assert issue_at(s, "log.entries[0].serverIPAddress").severity == "warning"


def test_dates_with_seven_digit_fractions_and_offsets_are_valid_and_read_as_utc():
    s = nn.read_har(har(entry(startedDateTime="2023-03-29T16:58:59.3031234-07:00")))
    assert not s.report
    assert str(s.df["started"].iloc[0]) == "2023-03-29 23:58:59.303123400+00:00"


def test_a_date_without_zone_is_rewritten_as_utc():
    s = nn.read_har(har(entry(startedDateTime="2023-03-29 16:58:59")))
    assert s.entries[0]["startedDateTime"] == "2023-03-29T16:58:59.000Z"


def test_har_1_1_reads():
    s = nn.read_har(har(entry(), version="1.1"))
    assert s.log["version"] == "1.1" and len(s) == 1


def test_bom_and_jsonp():
    body = json.dumps(har(entry())).encode()
    assert len(nn.read_har(b"\xef\xbb\xbf" + body)) == 1
    wrapped = nn.read_har(b"onInputData(" + body + b");")
    assert issue_at(wrapped, "$").message.startswith("JSONP wrapper onInputData")


def test_log_nested_under_another_key():
    s = nn.read_har({"result": har(entry())})
    assert len(s) == 1 and "nested under 'result'" in issue_at(s, "$.result.log").message


def test_post_data_without_text():
    e = entry()
    e["request"]["method"] = "POST"
    e["request"]["postData"] = {"mimeType": "application/json"}
    s = nn.read_har(har(e))
    assert s.entries[0]["request"]["postData"]["text"] == ""


def test_status_zero_is_reported_and_marked_in_the_frame():
    e = entry(status=0)
    e["response"]["_error"] = "net::ERR_CONNECTION_REFUSED"
    s = nn.read_har(har(e))
    assert s.df["error"].iloc[0] == "net::ERR_CONNECTION_REFUSED"
    assert issue_at(s, "log.entries[0].response.status").severity == "info"


def test_an_entry_that_is_not_an_object_is_kept_aside_not_lost():
    doc = har(entry())
    doc["log"]["entries"].append("garbage")
    s = nn.read_har(doc)
    assert len(s) == 1
    assert s.to_har()["log"]["_invalidEntries"] == ["garbage"]
    assert issue_at(s, "log.entries[1]").action == "kept in log._invalidEntries"


def test_the_fields_the_frame_does_not_read_are_checked_on_first_look():
    e = entry()
    e["request"]["headers"] = None
    doc = har(e)
    doc["log"]["entries"].insert(0, "garbage")
    s = nn.read_har(doc)
    assert len(s.df) == 1  # the frame is there before the rest is checked
    # ...which the report, the entries or an export checks, naming the entry as the file has it
    assert issue_at(s, "log.entries[1].request.headers").action == "set to []"
    assert s.entries[0]["request"]["headers"] == []
    with pytest.raises(nn.HarError, match=r"log\.entries\[0\]\.request\.headers"):
        nn.read_har(har(e), strict=True)


def test_an_invalid_value_is_kept_beside_the_field():
    e = entry()
    e["response"]["cookies"] = [{"name": "a", "value": "b", "expires": "NaN-NaN"}]
    s = nn.read_har(har(e))
    assert s.entries[0]["response"]["cookies"][0] == {"name": "a", "value": "b", "_expires": "NaN-NaN"}


def test_a_body_that_is_not_a_string_is_repaired():
    e = entry()
    e["response"]["content"]["text"] = {"not": "a string"}
    s = nn.read_har(har(e))
    assert s.entries[0]["response"]["content"]["_text"] == {"not": "a string"}


@pytest.mark.parametrize("top, message", [
    (b"[]", "the top level is a list"),
    (b'"text"', "the top level is a string"),
    (b'{"log": 5}', "log is a number"),
    (b'{"log": {"entries": {}}}', "log.entries is an object, not a list"),
    (b'{"entries": {}}', "log.entries is an object, not a list"),  # found by test_fuzz.py::test_any_json
    (b'{"other": 1}', "no 'log' object"),
])
def test_wrong_shapes_are_clear_errors(top, message):
    with pytest.raises(nn.HarError, match=message):
        nn.read_har(top)


# -- sources -----------------------------------------------------------------------------

def test_sources(tmp_path):
    body = json.dumps(har(entry())).encode()
    (tmp_path / "a.har").write_bytes(body)
    (tmp_path / "a.har.gz").write_bytes(gzip.compress(body))
    (tmp_path / "a.zhar").write_bytes(zlib.compress(body))
    for source in [tmp_path / "a.har", str(tmp_path / "a.har.gz"), tmp_path / "a.zhar", body,
                   io.BytesIO(body), json.loads(body)]:
        assert len(nn.read_har(source)) == 1, source
    assert nn.read_har(tmp_path / "a.har").name == "a.har"
    assert nn.read_har(body, name="mine").name == "mine"


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(nn.HarError, match="nope.har: No such file or directory"):
        nn.read_har(tmp_path / "nope.har")


def test_a_url(tmp_path):
    import http.server
    import threading

    (tmp_path / "x.har").write_text(json.dumps(har(entry())))
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        assert len(nn.read_har(f"{base}/x.har")) == 1
        with pytest.raises(nn.HarError, match="could not fetch"):
            nn.read_har(f"{base}/missing.har")
    finally:
        server.shutdown()


def test_the_report_renders_escaped_html():
    s = nn.read_har(har(entry(pageref="<script>alert(1)</script>")))
    html = s.report._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html
