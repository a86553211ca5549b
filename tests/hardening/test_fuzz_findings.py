"""Each input the fuzzer found that broke the core, reduced to one entry and kept as a test.

Every case must give a Session or a HarError; where the file is otherwise fine, the
Session keeps the entry (repaired, reported, the odd value kept beside the field).
"""

from __future__ import annotations

import json
import time

import pytest

import necto_nb as nn
from tests.factory import entry, har


def with_raw(path: list, raw: bytes) -> bytes:
    """A one-entry HAR whose value at `path` (inside the entry) is the JSON text `raw`."""
    doc = har(entry())
    node = doc["log"]["entries"][0]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = "__raw__"
    return json.dumps(doc).encode().replace(b'"__raw__"', raw)


def issue_at(session: nn.Session, path: str) -> nn.Issue:
    found = [i for i in session.report if i.path == path]
    assert found, f"no issue at {path}: {session.report!r}"
    return found[0]


@pytest.mark.parametrize("path", [["time"], ["timings", "wait"], ["response", "status"]])
def test_a_number_beyond_float_range_is_kept_aside_not_an_exception(path):
    s = nn.read_har(with_raw(path, b"1e400"))
    assert len(s) == 1
    where = ".".join(["log.entries[0]", *path])
    assert issue_at(s, where).severity == "warning"
    assert "1e400" in json.dumps(s.to_har())  # the value is kept beside the field, as text


def test_a_status_beyond_64_bits_is_kept_aside():
    s = nn.read_har(with_raw(["response", "status"], str(2 ** 70).encode()))
    assert s.df["status"].tolist() == [0]
    assert s.entries[0]["response"]["_status"] == 2 ** 70
    assert issue_at(s, "log.entries[0].response.status").severity == "warning"


def test_invalid_utf8_in_a_url_is_replaced_and_reported():
    data = json.dumps(har(entry(url="https://example.com/caf-X"))).encode().replace(b"caf-X", b"caf\xe9")
    s = nn.read_har(data)
    assert len(s) == 1
    assert s.df["url"].iloc[0] == "https://example.com/caf%EF%BF%BD"  # U+FFFD, then percent-encoded
    assert "invalid UTF-8 at line 1, column" in issue_at(s, "$").message


@pytest.mark.parametrize("good, bad", [
    (b'"name": "test"', b'"name": "t\xffst"'), (b'"pages"', b'"pages\xff"'), (b'"version": "1.2"', b'"version": "1.\xc3"'),
    (b'"text": "{\\"ok\\": true}"', b'"text": "caf\xe9"'),  # a body: kept raw, unchecked by the fast decode
    (b'"cache": {}', b'"cache": {}, "_custom": "\xed\xa0\x80"'),  # a custom field: skipped by the fast decode
])
def test_invalid_utf8_anywhere_is_replaced_and_reported(good, bad):
    data = json.dumps(har(entry())).encode()
    assert good in data
    s = nn.read_har(data.replace(good, bad))
    assert len(s) == 1 and "\ufffd" in json.dumps(s.to_har(), ensure_ascii=False)
    assert s.entries[0] and s.response_body(0) is not None
    assert issue_at(s, "$").action == "replaced with U+FFFD"


def test_a_number_beyond_float_range_in_a_custom_field_reads_and_exports_exactly(tmp_path):
    s = nn.read_har(with_raw(["_custom"], b"[1e400]"))
    assert s.report.ok and s.entries[0]["_custom"] == [float("inf")]  # as Python's json reads it
    assert s.to_har()["log"]["entries"][0]["_custom"] == [float("inf")]
    assert b'"_custom": [1e400]' in s.to_har(tmp_path / "out.har").read_bytes()  # the file keeps the JSON as it came
    s.to_har(redact=True)


def test_base64_marked_content_without_text_reads():
    e = entry()
    e["response"]["content"] = {"size": 0, "mimeType": "application/javascript", "encoding": "base64"}
    s = nn.read_har(har(e))
    assert len(s) == 1 and s.response_body(0) is None


