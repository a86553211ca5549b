"""The capture proxy under load and faults, on loopback: nothing finished is lost, a fault is
an entry with its error, a slow client stalls no one, memory stays bounded under a body cap.

The load client and the servers run in their own processes (tests/hardening/load.py), so
the proxy in this process is measured, not the GIL it would share with them. Faults the
capture's own tests already cover (refused, reset, reset mid-body, a client timing out on
a hung upstream, an untrusted certificate: tests/capture/test_proxy.py) are not repeated.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
import pytest

import necto_nb as nn
from necto_nb.capture.recorder import STOPPED
from tests.conftest import server_process

pytestmark = [pytest.mark.integration, pytest.mark.proxy]

ROOT = Path(__file__).resolve().parents[2]
MB = 1 << 20


@pytest.fixture(scope="module")
def servers() -> dict[str, int]:
    with server_process("tests.hardening.load", "servers") as ports:
        yield ports


@pytest.fixture(scope="module")
def confdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("mitmproxy-conf")


@pytest.fixture
def proxy(confdir):
    before = set(threading.enumerate())
    p = nn.Session("hardening").capture(port=0, confdir=confdir)
    yield p
    p.stop()
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not leaked, f"threads left running after stop(): {leaked}"


def settle(proxy) -> None:
    deadline = time.monotonic() + 30
    while proxy.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proxy.flush(30), "flows did not reach the session"


def entry_for(proxy, url: str) -> dict:
    settle(proxy)
    df = proxy.session.df
    rows = df.index[df.url == url]
    assert len(rows) == 1, f"{len(rows)} entries for {url}"
    return proxy.session.entries[rows[0]]


# -- load -----------------------------------------------------------------------------------


@pytest.mark.timeout(900)
def test_twenty_thousand_requests_over_64_keep_alive_connections_are_all_recorded(proxy, servers):
    total, connections = 20_000, 64
    up = servers["upstream"]
    out = subprocess.run([sys.executable, "-m", "tests.hardening.load", "client", str(proxy.port), str(up),
                          str(connections), str(total)], cwd=ROOT, capture_output=True, text=True, timeout=800)
    result = json.loads(out.stdout)
    print(f"\n{total} requests, {connections} connections: {result}")
    assert result["ok"] == total, result  # each answered 200 with its own path
    assert result["connections"] == connections  # keep-alive held: no connection had to be reopened
    settle(proxy)
    df = proxy.session.df
    assert len(df) == total and proxy.flows == total and proxy.errors == []
    expected = {f"http://127.0.0.1:{up}/load?c={k}&n={n}" for k in range(connections)
                for n in range(total // connections + (k < total % connections))}
    assert set(df.url) == expected and df.url.is_unique
    assert (df.status == 200).all()
    for i in (0, total // 2, total - 1):  # bodies recorded exactly
        url = df.url.iloc[i]
        assert proxy.session.response_body(df.index[i]) == url.split(str(up), 1)[1].encode()


def _trickle(port: int, request: bytes, delay: float, log: dict) -> None:
    """Send `request` one byte at a time, then read the whole response."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        for i in range(len(request)):
            sock.sendall(request[i:i + 1])
            time.sleep(delay)
        log["sent"] = time.monotonic()
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < int(
                data.split(b"Content-Length: ", 1)[1].split(b"\r\n", 1)[0]):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        log["status"] = int(data.split(b" ", 2)[1])


def test_slow_clients_trickling_bytes_do_not_stall_the_others(proxy, servers):
    up = servers["upstream"]
    slow_logs = [{} for _ in range(8)]
    slow = [threading.Thread(target=_trickle, args=(proxy.port, f"GET http://127.0.0.1:{up}/slow?{i} HTTP/1.1\r\n"
                                                    f"Host: 127.0.0.1:{up}\r\nX-Pad: {'p' * 40}\r\n\r\n".encode(),
                                                    0.03, slow_logs[i])) for i in range(8)]
    for t in slow:
        t.start()
    time.sleep(0.3)  # every slow client is mid-request now

    def fast(k: int) -> list[int]:
        with httpx.Client(proxy=proxy.url, timeout=30) as c:
            return [c.get(f"http://127.0.0.1:{up}/fast?k={k}&n={n}").status_code for n in range(25)]

    with ThreadPoolExecutor(8) as pool:
        codes = [c for result in pool.map(fast, range(8)) for c in result]
    fast_done = time.monotonic()
    assert codes == [200] * 200
    assert all("sent" not in log for log in slow_logs), "the fast clients waited for the slow ones"
    for t in slow:
        t.join(60)
    assert [log["status"] for log in slow_logs] == [200] * 8 and all(log["sent"] > fast_done for log in slow_logs)
    settle(proxy)
    assert len(proxy.session) == 208 and (proxy.session.df.status == 200).all()


