"""Flow -> HAR entry on real mitmproxy flow objects with known timestamps (fast, no network)."""

from __future__ import annotations

import base64
import gzip
import uuid

import brotli
import pytest
from mitmproxy import http
from mitmproxy.connection import Server
from mitmproxy.flow import Error
from mitmproxy.test import tflow, tutils
from mitmproxy.websocket import WebSocketData, WebSocketMessage
from wsproto.frame_protocol import Opcode

import necto_nb as nn
from necto_nb.capture.convert import body_text, decode_body, flow_to_entry, iso

T = 1_700_000_000.0


def server(start=None, tcp=None, tls=None, *, secure=False, peer=("127.0.0.1", 443)) -> Server:
    return Server(id=str(uuid.uuid4()), address=("example.test", 443), peername=peer, sockname=("127.0.0.1", 50123),
                  timestamp_start=start, timestamp_tcp_setup=tcp, timestamp_tls_setup=tls, tls=secure)


def flow(*, conn=None, req=None, resp=True, error=None) -> http.HTTPFlow:
    request = req or tutils.treq(timestamp_start=T, timestamp_end=T + 0.010, content=b"",
                                 headers=http.Headers(host="example.test"))
    response = tutils.tresp(timestamp_start=T + 0.050, timestamp_end=T + 0.060) if resp is True else resp
    return tflow.tflow(server_conn=conn or server(), req=request, resp=response or False, err=error or False)


def close(a: float, b: float) -> bool:
    return abs(a - b) < 1e-3  # ms; float timestamps near 1.7e9 s carry ~1e-4 ms of error


def test_plain_first_request_wait_excludes_the_connect_it_contained():
    f = flow(conn=server(T + 0.012, T + 0.015))
    e = flow_to_entry(f, opened_connection=True)
    t = e["timings"]
    assert (t["blocked"], t["dns"], t["ssl"]) == (-1, -1, -1)
    assert close(t["send"], 10) and close(t["connect"], 3) and close(t["wait"], 37) and close(t["receive"], 10)
    # time is the whole exchange: request start to response end, nothing counted twice
    assert close(e["time"], 60)
    assert e["startedDateTime"] == iso(T)


def test_tls_first_request_connect_includes_ssl():
    f = flow(conn=server(T + 0.012, T + 0.015, T + 0.025, secure=True))
    t = flow_to_entry(f, opened_connection=True)["timings"]
    assert close(t["connect"], 13) and close(t["ssl"], 10) and close(t["wait"], 27)
    assert close(flow_to_entry(f, opened_connection=True)["time"], 60)


def test_reused_connection_has_no_connect_phase():
    f = flow(conn=server(T - 5, T - 4.99, T - 4.98, secure=True))
    e = flow_to_entry(f, opened_connection=False)
    assert (e["timings"]["connect"], e["timings"]["ssl"]) == (-1, -1)
    assert close(e["timings"]["wait"], 40) and close(e["time"], 60)


def test_connection_opened_before_the_request_starts_the_entry_there():
    f = flow(conn=server(T - 0.010, T - 0.009, T - 0.005, secure=True))
    e = flow_to_entry(f, opened_connection=True)
    t = e["timings"]
    assert e["startedDateTime"] == iso(T - 0.010)
    assert close(t["blocked"], 5) and close(t["connect"], 5) and close(t["ssl"], 4) and close(t["wait"], 40)
    assert close(e["time"], 70)


def test_failed_connect_is_status_0_with_error_and_timed_until_the_failure():
    f = flow(conn=server(T + 0.012), resp=False, error=Error("[Errno 111] Connect call failed", T + 0.030))
    e = flow_to_entry(f, opened_connection=True)
    assert e["response"]["status"] == 0
    assert e["response"]["_error"] == e["_error"] == "[Errno 111] Connect call failed"
    t = e["timings"]
    assert close(t["connect"], 18) and close(t["wait"], 2) and t["receive"] == 0 and close(e["time"], 30)


def test_response_and_error_keeps_status_and_error():
    f = flow(error=Error("peer closed connection without sending complete message body", T + 0.07))
    e = flow_to_entry(f, opened_connection=False)
    assert e["response"]["status"] == 200
    assert "complete message body" in e["response"]["_error"]