@pytest.mark.parametrize("date", [
    "0001-01-01T00:00:00Z",  # Go's zero time
    "2020-13-01T00:00:00Z", "2021-02-29T00:00:00Z", "2020-01-01T25:00:00Z", "2020-01-01T23:59:60Z",
    "2020-01-01T00:00:00+99:99", "1600-01-01T00:00:00Z", "2300-01-01T00:00:00Z", "9999-12-31T23:59:59-23:59",
    "\uff11\uff19\uff17\uff10-01-01T00:00:00Z", "199\uff19-01-01T00:00:00Z", "2020-01-0\u0661T00:00:00Z",
    "2020-01-01T00:00:00.12345678901234567890Z",
])
def test_a_date_the_pattern_accepts_but_no_calendar_or_frame_holds_is_repaired(date):
    s = nn.read_har(har(entry(startedDateTime=date)))
    assert len(s) == 1 and s.df["started"].notna().all()
    issue = issue_at(s, "log.entries[0].startedDateTime")
    assert issue.severity == "warning"
    # kept beside the field, or (a finer fraction than the frame holds) rewritten and named in the report
    assert date in json.dumps(s.to_har(), ensure_ascii=False) or date in issue.message


def test_a_lowercase_z_date_is_read():
    s = nn.read_har(har(entry(startedDateTime="2026-11-01T10:00:00.5z")))
    assert str(s.df["started"].iloc[0]) == "2026-11-01 10:00:00.500000+00:00"


@pytest.mark.parametrize("page_id", [["x"], {"a": 1}, 5])
def test_a_page_id_that_is_not_a_string_is_repaired(page_id):
    doc = har(entry(pageref="p"))
    doc["log"]["pages"] = [{"id": page_id, "title": "t", "startedDateTime": "2026-11-01T10:00:00Z", "pageTimings": {}}]
    s = nn.read_har(doc)
    assert len(s) == 1 and len(s.pages) == 1
    assert issue_at(s, "log.pages[0].id").severity == "warning"


def test_redacting_a_body_of_repeated_jwt_prefixes_takes_linear_time():
    """The JWT pattern scanned from every 'eyJ': 5 MB took 465 s; now each run is scanned once."""
    e = entry()
    e["response"]["content"]["text"] = "eyJ" * 300_000 + ".x"
    s = nn.read_har(har(e))
    began = time.perf_counter()
    s.to_har(redact=True)
    assert time.perf_counter() - began < 20  # linear: well under a second here; quadratic: minutes


@pytest.mark.parametrize("depth", [300, 600, 900])
def test_redacting_a_deeply_nested_json_body_still_redacts_it(depth):
    e = entry()
    e["response"]["content"]["text"] = '{"password": "hunter2", "a": ' + "[" * depth + "]" * depth + "}"
    doc = nn.read_har(har(e)).to_har(redact=True)
    assert "hunter2" not in json.dumps(doc)


def test_an_optional_object_nesting_deeper_than_python_recurses_is_repaired():
    """A cache state missing what it needs is repaired on a copy; a deep value in it must not
    make that copy recurse past Python's limit (found by the 10,000-case fuzz run)."""
    deep = b"[" * 900 + b"]" * 900
    s = nn.read_har(with_raw(["cache", "beforeRequest"], b'{"_deep": ' + deep + b"}"))
    assert len(s) == 1
    assert issue_at(s, "log.entries[0].cache.beforeRequest").severity == "warning"
    assert json.dumps(s.to_har()).count("[") >= 900  # kept aside whole, as it came


def test_a_report_quoting_a_value_of_megabytes_shows_in_little_memory():
    """Folding the values messages quote kept a regex state per character: 2 MB quoted took
    284 MB (a 3 MB fuzz case peaked at 1.2 GB in the report's HTML)."""
    import tracemalloc

    report = nn.Report()
    report.add("warning", "log.entries[0].request.url", "'" + "x" * 2_000_000 + "' is not a URL", "kept aside")
    tracemalloc.start()
    try:
        repr(report), report._repr_html_()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40 * 2**20, f"{peak >> 20} MB"


def test_extend_checks_dates_and_bytes_like_an_import():
    s = nn.Session()
    s.extend([entry(startedDateTime="0001-01-01T00:00:00Z"), json.dumps(entry(url="https://e.com/X")).encode()
              .replace(b"/X", b"/\xff")])  # bytes given to extend are decoded entry by entry
    assert len(s) == 2 and s.df["started"].notna().all()
    assert {i.path for i in s.report} >= {"log.entries[0].startedDateTime", "log.entries[1]"}
    assert any("invalid UTF-8" in i.message for i in s.report)  # whether msgspec raises DecodeError (0.23) or not
    assert s.entries[1]["request"]["url"] == "https://e.com/%EF%BF%BD"  # U+FFFD, percent-encoded by the URL repair


