"""Import fuzzing: every input gives a Session or a HarError, in bounded time and memory.

The seeded mutation engine (`mutate.py`) turns the corpus and generated HARs into cases;
`runner.py` runs them in worker processes that are killed, and the case reported, when a
case outlives its time bound or a worker's memory passes its limit. The unit suite runs a
short slice; the integration run does at least 10,000 cases (NECTO_FUZZ_SEED picks the
seed, NECTO_FUZZ_CASES the count). Hypothesis checks the other direction: a valid HAR of
any content imports without a repair and comes back unchanged.
"""

from __future__ import annotations

import json
import os
import string
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import necto_nb as nn
from tests.hardening.mutate import STRUCTURAL, load_bases, make_case
from tests.hardening.runner import CORPUS, Result, run

SEED = int(os.environ.get("NECTO_FUZZ_SEED", "7"))
MB = 1 << 20


def assert_clean(result: Result, count: int) -> None:
    print(result.summary())
    failures = "\n\n".join(str(f) for f in result.failures[:5])
    assert not result.failures, (
        f"{len(result.failures)} case(s) ended in neither a Session nor a HarError; reproduce one with "
        f"`python -m tests.hardening.runner --seed {result.seed} --case N`\n{failures}")
    assert result.run == count
    # both outcomes occur: the cases reach the reader's repairs and its refusals alike
    assert result.outcomes["session"] > count // 5 and result.outcomes["error"] > count // 10


def test_cases_are_deterministic_and_varied():
    bases = load_bases(CORPUS if CORPUS.is_dir() else None)
    first = [make_case(SEED, i, bases) for i in range(60)]
    again = [make_case(SEED, i, bases) for i in range(60)]
    assert [c.data for c in first] == [c.data for c in again]
    assert len({c.data for c in first}) == 60
    used = {m for c in first for m in c.mutations}
    assert len(used & {f.__name__ for f, _ in STRUCTURAL}) >= 6


def test_a_slice_of_the_fuzz_run():
    """The first 120 cases, with the same bounds as the full run (the fast suite's share)."""
    assert_clean(run(SEED, 120, workers=2, case_seconds=60), 120)


@pytest.mark.integration
@pytest.mark.timeout(1800)
def test_ten_thousand_mutated_imports():
    count = int(os.environ.get("NECTO_FUZZ_CASES", "10000"))
    result = run(SEED, count, workers=2, case_seconds=60, rss_limit=1536 * MB)
    assert_clean(result, count)
    # memory: no case took a worker past 1 GB over a fresh one, and nothing accumulates
    # across thousands of cases (RSS at a worker's end against after its warm-up)
    assert result.peak_rss - result.baseline_rss < 1024 * MB, result.summary()
    warm, end = result.settled_rss[0::2], result.settled_rss[1::2]
    assert all(e - w < 256 * MB for w, e in zip(warm, end)), result.settled_rss
    if path := os.environ.get("NECTO_FUZZ_REPORT"):  # figures for docs/reliability.md
        with open(path, "w") as out:
            json.dump({"summary": result.summary(), "outcomes": dict(result.outcomes), "seconds": result.seconds,
                       "peak_mb": result.peak_rss / MB, "baseline_mb": result.baseline_rss / MB,
                       "largest_input_mb": result.largest_input / MB, "slowest_s": result.slowest_ms / 1000}, out)


# -- valid HARs of any content --------------------------------------------------------------

_URI_SAFE = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/?"
texts = st.text(max_size=40)  # any code point but lone surrogates (JSON cannot carry those)
phases = st.one_of(st.just(-1), st.floats(0, 1e7, allow_nan=False, allow_infinity=False))
sizes = st.integers(-1, 2 ** 63 - 1)
offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
dates = st.builds(
    lambda moment, tz, digits: moment.replace(tzinfo=timezone.utc).astimezone(tz).isoformat(timespec=digits)
    .replace("+00:00", "Z"),
    st.datetimes(datetime(1680, 1, 1), datetime(2260, 12, 31)), offsets,
    st.sampled_from(["seconds", "milliseconds", "microseconds"]))
