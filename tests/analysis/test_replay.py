"""replay against a real HTTP server on 127.0.0.1 (a thread of this test process)."""

from __future__ import annotations

import base64
import gzip
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import necto_nb as nn
from tests.factory import entry

PROD = "https://prod.example.com"  # what the recording says; every test replays to loopback


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: later requests reuse the connection
    served = 0

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?")[0]
        if path.endswith("/echo"):
            echo = {"method": self.command, "path": self.path, "body": base64.b64encode(body).decode(),
                    "headers": [[k.lower(), v] for k, v in self.headers.items()]}
            self._send(200, json.dumps(echo).encode(), {"Content-Type": "application/json"})
        elif path.endswith("/items"):
            type(self).served += 1
            doc = {"items": [{"id": 1, "price": 9.5}], "served": type(self).served}
            self._send(200, json.dumps(doc).encode(), {"Content-Type": "application/json"})
        elif path.endswith("/gzip"):
            self._send(200, gzip.compress(json.dumps({"zipped": "z" * 2000}).encode()),
                       {"Content-Type": "application/json", "Content-Encoding": "gzip"})
        elif path.endswith("/slow"):
            time.sleep(0.08)
            self._send(200, b"late", {"Content-Type": "text/plain"})
        elif path.endswith("/binary"):
            self._send(200, bytes(range(256)), {"Content-Type": "image/png"})
        elif path.endswith("/redirect"):
            self._send(302, b"", {"Location": "/api/items"})
        else:
            self._send(404, b"no", {"Content-Type": "text/plain"})

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def recorded() -> nn.Session:
    return nn.Session("recorded", [
        entry(f"{PROD}/api/echo?x=1", method="POST", at=0, post=b"\x00\x01\xffpayload",
              request_headers={"X-Custom": "1", "User-Agent": "recorded-agent", "Host": "prod.example.com",
                               "Content-Length": "999", ":authority": "prod.example.com"}),
        entry(f"{PROD}/api/echo", method="PUT", at=10, post='{"name": "é"}',
              request_headers={"Content-Type": "application/json"}),
        entry(f"{PROD}/api/echo", method="DELETE", at=20),
        entry(f"{PROD}/api/items", at=30),
        entry(f"{PROD}/api/gzip", at=40, request_headers={"Accept-Encoding": "gzip"}),
        entry(f"{PROD}/api/slow", at=50),
        entry(f"{PROD}/api/binary", at=60),
        entry(f"{PROD}/api/redirect", at=70),
    ])


def echoed(session: nn.Session, i: int) -> dict:
    return json.loads(session.response_body(i))


def test_methods_bodies_and_headers_go_out_as_recorded(server):
    before = recorded()
    after = nn.replay(before, base_url=server)
    assert len(after) == len(before) and after.name == "recorded (replay)"
    first = echoed(after, 0)
    assert (first["method"], first["path"]) == ("POST", "/api/echo?x=1")
    assert base64.b64decode(first["body"]) == b"\x00\x01\xffpayload"
    headers = dict(first["headers"])
    assert headers["x-custom"] == "1" and headers["user-agent"] == "recorded-agent"
    assert headers["host"] == server.split("//")[1] and headers["content-length"] == "10"
    assert "accept-encoding" not in headers and "accept" not in headers  # no client defaults added
    assert [h for h in first["headers"] if h[0].startswith(":")] == []
    second = echoed(after, 1)
    assert second["method"] == "PUT" and base64.b64decode(second["body"]) == '{"name": "é"}'.encode()
    assert echoed(after, 2)["method"] == "DELETE"
    # the new entries say what was sent: method, URL, headers, body
    sent = after.entries[0]["request"]
    assert sent["method"] == "POST" and sent["url"] == f"{server}/api/echo?x=1"
    assert {"name": "X-Custom", "value": "1"} in sent["headers"]
    assert sent["queryString"] == [{"name": "x", "value": "1"}]
    assert after.request_body(0) == before.request_body(0)
    assert after.entries[0]["_replayOf"] == {"entry": 0, "url": f"{PROD}/api/echo?x=1"}
    assert after.df["status"].tolist() == [200, 200, 200, 200, 200, 200, 200, 302]
    assert len(after.report) == 0  # the entries replay writes are valid HAR


def test_responses_are_recorded_in_full(server):
    after = nn.replay(recorded(), base_url=server)
    assert json.loads(after.response_body(4)) == {"zipped": "z" * 2000}
    gz = after.entries[4]["response"]
    assert gz["bodySize"] < gz["content"]["size"] and gz["content"]["compression"] > 0
    assert {"name": "Content-Encoding", "value": "gzip"} in gz["headers"]
    assert after.response_body(6) == bytes(range(256))
    assert after.entries[6]["response"]["content"]["encoding"] == "base64"
    redirect = after.entries[7]["response"]
    assert redirect["status"] == 302 and redirect["redirectURL"] == "/api/items"  # not followed
    assert after.df["server_ip"].unique().tolist() == ["127.0.0.1"]
    assert after.df["http_version"].unique().tolist() == ["HTTP/1.1"]


