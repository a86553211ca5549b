"""Rules on a running capture, with a real client and real servers on loopback."""

from __future__ import annotations

import http.client
import json
import socket
import statistics
import threading
import time

import httpx
import pytest

import necto_nb as nn
from necto_nb import rules
from tests.capture.test_proxy import client, entry_for, settle
from tests.conftest import server_process
from tests.widgets.test_grid import message

pytestmark = [pytest.mark.integration, pytest.mark.proxy]


def closed_port() -> int:
    """A loopback port nothing listens on: a request that reached it would fail."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(c: httpx.Client, url: str) -> float:
    started = time.perf_counter()
    c.get(url).raise_for_status()
    return (time.perf_counter() - started) * 1000


def test_delay_adds_its_time_to_matching_requests_only(proxy, upstream):
    delay = rules.Delay("*/echo?slow*", ms=200)
    idle = [rules.Delay(f"*/never-{i}/*", ms=200) for i in range(10)]
    added, unmatched, bare = [], [], []
    # Not recording while timing: converting the last flows would slow whichever request
    # it overlaps, and a delayed request's sleep hides it, which skews the difference.
    proxy.pause()
    with client(proxy) as c:
        timed(c, f"{upstream.http}/echo?warm")
        for i in range(21):
            proxy.rules[:] = [delay]
            fast = timed(c, f"{upstream.http}/echo?fast={i}")
            added.append(timed(c, f"{upstream.http}/echo?slow={i}") - fast)
        for i in range(61):
            # Ten rules that match nothing against none at all, in pairs taking turns at going first.
            for rule_list, times in [(idle, unmatched), ([], bare)][:: 1 if i % 2 else -1]:
                proxy.rules[:] = rule_list
                times.append(timed(c, f"{upstream.http}/echo?n={i}"))
        proxy.resume()
        proxy.rules[:] = [delay]
        c.get(f"{upstream.http}/echo?slow=recorded")
        c.get(f"{upstream.http}/echo?fast=recorded")
    assert 190 <= statistics.median(added) <= 210, added
    assert statistics.median(u - b for u, b in zip(unmatched, bare)) < 5, (unmatched, bare)
    entry = entry_for(proxy, f"{upstream.http}/echo?slow=recorded")
    assert entry["_rule"] == "Delay('*/echo?slow*', ms=200)"
    assert "_rule" not in entry_for(proxy, f"{upstream.http}/echo?fast=recorded")


def arrived_by(arrivals: list[tuple[float, int]], seconds: float) -> int:
    """Of (time since the first byte, bytes so far), how many bytes had come `seconds` after the first."""
    return max((n for t, n in arrivals if t <= seconds), default=0)


def test_throttle_paces_a_megabyte_download_over_8_seconds(proxy, upstream):
    proxy.rules.append(rules.Throttle("*/bytes?n=1000000&slow*", kbps=1000))
    arrivals: list[tuple[float, int]] = []
    other: list[float] = []

    def unthrottled() -> None:  # the same size on its own connection, at the same time
        with client(proxy, timeout=30) as c:
            began = time.perf_counter()
            assert len(c.get(f"{upstream.http}/bytes?n=1000000&fast").content) == 1_000_000
            other.append(time.perf_counter() - began)

    with client(proxy, timeout=30) as c, c.stream("GET", f"{upstream.http}/bytes?n=1000000&slow") as r:
        side = threading.Thread(target=unthrottled)
        side.start()
        got = 0
        for chunk in r.iter_raw():
            got += len(chunk)
            now = time.perf_counter()
            arrivals.append((now, got))
        side.join()
    first = arrivals[0][0]
    arrivals = [(t - first, n) for t, n in arrivals]
    total = arrivals[-1][0]
    assert got == 1_000_000
    assert 7.2 <= total <= 8.8, total
    assert 350_000 <= arrived_by(arrivals, 4.0) <= 650_000, arrivals[::50]  # spread out, not held and let go
    assert other and other[0] < 4.0, other  # another connection is not slowed: done before half of this one
    entry = entry_for(proxy, f"{upstream.http}/bytes?n=1000000&slow")
    assert 7000 <= entry["timings"]["receive"] <= 9000, entry["timings"]  # the paced delivery, not the upstream's
    assert entry["_rule"] == "Throttle('*/bytes?n=1000000&slow*', kbps=1000)"
    assert "_rule" not in entry_for(proxy, f"{upstream.http}/bytes?n=1000000&fast")


def test_throttle_paces_https_and_a_body_another_rule_holds_whole(proxy, upstream):
    """Over TLS (the proxy paces the encrypted bytes) and with a Rewrite that must see the
    whole response first (head and body are written after its hook, paced all the same)."""
    proxy.rules.extend([rules.Throttle("*/bytes*", kbps=1000),
                        rules.Rewrite("*/bytes*", response_headers={"X-Rewritten": "yes"})])
    arrivals: list[tuple[float, int]] = []
    with client(proxy, timeout=30) as c, c.stream("GET", f"{upstream.https}/bytes?n=250000") as r:
        head = time.perf_counter()  # the pacing began with the head
        assert r.headers["x-rewritten"] == "yes"
        got = 0
        for chunk in r.iter_raw():  # whole TLS records (16 KB), so arrivals come in steps of ~0.13 s
            got += len(chunk)
            arrivals.append((time.perf_counter() - head, got))
    assert got == 250_000 and 1.8 <= arrivals[-1][0] <= 2.4, arrivals  # 2 s at 1000 kbps
    assert 60_000 <= arrived_by(arrivals, 1.0) <= 190_000, arrivals


class _Receiver:
    """A loopback HTTP/1.1 origin that notes when each piece of a request body arrives."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, int]] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self._listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, body = data.split(b"\r\n\r\n", 1)
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:")))
            got = len(body)
            self.arrivals.append((time.perf_counter(), got))
            while got < length:
                piece = conn.recv(65536)
                if not piece:
                    break
                got += len(piece)
                self.arrivals.append((time.perf_counter(), got))
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def close(self) -> None:
        self._listener.close()
        self._thread.join(timeout=30)