def test_compressed_bodies_are_decoded_with_size_and_compression():
    text = ("hello " * 1000).encode()
    for coding, packed in (("gzip", gzip.compress(text)), ("br", brotli.compress(text)),
                           ("gzip, br", brotli.compress(gzip.compress(text)))):
        resp = tutils.tresp(content=b"", headers=http.Headers(content_type="text/plain", content_encoding=coding))
        resp.raw_content = packed
        e = flow_to_entry(flow(resp=resp), opened_connection=False)
        c = e["response"]["content"]
        assert c["text"] == text.decode() and "encoding" not in c, coding
        assert c["size"] == len(text) and e["response"]["bodySize"] == len(packed)
        assert c["compression"] == len(text) - len(packed)


def test_undecodable_body_is_kept_raw_with_an_error():
    resp = tutils.tresp(content=b"", headers=http.Headers(content_encoding="gzip"))
    resp.raw_content = b"\x00not gzip at all\xff"
    c = flow_to_entry(flow(resp=resp), opened_connection=False)["response"]["content"]
    assert "gzip" in c["_error"]
    assert base64.b64decode(c["text"]) == b"\x00not gzip at all\xff"


def test_text_or_base64_is_decided_on_all_the_bytes():
    late = b"a" * 150 + "café".encode("latin-1")
    assert body_text(late, None)[1] == "base64"
    assert base64.b64decode(body_text(late, None)[0]) == late
    assert body_text("naïve ✓".encode(), None) == ("naïve ✓", None, False)
    binary = bytes(range(256))
    assert base64.b64decode(body_text(binary, None)[0]) == binary


def test_truncation_is_marked_and_never_splits_a_character():
    data = "é".encode() * 10  # 20 bytes
    text, enc, truncated = body_text(data, 5)
    assert (text, enc, truncated) == ("éé", None, True)
    resp = tutils.tresp(content=b"x" * 1000, headers=http.Headers(content_type="text/plain"))
    c = flow_to_entry(flow(resp=resp), opened_connection=False, max_body=100)["response"]["content"]
    assert c["_truncated"] is True and c["size"] == 1000 and c["text"] == "x" * 100


def test_request_bodies_binary_exact_and_forms_parsed():
    blob = bytes(range(256)) * 3
    req = tutils.treq(method=b"POST", content=blob, headers=http.Headers(content_type="application/octet-stream"))
    e = flow_to_entry(flow(req=req), opened_connection=False)
    post = e["request"]["postData"]
    assert post["encoding"] == "base64" and base64.b64decode(post["text"]) == blob
    assert e["request"]["bodySize"] == len(blob)
    assert nn.Session("s", [e]).request_body(0) == blob

    form = tutils.treq(method=b"POST", content=b"a=1&b=two+words&a=3",
                       headers=http.Headers(content_type="application/x-www-form-urlencoded"))
    post = flow_to_entry(flow(req=form), opened_connection=False)["request"]["postData"]
    assert post["text"] == "a=1&b=two+words&a=3"
    assert post["params"] == [{"name": "a", "value": "1"}, {"name": "b", "value": "two words"},
                              {"name": "a", "value": "3"}]


def test_headers_query_cookies_and_sizes():
    req = tutils.treq(path=b"/p?x=1&y=%C3%A9&x=2", content=b"",
                      headers=http.Headers([(b"Host", b"example.test"), (b"Cookie", b"a=1; b=2"),
                                            (b"X-Raw", b"caf\xe9")]))
    resp = tutils.tresp(headers=http.Headers([
        (b"Set-Cookie", b"s=abc; Path=/app; Domain=example.test; HttpOnly; Secure; SameSite=Lax; Max-Age=60"),
        (b"Set-Cookie", b"t=1; Expires=Wed, 21 Oct 2037 07:28:00 GMT"),
        (b"Location", b"/next"),
    ]), content=b"", timestamp_start=T + 0.050, timestamp_end=T + 0.060)
    e = flow_to_entry(flow(req=req, resp=resp), opened_connection=False)
    r = e["request"]
    assert r["queryString"] == [{"name": "x", "value": "1"}, {"name": "y", "value": "é"}, {"name": "x", "value": "2"}]
    assert r["cookies"] == [{"name": "a", "value": "1"}, {"name": "b", "value": "2"}]
    assert {"name": "X-Raw", "value": "café"} in r["headers"]  # not UTF-8: one character per byte
    line = "GET /p?x=1&y=%C3%A9&x=2 HTTP/1.1"
    assert r["headersSize"] == len(line) + 2 + sum(len(h["name"]) + len(h["value"]) + 4 for h in r["headers"]) + 2
    s, t = e["response"]["cookies"]
    assert s == {"name": "s", "value": "abc", "path": "/app", "domain": "example.test", "httpOnly": True,
                 "secure": True, "sameSite": "Lax", "expires": iso(T + 0.050 + 60)}
    assert t["expires"] == "2037-10-21T07:28:00.000000Z" and t["path"] == "/"
    assert e["response"]["redirectURL"] == "/next"