def test_timings_are_measured(server):
    after = nn.replay(recorded(), base_url=server)
    df = after.df
    assert df.loc[0, "connect"] >= 0 and df.loc[1:, "connect"].isna().all()  # one keep-alive connection
    assert df["dns"].isna().all() and df["ssl"].isna().all()  # resolved while connecting; plain HTTP
    assert (df[["blocked", "send", "wait", "receive"]] >= 0).all().all()
    # The slow endpoint sleeps 80 ms once it has the request: after the send began, before the
    # first byte. Where send ends is stamped by a thread a loaded machine may run late.
    assert df.loc[5, ["send", "wait"]].sum() >= 80
    phases = df[["blocked", "connect", "send", "wait", "receive"]].fillna(0).sum(axis=1)
    assert (df["time"] - phases).abs().max() < 0.01
    assert df["started"].is_monotonic_increasing


def test_diff_of_a_recording_and_its_replay_shows_only_what_the_server_changed(server):
    before = nn.replay(recorded(), base_url=server, name="before")
    again = nn.replay(before)  # the recording's own URLs: the same loopback server
    changes = nn.diff(before, again)
    assert changes[["part", "name", "change"]].values.tolist() == [["response body", "$.served", "changed"]]
    assert changes["url"].tolist() == [f"{server}/api/items"]
    t = nn.compare_timings(before, again)
    assert t["change"].eq("matched").all()


def test_failures_become_entries_with_their_error(server):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    session = nn.Session("mixed", [entry(f"{closed}/x", at=0), entry("data:text/plain,hi", at=5),
                                   entry(f"{PROD}/api/items", at=10)])
    unreadable = entry(f"{server}/api/echo", method="POST", at=15, post=b"x")
    unreadable["request"]["postData"]["text"] = "not base64!"
    session.extend([unreadable])
    after = nn.replay(session, rows=[0, 1, 3])
    assert after.df["status"].tolist() == [0, 0, 0]
    errors = after.df["error"].tolist()
    assert errors[0] and "not replayed: data scheme (only http and https)" == errors[1]
    assert errors[2] == "request.postData.text: marked base64 but is not valid base64"  # and nothing sent
    assert after.entries[0]["response"]["_error"] == errors[0]
    ours = nn.replay(session, rows=session.df["url"].str.startswith(PROD), base_url=server)
    assert ours.df["status"].tolist() == [200]


def test_headers_override_and_base_url_paths(server):
    session = nn.Session("s", [entry(f"{PROD}/echo?q=1", request_headers={"Authorization": "Bearer prod"})])
    after = nn.replay(session, base_url=f"{server}/api/", headers={"authorization": "Bearer staging", "X-Run": "2"})
    echo = echoed(after, 0)
    assert echo["path"] == "/api/echo?q=1"
    assert ["authorization", "Bearer staging"] in echo["headers"] and ["x-run", "2"] in echo["headers"]
    assert ["authorization", "Bearer prod"] not in echo["headers"]
    with pytest.raises(ValueError, match="base_url='staging:8000': give a scheme and a host"):
        nn.replay(session, base_url="staging:8000")


def test_a_client_of_your_own_is_used_and_left_open(server):
    import httpx

    seen: list[str] = []
    with httpx.Client(event_hooks={"request": [lambda r: seen.append(str(r.url))]}, timeout=5) as client:
        after = nn.replay(recorded(), rows=[3], base_url=server, client=client)
        assert seen == [f"{server}/api/items"] and after.df["status"].tolist() == [200]
        assert not client.is_closed


@pytest.mark.parametrize("scheme", ["wss", "https"])  # Chrome writes wss://; some tools the https:// upgrade
def test_a_websocket_is_opened_as_one_and_its_messages_sent_again(scheme):
    from necto_nb.demo import serve

    e = entry(f"{scheme}://prod.example.com/ws", status=101, at=0,
              request_headers={"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "User-Agent": "recorded-agent"},
              headers={"Upgrade": "websocket", "Sec-WebSocket-Accept": "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="})
    e["_resourceType"] = "websocket"
    e["_webSocketMessages"] = [
        {"type": "send", "time": 1.0, "opcode": 1, "data": "hello"},
        {"type": "receive", "time": 1.1, "opcode": 1, "data": "hello"},
        {"type": "send", "time": 1.2, "opcode": 2, "data": base64.b64encode(b"\x00\xffbinary").decode()},
        {"type": "receive", "time": 1.3, "opcode": 2, "data": base64.b64encode(b"\x00\xffbinary").decode()},
    ]
    before = nn.Session("recorded", [e])
    with serve() as site:  # its /ws echoes each message
        after = nn.replay(before, base_url=site.url)
        again = nn.replay(after)  # the replay's own URL: one WebSocket request on both sides, the same
    got = after.entries[0]
    assert got["request"]["url"] == f"{'ws' if scheme == 'wss' else 'http'}://127.0.0.1:{site.port}/ws"
    assert got["response"]["status"] == 101 and after.df.resource_type[0] == "websocket"
    assert {"name": "User-Agent", "value": "recorded-agent"} in got["request"]["headers"]
    assert [(m["type"], m["opcode"], m["data"]) for m in got["_webSocketMessages"]] == [
        (m["type"], m["opcode"], m["data"]) for m in e["_webSocketMessages"]]
    assert nn.diff(after, again).empty
