"""The demo site: every endpoint over real loopback HTTP, its shutdown, and a real browser page load."""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys
import threading
import time

import httpx
import psutil
import pytest
from websockets.sync.client import connect as ws_connect

import necto_nb as nn
from necto_nb.demo import DemoServer, serve
from necto_nb.demo.assets import STATIC, TILES
from tests.widgets.lab import chromium, needs_chromium


@pytest.fixture
def site():
    with serve() as server:
        yield server


@pytest.fixture
def client(site):
    with httpx.Client(base_url=site.url, timeout=10) as c:
        yield c


def test_serve_binds_loopback_on_a_free_port(site):
    assert site.host == "127.0.0.1"
    assert site.port > 0
    assert site.url == f"http://127.0.0.1:{site.port}"
    assert site.ws_url == f"ws://127.0.0.1:{site.port}/ws"
    assert repr(site) == f"<DemoServer {site.url} running slow_ms=0>"


def test_demo_is_reachable_from_the_package():
    assert nn.demo.serve is serve


def test_importing_the_package_does_not_load_the_demo_server():
    code = "import sys, necto_nb; assert 'tornado' not in sys.modules and 'necto_nb.demo' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_page_references_css_js_and_images_that_all_exist(client):
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "demo_session=" in page.headers["set-cookie"]
    for name in ["style.css", "app.js", "img/logo.svg", "img/photo.png"] + [f"img/tile-{n}.svg" for n in range(1, TILES + 1)]:
        assert f"/static/{name}" in page.text
        asset = client.get(f"/static/{name}")
        assert asset.status_code == 200, name
        assert asset.headers["content-type"] == STATIC[name][0]
        assert asset.content == STATIC[name][1]
    assert client.get("/static/img/photo.png").content.startswith(b"\x89PNG\r\n\x1a\n")
    missing = client.get("/static/nope.css")
    assert missing.status_code == 404
    assert missing.json() == {"error": "no such static file: nope.css", "status": 404}


