"""diff: status, headers (volatile ones ignored), JSON-aware bodies, added and removed requests."""

from __future__ import annotations

import pytest

import necto_nb as nn
from necto_nb.analysis.diff import VOLATILE_HEADERS, json_changes
from tests import factory


def entry(*args, body: object = None, headers: dict | list = (), request_headers: dict | list = (), **kw) -> dict:
    """The shared entry without headers or a body, so each change a test makes shows alone."""
    return factory.entry(*args, body=body, headers=headers, request_headers=request_headers, **kw)

API = "https://api.example.com/v1/orders"


def rows(frame):
    return [tuple(r) for r in frame[["part", "name", "change", "a", "b"]].itertuples(index=False)]


def test_json_bodies_report_the_paths_that_changed():
    before = {"id": 7, "items": [{"sku": "a", "price": 9.5}, {"sku": "b", "price": 1}], "meta": {"v": 1},
              "tags": ["x"], "weird key": True}
    after = {"id": 7, "items": [{"sku": "a", "price": 10}, {"sku": "b", "price": 1.0}], "meta": {"v": 1, "w": None},
             "tags": [], "weird key": 1, "extra": {"deep": [1]}}
    a = nn.Session("a", [entry(API, body=before)])
    b = nn.Session("b", [entry(API, body=after)])
    assert rows(nn.diff(a, b)) == [
        ("response body", "$.items[0].price", "changed", "9.5", "10"),
        ("response body", "$.meta.w", "added", None, "null"),
        ("response body", "$.tags[0]", "removed", '"x"', None),
        ("response body", '$["weird key"]', "changed", "true", "1"),
        ("response body", "$.extra", "added", None, '{"deep":[1]}'),
    ]  # 1 and 1.0 are one number; true and 1 are not


def test_status_headers_and_request_bodies():
    a = nn.Session("a", [entry(API, method="POST", status=201, post='{"qty": 1}',
                               headers={"Content-Type": "application/json", "X-Version": "1", "X-Old": "y",
                                        "Date": "Wed, 01 May 2024 10:00:00 GMT",
                                        "Set-Cookie": "s=1; Expires=Wed, 01 May 2024 10:00:00 GMT; Path=/"},
                               request_headers={"Accept": "application/json", ":authority": "api.example.com"})])
    b = nn.Session("b", [entry(API, method="POST", status=500, post='{"qty": 2}',
                               headers={"content-type": "application/json", "X-Version": "2", "X-New": "z",
                                        "Date": "Thu, 02 May 2024 10:00:00 GMT",
                                        "Set-Cookie": "s=1; Expires=Fri, 03 May 2024 10:00:00 GMT; Path=/"},
                               request_headers={"Accept": "text/html"})])
    changes = nn.diff(a, b)
    assert rows(changes) == [
        ("status", "", "changed", 201, 500),
        ("request header", "accept", "changed", "application/json", "text/html"),
        ("response header", "x-version", "changed", "1", "2"),
        ("response header", "x-old", "removed", "y", None),
        ("response header", "x-new", "added", None, "z"),
        ("request body", "$.qty", "changed", "1", "2"),
    ]  # Date ignored, Set-Cookie compared without its expiry, header names case-insensitive
    assert changes[["entry_a", "entry_b", "method", "url", "occurrence"]].iloc[0].tolist() == [0, 0, "POST", API, 0]
    everything = nn.diff(a, b, ignore_headers=())
    names = set(everything["name"])
    assert "date" in names and "set-cookie" not in names  # only the expiry changed
    other_cookie = nn.Session("c", [entry(API, method="POST", status=201, post='{"qty": 1}',
                                          headers={"Set-Cookie": "s=2; Path=/"})])
    assert not nn.diff(a, other_cookie, bodies=False)["name"].isin(["set-cookie"]).any()  # a new value, by default
    assert ("response header", "set-cookie", "changed", "s=1; Path=/", "s=2; Path=/") in rows(
        nn.diff(a, other_cookie, cookie_values=True))
    assert {"date", "age", "x-request-id", "host", "content-length"} <= VOLATILE_HEADERS
    quiet = nn.diff(a, b, ignore_headers=VOLATILE_HEADERS | {"X-Version", "x-old", "x-new", "accept"}, bodies=False)
    assert rows(quiet) == [("status", "", "changed", 201, 500)]