def test_urls_are_valid_uris_whatever_the_client_sent():
    cases = {
        b"/plain/path?q=1": "http://example.test:8080/plain/path?q=1",
        b"/caf\xc3\xa9 x|y": "http://example.test:8080/caf%C3%A9%20x%7Cy",
        b"/50%25/100%zz": "http://example.test:8080/50%25/100%25zz",
        b"*": "http://example.test:8080/*",
    }
    for path, url in cases.items():
        req = tutils.treq(host="example.test", port=8080, path=path, content=b"")
        assert flow_to_entry(flow(req=req), opened_connection=False)["request"]["url"] == url
    v6 = tutils.treq(host="::1", port=443, scheme=b"https", path=b"/", content=b"")
    assert flow_to_entry(flow(req=v6), opened_connection=False)["request"]["url"] == "https://[::1]/"
    odd = tutils.treq(host="example.test", port=8080, path=b"/caf\xc3\xa9 x|y", content=b"")
    assert len(nn.Session("s", [flow_to_entry(flow(req=odd), opened_connection=False)]).report) == 0


def test_http2_headers_size_is_unknown():
    req = tutils.treq(http_version=b"HTTP/2.0", content=b"")
    assert flow_to_entry(flow(req=req), opened_connection=False)["request"]["headersSize"] == -1


def test_server_address_and_connection():
    e = flow_to_entry(flow(conn=server(peer=("::ffff:127.0.0.1", 443, 0, 0))), opened_connection=False)
    assert e["serverIPAddress"] == "127.0.0.1" and e["connection"] == "50123"
    e = flow_to_entry(flow(conn=server(peer=("::1", 443, 0, 0))), opened_connection=False)
    assert e["serverIPAddress"] == "::1"


def test_websocket_messages_as_chrome_writes_them():
    f = flow(resp=tutils.tresp(status_code=101, reason=b"Switching Protocols", content=b""))
    f.websocket = WebSocketData(close_code=1000, close_reason="bye", closed_by_client=True)
    f.websocket.messages = [
        WebSocketMessage(Opcode.TEXT, True, "héllo".encode(), T + 1),
        WebSocketMessage(Opcode.BINARY, False, b"\x00\xff\x01", T + 2),
    ]
    e = flow_to_entry(f, opened_connection=False)
    assert e["_resourceType"] == "websocket"
    assert e["request"]["url"].startswith("ws://")
    assert e["_webSocketMessages"] == [
        {"type": "send", "time": T + 1, "opcode": 1, "data": "héllo"},
        {"type": "receive", "time": T + 2, "opcode": 2, "data": base64.b64encode(b"\x00\xff\x01").decode()},
    ]
    assert e["_webSocketClose"] == {"code": 1000, "reason": "bye", "by": "client"}


def test_decode_body_names_an_unknown_coding():
    with pytest.raises(ValueError, match="unknown Content-Encoding 'snappy'"):
        decode_body(b"x", "snappy")


def test_entries_validate_against_the_har_schema(har_schema):
    entries = [
        flow_to_entry(flow(conn=server(T + 0.012, T + 0.015, T + 0.025, secure=True)), opened_connection=True),
        flow_to_entry(flow(resp=False, error=Error("refused", T + 0.02)), opened_connection=False),
        flow_to_entry(flow(req=tutils.treq(method=b"POST", content=bytes(range(256)))), opened_connection=False),
    ]
    har = nn.Session("s", entries).to_har()
    errors = sorted(har_schema.iter_errors(har), key=str)
    assert not errors, errors[0]


