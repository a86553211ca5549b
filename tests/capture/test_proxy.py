"""Session.capture with real clients and real servers on loopback."""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

import necto_nb as nn
from necto_nb.capture import Proxy, ProxyError
from necto_nb.capture.recorder import STOPPED

pytestmark = [pytest.mark.integration, pytest.mark.proxy]


def client(proxy: Proxy, **kw) -> httpx.Client:
    return httpx.Client(proxy=proxy.url, verify=proxy.ssl_context(), timeout=kw.pop("timeout", 10), **kw)


def settle(proxy: Proxy) -> None:
    """Wait until the proxy has seen every exchange end (a client that gave up included)."""
    deadline = time.monotonic() + 10
    while proxy.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proxy.flush(), "flows did not reach the session"


def entry_for(proxy: Proxy, url: str) -> dict:
    if proxy.state != "stopped":
        settle(proxy)
    df = proxy.session.df
    rows = df.index[df.url == url]
    assert len(rows) == 1, f"{len(rows)} entries for {url}: {list(df.url)}"
    return proxy.session.entries[rows[0]]


def sockets_open() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return count


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


# -- start, show, stop ------------------------------------------------------------------


def test_start_returns_listening_on_loopback_and_shows_itself(proxy, session):
    assert proxy.host == "127.0.0.1" and proxy.port > 0
    assert proxy.address == ("127.0.0.1", proxy.port)
    assert proxy.url == f"http://127.0.0.1:{proxy.port}"
    assert proxy.state == "running" and proxy.warnings == []
    socket.create_connection(proxy.address, timeout=2).close()  # listening when start returned
    assert isinstance(proxy.ca_cert_path, str) and b"BEGIN CERTIFICATE" in Path(proxy.ca_cert_path).read_bytes()
    text = repr(proxy)
    assert proxy.url in text and "running" in text and "0 flows" in text and str(proxy.ca_cert_path) in text
    page = proxy._repr_html_()
    assert proxy.url in page and str(proxy.ca_cert_path) in page and "running" in page


def test_repr_html_escapes_the_session_name(confdir):
    with nn.Session("<img src=x onerror=alert(1)>").capture(port=0, confdir=confdir) as p:
        page = p._repr_html_()
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_stop_is_idempotent_closes_the_socket_and_joins_the_thread(session, confdir):
    before = set(threading.enumerate())
    with session.capture(port=0, confdir=confdir) as p:
        port = p.port
        assert [t for t in threading.enumerate() if t not in before]
    assert p.state == "stopped" and refused(port)
    p.stop()
    p.stop()
    assert [t for t in threading.enumerate() if t not in before and t.is_alive()] == []


def test_twenty_start_stop_cycles_on_one_port_leak_no_thread_or_socket(session, confdir, upstream):
    threads, sockets = set(threading.enumerate()), sockets_open()
    port = free_port()
    for i in range(20):
        with session.capture(port=port, confdir=confdir) as p:
            assert p.port == port
            with client(p) as c:
                assert c.get(f"{upstream.http}/echo?cycle={i}").status_code == 200
        assert refused(port)
    assert len(session) == 20
    assert sorted(session.df.url) == sorted(f"{upstream.http}/echo?cycle={i}" for i in range(20))
    assert [t for t in threading.enumerate() if t not in threads and t.is_alive()] == []
    assert sockets_open() <= sockets


def test_busy_port_raises_naming_host_and_port_and_leaves_nothing(session, confdir):
    threads, handlers = set(threading.enumerate()), list(__import__("logging").getLogger("mitmproxy").handlers)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ProxyError, match=rf"127\.0\.0\.1:{port}: the address is already in use") as info:
            session.capture(port=port, confdir=confdir)
        assert info.value.errno == errno.EADDRINUSE
    assert [t for t in threading.enumerate() if t not in threads and t.is_alive()] == []
    assert __import__("logging").getLogger("mitmproxy").handlers == handlers
    with session.capture(port=port, confdir=confdir) as p:  # the same port works once it is free
        assert p.port == port