def test_api_get_post_and_item(client):
    listed = client.get("/api/items").json()
    assert listed["count"] == len(listed["items"]) == 16
    created = client.post("/api/items", json={"name": "widget", "price": 9.5, "id": 999})
    assert created.status_code == 201
    assert created.json() == {"id": 17, "name": "widget", "price": 9.5}  # the client cannot choose the id
    assert created.headers["location"] == "/api/items/17"
    assert client.get("/api/items/17").json()["name"] == "widget"
    assert client.get("/api/items").json()["count"] == 17
    assert client.get("/api/items/999").status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "the body is not JSON"),
        (b"[1, 2]", 'the body must be a JSON object with a string "name"'),
        (b'{"name": 3}', 'the body must be a JSON object with a string "name"'),
        (b"", 'the body must be a JSON object with a string "name"'),
    ],
)
def test_api_rejects_bad_bodies_with_a_json_error(client, body, message):
    answer = client.post("/api/items", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400
    assert answer.reason_phrase == "Bad Request"
    assert answer.json()["error"].startswith(message)


def test_redirect_to_local_paths_only(client):
    hop = client.get("/redirect?to=/api/items/3&status=301")
    assert (hop.status_code, hop.headers["location"]) == (301, "/api/items/3")
    followed = client.get("/redirect", follow_redirects=True)
    assert followed.url.path == "/"
    assert [r.status_code for r in followed.history] == [302]
    for target in ["//elsewhere.example/", "http://elsewhere.example/", "/\\elsewhere"]:
        refused = client.get("/redirect", params={"to": target})
        assert refused.status_code == 400, target
    assert client.get("/redirect?status=200").status_code == 400


def _raw(client: httpx.Client, path: str, accept_encoding: str) -> tuple[httpx.Headers, bytes]:
    with client.stream("GET", path, headers={"accept-encoding": accept_encoding}) as answer:
        return answer.headers, b"".join(answer.iter_raw())


def test_gzip_endpoint_is_always_compressed(client):
    headers, raw = _raw(client, "/gzip", "identity")
    assert headers["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(raw))["gzipped"] is True


def test_text_responses_are_gzipped_when_the_client_accepts_it(client):
    for path in ["/api/items", "/static/style.css", "/static/app.js"]:
        headers, raw = _raw(client, path, "gzip")
        assert headers["content-encoding"] == "gzip", path
        assert len(gzip.decompress(raw)) > len(raw)
        headers, raw = _raw(client, path, "identity")
        assert "content-encoding" not in headers, path


def test_slow_waits_for_the_parameter_plus_the_server_knob(site, client):
    started = time.perf_counter()
    body = client.get("/slow?ms=120").json()
    assert body["requested_ms"] == 120 and body["extra_ms"] == 0
    assert body["slept_ms"] >= 120
    assert time.perf_counter() - started >= 0.12
    site.slow_ms = 150
    body = client.get("/slow?ms=10").json()
    assert (body["requested_ms"], body["extra_ms"]) == (10, 150)
    assert body["slept_ms"] >= 160
    with serve(slow_ms=200) as candidate:
        assert httpx.get(candidate.url + "/slow").json()["slept_ms"] >= 200


@pytest.mark.parametrize("query", ["ms=abc", "ms=-1", "ms=60001", "ms=1.5"])
def test_slow_rejects_bad_delays(client, query):
    answer = client.get(f"/slow?{query}")
    assert answer.status_code == 400
    assert "ms" in answer.json()["error"]


@pytest.mark.parametrize("value", [-1, 60_001, 1.5, "100", True])
def test_slow_knob_is_validated(site, value):
    with pytest.raises(ValueError, match="slow_ms must be a whole number of milliseconds"):
        site.slow_ms = value
    with pytest.raises(ValueError, match="slow_ms"):
        serve(slow_ms=value)


def test_error_endpoint(client):
    assert client.get("/error").status_code == 500
    answer = client.post("/error?status=503")
    assert answer.status_code == 503
    assert answer.json() == {"error": "the demo failed on purpose", "status": 503}
    assert client.get("/error?status=200").status_code == 400


def test_drop_closes_the_connection_without_an_answer(site, client):
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        client.get("/drop")
    assert client.get("/api/items/1").status_code == 200  # the server carries on
    assert ("GET", "/drop", 0) in site.served


def test_unknown_pages_are_json_404s(client):
    answer = client.get("/no/such/page")
    assert answer.status_code == 404
    assert answer.json()["error"] == "no such page: /no/such/page"


def test_websocket_echoes_text_and_binary(site):
    with ws_connect(site.ws_url) as ws:
        ws.send("hello")
        assert ws.recv(timeout=5) == "hello"
        ws.send(b"\x00\xffbinary")
        assert ws.recv(timeout=5) == b"\x00\xffbinary"


def _accepted(site: DemoServer) -> int:
    """Connections the site's server has accepted and holds open (this process is both ends)."""
    return sum(1 for c in psutil.Process().net_connections("tcp")
               if c.laddr and c.laddr.port == site.port and c.status == psutil.CONN_ESTABLISHED)


def _eventually(condition, timeout: float = 10.0) -> bool:
    """The server records a request just after the client has its answer: poll briefly."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_served_records_each_answer(site, client):
    client.get("/")
    client.get("/error?status=418")
    assert _eventually(lambda: len(site.served) == 2)
    assert list(site.served) == [("GET", "/", 200), ("GET", "/error?status=418", 418)]


def test_stop_ends_open_requests_and_websockets_and_frees_the_port():
    from websockets.exceptions import ConnectionClosed

    site = serve()
    outcome: dict[str, BaseException] = {}

    def wait_long():
        try:
            httpx.get(site.url + "/slow?ms=60000", timeout=30)
        except httpx.HTTPError as e:
            outcome["slow"] = e

    waiter = threading.Thread(target=wait_long)
    waiter.start()
    with ws_connect(site.ws_url) as ws:
        assert _eventually(lambda: bool(site._websockets))
        assert _eventually(lambda: _accepted(site) >= 2)  # the WebSocket's and the slow request's
        site.stop()
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd.code == 1001
    waiter.join(10)
    assert not waiter.is_alive()
    assert isinstance(outcome["slow"], httpx.RemoteProtocolError)
    assert not site.running
    assert repr(site).endswith("stopped slow_ms=0>")
    with pytest.raises(httpx.ConnectError):
        httpx.get(site.url)
    site.stop()  # idempotent
    with serve(port=site.port) as again:  # the port was released
        assert again.port == site.port


def test_a_busy_port_is_a_clear_error(site):
    with pytest.raises(OSError, match=rf"cannot serve the demo site on 127.0.0.1:{site.port}: "):
        serve(port=site.port)


def test_two_sites_run_side_by_side():
    with serve() as baseline, serve(slow_ms=100) as candidate:
        assert baseline.port != candidate.port
        assert httpx.get(baseline.url + "/slow").json()["extra_ms"] == 0
        assert httpx.get(candidate.url + "/slow").json()["extra_ms"] == 100


def test_ipv6_loopback_url():
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    try:
        site = DemoServer(host="::1")
    except OSError as e:
        pytest.skip(f"::1 cannot be bound here: {e}")
    with site:
        assert site.url == f"http://[::1]:{site.port}"
        assert httpx.get(site.url + "/api/items/1").json()["id"] == 1


@pytest.mark.integration
@pytest.mark.browser
@needs_chromium
def test_a_browser_page_load_fetches_everything_and_runs_the_script(site):
    with chromium() as context:
        page = context.new_page()
        failed: list[str] = []
        page.on("requestfailed", lambda r: failed.append(r.url))
        page.goto(site.url + "/")
        page.wait_for_function("document.getElementById('status').textContent !== 'loading'")
        assert page.text_content("#status") == "ready"
        assert page.locator("#items li").count() == 16
        assert failed == []
    expected = {("GET", "/"), ("GET", "/api/items"), ("POST", "/api/items"), ("GET", "/slow?ms=50"), ("GET", "/ws")}
    expected |= {("GET", f"/static/{name}") for name in STATIC}
    assert _eventually(lambda: expected <= {(method, uri) for method, uri, status in site.served if status < 400})

