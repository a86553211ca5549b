"""The installed `necto-nb` console script, run in subprocesses as a user would."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import necto_nb as nn
from necto_nb.demo import serve
from tests.widgets.lab import served_url

WARNED = "charles__mitmproxy-4.6.3.har"  # readable, one repair
VALID = "insomnia__mitmproxy-2022.1.1.har"
BROKEN = "broken__harviewer-not-json.har"
WITH_COOKIE = "chrome-devtools__mitmproxy-chrome110.har"
COOKIE = "YAieF18TdLas-8SKhGKNYvnieZbB1wJ1jf2tW44mAWYKcppPKLvK_Ok7NklKqsURxU82bg"


@pytest.fixture(scope="session")
def script() -> str:
    found = shutil.which("necto-nb", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(f"the necto-nb console script is not installed beside {sys.executable}: pip install -e .")
    return found


def run(script: str, *args: str, stdin: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([script, *args], input=stdin, capture_output=True, timeout=timeout)


def out(result: subprocess.CompletedProcess) -> str:
    return result.stdout.decode() + result.stderr.decode()


def test_help_for_every_command(script):
    top = run(script, "--help")
    assert top.returncode == 0
    for command in ["lab", "validate", "convert", "diff", "compare", "capture", "demo"]:
        assert command in top.stdout.decode()
        sub = run(script, command, "--help")
        assert sub.returncode == 0, command
        assert f"usage: necto-nb {command}" in sub.stdout.decode()
    assert "exit status: 0" in run(script, "validate", "-h").stdout.decode()
    assert run(script).returncode == 2  # a command is required


def test_version(script):
    assert run(script, "--version").stdout.decode().strip() == f"necto-nb {nn.__version__}"


def test_unknown_options_are_refused_with_the_commands_usage(script, corpus):
    result = run(script, "validate", "--bogus", str(corpus / VALID))
    assert result.returncode == 2
    assert "usage: necto-nb validate" in result.stderr.decode()
    assert "unrecognized arguments: --bogus" in result.stderr.decode()


# -- validate ---------------------------------------------------------------------------


def test_validate_a_valid_file(script, corpus):
    result = run(script, "validate", "--strict", str(corpus / VALID))
    assert result.returncode == 0
    assert result.stdout.decode() == f"{corpus / VALID}: 1 entry, valid\n"


def test_validate_warnings_exit_0_or_1_with_strict(script, corpus):
    lenient = run(script, "validate", str(corpus / WARNED))
    assert lenient.returncode == 0
    lines = lenient.stdout.decode().splitlines()
    assert lines[0] == f"{corpus / WARNED}: 1 entry, 1 warning"
    assert lines[1].startswith("  warning: log.")  # the JSON path of the problem
    strict = run(script, "validate", "--strict", "--quiet", str(corpus / WARNED))
    assert strict.returncode == 1
    assert strict.stdout.decode().splitlines() == lines[:1]


def test_validate_an_unreadable_file_exits_2(script, corpus):
    result = run(script, "validate", str(corpus / VALID), str(corpus / BROKEN), str(corpus / WARNED))
    assert result.returncode == 2
    text = result.stdout.decode()
    assert f"{corpus / BROKEN}: cannot be read: " in text and "invalid JSON at line 8, column 5" in text
    assert text.splitlines()[-1] == "3 files: 1 valid, 1 with warnings, 1 unreadable"


def test_an_error_names_the_file_once(script, tmp_path):
    missing = str(tmp_path / "nothere.har")
    assert run(script, "validate", missing).stdout.decode().strip() == (
        f"{missing}: cannot be read: No such file or directory")
    assert run(script, "convert", missing, "-o", str(tmp_path / "x.csv")).stderr.decode().strip() == (
        f"necto-nb convert: error: cannot read {missing}: No such file or directory")
    broken = run(script, "validate", "-", stdin=b'{"log": ').stdout.decode()
    assert broken.startswith("-: cannot be read: invalid JSON") and broken.count("stdin") == 0, broken


def test_validate_reports_a_problem_once_per_kind(script, tmp_path):
    entries = [{"startedDateTime": "2026-11-01T10:00:00Z", "time": 1,
                "request": {"method": "GET", "url": f"https://e.com/a b{i}", "httpVersion": "HTTP/1.1", "cookies": [],
                            "headers": [], "queryString": [], "headersSize": -1, "bodySize": 0},
                "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "cookies": [], "headers": [],
                             "content": {"size": 0, "mimeType": "text/plain"}, "redirectURL": "", "headersSize": -1,
                             "bodySize": 0},
                "cache": {}, "timings": {"send": 0, "wait": 1, "receive": 0}} for i in range(5)]
    path = tmp_path / "spaces.har"
    path.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": entries}}))
    lines = run(script, "validate", str(path)).stdout.decode().splitlines()
    urls = [line for line in lines if "request.url" in line]
    assert len(urls) == 1 and urls[0].endswith("[5 times]"), lines


def test_validate_counts_repeated_issues_once(script, corpus):
    text = run(script, "validate", str(corpus / "chrome-devtools__booka-websocket-sanitized.har")).stdout.decode()
    assert re.search(r"warning: log\.entries\[\d+\]\.serverIPAddress: .* \[\d+ times\]", text)


def test_validate_reads_standard_input(script, corpus):
    result = run(script, "validate", "-", stdin=(corpus / VALID).read_bytes())
    assert (result.returncode, result.stdout.decode()) == (0, "-: 1 entry, valid\n")


def test_validate_a_missing_file(script, tmp_path):
    result = run(script, "validate", str(tmp_path / "nope.har"))
    assert result.returncode == 2
    assert result.stdout.decode().endswith("nope.har: cannot be read: No such file or directory\n")


# -- convert ----------------------------------------------------------------------------


def test_convert_to_har_and_har_gz_keeps_every_field(script, corpus, tmp_path):
    source = corpus / WITH_COOKIE
    expected = nn.read_har(source).to_har()
    for name in ["copy.har", "copy.har.gz"]:
        target = tmp_path / name
        result = run(script, "convert", str(source), "-o", str(target))
        assert result.returncode == 0, out(result)
        assert result.stdout.decode() == f"wrote 3 entries to {target}\n"
        data = target.read_bytes()
        if name.endswith(".gz"):
            assert data[:2] == b"\x1f\x8b"
            data = gzip.decompress(data)
        assert json.loads(data) == expected
        assert COOKIE in data.decode()


def test_convert_with_redact_removes_credentials_in_every_format(script, corpus, tmp_path):
    source = corpus / WITH_COOKIE
    har = tmp_path / "safe.har"
    result = run(script, "convert", str(source), "-o", str(har), "--redact")
    assert result.returncode == 0, out(result)
    assert re.fullmatch(rf"wrote 3 entries to {re.escape(str(har))}, \d+ credential\(s\) redacted\n", result.stdout.decode())
    text = har.read_text()
    assert COOKIE not in text and "[REDACTED]" in text
    table = tmp_path / "safe.csv"
    assert run(script, "convert", str(source), "-o", str(table), "--redact").returncode == 0
    assert COOKIE not in table.read_text()


def test_convert_to_csv_gives_the_request_table(script, corpus, tmp_path):
    import pandas as pd

    source = corpus / "chrome-har__sitespeed-greenweb-0.11.4.har"
    target = tmp_path / "requests.csv"
    assert run(script, "convert", str(source), "-o", str(target)).returncode == 0
    table = pd.read_csv(target)
    expected = nn.read_har(source).df
    assert len(table) == len(expected) == 51
    assert list(table.columns) == ["entry", *expected.columns]
    assert table["url"].tolist() == expected["url"].tolist()


def test_convert_to_parquet(script, corpus, tmp_path):
    target = tmp_path / "requests.parquet"
    result = run(script, "convert", str(corpus / VALID), "-o", str(target))
    import pandas as pd

    assert result.returncode == 0, out(result)
    assert len(pd.read_parquet(target)) == 1


def test_convert_reads_standard_input_and_the_bodies_option(script, corpus, tmp_path):
    target = tmp_path / "lean.har"
    source = corpus / "chrome-devtools__harviewer-chrome51-svg-base64.har"
    result = run(script, "convert", "-", "-o", str(target), "--bodies", "none", stdin=source.read_bytes())
    assert result.returncode == 0, out(result)
    entry = json.loads(target.read_text())["log"]["entries"][0]
    assert "text" not in entry["response"]["content"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "out.json"], "cannot tell the format of out.json: give a name ending in .har, .har.gz, .parquet, .csv "
                             "(or a dataset folder ending in /)"),
        (["-o", "no/such/folder/out.har"], "cannot write no/such/folder/out.har"),
    ],
)
def test_convert_errors(script, corpus, tmp_path, args, message):
    result = subprocess.run([script, "convert", str(corpus / VALID), *args], capture_output=True, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.decode().startswith(f"necto-nb convert: error: {message}")


def test_convert_an_unreadable_file(script, corpus, tmp_path):
    result = run(script, "convert", str(corpus / BROKEN), "-o", str(tmp_path / "x.har"))
    assert result.returncode == 2
    assert f"cannot read {corpus / BROKEN}: " in result.stderr.decode()
    assert not (tmp_path / "x.har").exists()


def test_convert_many_files_to_a_dataset(script, corpus, tmp_path):
    history = tmp_path / "history"
    result = run(script, "convert", str(corpus / "*.har"), "-o", f"{history}/")
    assert result.returncode == 2, out(result)  # the broken__ files: named, the others written
    assert f"{corpus / BROKEN}: cannot be read: " in result.stderr.decode()
    runs = nn.read_parquet(history)
    readable = [p for p in sorted(corpus.glob("*.har")) if not p.name.startswith("broken__")]
    assert runs.names == [p.stem for p in readable]
    assert f"wrote {len(readable)} run(s), {len(runs.df)} entries to {history}/" in result.stdout.decode()
    assert runs[Path(VALID).stem].to_har()["log"]["entries"] == nn.read_har(corpus / VALID).to_har()["log"]["entries"]
    again = run(script, "convert", str(corpus / VALID), "-o", str(history))  # an existing folder: a dataset
    assert again.returncode == 0, out(again)
    assert nn.read_parquet(history).names == [p.stem for p in readable]  # the same run, replaced


def test_convert_several_files_need_a_folder(script, corpus, tmp_path):
    result = run(script, "convert", str(corpus / VALID), str(corpus / WARNED), "-o", str(tmp_path / "x.parquet"))
    assert result.returncode == 2
    assert "2 files go to a dataset, not to one .parquet file: give a folder ending in /" in result.stderr.decode()


# -- capture, demo and lab: long-running commands ---------------------------------------------


def _start(script: str, *args: str, cwd: Path | None = None) -> subprocess.Popen:
    # PYTHONFAULTHANDLER: on SIGABRT the command prints where each of its threads is (`_ended`)
    return subprocess.Popen([script, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
                            env=dict(os.environ, PYTHONFAULTHANDLER="1"))


def _ended(process: subprocess.Popen, timeout: float) -> tuple[bytes, bytes]:
    """Its output once `process` has exited; if it has not within `timeout` s, the test fails
    with where each of its threads was."""
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        _, stderr = process.communicate(timeout=30)
        pytest.fail(f"necto-nb {process.args[1]} did not exit within {timeout} s; its threads:\n"
                    f"{stderr.decode(errors='replace')[-8000:]}")


def _url_from(process: subprocess.Popen, pattern: str) -> str:
    line = process.stdout.readline().decode()
    match = re.search(pattern, line)
    if match is None:
        process.kill()
        raise AssertionError(f"no {pattern} in {line!r}; stderr: {process.stderr.read().decode()}")
    return match.group(0)


@pytest.mark.integration
@pytest.mark.proxy
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_capture_records_until_interrupted_then_writes_the_har(script, tmp_path, stop_signal):
    target = tmp_path / "captured.har"
    process = _start(script, "capture", "--port", "0", "-o", str(target))
    try:
        proxy = _url_from(process, r"http://127\.0\.0\.1:\d+")
        with serve() as site, httpx.Client(proxy=proxy, timeout=30) as client:
            assert client.get(site.url + "/api/items").status_code == 200
            created = client.post(site.url + "/api/items", json={"name": "through the proxy"})
            assert created.status_code == 201
            assert client.get(site.url + "/error?status=503").status_code == 503
        process.send_signal(stop_signal)
        stdout, stderr = _ended(process, 60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr.decode()
    assert f"{signal.Signals(stop_signal).name}: stopping" in stdout.decode()
    assert f"wrote 3 entries to {target}" in stdout.decode()
    session = nn.read_har(target)
    assert session.df["method"].tolist() == ["GET", "POST", "GET"]
    assert session.df["status"].tolist() == [200, 201, 503]
    assert session.df["path"].tolist() == ["/api/items", "/api/items", "/error?status=503"]
    assert json.loads(session.request_body(1)) == {"name": "through the proxy"}


@pytest.mark.integration
@pytest.mark.proxy
def test_capture_with_nothing_recorded_still_writes_a_har(script, tmp_path):
    target = tmp_path / "empty.har.gz"
    process = _start(script, "capture", "--port", "0", "-o", str(target))
    try:
        _url_from(process, r"http://127\.0\.0\.1:\d+")
        process.send_signal(signal.SIGINT)
        stdout, _ = _ended(process, 60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert len(nn.read_har(target)) == 0


@pytest.mark.integration
@pytest.mark.proxy
def test_capture_on_a_busy_port_is_a_clear_error(script, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run(script, "capture", "--port", str(port), "-o", str(tmp_path / "x.har"), timeout=60)
    assert result.returncode == 2
    assert str(port) in result.stderr.decode() and "already in use" in result.stderr.decode()
    assert not (tmp_path / "x.har").exists()


def test_capture_checks_the_output_before_starting(script, tmp_path):
    result = run(script, "capture", "--port", "0", "-o", str(tmp_path / "out.txt"))
    assert result.returncode == 2
    assert "give a name ending in .har, .har.gz" in result.stderr.decode()
    result = run(script, "capture", "--port", "0", "-o", str(tmp_path / "missing" / "out.har"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr.decode()


@pytest.mark.integration
def test_demo_serves_until_terminated(script):
    process = _start(script, "demo", "--port", "0", "--slow-ms", "20")
    try:
        url = _url_from(process, r"http://127\.0\.0\.1:\d+")
        assert httpx.get(url + "/slow", timeout=30).json()["extra_ms"] == 20
        process.send_signal(signal.SIGTERM)
        _ended(process, 30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(url)


@pytest.mark.integration
def test_lab_opens_jupyterlab_on_the_folder(script, tmp_path):
    folder, runtime = tmp_path / "notebooks", tmp_path / "runtime"
    folder.mkdir()
    (folder / "tour.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    # Unlisted options go on to JupyterLab; it refuses to run as root without --allow-root.
    extra = ["--IdentityProvider.token=necto-test"] + (["--allow-root"] if os.geteuid() == 0 else [])
    process = subprocess.Popen([script, "lab", str(folder), "--port", "0", "--no-browser", *extra],
                               env=dict(os.environ, JUPYTER_RUNTIME_DIR=str(runtime)),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        listing = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            try:
                url = served_url(runtime)
                answer = httpx.get(f"{url}/api/contents", params={"token": "necto-test"}, timeout=5)
            except (OSError, ValueError, httpx.TransportError):  # not serving yet
                time.sleep(0.5)
                continue
            if answer.status_code == 200:
                listing = answer.json()
                break
            time.sleep(0.5)
        assert listing is not None, f"JupyterLab did not answer (exit status {process.poll()})"
        assert [item["name"] for item in listing["content"]] == ["tour.ipynb"]
        assert httpx.get(f"{url}/lab", params={"token": "necto-test"}, timeout=10).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def test_lab_refuses_a_missing_folder(script, tmp_path):
    result = run(script, "lab", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert f"{tmp_path / 'nope'} is not a folder" in result.stderr.decode()


# -- diff -------------------------------------------------------------------------------------


def _entry(method: str, url: str, status: int, body: object, headers: dict[str, str]) -> dict:
    text = json.dumps(body)
    return {
        "startedDateTime": "2024-05-01T10:00:00.000Z", "time": 10,
        "request": {"method": method, "url": url, "httpVersion": "HTTP/1.1", "cookies": [], "headers": [],
                    "queryString": [], "headersSize": -1, "bodySize": 0},
        "response": {"status": status, "statusText": "", "httpVersion": "HTTP/1.1", "cookies": [],
                     "headers": [{"name": k, "value": v} for k, v in headers.items()],
                     "content": {"size": len(text), "mimeType": "application/json", "text": text},
                     "redirectURL": "", "headersSize": -1, "bodySize": len(text)},
        "cache": {}, "timings": {"send": 1, "wait": 8, "receive": 1},
    }


def _har(path: Path, entries: list[dict]) -> Path:
    path.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "test", "version": "1"},
                                        "entries": entries}}))
    return path


@pytest.fixture
def pair(tmp_path) -> tuple[Path, Path]:
    api = "http://127.0.0.1:8000/api/items"
    before = _har(tmp_path / "before.har", [
        _entry("GET", api, 200, {"items": [{"id": 1, "price": 9.5}]}, {"Date": "Wed, 01 May 2024 10:00:00 GMT", "X-Shop": "a"}),
        _entry("POST", api, 201, {"id": 2}, {}),
        _entry("GET", "http://127.0.0.1:8000/old", 200, {}, {}),
    ])
    after = _har(tmp_path / "after.har", [
        _entry("GET", api + "?_=1714557600", 200, {"items": [{"id": 1, "price": 10}]}, {"Date": "Thu, 02 May 2024 09:00:00 GMT", "X-Shop": "b"}),
        _entry("POST", api, 500, {"error": "boom"}, {}),
        _entry("GET", "http://127.0.0.1:8000/new", 200, {}, {}),
    ])
    return before, after


def test_diff_prints_what_changed_per_request(script, pair):
    result = run(script, "diff", *map(str, pair))
    assert result.returncode == 0, out(result)
    assert result.stdout.decode().splitlines() == [
        f"A: {pair[0]} (3 entries)",
        f"B: {pair[1]} (3 entries)",
        "2 matched (2 changed, 0 the same), 1 only in A, 1 only in B",
        "only in A: GET http://127.0.0.1:8000/old",
        "only in B: GET http://127.0.0.1:8000/new",
        "",
        "GET http://127.0.0.1:8000/api/items",
        "  response header x-shop: a -> b",
        "  response body $.items[0].price: 9.5 -> 10",
        "",
        "POST http://127.0.0.1:8000/api/items",
        "  status: 201 -> 500",
        '  response body $.id removed: 2',
        '  response body $.error added: "boom"',
    ]


def test_diff_options_and_exit_code(script, pair):
    a, b = map(str, pair)
    assert run(script, "diff", "--exit-code", a, b).returncode == 1
    assert run(script, "diff", "--exit-code", a, a).returncode == 0
    same = run(script, "diff", a, a).stdout.decode()
    assert "3 matched (0 changed, 3 the same), 0 only in A, 0 only in B" in same
    everything = run(script, "diff", "--all-headers", a, b).stdout.decode()
    assert "  response header date: Wed, 01 May 2024 10:00:00 GMT -> Thu, 02 May 2024 09:00:00 GMT" in everything
    quiet = run(script, "diff", "--ignore-header", "X-Shop", "--ignore-path", "$.items[*].price", a, b).stdout.decode()
    assert "x-shop" not in quiet and "price" not in quiet
    assert "1 matched" not in quiet and "2 matched (1 changed, 1 the same)" in quiet
    headers_only = run(script, "diff", "--no-bodies", a, b).stdout.decode()
    assert "response body" not in headers_only and "status: 201 -> 500" in headers_only


def test_diff_errors(script, pair, corpus):
    bad_path = run(script, "diff", "--ignore-path", "items.price", *map(str, pair))
    assert bad_path.returncode == 2
    assert "is not a JSON path" in bad_path.stderr.decode()
    unreadable = run(script, "diff", str(pair[0]), str(corpus / BROKEN))
    assert unreadable.returncode == 2
    assert f"cannot read {corpus / BROKEN}" in unreadable.stderr.decode()


def test_python_dash_m_runs_the_same_command(corpus):
    """The README's first command uses `python3 -m necto_nb`: no PATH or shim needed."""
    result = subprocess.run([sys.executable, "-m", "necto_nb", "validate", str(corpus / VALID)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert VALID in result.stdout
