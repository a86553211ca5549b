"""Rules check their arguments when made, and the rule list checks what goes in: a bad
one fails in the cell that wrote it, naming the argument. No proxy needed."""

from __future__ import annotations

import pytest

import necto_nb as nn
from necto_nb import rules
from necto_nb.capture.magic import parse_line
from necto_nb.rules.modify import json_path


@pytest.mark.parametrize("make, error, message", [
    (lambda: rules.Delay("*/a[b", ms=1), ValueError, r"match='\*/a\[b': the '\[' set is not closed"),
    (lambda: rules.Delay("", ms=1), ValueError, "match must be a URL glob"),
    (lambda: rules.Delay("*/a b", ms=1), ValueError, "no spaces"),
    (lambda: rules.Delay(42, ms=1), TypeError, "match must be a URL glob, a function"),
    (lambda: rules.Delay("*", ms=-5), ValueError, "ms must be at least 0"),
    (lambda: rules.Delay("*", ms="300"), TypeError, "ms must be a number"),
    (lambda: rules.Delay("*", ms=1, method="GE T"), ValueError, "method must be an HTTP method"),
    (lambda: rules.Throttle("*", kbps=0), ValueError, "kbps must be more than 0"),
    (lambda: rules.Mock("*", status=99), ValueError, "status must be an HTTP status"),
    (lambda: rules.Mock("*", body="x", json={}), ValueError, "body= or json="),
    (lambda: rules.Mock("*", json={1, 2}), ValueError, "json is not JSON-serialisable"),
    (lambda: rules.Mock("*", headers={"Bad Name": "x"}), ValueError, "headers must map"),
    (lambda: rules.Mock("*", body=3), TypeError, "body must be bytes or str"),
    (lambda: rules.Fail("*", "explode"), ValueError, "error must be 'reset', 'timeout' or an HTTP status"),
    (lambda: rules.Fail("*", 1000), ValueError, "error must be an HTTP status"),
    (lambda: rules.Rewrite("*"), ValueError, "Rewrite needs"),
    (lambda: rules.Rewrite("*", response_json={"a..b": 1}), ValueError, "response_json: 'a..b' is not a JSON path"),
    (lambda: rules.Rewrite("*", request_headers={"X": "a\nb"}), ValueError, r"request_headers\['X'\]"),
    (lambda: rules.MapLocal("*", "/no/such/folder"), ValueError, "path='/no/such/folder' does not exist"),
    (lambda: rules.MapRemote("*", "ftp://x"), ValueError, "url must be an http"),
    (lambda: rules.Callback("*", "not callable"), TypeError, "fn must be a function"),
    (lambda: rules.Callback("*", lambda a, b: None), TypeError, "must take one argument"),
    (lambda: rules.Callback("*", print, phase="later"), ValueError, "phase must be"),
    (lambda: rules.Replay(nn.Session("empty")), ValueError, "no recorded responses"),
    (lambda: rules.Replay("/no/such.har"), ValueError, "session must be a Session or a HAR"),
])
def test_bad_arguments_fail_when_the_rule_is_made(make, error, message):
    with pytest.raises(error, match=message) as raised:
        make()
    assert isinstance(raised.value, nn.Error)  # a user's mistake, from the one error tree


def test_the_rule_list_takes_only_rules_and_names_the_bad_one():
    listed = rules.RuleList([rules.Delay("*", ms=1)])
    with pytest.raises(TypeError, match="rule must be a rule"):
        listed.append({"match": "*"})
    with pytest.raises(TypeError, match=r"rules\[1\]"):
        listed.extend([rules.Delay("*", ms=2), "*"])
    with pytest.raises(TypeError, match=r"rules\[0\]"):
        listed[0] = None
    with pytest.raises(TypeError, match=r"rules\[0\]"):
        listed += [object()]
    assert len(listed) == 1