# -- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path, client_timeout, status, error", [
    ("/garbage", 10, 0, "Bad HTTP response line"),  # not HTTP at all
    ("/empty", 10, 0, "server closed connection"),  # closed without a byte
    ("/cut", 10, 200, "received 10 bytes, expected 100000"),  # closed mid-body
    ("/stall-body", 1, 200, "Client disconnected"),  # stalls mid-body until the client gives up
    ("/stall", 1, 0, "Client disconnected"),  # never answers: the client times out
])
def test_a_faulty_upstream_is_recorded_as_an_entry_with_its_error(proxy, servers, path, client_timeout, status, error):
    url = f"http://127.0.0.1:{servers['faulty']}{path}"
    try:
        got = httpx.get(url, proxy=proxy.url, timeout=client_timeout).status_code
    except httpx.TimeoutException:
        got = "timeout"
    except httpx.RemoteProtocolError:
        got = "cut"  # the body stops where the server stopped it, as without the proxy
    assert got == "cut" if path == "/cut" else got in (502, "timeout")
    e = entry_for(proxy, url)
    assert e["response"]["status"] == status
    assert error in (e["response"].get("_error") or "") and e["time"] >= 0


def test_an_upstream_tls_handshake_that_stalls_is_recorded(proxy, servers):
    url = f"https://127.0.0.1:{servers['silent']}/never"
    with pytest.raises(httpx.TimeoutException):
        httpx.get(url, proxy=proxy.url, timeout=1, verify=False)
    e = entry_for(proxy, url)
    assert e["response"]["status"] == 0 and e["_error"]


def test_a_client_aborting_mid_request_leaves_a_consistent_entry(proxy, servers, har_schema):
    url = f"http://127.0.0.1:{servers['upstream']}/upload"
    with socket.create_connection(("127.0.0.1", proxy.port)) as sock:
        sock.sendall(f"POST {url} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n".encode() + b"a" * 1000)
        time.sleep(0.3)  # the proxy has the headers and part of the body; then the client is gone
    e = entry_for(proxy, url)
    assert e["request"]["method"] == "POST" and e["response"]["status"] == 0
    assert "received 1000 bytes, expected 100000" in e["_error"]
    assert proxy.session.df.loc[0, "error"] == e["_error"]
    assert list(har_schema.iter_errors(proxy.session.to_har())) == []


# -- memory -----------------------------------------------------------------------------------


def test_large_bodies_under_a_cap_keep_memory_bounded(confdir, servers):
    """40 responses of 8 MB with max_body='64k': the session keeps 64 KB of each, marked
    truncated, and the process's memory does not grow with what passed through (320 MB)."""
    me = psutil.Process()
    peak, done = [me.memory_info().rss], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak.append(me.memory_info().rss)
            time.sleep(0.005)

    baseline = me.memory_info().rss
    sampler = threading.Thread(target=sample)
    sampler.start()
    session = nn.Session("big bodies")
    try:
        with session.capture(port=0, confdir=confdir, max_body="64k") as p:
            # The client streams what it gets, so the memory measured is the proxy's: a client
            # holding each 8 MB body whole (`.content`) added 0 to 100 MB of its own.
            with httpx.Client(proxy=p.url, timeout=60) as c:
                for i in range(40):
                    with c.stream("GET", f"http://127.0.0.1:{servers['upstream']}/bytes?n={8 * MB}&i={i}") as r:
                        assert sum(map(len, r.iter_bytes())) == 8 * MB  # the client gets everything
            assert p.flush()
    finally:
        done.set()
        sampler.join()
    growth = max(peak) - baseline
    print(f"\npeak RSS growth {growth / MB:.0f} MB for 40 x 8 MB through the proxy")
    # Each body is still held whole while it passes (the tap keeps it for response.content;
    # max_body cuts only the record): 140-180 MB here, well under the 320 MB that passed.
    assert growth < 240 * MB
    contents = [e["response"]["content"] for e in session.entries]
    assert len(contents) == 40
    assert all(c["_truncated"] is True and c["size"] == 8 * MB and len(c["text"]) == 65536 for c in contents)