def test_throttle_paces_a_megabyte_upload_over_8_seconds(proxy):
    receiver = _Receiver()
    proxy.rules.append(rules.Throttle("*/upload", kbps=1000))
    url = f"http://127.0.0.1:{receiver.port}/upload"
    try:
        with client(proxy, timeout=30) as c:
            assert c.post(url, content=b"u" * 1_000_000).text == "ok"
    finally:
        receiver.close()
    first = receiver.arrivals[0][0]
    arrivals = [(t - first, n) for t, n in receiver.arrivals]
    assert arrivals[-1][1] == 1_000_000
    assert 7.2 <= arrivals[-1][0] <= 8.8, arrivals[-1]
    assert 350_000 <= arrived_by(arrivals, 4.0) <= 650_000, arrivals[::50]
    entry = entry_for(proxy, url)
    assert entry["_rule"] == "Throttle('*/upload', kbps=1000)"
    assert 7000 <= entry["timings"]["send"] <= 9000, entry["timings"]  # the paced upload, not the client's
    assert entry["timings"]["wait"] < 1000, entry["timings"]


def test_mock_never_reaches_the_upstream(proxy):
    url = f"http://127.0.0.1:{closed_port()}/api/flags"
    proxy.rules.append(rules.Mock("*/api/flags", json={"beta": True}, headers={"X-Mocked": "yes"}))
    with client(proxy) as c:
        r = c.get(url)
    assert (r.status_code, r.json(), r.headers["x-mocked"]) == (200, {"beta": True}, "yes")
    entry = entry_for(proxy, url)
    assert entry["_rule"].startswith("Mock('*/api/flags'")
    assert entry["response"]["content"]["text"] == '{"beta": true}'
    assert entry["timings"]["connect"] == -1  # no upstream connection was made


def test_first_rule_of_a_kind_wins_and_kinds_combine(proxy):
    url = f"http://127.0.0.1:{closed_port()}/x"
    proxy.rules.extend([rules.Delay("*/x", ms=100), rules.Mock("*/x", body="first"), rules.Mock("*", body="second")])
    with client(proxy) as c:
        started = time.perf_counter()
        r = c.get(url)
        elapsed = time.perf_counter() - started
    assert r.text == "first" and elapsed >= 0.1
    assert entry_for(proxy, url)["_rule"] == "Delay('*/x', ms=100); Mock('*/x', status=200, body=<5 bytes>)"


def test_fail_resets_times_out_or_answers_a_status(proxy):
    base = f"http://127.0.0.1:{closed_port()}"
    proxy.rules.extend([rules.Fail("*/reset"), rules.Fail("*/timeout", "timeout", seconds=0.3),
                        rules.Fail("*/down", 503)])
    with client(proxy) as c:
        with pytest.raises(httpx.RemoteProtocolError):
            c.get(f"{base}/reset")
        started = time.perf_counter()
        with pytest.raises(httpx.RemoteProtocolError):
            c.get(f"{base}/timeout")
        assert time.perf_counter() - started >= 0.3
        assert c.get(f"{base}/down").status_code == 503
    settle(proxy)
    assert entry_for(proxy, f"{base}/reset")["response"]["status"] == 0
    assert entry_for(proxy, f"{base}/down")["_rule"] == "Fail('*/down', error=503)"