def test_redacting_odd_websocket_messages_and_a_deep_page():
    e = entry(pageref="p")
    e["_webSocketMessages"] = 1.5
    doc = har(e)
    doc["log"]["pages"] = [{"id": "p", "title": "t", "startedDateTime": "2026-11-01T10:00:00Z", "pageTimings": {},
                            "_deep": "__deep__"}]
    data = json.dumps(doc).encode().replace(b'"__deep__"', b"[" * 700 + b"]" * 700)
    out = nn.read_har(data).to_har(redact=True)
    assert out["log"]["entries"][0]["_webSocketMessages"] == 1.5 and len(out["log"]["pages"]) == 1


def _rss_of_reading(data: bytes) -> int:
    """Peak RSS growth (bytes) of a fresh interpreter reading `data`: sre's memory is not Python's."""
    import subprocess
    import sys
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".har") as f:
        f.write(data)
        f.flush()
        code = ("import resource, sys, necto_nb as nn; before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; "
                "nn.read_har(sys.argv[1]).df; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)")
        out = subprocess.run([sys.executable, "-c", code, f.name], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return int(out.stdout) * 1024


def test_a_multi_megabyte_data_url_imports_in_memory_near_its_size():
    """The URI pattern repeated a group per character: 3 MB of URL took 750 MB in re."""
    url = "data:image/png;base64," + "iVBORw0KGgo" * 300_000
    assert _rss_of_reading(json.dumps(har(entry(url=url))).encode()) < 150 * 2 ** 20


@pytest.mark.parametrize("url", ["http://" + "a" * 3000 + "<", "http://" + "%41" * 1000 + " ", "x://" + ":@" * 2000 + "|"],
                         ids=["letters", "escapes", "colons and ats"])
def test_a_long_authority_that_is_not_a_uri_is_checked_in_linear_time(url):
    """The URI pattern's authority parts overlapped: 2,000 characters took 215 s (quartic)."""
    began = time.perf_counter()
    s = nn.read_har(har(entry(url=url)))
    assert time.perf_counter() - began < 20  # linear: milliseconds here
    assert len(s) == 1 and s.df["url"].iloc[0] != url  # percent-encoded by the repair


def test_a_long_server_address_is_checked_in_linear_time():
    """The IPv6 pattern backtracked over every colon: 20,000 colons took 4 s, quadratic."""
    began = time.perf_counter()
    s = nn.read_har(har(entry(serverIPAddress=":" * 200_000 + "x")))
    assert time.perf_counter() - began < 20
    assert len(s) == 1 and s.df["server_ip"].isna().all()


# The RFC 3986 pattern as first written (correct, but super-linear): the reference for the linear one.
_REFERENCE_URI = (
    r"^[A-Za-z][A-Za-z0-9+.\-]*:"
    r"(//([A-Za-z0-9\-._~!$&'()*+,;=:]|%[0-9A-Fa-f]{2})*@?(\[[0-9A-Fa-f:.vV]+\])?"
    r"([A-Za-z0-9\-._~!$&'()*+,;=:]|%[0-9A-Fa-f]{2})*)?"
    r"([A-Za-z0-9\-._~!$&'()*+,;=:@/?#]|%[0-9A-Fa-f]{2})*\Z"
)


def test_the_linear_uri_pattern_accepts_exactly_what_the_reference_does():
    import re

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from necto_nb.har.model import URI

    reference, linear = re.compile(_REFERENCE_URI), re.compile(URI)
    pieces = st.sampled_from(["http:", "a+b.c-d:", "//", "@", "[", "]", "::1", "v1.x", "%", "%4", "%41", "%zz", ":",
                              "/", "?", "#", "a", "Z9", "-._~", "!$&'()*+,;=", " ", "<", "\n", "|", "[::1]", "%"])

    @settings(max_examples=3000, deadline=None)
    @given(st.lists(pieces, max_size=12).map("".join))
    def same(text):
        assert bool(reference.search(text)) == bool(linear.search(text)), text

    same()