@pytest.mark.parametrize("host, reason", [
    ("192.0.2.1", "no network interface has this address"),  # TEST-NET-1: bound nowhere here
    ("no-such-host.invalid", "Name or service not known|not known|No address"),
])
def test_bad_address_raises_naming_it(session, confdir, host, reason):
    threads = set(threading.enumerate())
    with pytest.raises(ProxyError, match=rf"cannot listen on {re.escape(host)}:8123: ({reason})"):
        session.capture(host=host, port=8123, confdir=confdir)
    assert [t for t in threading.enumerate() if t not in threads and t.is_alive()] == []


@pytest.mark.parametrize("kw, message", [
    ({"port": 70000}, "port must be an integer from 0 to 65535"),
    ({"ignore_hosts": ["(unclosed"]}, "ignore_hosts pattern '\\(unclosed' is not a regular expression"),
    ({"max_body": "lots"}, "max_body='lots' is not a size"),
    ({"options": {"no_such_option": 1}}, "Unknown options: no_such_option"),
    ({"upstream": "ftp://127.0.0.1:1"}, "Invalid proxy mode specification: upstream:ftp"),
])
def test_bad_options_are_clear_errors_and_leave_nothing_running(session, confdir, kw, message):
    threads = set(threading.enumerate())
    with pytest.raises(nn.ArgumentError, match=message):
        session.capture(**{"port": 0, "confdir": confdir, **kw})
    assert [t for t in threading.enumerate() if t not in threads and t.is_alive()] == []
    with session.capture(port=0, confdir=confdir):  # and the next start works
        pass


def test_one_capture_per_process(proxy, confdir):
    with pytest.raises(nn.CaptureRunningError, match=f"already running at {re.escape(proxy.url)}"):
        nn.Session("second").capture(port=0, confdir=confdir)
    assert proxy.state == "running"


def test_non_loopback_bind_is_a_collected_warning(session, confdir, upstream):
    # Bound on every interface for a moment; traffic still only goes over loopback.
    with session.capture(host="0.0.0.0", port=0, confdir=confdir, proxyauth="user:secret") as p:
        assert len(p.warnings) == 1 and "not loopback" in p.warnings[0]
        assert "not loopback" in p._repr_html_()
        with httpx.Client(proxy=f"http://user:secret@127.0.0.1:{p.port}", timeout=10) as c:
            assert c.get(f"{upstream.http}/echo?anywhere").status_code == 200


def test_ipv6_loopback(session, confdir, upstream):
    with socket.socket(socket.AF_INET6) as probe:
        try:
            probe.bind(("::1", 0))
        except OSError:
            pytest.skip("no IPv6 loopback here")
    with session.capture(host="::1", port=0, confdir=confdir) as p:
        assert p.url == f"http://[::1]:{p.port}" and p.warnings == []
        with client(p) as c:
            assert c.get(f"{upstream.http}/echo?v6").status_code == 200
        assert entry_for(p, f"{upstream.http}/echo?v6")["response"]["status"] == 200