def test_what_changes_on_every_connection_is_ignored_by_default():
    """Two visits of one page: new session cookies and a new WebSocket handshake are no change;
    a cookie that appears, or loses HttpOnly, is."""
    ws = "wss://api.example.com/ws"
    a = nn.Session("a", [entry(API, headers={"Set-Cookie": "sid=abc; Path=/; HttpOnly"},
                               request_headers={"Cookie": "sid=abc; theme=dark"}),
                         entry(ws, status=101, headers={"Sec-WebSocket-Accept": "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="},
                               request_headers={"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})])
    b = nn.Session("b", [entry(API, headers={"Set-Cookie": "sid=xyz; Path=/; HttpOnly"},
                               request_headers={"Cookie": "theme=light; sid=xyz"}),
                         entry(ws, status=101, headers={"Sec-WebSocket-Accept": "HSmrc0sMlYUkAGmm5OPpG2HaGWk="},
                               request_headers={"Sec-WebSocket-Key": "x3JJHMbDL1EzLkh9GBhXDw=="})])
    assert rows(nn.diff(a, b)) == []
    assert {"cookie", "set-cookie"} <= set(nn.diff(a, b, cookie_values=True)["name"])
    c = nn.Session("c", [entry(API, headers={"Set-Cookie": "sid=xyz; Path=/"},
                               request_headers={"Cookie": "sid=xyz; theme=dark; ab=1"}), entry(ws, status=101)])
    assert rows(nn.diff(a, c)) == [
        ("request header", "cookie", "changed", "sid; theme", "ab; sid; theme"),
        ("response header", "set-cookie", "changed", "sid; Path=/; HttpOnly", "sid; Path=/"),
    ]


def test_repeated_headers_compare_as_value_lists():
    a = nn.Session("a", [entry(API, headers=[("Vary", "Accept"), ("Vary", "Origin")])])
    same = nn.Session("b", [entry(API, headers=[("vary", "Origin"), ("vary", "Accept")])])
    fewer = nn.Session("c", [entry(API, headers=[("Vary", "Accept")])])
    assert nn.diff(a, same).empty
    assert rows(nn.diff(a, fewer)) == [("response header", "vary", "changed", "Accept\nOrigin", "Accept")]


def test_requests_only_on_one_side_and_cache_busters():
    a = nn.Session("a", [entry(API + "?_=1", at=0), entry("https://api.example.com/old", at=5)])
    b = nn.Session("b", [entry(API + "?_=2", at=0), entry("https://api.example.com/new", method="DELETE", at=5)])
    changes = nn.diff(a, b)
    assert rows(changes) == [
        ("request", "", "removed", "https://api.example.com/old", None),
        ("request", "", "added", None, "https://api.example.com/new"),
    ]
    assert changes["method"].tolist() == ["GET", "DELETE"]
    assert changes["entry_a"].tolist()[0] == 1 and changes["entry_b"].tolist()[1] == 1
    # every parameter compared: the value of `_` is seen on one side only, so it varies
    compared = nn.diff(a, b, ignore_query=False, bodies=False)
    assert len(compared[compared["part"] == "request"]) == 2
    exact = nn.diff(a, b, ignore_query=False, stages=["exact"])
    assert len(exact[exact["part"] == "request"]) == 4


def test_ignore_paths_skip_subtrees_and_wildcards():
    a = nn.Session("a", [entry(API, body={"at": "10:00", "items": [{"id": 1, "ts": 1}, {"id": 2, "ts": 2}], "n": 1})])
    b = nn.Session("b", [entry(API, body={"at": "10:05", "items": [{"id": 1, "ts": 5}, {"id": 3, "ts": 6}], "n": 2})])
    changes = nn.diff(a, b, ignore_paths=["$.at", "$.items[*].ts"])
    assert changes["name"].tolist() == ["$.items[1].id", "$.n"]
    assert nn.diff(a, b, ignore_paths=["$.items", "$.at", "$.n"]).empty
    with pytest.raises(ValueError, match="'items.ts' is not a JSON path"):
        nn.diff(a, b, ignore_paths=["items.ts"])


def test_text_binary_missing_and_unreadable_bodies():
    a = nn.Session("a", [entry(API, body="<p>old</p>", mime="text/html"), entry(API, at=1, body=b"\x89PNG\x00\x01"),
                         entry(API, at=2, body={"x": 1}), entry(API, at=3, body="same")])
    b = nn.Session("b", [entry(API, body="<p>new</p>", mime="text/html"), entry(API, at=1, body=b"\x89PNG\x00\x02"),
                         entry(API, at=2), entry(API, at=3, body="same")])
    assert rows(nn.diff(a, b)) == [
        ("response body", "", "changed", "<p>old</p>", "<p>new</p>"),
        ("response body", "", "changed", "<6 bytes of binary>", "<6 bytes of binary>"),
        ("response body", "", "removed", '{"x": 1}', None),
    ]
    broken = entry(API, body=b"abc")
    broken["response"]["content"]["text"] = "not base64!"
    c = nn.Session("c", [broken])
    unreadable = rows(nn.diff(c, nn.Session("d", [entry(API, body="x")])))
    reason = "response.content.text: marked base64 but is not valid base64"
    assert unreadable == [("response body", "", "unreadable", reason, "x")]


def test_long_values_are_cut_with_a_count():
    a = nn.Session("a", [entry(API, body={"text": "x" * 5000})])
    b = nn.Session("b", [entry(API, body={"text": "y" * 5000})])
    (row,) = rows(nn.diff(a, b))
    assert row[3].endswith("… (4,002 more characters)") and len(row[3]) < 1100


def test_json_changes_handles_deep_documents():
    import orjson

    deep_a = orjson.loads(b"[" * 900 + b"1" + b"]" * 900)
    deep_b = orjson.loads(b"[" * 900 + b"2" + b"]" * 900)
    (change,) = json_changes(deep_a, deep_b)
    assert change[0] == "$" + "[0]" * 900 and change[1:] == ("changed", "1", "2")
    assert json_changes(deep_a, []) == [("$[0]", "removed", "<JSON nested more than 255 levels deep>", None)]
    shallow = orjson.loads(b"[" * 200 + b"]" * 200)
    assert json_changes(shallow, [])[0][2] == "[" * 199 + "]" * 199


def test_a_corpus_file_against_itself_and_against_an_edit(corpus):
    s = nn.read_har(corpus / "chrome-har__sitespeed-greenweb-0.11.4.har")
    assert nn.diff(s, s).empty
    entries = [s.entries[i] for i in range(len(s))]
    status, entries[3]["response"]["status"] = entries[3]["response"]["status"], 503
    changed = nn.diff(s, nn.Session("edited", entries, pages=s.pages))
    assert rows(changed) == [("status", "", "changed", status, 503)]
    assert changed["entry_a"].tolist() == [3]


def _run(name: str, price: float, *, extra: bool = False) -> nn.Session:
    entries = [entry(API, body={"price": price}, at=0), entry(API + "/7", body={"id": 7}, at=10)]
    return nn.Session(name, entries + ([entry(API + "/new", at=20)] if extra else []))


def test_runs_are_paired_by_name_and_each_pair_diffed(tmp_path):
    # staging and production runs of the same test cases, read from two folders
    for folder, prices in (("staging", (9, 5, 1)), ("production", (9, 6))):
        (tmp_path / folder).mkdir()
        for name, price in zip(("checkout", "search", "login"), prices):
            _run(name, price, extra=folder == "production" and name == "search").to_har(tmp_path / folder / f"{name}.har")
    staging, production = nn.read_hars(tmp_path / "staging"), nn.read_hars(tmp_path / "production")
    changes = nn.diff(staging, production)
    assert list(changes.columns[:2]) == ["run_a", "run_b"] and list(changes.columns[2:]) == list(nn.diff(
        staging["search"], production["search"]).columns)
    assert [(r.run_a, r.run_b, r.part, r.name, r.change, r.a, r.b) for r in changes.itertuples()] == [
        ("login", None, "run", "", "removed", "login", None),
        ("search", "search", "response body", "$.price", "changed", "5", "6"),
        ("search", "search", "request", "", "added", None, API + "/new"),
    ]  # in a's order (files sorted): checkout the same, login only on staging
    per_pair = nn.diff(staging["search"], production["search"])
    assert changes[changes.run_a == "search"].drop(columns=["run_a", "run_b"]).reset_index(drop=True).equals(per_pair)
    # Runs or lists of Sessions alike, and options reach every pair
    assert nn.diff(list(staging), list(production)).equals(changes)
    assert nn.diff(staging, production, ignore_paths=["$.price"])["name"].tolist() == ["", ""]


def test_runs_by_position_and_one_session_against_every_run():
    nights = [_run(f"2026-11-{d:02d}", price) for d, price in ((1, 9), (2, 9), (3, 10))]
    others = [_run(f"other-{d}", 9) for d in range(3)]
    with pytest.raises(ValueError, match=r"no run names in common \(a: '2026-11-01', '2026-11-02', '2026-11-03'; "
                                         r"b: 'other-0', .*pair_by='position'"):
        nn.diff(nights, others)
    by_position = nn.diff(nights, others, pair_by="position")
    assert by_position[["run_a", "run_b", "a", "b"]].values.tolist() == [["2026-11-03", "other-2", "10", "9"]]
    # a reference Session against each night: one diff per night
    against = nn.diff(nights[0], nights)
    assert against[["run_a", "run_b", "name"]].values.tolist() == [["2026-11-01", "2026-11-03", "$.price"]]
    assert nn.diff(nights, nights[0])[["run_a", "run_b"]].values.tolist() == [["2026-11-03", "2026-11-01"]]
    # two Sessions: the table as it always was, without run columns
    assert "run_a" not in nn.diff(nights[0], nights[2]).columns


def test_runs_that_cannot_be_paired_are_named():
    nights = [_run("n1", 9), _run("n2", 9)]
    with pytest.raises(ValueError, match=r"pair_by='position': 2 run\(s\) in a, 1 in b"):
        nn.diff(nights, [nights[0]], pair_by="position")
    with pytest.raises(ValueError, match=r"a: run name 'n1' given twice"):
        nn.diff([nights[0], nights[0]], nights)
    with pytest.raises(ValueError, match=r"pair_by='runs': one of 'name', 'position'"):
        nn.diff(nights, nights, pair_by="runs")
    with pytest.raises(TypeError, match=r"b: a Session, nn.Runs or a list of Sessions, not DataFrame \(diff reads bodies"):
        nn.diff(nights[0], nights[1].df)
    with pytest.raises(TypeError, match=r"a\[1\]: a Session, not str"):
        nn.diff([nights[0], "n2.har"], nights)
    with pytest.raises(ValueError, match=r"b: no runs given"):
        nn.diff(nights, [])
