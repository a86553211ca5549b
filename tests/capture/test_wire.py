"""A capture against what real clients saw: curl's own timings, Chromium's own HAR, and
the origin's count of the connections it accepted, on loopback servers whose think time
and body pace are known (`/paced` in tests/capture/upstream.py)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from necto_nb.capture import Proxy
from necto_nb.chromium import QUIET_ARGS
from tests.capture.test_proxy import entry_for, settle

pytestmark = [pytest.mark.integration, pytest.mark.proxy]

needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed (apt-get install curl)")
THINK, CHUNKS, GAP = 200, 5, 80  # ms before the headers; 1000-byte chunks, ms apart
#: ms a loaded machine may take to schedule a client between an event and its time stamp
#: (the proxy's view lies inside the client's, up to this)
SLACK = 25
#: curl's -w fields, seconds from the start of the transfer
CURL_TIMES = ("time_connect", "time_appconnect", "time_pretransfer", "time_starttransfer", "time_total")


def accepted(upstream, name: str) -> int:
    """Connections the origin `name` (http, https, h2) has accepted so far (asked directly)."""
    return httpx.get(upstream.connections, timeout=10).json()[name]


def curl(proxy: Proxy, *urls: str, args: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """One curl run fetching `urls` through the proxy; per URL its -w figures."""
    fields = ["http_code", "http_version", "num_connects", *CURL_TIMES]
    command = ["curl", "-sS", "-x", proxy.url, "--cacert", proxy.ca_cert_path, *args]
    for url in urls:
        command += ["-o", "/dev/null", "-w", " ".join(f"%{{{f}}}" for f in fields) + r"\n", url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [dict(zip(fields, line.split(), strict=True)) for line in done.stdout.splitlines()]


def curl_phases(figures: dict[str, str]) -> dict[str, float]:
    """curl's figures as HAR-like phases in ms: handshakes, wait, receive."""
    t = {k: float(figures[k]) * 1000 for k in CURL_TIMES}
    return {
        "setup": t["time_appconnect"] - t["time_connect"] if t["time_appconnect"] else 0.0,
        "wait": t["time_starttransfer"] - t["time_pretransfer"],
        "receive": t["time_total"] - t["time_starttransfer"],
    }


def paced(base: str, label: str, think: int = THINK) -> str:
    return f"{base}/paced?think={think}&chunks={CHUNKS}&gap={GAP}&{label}"


# -- curl -------------------------------------------------------------------------------


@needs_curl
@pytest.mark.parametrize("origin", ["http", "https"])
def test_phases_agree_with_curls_own_timings(proxy, upstream, origin):
    base = getattr(upstream, origin)
    url = paced(base, f"curl-{origin}")
    (figures,) = curl(proxy, url)
    assert figures["http_code"] == "200"
    seen, t = curl_phases(figures), entry_for(proxy, url)["timings"]

    # The known think time is wait, not connect or receive; the known body pace is receive.
    assert t["wait"] >= THINK - 2
    assert t["receive"] >= (CHUNKS - 1) * GAP - 2
    # The proxy's view lies inside the client's. The client's first byte does not wait for
    # the last (the body is streamed): its wait is less than half the body's time more than
    # ours (held back, it would be the whole body more), and so is its receive.
    if origin == "http":  # the upstream connect happens after the request, inside curl's wait
        assert t["connect"] >= 0 and t["ssl"] == -1
        assert t["wait"] + t["connect"] <= seen["wait"] + SLACK
    else:  # made during curl's TLS handshake with the proxy
        assert t["connect"] >= t["ssl"] > 0
        assert t["connect"] <= seen["setup"] + SLACK
        assert t["wait"] <= seen["wait"] + SLACK
    body_time = (CHUNKS - 1) * GAP
    assert seen["wait"] - t["wait"] - max(t["connect"], 0) < body_time / 2
    assert abs(seen["receive"] - t["receive"]) < body_time / 2