def test_rewrite_changes_headers_and_json_and_leaves_other_bodies_alone(proxy, upstream):
    proxy.rules.extend([
        rules.Rewrite("*/echo*", request_headers={"X-Added": "1", "User-Agent": rules.REMOVE},
                      response_json={"method": "PATCHED", "headers": rules.REMOVE}),
        rules.Rewrite("*/latin1", response_json={"a": 1}, response_headers={"X-Seen": "yes"}),
    ])
    with client(proxy) as c:
        echoed = c.get(f"{upstream.http}/echo?r").json()
        plain = c.get(f"{upstream.http}/latin1")
    assert echoed["method"] == "PATCHED" and "headers" not in echoed
    assert plain.content.startswith(b"a" * 150) and "x-seen" not in plain.headers  # all or nothing
    entry = entry_for(proxy, f"{upstream.http}/latin1")
    assert entry["_ruleError"].endswith("ValueError: the response body is not JSON")
    assert any("latin1" in e and "not JSON" in e for e in proxy.rule_errors)
    sent = {h["name"].lower(): h["value"] for h in entry_for(proxy, f"{upstream.http}/echo?r")["request"]["headers"]}
    assert sent["x-added"] == "1" and "user-agent" not in sent


def test_rewrite_reaches_the_server(proxy, upstream):
    proxy.rules.append(rules.Rewrite("*/echo*", request_headers={"X-Added": "1"}, request_json={"n": 2}))
    with client(proxy) as c:
        echoed = c.post(f"{upstream.http}/echo", json={"n": 1, "keep": True}).json()
    assert ["X-Added", "1"] in echoed["headers"]
    assert echoed["length"] == len(json.dumps({"n": 2, "keep": True}).encode())


def test_map_local_serves_files_and_nothing_outside_its_folder(proxy, tmp_path):
    site = tmp_path / "site"
    (site / "js").mkdir(parents=True)
    (site / "js" / "app.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("no")
    base = f"http://127.0.0.1:{closed_port()}"
    proxy.rules.append(rules.MapLocal("*/static/*", site, strip="/static"))
    with client(proxy) as c:
        js = c.get(f"{base}/static/js/app.js")
        missing = c.get(f"{base}/static/js/none.js")
    assert (js.status_code, js.text, js.headers["content-type"]) == (200, "console.log(1)", "text/javascript")
    assert missing.status_code == 404
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port)  # a raw path no client would normalise
    conn.request("GET", f"{base}/static/../secret.txt")
    assert conn.getresponse().status == 403
    conn.close()


def test_map_remote_sends_requests_to_another_server(proxy, upstream):
    dead = f"http://127.0.0.1:{closed_port()}"
    proxy.rules.append(rules.MapRemote(f"{dead}/*", upstream.http))
    with client(proxy) as c:
        echoed = c.get(f"{dead}/echo?q=1").json()
    assert echoed["uri"] == "/echo?q=1"
    assert entry_for(proxy, f"{upstream.http}/echo?q=1")["_rule"].startswith("MapRemote(")


def test_callback_changes_flows_off_the_loop_and_a_raising_one_changes_nothing(proxy, upstream):
    threads = []

    def add_header(flow):
        threads.append(threading.current_thread().name)
        flow.request.headers["X-From-Callback"] = "1"

    def broken(flow):
        flow.request.headers["X-Half-Done"] = "1"
        raise KeyError("boom")

    def answer(flow):
        flow.response.headers["X-Answered"] = "yes"

    proxy.rules.extend([rules.Callback("*/echo?ok*", add_header), rules.Callback("*/echo?broken*", broken),
                        rules.Callback("*/echo?resp*", answer, phase="response")])
    with client(proxy) as c:
        ok = c.get(f"{upstream.http}/echo?ok").json()
        bad = c.get(f"{upstream.http}/echo?broken").json()
        answered = c.get(f"{upstream.http}/echo?resp")
    assert ["X-From-Callback", "1"] in ok["headers"]
    assert not any(name == "X-Half-Done" for name, _ in bad["headers"])
    assert answered.headers["x-answered"] == "yes"
    assert threads and not threads[0].startswith("necto_nb-proxy")
    entry = entry_for(proxy, f"{upstream.http}/echo?broken")
    assert "KeyError: 'boom'" in entry["_ruleError"] and "broken" in entry["_rule"]
    assert any("KeyError: 'boom'" in e for e in proxy.rule_errors)


def test_rules_given_to_capture_and_bad_ones_fail_when_added(session, confdir):
    with session.capture(port=0, confdir=confdir, rules=[rules.Mock("*/m", body="x")]) as proxy:
        assert isinstance(proxy.rules, rules.RuleList) and len(proxy.rules) == 1
        with pytest.raises(TypeError, match="rule must be a rule from nn.rules"):
            proxy.rules.append("*/api/*")
        with pytest.raises(TypeError, match=r"rules\[1\]"):
            proxy.rules[:] = [rules.Mock("*"), {"match": "*"}]
        assert len(proxy.rules) == 1
        with client(proxy) as c:
            assert c.get(f"http://127.0.0.1:{closed_port()}/m").text == "x"
    with pytest.raises(TypeError, match=r"rules\[0\]"):
        session.capture(port=0, confdir=confdir, rules=[lambda f: f])


