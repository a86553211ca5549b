"""Every real file in the corpus: imports (or fails clearly), round-trips, exports valid HAR 1.2."""

from __future__ import annotations

import json
import re

import pytest

import necto_nb as nn
from tests.conftest import assert_frame_matches_entries, corpus_files, each_corpus_file

READABLE = [p for p in corpus_files() if not p.name.startswith("broken__")]
BROKEN = {
    "broken__harviewer-no-entries.har": r"log\.entries is missing",
    "broken__harviewer-not-json.har": r"invalid JSON at line 8, column 5",
    "broken__mitmproxy-invalid-json.har": r"invalid JSON at line 5, column 1",
}
_STEP = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")


def _steps(path: str) -> list:
    return [int(i) if i else key for key, i in _STEP.findall(path.removeprefix("$"))]


def _drop(doc, path: str) -> None:
    """Remove `path` (and what a repair set aside next to it, `_name`) from a JSON document."""
    *parents, last = _steps(path)
    node = doc
    for step in parents:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(node, dict) and isinstance(last, str):
        for key in [k for k in node if k.lstrip("_") == last.lstrip("_")]:
            del node[key]


def _original(path) -> dict:
    return json.loads(path.read_bytes().decode("utf-8-sig"))


@pytest.mark.parametrize("path", each_corpus_file(READABLE), ids=lambda p: p.name)
def test_round_trip_changes_only_what_the_report_lists(path):
    session = nn.read_har(path)
    exported = session.to_har()
    original = _original(path)
    for issue in session.report:
        if issue.path.startswith("$.") and issue.path.endswith(".log"):  # a nested log
            original = {"log": original[_steps(issue.path)[0]]["log"]}
    if "_invalidEntries" in exported["log"]:
        pytest.fail("a corpus entry could not be repaired")
    repaired = {i.path for i in session.report if i.severity != "info"}
    for where in repaired:
        if where.startswith("log"):
            _drop(original, where)
            _drop(exported, where)
    assert exported == original


@pytest.mark.parametrize("path", each_corpus_file(READABLE), ids=lambda p: p.name)
def test_export_is_valid_har_1_2(path, har_schema, tmp_path):
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:120]}"
              for e in har_schema.iter_errors(nn.read_har(path).to_har())]
    assert errors == []


@pytest.mark.parametrize("path", each_corpus_file(READABLE), ids=lambda p: p.name)
def test_frame_has_a_row_per_entry(path):
    session = nn.read_har(path)
    count = len(session.to_har()["log"]["entries"])
    assert len(session.df) == len(session) == count
    assert list(session.df.index) == list(range(count))
    assert session.df["url"].notna().all()


@pytest.mark.parametrize("path", each_corpus_file(READABLE), ids=lambda p: p.name)
def test_checking_the_rest_of_each_entry_leaves_the_frame_as_read(path):
    assert_frame_matches_entries(nn.read_har(path))


@pytest.mark.parametrize("name, message", sorted(BROKEN.items()))
def test_broken_files_fail_with_a_clear_error(corpus, name, message):
    with pytest.raises(nn.HarError, match=message) as caught:
        nn.read_har(corpus / name)
    assert name in str(caught.value)


def test_every_corpus_file_is_covered(corpus):
    assert len(READABLE) + len(BROKEN) == len(corpus_files())