@needs_curl
def test_http2_client_to_http1_origin_keeps_one_upstream_connection(proxy, upstream):
    urls = [paced(upstream.https, f"h2-to-h1={i}", think=20) for i in range(4)]
    before = accepted(upstream, "https")
    figures = curl(proxy, *urls, args=("--http2",))
    assert accepted(upstream, "https") - before == 1  # keep-alive to the origin, as without the proxy
    # The client is offered what the origin speaks (HTTP/1.1) and keeps its one connection.
    assert [f["http_version"] for f in figures] == ["1.1"] * 4
    assert [f["num_connects"] for f in figures] == ["1", "0", "0", "0"]
    entries = [entry_for(proxy, u) for u in urls]
    assert [e["timings"]["connect"] >= 0 for e in entries] == [True, False, False, False]
    assert len({e["connection"] for e in entries}) == 1


@needs_curl
def test_multiplexed_connection_books_its_setup_to_the_request_that_opened_it(proxy, upstream):
    slow, fast = paced(upstream.h2, "opener", think=400), paced(upstream.h2, "second", think=10)
    before = accepted(upstream, "h2")
    figures = curl(proxy, slow, fast, args=("--http2", "--parallel"))
    assert [f["http_version"] for f in figures] == ["2", "2"]
    assert accepted(upstream, "h2") - before == 1  # both streams on one connection
    opener, second = entry_for(proxy, slow), entry_for(proxy, fast)
    assert opener["request"]["httpVersion"] == second["request"]["httpVersion"] == "HTTP/2.0"
    assert opener["connection"] == second["connection"]
    ended = [e["startedDateTime"] for e in (opener, second)]
    assert ended == sorted(ended)  # the opener started first ...
    assert second["time"] < opener["time"]  # ... and finished last
    assert opener["timings"]["connect"] >= opener["timings"]["ssl"] > 0
    assert second["timings"]["connect"] == second["timings"]["ssl"] == -1
    assert opener["_securityDetails"]["alpn"] == "h2"
    exported = [e["startedDateTime"] for e in proxy.session.to_har()["log"]["entries"]]
    assert exported == sorted(exported)


# -- failures ---------------------------------------------------------------------------


def test_body_cut_mid_way_keeps_what_the_client_got(proxy, upstream):
    url = f"{upstream.http}/reset-mid-body"
    with httpx.Client(proxy=proxy.url, timeout=10) as c, c.stream("GET", url) as r:
        assert r.status_code == 200  # the headers came through, as without the proxy
        got = bytearray()
        with pytest.raises(httpx.RemoteProtocolError):
            for chunk in r.iter_bytes():
                got += chunk
    assert bytes(got) == b"x" * 1000
    e = entry_for(proxy, url)
    response = e["response"]
    assert response["status"] == 200 and "peer closed connection" in response["_error"]
    assert response["content"]["text"] == "x" * 1000 and response["content"]["_truncated"] is True
    assert response["bodySize"] == response["content"]["size"] == 1000
    assert e["timings"]["receive"] > 0  # until the reset, which the server sends 50 ms after the bytes


def test_failed_connections_are_connect_and_ssl_not_wait(proxy):
    """Refused (plain and TLS), and a TLS handshake the server drops after 200 ms: for an
    HTTP/1.1 client (the connection is opened for its request; mitmproxy gives the flow no
    timestamps of the failed one, so all of it is connect) and for an HTTP/2 client (the
    connection is made during the client's handshake, so its TLS part is ssl)."""
    dropped = socket.create_server(("127.0.0.1", 0))
    refused_port = free_port()

    def drop_after_a_while() -> None:
        for _ in range(2):
            conn, _ = dropped.accept()
            time.sleep(0.2)
            conn.close()

    server = threading.Thread(target=drop_after_a_while, daemon=True)
    server.start()
    drop = f"https://127.0.0.1:{dropped.getsockname()[1]}/dropped"
    urls = (f"http://127.0.0.1:{refused_port}/refused", f"https://127.0.0.1:{refused_port}/refused", drop)
    with httpx.Client(proxy=proxy.url, verify=proxy.ssl_context(), timeout=10) as c:
        for url in urls:
            assert c.get(url).status_code == 502
    with httpx.Client(proxy=proxy.url, verify=proxy.ssl_context(), timeout=10, http2=True) as c:
        assert c.get(f"{drop}?h2").status_code == 502
    server.join(10)
    dropped.close()
    settle(proxy)
    for url in (*urls, f"{drop}?h2"):
        e = entry_for(proxy, url)
        t = e["timings"]
        assert e["response"]["status"] == 0 and e["_error"]
        assert t["connect"] >= 0 and t["wait"] < 5, (url, t)
    assert entry_for(proxy, drop)["timings"]["connect"] >= 195
    assert entry_for(proxy, f"{drop}?h2")["timings"]["ssl"] >= 195


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- fields -----------------------------------------------------------------------------