@pytest.fixture
def site(tls_files):
    """The capture tests' upstream in a process of this test's own, to stop mid-test."""
    cert, key = tls_files
    with server_process("tests.capture.upstream", str(cert), str(key)) as ports:
        yield ports


def test_replay_serves_a_recording_with_the_site_stopped(confdir, tls_files):
    cert, key = tls_files
    recorded = nn.Session("recording")
    paths = ["/echo?page=1&t={t}", "/echo?page=2&t={t}", "/gzip?t={t}", "/status/404?t={t}", "/echo/users/1?t={t}"]
    with server_process("tests.capture.upstream", str(cert), str(key)) as ports:
        base = f"http://127.0.0.1:{ports['http']}"
        with recorded.capture(port=0, confdir=confdir) as proxy, client(proxy) as c:
            for p in paths:
                c.get(base + p.format(t=time.time_ns()))
    originals = {e["request"]["url"].split("t=")[0]: e for e in recorded.entries}
    replayed = nn.Session("replayed")
    replay = rules.Replay(recorded)
    with replayed.capture(port=0, confdir=confdir, rules=[replay]) as proxy, client(proxy) as c:
        answers = [c.get(base + p.format(t=time.time_ns())) for p in paths]
        later_id = c.get(f"{base}/echo/users/2?t=1")
        miss = c.get(f"{base}/nothing/here?page=3")
    for p, answer in zip(paths, answers):
        recorded_entry = originals[(base + p).split("t=")[0]]
        assert answer.status_code == recorded_entry["response"]["status"]
        assert answer.text == recorded_entry["response"]["content"]["text"], p
    assert later_id.status_code == 200 and json.loads(later_id.text)["uri"].startswith("/echo/users/1")
    assert miss.status_code == 404 and "closest" in miss.text
    assert len(replay.misses) == 1 and replay.misses[0]["url"] == f"{base}/nothing/here?page=3"
    assert replay.misses[0]["differs"][0].startswith("path /nothing/here vs")
    matched = [e.get("_replay", {}).get("matchedBy") for e in replayed.entries]
    assert matched == ["url"] * 5 + ["template", None]


def test_a_rule_that_sleeps_holds_up_no_other_flow(proxy, upstream):
    proxy.rules.append(rules.Delay("*/echo?held*", ms=1000))
    done = {}

    def held():
        with client(proxy) as c:
            c.get(f"{upstream.http}/echo?held")
        done["held"] = time.perf_counter()

    t = threading.Thread(target=held)
    t.start()
    time.sleep(0.1)
    with client(proxy) as c:
        started = time.perf_counter()
        c.get(f"{upstream.http}/echo?free")
        free = time.perf_counter() - started
    t.join()
    assert free < 0.5 and done["held"] > started + free


def test_a_predicate_that_raises_matches_nothing_and_is_kept(proxy, upstream):
    proxy.rules.append(rules.Mock(lambda flow: 1 / 0, body="never"))
    with client(proxy) as c:
        assert c.get(f"{upstream.http}/echo?p").json()["uri"] == "/echo?p"
    settle(proxy)
    assert any("ZeroDivisionError" in e and "matching" in e for e in proxy.rule_errors)




def test_mock_selected_in_the_grid_answers_that_request_from_then_on(proxy, upstream):
    from necto_nb.widgets import TrafficGrid

    url = f"{upstream.https}/echo?q=[1]*"
    with client(proxy) as c:
        first = c.get(url)
        settle(proxy)
        grid = TrafficGrid(proxy.session)
        grid.select([0])
        grid.toolbar.mock.click()
        assert "1 mock(s) added to the rules of the capture" in message(grid)
        again = c.post(url)  # another method: not mocked
        mocked = c.get(url)
        grid.close()
    assert len(proxy.rules) == 1 and proxy.rules[0].method == {"GET"}
    # The URL as recorded (as the frame shows it, [ and ] encoded), its glob characters taken literally.
    assert repr(proxy.rules[0]).startswith(f"Mock('{upstream.https}/echo[?]q=%5B1%5D[*]', status=200")
    assert mocked.content == first.content and again.json()["method"] == "POST"
    settle(proxy)
    gets = [e for e in proxy.session.entries if e["request"]["method"] == "GET"]
    assert len(gets) == 2 and "_rule" not in gets[0]
    assert gets[1]["_rule"].startswith("Mock(") and gets[1]["timings"]["connect"] == -1