def test_interpreter_exit_stops_the_proxy(tmp_path, confdir):
    script = textwrap.dedent(f"""
        import atexit, socket
        import necto_nb as nn
        state = {{}}
        atexit.register(lambda: print("after", state["p"].state, flush=True))  # runs after ours (LIFO)
        state["p"] = p = nn.Session("exit").capture(port=0, confdir={str(confdir)!r})
        print("port", p.port, flush=True)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "after stopped" in done.stdout
    assert done.stderr == ""


# -- what gets recorded ------------------------------------------------------------------


def test_http_exchange_is_a_full_har_entry(proxy, upstream):
    blob = bytes(range(256)) * 40
    with client(proxy) as c:
        r = c.get(f"{upstream.http}/echo?a=1&b=x%20y", headers={"Cookie": "sid=42; theme=dark", "X-Test": "yes"})
        assert r.status_code == 200
        assert c.post(f"{upstream.http}/echo?upload", content=blob,
                      headers={"Content-Type": "application/octet-stream"}).json()["length"] == len(blob)
        c.get(f"{upstream.http}/cookies")
    e = entry_for(proxy, f"{upstream.http}/echo?a=1&b=x%20y")
    req, resp = e["request"], e["response"]
    assert req["method"] == "GET" and req["httpVersion"] == "HTTP/1.1"
    assert req["queryString"] == [{"name": "a", "value": "1"}, {"name": "b", "value": "x y"}]
    assert req["cookies"] == [{"name": "sid", "value": "42"}, {"name": "theme", "value": "dark"}]
    assert {"name": "X-Test", "value": "yes"} in req["headers"]
    assert req["headersSize"] > 0 and req["bodySize"] == 0
    assert resp["status"] == 200 and resp["statusText"] == "OK" and resp["httpVersion"] == "HTTP/1.1"
    assert resp["content"]["mimeType"] == "application/json"
    assert resp["content"]["text"] == r.text and resp["content"]["size"] == len(r.content)
    assert resp["bodySize"] == len(r.content) and resp["headersSize"] > 0
    assert e["serverIPAddress"] == "127.0.0.1" and e["connection"].isdigit()
    t = e["timings"]
    assert t["connect"] >= 0 and t["ssl"] == -1 and t["dns"] == -1 and t["blocked"] == -1
    assert min(t["send"], t["wait"], t["receive"]) >= 0
    assert e["time"] == pytest.approx(sum(v for k, v in t.items() if k != "ssl" and v > 0))

    upload = entry_for(proxy, f"{upstream.http}/echo?upload")
    assert upload["request"]["postData"]["encoding"] == "base64"
    assert base64.b64decode(upload["request"]["postData"]["text"]) == blob
    assert upload["timings"]["connect"] == -1  # the same keep-alive connection
    rows = proxy.session.df.index[proxy.session.df.url == f"{upstream.http}/echo?upload"]
    assert proxy.session.request_body(rows[0]) == blob

    cookies = entry_for(proxy, f"{upstream.http}/cookies")["response"]["cookies"]
    assert cookies[0] == {"name": "session", "value": "abc123", "path": "/app", "domain": "127.0.0.1",
                          "httpOnly": True, "secure": True, "sameSite": "Lax"}
    assert cookies[1]["expires"] == "2037-10-21T07:28:00.000000Z"
    assert proxy.flows == 3 and len(proxy.session.report) == 0  # nothing needed repair


def test_a_mixed_capture_exports_as_valid_har(proxy, upstream, har_schema):
    with client(proxy) as c:
        c.get(f"{upstream.http}/echo?q=1", headers={"Cookie": "a=1"})
        c.post(f"{upstream.https}/echo", content=bytes(range(256)))
        c.post(f"{upstream.http}/echo", data={"field": "value"})
        for path in ("/gzip", "/cookies", "/latin1", "/redirect", "/reset", "/status/500"):
            c.get(upstream.https + path)
        c.get(f"http://127.0.0.1:{free_port()}/refused")
    with ws_connect(f"{upstream.ws}/mixed", proxy=proxy.url) as ws:
        ws.send(b"\x00\x01")
        ws.recv()
    settle(proxy)
    har = proxy.session.to_har()
    assert len(har["log"]["entries"]) == 11
    errors = list(har_schema.iter_errors(har))
    assert not errors, errors[0]
    assert len(proxy.session.report) == 0  # nothing the core had to repair


@pytest.mark.parametrize("path, coding", [("/gzip", "gzip"), ("/brotli", "br"), ("/chunked", None)])
def test_compressed_and_chunked_responses_are_stored_decoded(proxy, upstream, path, coding):
    with client(proxy) as c:
        r = c.get(upstream.http + path)
    c = entry_for(proxy, upstream.http + path)["response"]
    assert c["content"]["text"] == r.text and c["content"]["size"] == len(r.content)
    headers = {h["name"].lower(): h["value"] for h in c["headers"]}
    if coding:
        assert headers["content-encoding"] == coding
        assert c["bodySize"] < c["content"]["size"]
        assert c["content"]["compression"] == c["content"]["size"] - c["bodySize"]
    else:
        assert headers["transfer-encoding"] == "chunked" and r.text.count("chunk") == 5


def test_body_not_utf8_after_the_first_hundred_bytes_is_base64_exactly(proxy, upstream):
    with client(proxy) as c:
        r = c.get(f"{upstream.http}/latin1")
    content = entry_for(proxy, f"{upstream.http}/latin1")["response"]["content"]
    assert content["encoding"] == "base64" and base64.b64decode(content["text"]) == r.content


def test_fifty_megabyte_body_is_kept_exactly(proxy, upstream):
    n = 50 * 2**20
    with client(proxy, timeout=120) as c:
        r = c.get(f"{upstream.http}/bytes?n={n}")
    assert len(r.content) == n
    url = f"{upstream.http}/bytes?n={n}"
    assert entry_for(proxy, url)["response"]["content"]["size"] == n
    i = proxy.session.df.index[proxy.session.df.url == url][0]
    assert hashlib.sha256(proxy.session.response_body(i)).hexdigest() == r.headers["x-sha256"]


def test_body_cap_truncates_what_is_stored_not_what_is_sent(session, confdir, upstream):
    with session.capture(port=0, confdir=confdir, max_body="64k") as p:
        with client(p) as c:
            r = c.get(f"{upstream.http}/bytes?n=200000")
        assert len(r.content) == 200000
        content = entry_for(p, f"{upstream.http}/bytes?n=200000")["response"]["content"]
    assert content["_truncated"] is True and content["size"] == 200000
    assert base64.b64decode(content["text"]) == r.content[:65536]


def test_https_through_the_ca_with_tls_details_and_connection_reuse(proxy, upstream):
    with client(proxy) as c:
        assert c.get(f"{upstream.https}/echo?first").status_code == 200
        assert c.get(f"{upstream.https}/echo?second").status_code == 200
    first = entry_for(proxy, f"{upstream.https}/echo?first")
    second = entry_for(proxy, f"{upstream.https}/echo?second")
    t = first["timings"]
    assert t["connect"] >= t["ssl"] > 0  # connect includes ssl
    assert second["timings"]["connect"] == second["timings"]["ssl"] == -1
    tls = first["_securityDetails"]
    assert tls["protocol"] in ("TLS 1.2", "TLS 1.3") and tls["cipher"]
    assert tls["subjectName"] == "necto-test-upstream" and "127.0.0.1" in tls["sanList"]
    assert first["serverIPAddress"] == "127.0.0.1"
    df = proxy.session.df
    assert df.loc[df.url == f"{upstream.https}/echo?second", "connect"].isna().all()


def test_bad_upstream_certificate_is_a_recorded_failure(session, confdir, upstream):
    with session.capture(port=0, confdir=confdir) as p:  # ssl_insecure off: the self-signed cert fails
        with client(p) as c:
            r = c.get(f"{upstream.https}/echo?badcert")
        assert r.status_code == 502
        e = entry_for(p, f"{upstream.https}/echo?badcert")
        assert any("Certificate verify failed" in line for line in p.log)
    assert e["response"]["status"] == 0
    assert "certificate" in e["_error"].lower()


def test_upstream_failures_are_entries_with_status_0_and_error(proxy, upstream):
    dead = f"http://127.0.0.1:{free_port()}/refused"
    with client(proxy) as c:
        assert c.get(dead).status_code == 502
        assert c.get(f"{upstream.http}/reset").status_code == 502
        assert c.get(f"{upstream.https}/reset").status_code == 502
    with client(proxy, timeout=0.5) as c, pytest.raises(httpx.ReadTimeout):
        c.get(f"{upstream.http}/hang?s=5")
    e = entry_for(proxy, dead)
    assert e["response"]["status"] == 0 and "Connect call failed" in e["_error"]
    for url in (f"{upstream.http}/reset", f"{upstream.https}/reset"):
        e = entry_for(proxy, url)
        assert e["response"]["status"] == 0 and e["_error"]
    hang = entry_for(proxy, f"{upstream.http}/hang?s=5")
    assert hang["response"]["status"] == 0 and "disconnected" in hang["_error"].lower()
    assert hang["timings"]["wait"] >= 400
    assert set(proxy.session.df.error.dropna()) >= {e["_error"], hang["_error"]}


def test_websocket_messages_both_ways_binary_kept(proxy, upstream):
    blob = bytes(range(256))
    with ws_connect(f"{upstream.ws}/chat", proxy=proxy.url) as ws:
        ws.send("hello ✓")
        assert ws.recv() == "hello ✓"
        ws.send(blob)
        assert ws.recv() == blob
    context = ssl.create_default_context(cafile=proxy.ca_cert_path)
    with ws_connect(f"{upstream.wss}/secure", proxy=proxy.url, ssl=context) as ws:
        ws.send("over tls")
        assert ws.recv() == "over tls"
    e = entry_for(proxy, f"{upstream.ws}/chat")
    assert e["_resourceType"] == "websocket" and e["response"]["status"] == 101
    messages = e["_webSocketMessages"]
    assert [(m["type"], m["opcode"]) for m in messages] == [("send", 1), ("receive", 1), ("send", 2), ("receive", 2)]
    assert messages[0]["data"] == messages[1]["data"] == "hello ✓"
    assert base64.b64decode(messages[2]["data"]) == base64.b64decode(messages[3]["data"]) == blob
    assert all(isinstance(m["time"], float) for m in messages)
    assert messages == sorted(messages, key=lambda m: m["time"])
    secure = entry_for(proxy, f"{upstream.wss}/secure")
    assert [m["data"] for m in secure["_webSocketMessages"]] == ["over tls", "over tls"]
    assert proxy.session.df.loc[proxy.session.df.url == f"{upstream.ws}/chat", "resource_type"].item() == "websocket"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_plain_and_http2(proxy, upstream):
    ca = str(proxy.ca_cert_path)
    for args, url in (([], f"{upstream.http}/echo?curl"), (["--http2"], f"{upstream.h2}/echo?curl-h2")):
        done = subprocess.run(["curl", "-sS", "-x", proxy.url, "--cacert", ca, *args, "-o", "/dev/null",
                               "-w", "%{http_code} %{http_version}", url], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        code, version = done.stdout.split()
        assert code == "200"
    assert version == "2"
    h2 = entry_for(proxy, f"{upstream.h2}/echo?curl-h2")
    assert h2["request"]["httpVersion"] == "HTTP/2.0" and h2["request"]["headersSize"] == -1
    assert any(h["name"] == "user-agent" and h["value"].startswith("curl/") for h in h2["request"]["headers"])
    assert entry_for(proxy, f"{upstream.http}/echo?curl")["response"]["status"] == 200


def test_sixty_four_concurrent_clients_every_request_recorded(proxy, upstream):
    def run(worker: int) -> list[int]:
        with client(proxy) as c:
            return [c.get(f"{upstream.http}/echo?worker={worker}&n={n}").status_code for n in range(4)]

    with ThreadPoolExecutor(64) as pool:
        codes = [code for result in pool.map(run, range(64)) for code in result]
    assert codes == [200] * 256
    assert proxy.flush()
    urls = list(proxy.session.df.url)
    assert sorted(urls) == sorted(f"{upstream.http}/echo?worker={w}&n={n}" for w in range(64) for n in range(4))
    assert proxy.flows == 256 and proxy.errors == []


def test_df_is_readable_at_any_moment_while_capturing(proxy, upstream):
    seen, failures, done = [], [], threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                seen.append(len(proxy.session.df))
            except Exception as e:  # pragma: no cover - the assertion below reports it
                failures.append(e)

    reader = threading.Thread(target=read)
    reader.start()
    with client(proxy) as c:
        for i in range(150):
            c.get(f"{upstream.http}/echo?live={i}")
    assert proxy.flush()
    done.set()
    reader.join()
    assert failures == []
    assert seen == sorted(seen) and len(set(seen)) > 2  # it grew while being read
    assert len(proxy.session.df) == 150


def test_pause_and_resume(proxy, upstream):
    with client(proxy) as c:
        c.get(f"{upstream.http}/echo?before")
        proxy.pause()
        assert proxy.state == "paused"
        assert c.get(f"{upstream.http}/echo?paused").status_code == 200  # traffic still flows
        proxy.resume()
        c.get(f"{upstream.http}/echo?after")
    assert proxy.flush()
    assert list(proxy.session.df.url) == [f"{upstream.http}/echo?before", f"{upstream.http}/echo?after"]


def test_ignored_hosts_pass_through_unrecorded(session, confdir, upstream):
    https_port = upstream.https.rsplit(":", 1)[1]
    http_port = upstream.http.rsplit(":", 1)[1]
    with session.capture(port=0, confdir=confdir, ignore_hosts=[rf":{https_port}$", rf":{http_port}$"]) as p:
        # Not intercepted: the client sees the upstream's own certificate, not mitmproxy's.
        with httpx.Client(proxy=p.url, verify=ssl.create_default_context(cafile=str(upstream.cert)), timeout=10) as c:
            assert c.get(f"{upstream.https}/echo?ignored").status_code == 200
            assert c.get(f"{upstream.http}/echo?ignored").status_code == 200
        with client(p) as c:
            assert c.get(f"{upstream.ws.replace('ws', 'http')}/?recorded").status_code in (400, 426)
        assert p.flush()
        assert list(session.df.url) == [f"{upstream.ws.replace('ws', 'http')}/?recorded"]


def test_proxy_authentication(session, confdir, upstream):
    with session.capture(port=0, confdir=confdir, proxyauth=("alice", "s3cret")) as p:
        with httpx.Client(proxy=p.url, timeout=10) as c:
            assert c.get(f"{upstream.http}/echo?anonymous").status_code == 407
        with httpx.Client(proxy=f"http://alice:s3cret@127.0.0.1:{p.port}", timeout=10) as c:
            assert c.get(f"{upstream.http}/echo?alice").status_code == 200
        assert entry_for(p, f"{upstream.http}/echo?anonymous")["response"]["status"] == 407
        assert entry_for(p, f"{upstream.http}/echo?alice")["response"]["status"] == 200


@pytest.fixture
def mitmdump_upstream(tmp_path):
    """A bare mitmdump in its own process, requiring a password: the upstream proxy."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "from mitmproxy.tools.main import mitmdump; mitmdump()",
         "--listen-host", "127.0.0.1", "-p", "0", "--ssl-insecure", "--proxyauth", "up:pass",
         "--set", f"confdir={tmp_path}", "--set", "flow_detail=0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    port = None
    for line in proc.stdout:
        if m := re.search(r"listening at 127\.0\.0\.1:(\d+)", line):
            port = int(m.group(1))
            break
    if port is None:
        proc.kill()
        pytest.fail("mitmdump did not start")
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep its pipe drained
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


def test_upstream_proxy(session, confdir, upstream, mitmdump_upstream):
    with session.capture(port=0, confdir=confdir, upstream=mitmdump_upstream, upstream_auth="up:pass",
                         ssl_insecure=True) as p:
        with client(p) as c:
            assert c.get(f"{upstream.http}/echo?via-upstream").status_code == 200
            assert c.get(f"{upstream.https}/echo?via-upstream").status_code == 200
        assert entry_for(p, f"{upstream.http}/echo?via-upstream")["response"]["status"] == 200
        assert entry_for(p, f"{upstream.https}/echo?via-upstream")["response"]["status"] == 200


def test_stop_records_what_was_in_flight(proxy, upstream):
    outcome = {}

    def slow() -> None:
        try:
            with client(proxy) as c:
                outcome["status"] = c.get(f"{upstream.http}/hang?s=20").status_code
        except httpx.HTTPError as e:
            outcome["error"] = e

    with ws_connect(f"{upstream.ws}/open", proxy=proxy.url) as open_ws:
        open_ws.send("still open")
        assert open_ws.recv() == "still open"
        waiter = threading.Thread(target=slow)
        waiter.start()
        deadline = time.monotonic() + 10
        while proxy.in_flight < 2 and time.monotonic() < deadline:  # the request reached the proxy
            time.sleep(0.02)
        proxy.stop()
        waiter.join(10)
    assert "error" in outcome
    df = proxy.session.df
    hang = proxy.session.entries[df.index[df.url == f"{upstream.http}/hang?s=20"][0]]
    assert hang["response"]["status"] == 0 and hang["_error"].startswith(STOPPED)
    ws = proxy.session.entries[df.index[df.url == f"{upstream.ws}/open"][0]]
    assert [m["data"] for m in ws["_webSocketMessages"]] == ["still open", "still open"]
