"""`necto-nb compare`: runs before and after a deploy, from files, folders and globs, and its HTML report."""

from __future__ import annotations

import re

import pytest

import necto_nb as nn
from necto_nb.demo import deploys
from tests.cli.test_cli import out, run, script  # noqa: F401  # the fixture

SLOWED = [3, 15, 27]  # a chunk, an id in a path, a search: renamed by the deploy or not


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs")
    before, after = deploys.deploy_pair(40, seed=5, runs=6, slow={k: 60.0 for k in SLOWED})
    for side, sessions in (("before", before), ("after", after)):
        (folder / side).mkdir()
        for i, s in enumerate(sessions):
            s.to_har(folder / side / f"run-{i}.har")
    return folder, before[0], after[0]


def _slowed_urls(session: nn.Session) -> set[str]:
    return {nn.normalise_url(e["request"]["url"]) for e in session.entries if e["_request"] in SLOWED}


def test_folders_are_compared_and_the_slowed_requests_printed(script, runs):
    folder, before, _ = runs
    result = run(script, "compare", str(folder / "before"), str(folder / "after"), "--exit-code")
    text = out(result)
    assert result.returncode == 1, text
    assert "before: 6 run(s), after: 6 run(s)" in text
    assert "40 requests matched (" in text and "5 only before, 5 only after" in text
    assert "3 got slower:" in text
    printed = set(re.findall(r"^  GET (\S+): ", text, re.M))
    assert printed == _slowed_urls(before)
    assert re.search(r"shift \+[56]\d\.\d ms, CI \+\d", text)


def test_globs_and_file_lists_give_the_same_answer(script, runs):
    folder, _, _ = runs
    by_glob = run(script, "compare", str(folder / "before" / "*.har"), str(folder / "after" / "run-*.har"))
    listed = run(script, "compare", "--before", *map(str, sorted((folder / "before").glob("*.har"))),
                 "--after", *map(str, sorted((folder / "after").glob("*.har"))))
    assert by_glob.returncode == listed.returncode == 0  # no --exit-code
    assert by_glob.stdout == listed.stdout and b"3 got slower" in by_glob.stdout


def test_the_html_report_escapes_what_came_from_the_hars(script, tmp_path):
    evil = '"><img src=x onerror=alert(1)>'
    entry = {"startedDateTime": "2026-11-01T10:00:00.000Z", "time": 10,
             "request": {"method": "GET", "url": "https://example.com/a?q=%3C/script%3E%3Cscript%3Ealert(2)",
                         "httpVersion": "HTTP/1.1", "cookies": [], "headers": [], "queryString": [],
                         "headersSize": -1, "bodySize": 0},
             "response": {"status": 200, "statusText": evil, "httpVersion": "HTTP/1.1", "cookies": [], "headers": [],
                          "content": {"size": 0, "mimeType": "text/plain"}, "redirectURL": "", "headersSize": -1,
                          "bodySize": 0},
             "cache": {}, "timings": {"send": 0, "wait": 10, "receive": 0}}
    slow = {**entry, "time": 90, "timings": {"send": 0, "wait": 90, "receive": 0},
            "request": {**entry["request"], "method": evil}}
    a, b = nn.Session("a", [entry, {**entry, "request": {**entry["request"], "method": evil}}]), nn.Session("b", [entry, slow])
    a.to_har(tmp_path / f"{evil[:6]}a.har")
    b.to_har(tmp_path / "b.har")
    report = tmp_path / "report.html"
    result = run(script, "compare", str(tmp_path / f"{evil[:6]}a.har"), str(tmp_path / "b.har"), "--html", str(report))
    assert result.returncode == 0, out(result)
    page = report.read_text()
    assert "<img" not in page.lower() and "<script>alert" not in page.lower()
    assert "&quot;&gt;&lt;IMG SRC=X ONERROR=ALERT(1)&gt;" in page  # the method (upper-cased), escaped
    assert "1 request(s) got slower" in page and "Plotly.newPlot" in page


def test_bad_arguments_are_named(script, runs, tmp_path):
    folder, _, _ = runs
    for args, message in [
        (["compare", str(folder / "before")], "1 arguments: give BEFORE and AFTER"),
        (["compare", str(tmp_path / "none-*.har"), str(folder / "after")], "none-*.har: no file matches"),
        (["compare", str(tmp_path), str(folder / "after")], "a folder without .har or .har.gz files"),
        (["compare", str(folder / "before"), str(folder / "after"), "--host", "x"], "--host 'x': give BEFORE=AFTER"),
        (["compare", str(folder / "before"), str(folder / "after"), "--before", "x.har"], "not both"),
    ]:
        result = run(script, *args)
        assert result.returncode == 2 and message in result.stderr.decode(), (args, out(result))


def test_parquet_datasets_of_runs_give_the_same_answer(script, runs, tmp_path):
    folder, _, _ = runs
    for side in ("before", "after"):
        assert run(script, "convert", str(folder / side / "*.har"), "-o", f"{tmp_path / side}/").returncode == 0
    from_datasets = run(script, "compare", str(tmp_path / "before"), str(tmp_path / "after"))
    from_files = run(script, "compare", str(folder / "before"), str(folder / "after"))
    assert from_datasets.returncode == 0, out(from_datasets)
    assert from_datasets.stdout.decode() == from_files.stdout.decode()  # the datasets name the files read
    assert "3 got slower" in from_datasets.stdout.decode()