# -- stopping ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stop_after", [20, 400])
def test_stopping_mid_traffic_loses_no_finished_flow(confdir, servers, stop_after):
    up = servers["upstream"]
    session = nn.Session("stopped mid-traffic")
    p = session.capture(port=0, confdir=confdir)
    finished, lock, stop = [], threading.Lock(), threading.Event()

    def hammer(k: int) -> None:
        with httpx.Client(proxy=p.url, timeout=10) as c:
            for n in range(10_000):
                if stop.is_set():
                    return
                url = f"http://127.0.0.1:{up}/stop?k={k}&n={n}"
                try:
                    if c.get(url).status_code == 200:
                        with lock:
                            finished.append(url)
                except httpx.HTTPError:
                    return  # the proxy went away mid-request

    workers = [threading.Thread(target=hammer, args=(k,)) for k in range(16)]
    for w in workers:
        w.start()
    while len(finished) < stop_after:
        time.sleep(0.001)
    p.stop()
    stop.set()
    for w in workers:
        w.join(30)
    urls = list(session.df.url)
    assert len(urls) == len(set(urls)), "an exchange was recorded twice"
    missing = set(finished) - set(urls)
    assert not missing, f"{len(missing)} finished exchanges are not in the session"
    assert p.flows == len(session) and p.errors == []
    # what the stop cut off is there too: failed with the reason, or (the upstream had answered
    # before the stop, the client never got it) complete with its whole body
    for i in session.df.index[~session.df.url.isin(finished)]:
        e = session.entries[i]
        error = e["response"].get("_error") or ""
        if error:  # cut before the response (status 0) or within its body (the status that came)
            assert error.startswith(STOPPED), error
        else:
            assert e["response"]["status"] == 200
            assert session.response_body(i) == e["request"]["url"].split(str(up), 1)[1].encode()


# -- who may use the proxy, and its CA --------------------------------------------------------


def test_the_ca_private_key_is_readable_by_its_owner_only(tmp_path, servers):
    confdir = tmp_path / "fresh-conf"
    with nn.Session("ca").capture(port=0, confdir=confdir):
        pass
    keys = [p for p in confdir.iterdir() if p.name in ("mitmproxy-ca.pem", "mitmproxy-ca.p12")]
    assert len(keys) == 2
    assert b"PRIVATE KEY" in (confdir / "mitmproxy-ca.pem").read_bytes()
    for key in keys:
        mode = stat.S_IMODE(key.stat().st_mode)
        assert mode & 0o077 == 0, f"{key.name} is mode {oct(mode)}"
        assert key.stat().st_uid == os.getuid()
    cert = stat.S_IMODE((confdir / "mitmproxy-ca-cert.pem").stat().st_mode)
    assert b"PRIVATE KEY" not in (confdir / "mitmproxy-ca-cert.pem").read_bytes() and cert & 0o004  # public part


def test_proxy_authentication_guards_http_and_https_and_its_password_is_not_recorded(confdir, servers):
    up = servers["upstream"]
    session = nn.Session("auth")
    with session.capture(port=0, confdir=confdir, proxyauth="alice:Wonderland-42") as p:
        for proxy_url, expected in ((p.url, 407), (f"http://alice:wrong@127.0.0.1:{p.port}", 407),
                                    (f"http://alice:Wonderland-42@127.0.0.1:{p.port}", 200)):
            with httpx.Client(proxy=proxy_url, timeout=10) as c:
                assert c.get(f"http://127.0.0.1:{up}/auth?{expected}").status_code == expected
        with httpx.Client(proxy=p.url, timeout=10, verify=False) as c, pytest.raises(httpx.ProxyError, match="407"):
            c.get(f"https://127.0.0.1:{up}/tunnel")  # CONNECT without credentials
        settle(p)
    exported = json.dumps(session.to_har())  # not even redacted
    assert "Wonderland-42" not in exported and base64.b64encode(b"alice:Wonderland-42").decode() not in exported
    assert sorted(session.df.status.tolist()) == [200, 407, 407, 407]


@pytest.mark.parametrize("host, warns", [("0.0.0.0", True), ("::", True), ("127.0.0.1", False), ("localhost", False),
                                         ("::1", False)])
def test_binding_beyond_loopback_warns(confdir, host, warns):
    if ":" in host:
        with socket.socket(socket.AF_INET6) as probe:
            try:
                probe.bind((host, 0))
            except OSError:
                pytest.skip("no IPv6 here")
    with nn.Session("bind").capture(host=host, port=0, confdir=confdir) as p:
        assert bool(p.warnings) == warns, p.warnings
        if warns:
            assert "not loopback" in p.warnings[0] and "proxyauth" in p.warnings[0]