def test_transfer_size_and_devtools_security_details(proxy, upstream):
    from cryptography import x509

    url = f"{upstream.https}/bytes?n=5000"
    assert httpx.get(url, proxy=proxy.url, verify=proxy.ca_cert_path, timeout=10).status_code == 200
    e = entry_for(proxy, url)
    response = e["response"]
    assert response["_transferSize"] == response["headersSize"] + response["bodySize"] > 5000
    tls = e["_securityDetails"]
    cert = x509.load_pem_x509_certificate(Path(upstream.cert).read_bytes())
    assert tls["protocol"] in ("TLS 1.2", "TLS 1.3")
    assert tls["issuer"] == tls["subjectName"] == "necto-test-upstream"  # self-signed: issuer is its CN
    assert tls["validFrom"] == int(cert.not_valid_before_utc.timestamp())
    assert tls["validTo"] == int(cert.not_valid_after_utc.timestamp())


def test_the_obvious_httpx_call_and_an_ssl_context(proxy, upstream):
    assert httpx.get(f"{upstream.https}/echo?str", proxy=proxy.url, verify=proxy.ca_cert_path).status_code == 200
    with httpx.Client(proxy=proxy.url, verify=proxy.ssl_context()) as c:
        assert c.get(f"{upstream.https}/echo?context").status_code == 200
    settle(proxy)
    assert proxy.flows == 2


# -- Chromium ---------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
SCRIPTS, SCRIPT_THINK = 12, 100


def spki_pin(ca_cert_path: str) -> str:
    """The base64 SHA-256 of the CA's public key: mitmproxy signs with that key and gives it
    to the certificates it makes, so Chromium trusts them by this pin, no errors ignored."""
    import base64
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = x509.load_pem_x509_certificate(Path(ca_cert_path).read_bytes()).public_key()
    return base64.b64encode(hashlib.sha256(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).digest()).decode()


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed (apt-get install chromium)")
def test_chromium_page_load_matches_its_own_har_on_fewer_connections(proxy, upstream, tmp_path):
    import json

    from playwright.sync_api import sync_playwright

    page_url = f"{upstream.https}/page?n={SCRIPTS}&think={SCRIPT_THINK}"
    har_path = tmp_path / "chromium.har"
    before = accepted(upstream, "https")
    with sync_playwright() as p:
        args = [*QUIET_ARGS, f"--ignore-certificate-errors-spki-list={spki_pin(proxy.ca_cert_path)}"]
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args,
                                    proxy={"server": proxy.url})
        try:
            context = browser.new_context(record_har_path=str(har_path))
            page = context.new_page()
            page.goto(page_url, wait_until="load")
            context.close()  # writes the HAR
        finally:
            browser.close()
    settle(proxy)
    upstream_connections = accepted(upstream, "https") - before

    own = {e["request"]["url"]: e for e in json.loads(har_path.read_text())["log"]["entries"]}
    # Chromium's own background requests (sign-in, updates) fail at the proxy: not the page's.
    ours = {e["request"]["url"]: e for e in proxy.session.entries if e["request"]["url"].startswith(upstream.https)}
    scripts = [u for u in own if "/paced?" in u]
    assert len(scripts) == SCRIPTS and set(own) <= set(ours)
    # HTTP/1.1 to the origin: Chromium keeps at most six connections to it and reuses them;
    # one per request (13 here) was the bug.
    assert upstream_connections <= 6 < len(scripts) + 1
    assert sum(e["timings"]["connect"] >= 0 for e in ours.values()) <= upstream_connections
    for url in scripts:
        mine, theirs = ours[url], own[url]
        assert mine["response"]["status"] == theirs["response"]["status"] == 200
        assert mine["response"]["content"]["size"] == theirs["response"]["content"]["size"]
        # The browser's wait holds the proxy's (and any queueing): never less, and the think time is in both.
        assert SCRIPT_THINK - 2 <= mine["timings"]["wait"] <= theirs["timings"]["wait"] + SLACK