def test_connection_never_made_is_connect_until_the_error_not_wait():
    # mitmproxy leaves the flow's server connection unset when getting one failed.
    f = flow(conn=server(), resp=False, error=Error("[Errno 111] Connect call failed", T + 0.030))
    e = flow_to_entry(f, opened_connection=False)
    t = e["timings"]
    assert close(t["connect"], 20) and t["wait"] == 0 and t["ssl"] == -1 and close(e["time"], 30)


def test_failed_tls_handshake_is_ssl_until_the_connection_ended():
    conn = server(T - 0.300, T - 0.299, secure=True)
    conn.timestamp_end = T - 0.099  # the server dropped the handshake after 200 ms
    f = flow(conn=conn, resp=False, error=Error("TLS handshake failed", T + 0.011))
    t = flow_to_entry(f, opened_connection=True)["timings"]
    assert close(t["connect"], 201) and close(t["ssl"], 200) and close(t["wait"], 1)


def test_body_cut_after_streaming_keeps_the_bytes_that_arrived_and_the_time_until_the_error():
    resp = tutils.tresp(content=None, headers=http.Headers(content_type="text/plain", content_length="100000"),
                        timestamp_start=T + 0.050, timestamp_end=None)
    resp.stream = True
    f = flow(resp=resp, error=Error("peer closed connection", T + 0.120))
    r = flow_to_entry(f, opened_connection=False, partial_body=b"x" * 1000)
    response, t = r["response"], r["timings"]
    assert response["status"] == 200 and response["_error"] == "peer closed connection"
    assert response["content"]["text"] == "x" * 1000 and response["content"]["_truncated"] is True
    assert response["bodySize"] == 1000 and close(t["receive"], 70)


def test_body_cut_while_held_is_the_proxys_502_with_the_servers_head_kept():
    resp = tutils.tresp(content=None, headers=http.Headers(content_length="100000"), timestamp_start=T + 0.050,
                        timestamp_end=None)
    f = flow(resp=resp, error=Error("peer closed connection", T + 0.120))
    response = flow_to_entry(f, opened_connection=False)["response"]
    assert (response["status"], response["statusText"], response["headers"]) == (502, "Bad Gateway", [])
    assert response["_upstream"]["status"] == 200
    assert {"name": "content-length", "value": "100000"} in response["_upstream"]["headers"]
    assert response["content"]["_truncated"] is True and response["bodySize"] == -1


def test_transfer_size_is_head_and_body_on_the_wire():
    resp = tutils.tresp(content=b"x" * 300, headers=http.Headers(content_type="text/plain"))
    response = flow_to_entry(flow(resp=resp), opened_connection=False)["response"]
    assert response["_transferSize"] == response["headersSize"] + 300 and response["headersSize"] > 0


def test_captured_entries_export_in_start_order_imported_ones_in_file_order(tmp_path):
    late = flow_to_entry(flow(req=tutils.treq(timestamp_start=T + 1, timestamp_end=T + 1.01, content=b"",
                                              path=b"/late")), opened_connection=False)
    early = flow_to_entry(flow(req=tutils.treq(timestamp_start=T, timestamp_end=T + 0.01, content=b"",
                                               path=b"/early")), opened_connection=False)
    captured = nn.Session("s", [late, early])  # appended as they finished
    assert [e["request"]["url"][-5:] for e in captured.to_har()["log"]["entries"]] == ["early", "/late"]
    assert [e["request"]["url"][-5:] for e in captured.to_har(rows=[1, 0])["log"]["entries"]] == ["early", "/late"]
    path = tmp_path / "unsorted.har"
    path.write_text(__import__("json").dumps({"log": {"version": "1.2", "creator": {"name": "x", "version": "1"},
                                                        "entries": [late, early]}}))
    imported = nn.read_har(path)
    assert [e["request"]["url"][-5:] for e in imported.to_har()["log"]["entries"]] == ["/late", "early"]