urls = st.builds(lambda scheme, host, path: f"{scheme}://{host}/{quote(path, safe=_URI_SAFE)}",
                 st.sampled_from(["http", "https", "ws", "wss"]),
                 st.sampled_from(["example.com", "127.0.0.1:8080", "[::1]:3000", "xn--bcher-kva.example"]), texts)
pairs = st.lists(st.fixed_dictionaries({"name": texts, "value": texts}), max_size=3)
cookies = st.lists(st.fixed_dictionaries({"name": texts, "value": texts},
                                         optional={"expires": st.one_of(st.none(), dates), "httpOnly": st.booleans(),
                                                   "secure": st.booleans(), "path": texts, "domain": texts}), max_size=2)


@st.composite
def entries(draw) -> dict:
    timings = draw(st.fixed_dictionaries({"send": phases, "wait": phases, "receive": phases},
                                         optional={"blocked": phases, "dns": phases, "connect": phases, "ssl": phases}))
    request = {"method": draw(texts), "url": draw(urls), "httpVersion": draw(texts), "cookies": draw(cookies),
               "headers": draw(pairs), "queryString": draw(pairs), "headersSize": draw(sizes), "bodySize": draw(sizes)}
    if draw(st.booleans()):
        request["postData"] = {"mimeType": draw(texts), "text": draw(texts)}
    content = {"size": draw(sizes), "mimeType": draw(texts)}
    body = draw(st.sampled_from(["none", "text", "base64"]))
    if body == "text":
        content["text"] = draw(texts)
    elif body == "base64":
        content["text"], content["encoding"] = draw(st.binary(max_size=30).map(
            lambda b: __import__("base64").b64encode(b).decode())), "base64"
    response = {"status": draw(st.integers(100, 999)), "statusText": draw(texts), "httpVersion": draw(texts),
                "cookies": draw(cookies), "headers": draw(pairs), "content": content, "redirectURL": draw(texts),
                "headersSize": draw(sizes), "bodySize": draw(sizes)}
    entry = {"startedDateTime": draw(dates), "time": draw(st.floats(0, 1e9, allow_nan=False, allow_infinity=False)),
             "request": request, "response": response, "cache": {}, "timings": timings}
    for key, value in draw(st.dictionaries(st.sampled_from(["comment", "connection", "_custom", "_priority"]), texts,
                                           max_size=2)).items():
        entry[key] = value
    if draw(st.booleans()):
        entry["serverIPAddress"] = draw(st.ip_addresses().map(str))
    return entry


@settings(max_examples=int(os.environ.get("NECTO_HYPOTHESIS_EXAMPLES", "150")), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(entries(), min_size=1, max_size=3), st.one_of(st.none(), texts))
def test_a_valid_har_of_any_content_imports_unrepaired_and_round_trips(items, comment):
    doc = {"log": {"version": "1.2", "creator": {"name": "hypothesis", "version": "1"}, "pages": [], "entries": items}}
    if comment is not None:
        doc["log"]["comment"] = comment
    s = nn.read_har(json.dumps(doc).encode())
    assert s.report.ok, repr(s.report)
    assert list(s.entries) == items
    assert s.to_har() == doc
    assert s.df["url"].tolist() == [e["request"]["url"] for e in items]
    assert s.df["started"].notna().all()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(entries(), min_size=1, max_size=2))
def test_a_redacted_export_of_any_valid_har_is_valid_har(har_schema, items):
    doc = {"log": {"version": "1.2", "creator": {"name": "hypothesis", "version": "1"}, "pages": [], "entries": items}}
    redacted = nn.read_har(doc).to_har(redact=True)
    assert [e.message for e in har_schema.iter_errors(redacted)] == []
