"""The rule engine's choice for a flow: the first matching rule of each kind, the same
whether a flow is looked at rule by rule or through the engine's one-regex plan."""

from __future__ import annotations

import pytest

from necto_nb import rules
from necto_nb.rules.engine import RuleEngine, RuleList

tflow = pytest.importorskip("mitmproxy.test.tflow")

RULES = [
    rules.Delay("*/slow/*", ms=10), rules.Delay("*", ms=20, method="POST"),
    rules.Mock("api.example.com/flags", json={}), rules.Mock("*/flags*", status=404),
    rules.Fail(lambda flow: flow.request.port == 9, 503), rules.Fail("*/fail", 500),
    rules.Throttle("*.example.com/*", kbps=10), rules.Callback("*/hook", lambda flow: None),
    rules.Rewrite(response_headers={"X-A": "1"}, method="DELETE"),
]
URLS = ["http://127.0.0.1:8080/json", "https://api.example.com/flags", "http://x.org/slow/1", "http://x.org:9/fail",
        "http://cdn.example.com/flags?a=1", "http://x.org/hook", "http://x.org/fail", "http://x.org/slow/flags", "http://x.org:9/other"]


def _one_by_one(flow, url: str) -> dict:
    chosen: dict = {}
    for rule in RULES:
        if rule.kind not in chosen and rule.matches(flow, url):
            chosen[rule.kind] = rule
    return chosen


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
@pytest.mark.parametrize("url", URLS)
def test_the_plan_chooses_what_each_rule_would(url, method):
    flow = tflow.tflow()
    flow.request.url, flow.request.method = url, method
    engine = RuleEngine(RuleList(RULES))
    assert engine._choose(flow, tuple(engine.rules)) == _one_by_one(flow, url)


def test_the_plan_follows_the_list_as_it_changes():
    flow = tflow.tflow()
    flow.request.url = "http://x.org/new"
    engine = RuleEngine(RuleList(RULES))
    assert engine.request(flow) is None
    engine.rules.insert(0, rules.Delay("*/new", ms=1))
    assert [r.kind for r in engine._choose(flow, tuple(engine.rules)).values()] == ["delay"]
    engine.rules.pop(0)
    assert engine._choose(flow, tuple(engine.rules)) == {}