def test_a_rule_names_itself():
    assert repr(rules.Delay("*/api/*", ms=300, method="get")) == "Delay('*/api/*', ms=300, method='GET')"
    assert repr(rules.Fail("*/x", "timeout", seconds=2)) == "Fail('*/x', error='timeout', seconds=2)"
    assert repr(rules.Mock(name="flags off")) == "flags off"

    def is_api(flow):
        return True

    assert repr(rules.Callback(is_api, print, phase="response")) == "Callback(is_api, print, phase='response')"


@pytest.mark.parametrize("glob, url, hit", [
    ("*/api/*", "https://x.test/api/users", True),
    ("api.example.com/v1/*", "https://api.example.com/v1/users", True),  # no scheme: any scheme
    ("api.example.com/v1/*", "https://evil.test/api.example.com/v1/users", False),
    ("https://x.test/item/[0-9]*", "https://x.test/item/7", True),
    ("https://x.test/item/[0-9]*", "https://x.test/item/a", False),
])
def test_globs_match_the_whole_url(glob, url, hit):
    from necto_nb.rules.base import compile_glob

    assert (compile_glob(glob).match(url) is not None) is hit


def test_json_paths():
    assert json_path("$.user.roles[0]", "p") == ["user", "roles", 0]
    assert json_path("items[2]['odd.key']", "p") == ["items", 2, "odd.key"]
    with pytest.raises(ValueError, match="names no member"):
        json_path("$", "p")


def test_map_local_never_leaves_its_folder(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "index.html").write_text("hi")
    rule = rules.MapLocal("*", tmp_path / "a")
    assert rule.file_for("http://x/") == tmp_path / "a" / "index.html"
    assert rule.file_for("http://x/../secret") is None
    assert rule.file_for("http://x/%2e%2e/secret") is None


def _entry(method: str, url: str, status: int = 200, text: str = "") -> dict:
    return {"startedDateTime": "2026-01-01T00:00:00Z", "time": 1,
            "request": {"method": method, "url": url, "httpVersion": "HTTP/1.1", "cookies": [], "headers": [],
                        "queryString": [], "headersSize": -1, "bodySize": 0},
            "response": {"status": status, "statusText": "OK", "httpVersion": "HTTP/1.1", "cookies": [],
                         "headers": [], "content": {"size": len(text), "mimeType": "text/plain", "text": text},
                         "redirectURL": "", "headersSize": -1, "bodySize": len(text)},
            "cache": {}, "timings": {"send": 0, "wait": 1, "receive": 0}}


def test_replay_pairs_requests_in_stages_and_explains_a_miss():
    recording = nn.Session("prod", [
        _entry("GET", "https://x.test/api/items?page=1&t=111", text="one"),
        _entry("GET", "https://x.test/api/items?page=1&t=222", text="two"),
        _entry("GET", "https://x.test/api/users/41?fields=name"),
        _entry("POST", "https://x.test/api/orders"),
    ])
    replay = rules.Replay(recording)
    assert replay.lookup("GET", "https://x.test/api/items?t=999&page=1") == (0, "url")
    assert replay.lookup("GET", "https://x.test/api/items?page=1&t=5") == (1, "url")  # the second recording
    assert replay.lookup("GET", "https://x.test/api/items?page=1&t=6") == (1, "url")  # then the last again
    assert replay.lookup("GET", "https://x.test/api/items?page=2") == (0, "query")
    assert replay.lookup("GET", "https://x.test/api/users/77?fields=name") == (2, "template")
    assert replay.lookup("GET", "https://x.test/api/orders") is None
    miss = replay.explain("GET", "https://x.test/api/orders")
    assert miss["closest"] == "https://x.test/api/orders" and miss["differs"] == ["method GET vs POST"]


def test_the_cell_magic_line():
    assert parse_line("") == ("captured", {})
    assert parse_line("calls max_body='1m' ssl_insecure=True") == ("calls", {"max_body": "1m", "ssl_insecure": True})
    assert parse_line("port=0") == ("captured", {"port": 0})
    with pytest.raises(ValueError, match="variable name"):
        parse_line("1calls")
    with pytest.raises(ValueError, match="name=value with a Python literal"):
        parse_line("calls max_body=m")
