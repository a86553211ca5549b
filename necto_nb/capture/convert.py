"""One finished mitmproxy flow as one HAR 1.2 entry dict.

mitmproxy's own `addons/savehar.py` is the reference this follows, with the differences a
lossless record needs: header bytes and order kept, bodies decoded with mitmproxy's codec
table (not `Message.content`, whose shared decode cache is not safe off the proxy's
thread), text chosen only when the bytes are exact UTF-8 (anything else is base64, so the
bytes come back unchanged), `wait` without the upstream connect it used to contain, -1
for phases that were not measured, failures kept with `_error`, TLS details of the
upstream server under `_securityDetails` (Chrome's DevTools protocol names).
"""

from __future__ import annotations

import base64
import ipaddress
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl

from mitmproxy import http
from mitmproxy.net import encoding

_BODY_METHODS = {"POST", "PUT", "PATCH"}


def iso(ts: float) -> str:
    """A Unix timestamp as RFC 3339 UTC with microseconds (HAR's date-time)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ms(start: float | None, end: float | None) -> float:
    if start is None or end is None:
        return -1.0
    return max(0.0, (end - start) * 1000.0)


def _str(raw: bytes) -> str:
    # Header bytes are not always UTF-8; latin-1 keeps one character per byte.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _pairs(items) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in items]


def _headers(headers: http.Headers) -> list[dict[str, str]]:
    return [{"name": _str(k), "value": _str(v)} for k, v in headers.fields]


def _headers_size(first_line: str, message: http.Message) -> int:
    """Bytes of an HTTP/1 header block; -1 for HTTP/2 and 3, whose headers are compressed."""
    if not message.http_version.startswith("HTTP/1"):
        return -1
    fields = message.headers.fields
    return len(first_line) + 2 + sum(len(k) + len(v) + 4 for k, v in fields) + 2


def decode_body(raw: bytes, content_encoding: str) -> bytes:
    """`raw` with every listed Content-Encoding undone, last applied first.

    Raises ValueError naming the coding that failed or is unknown.
    """
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    data = raw
    for coding in reversed(codings):
        decode = encoding.custom_decode.get("gzip" if coding == "x-gzip" else coding)
        if decode is None:
            raise ValueError(f"unknown Content-Encoding {coding!r}")
        try:
            data = decode(data)
        except Exception as e:  # each codec raises its own error type
            raise ValueError(f"cannot decode Content-Encoding {coding!r}: {e}") from None
    return data


def body_text(data: bytes, max_body: int | None) -> tuple[str, str | None, bool]:
    """(text, encoding, truncated): UTF-8 text when the bytes are exactly UTF-8, else base64.

    Deciding on all the stored bytes (not a sniff of the first hundred) keeps the record
    lossless: text.encode() or b64decode(text) gives the bytes back.
    """
    truncated = max_body is not None and len(data) > max_body
    stored = data[:max_body] if truncated else data
    try:
        return stored.decode("utf-8"), None, truncated
    except UnicodeDecodeError as e:
        # A cap can split a multi-byte character: drop the partial tail, still exact.
        if truncated and e.start >= len(stored) - 3 and e.reason == "unexpected end of data":
            return stored[: e.start].decode("utf-8"), None, truncated
    return base64.b64encode(stored).decode("ascii"), "base64", truncated


def _expires(attrs, received: float) -> str | None:
    if (max_age := attrs.get("max-age")) is not None:
        try:
            return iso(received + int(max_age))
        except (ValueError, OverflowError):
            pass
    if (expires := attrs.get("expires")) is not None:
        try:
            when = parsedate_to_datetime(expires)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return None


def response_cookies(response: http.Response) -> list[dict[str, Any]]:
    cookies = []
    try:
        items = response.cookies.items(multi=True)
    except ValueError:  # an unparsable Set-Cookie stays in the headers
        return []
    for name, (value, attrs) in items:
        cookie: dict[str, Any] = {
            "name": name,
            "value": value,
            "path": attrs.get("path") or "/",
            "domain": attrs.get("domain") or "",
            "httpOnly": "httponly" in attrs,
            "secure": "secure" in attrs,
        }
        if expires := _expires(attrs, response.timestamp_start):
            cookie["expires"] = expires
        if same_site := attrs.get("samesite"):
            cookie["sameSite"] = same_site
        cookies.append(cookie)
    return cookies


def _server_ip(peername) -> str | None:
    if not peername:
        return None
    address = str(peername[0]).split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return str(ip)


def _dn(pairs: list[tuple[str, str]]) -> str:
    return ", ".join(f"{k}={v}" for k, v in pairs)


def security_details(server) -> dict[str, Any] | None:
    """The upstream TLS session: protocol, cipher, ALPN and the server certificate."""
    if not server.tls or not server.tls_established:
        return None
    details: dict[str, Any] = {
        "protocol": server.tls_version or "",
        "cipher": server.cipher or "",
        "alpn": (server.alpn or b"").decode("ascii", "replace"),
        "sni": server.sni or "",
    }
    if server.certificate_list:
        cert = server.certificate_list[0]
        details.update(
            subjectName=cert.cn or "",
            subject=_dn(cert.subject),
            issuer=_dn(cert.issuer),
            sanList=[str(name.value) for name in cert.altnames],
            validFrom=iso(cert.notbefore.timestamp()),
            validTo=iso(cert.notafter.timestamp()),
        )
    return details


def timings(flow: http.HTTPFlow, opened_connection: bool) -> tuple[float, dict[str, float]]:
    """(start timestamp, HAR timings in ms) from mitmproxy's timestamps.

    `connect` includes `ssl`; both are -1 unless this flow opened its upstream connection.
    DNS is folded into connect by mitmproxy (-1 here). A lazily opened connection is set up
    after the request was read, inside `response.start - request.end`: that overlap is
    taken out of `wait`, so no time is counted twice.
    """
    req, resp, conn = flow.request, flow.response, flow.server_conn
    start = req.timestamp_start
    req_end = req.timestamp_end
    ended = (resp.timestamp_start if resp else None) or (flow.error.timestamp if flow.error else None)

    blocked = connect = ssl = -1.0
    conn_start = conn.timestamp_start if opened_connection else None
    conn_end = None
    if conn_start is not None:
        tcp = conn.timestamp_tcp_setup
        conn_end = conn.timestamp_tls_setup or tcp
        if conn_end is None:  # refused, timed out or failed TLS: it lasted until the error
            conn_end = ended or conn.timestamp_end
        if conn_end is not None:
            connect = _ms(conn_start, conn_end)
            if tcp is not None and conn.tls:
                ssl = _ms(tcp, conn.timestamp_tls_setup or conn_end)
        if conn_start < start:
            # Opened before the request began (eager CONNECT): the entry starts there,
            # and the wait between the ready connection and the request is `blocked`.
            blocked = _ms(conn_end or conn_start, start)
            start = conn_start

    send = _ms(req.timestamp_start, req_end) if req_end else 0.0
    wait = 0.0
    if req_end is not None and ended is not None:
        wait = (ended - req_end) * 1000.0
        if conn_start is not None and conn_end is not None:
            overlap = min(conn_end, ended) - max(conn_start, req_end)
            wait -= max(0.0, overlap) * 1000.0
        wait = max(0.0, wait)
    receive = _ms(resp.timestamp_start, resp.timestamp_end) if resp and resp.timestamp_end else 0.0
    return start, {
        "blocked": blocked, "dns": -1.0, "connect": connect, "ssl": ssl,
        "send": send, "wait": wait, "receive": receive,
    }


def _post_data(request: http.Request, max_body: int | None) -> dict[str, Any] | None:
    raw = request.raw_content
    if not raw and request.method not in _BODY_METHODS:
        return None
    mime = request.headers.get("content-type", "")
    post: dict[str, Any] = {"mimeType": mime, "text": ""}
    data = raw or b""
    if data and (ce := request.headers.get("content-encoding")):
        try:
            data = decode_body(data, ce)
        except ValueError as e:  # keep the bytes as sent, say why they are not decoded
            post["_error"] = str(e)
    if not data:
        return post
    text, enc, truncated = body_text(data, max_body)
    post["text"] = text
    if enc:
        post["encoding"] = enc
    if truncated:
        post["_truncated"] = True
    if enc is None and not truncated and mime.lower().startswith("application/x-www-form-urlencoded"):
        post["params"] = [{"name": k, "value": v} for k, v in parse_qsl(text, keep_blank_values=True)]
    return post


def _content(response: http.Response, max_body: int | None) -> tuple[dict[str, Any], int]:
    """(HAR content, bodySize): the decoded body, its size and what compression saved."""
    raw = response.raw_content
    content: dict[str, Any] = {"size": 0, "compression": 0, "mimeType": response.headers.get("content-type", "")}
    if raw is None:  # streamed through without being stored
        content["_truncated"] = True
        return content, -1
    data = raw
    if raw and (ce := response.headers.get("content-encoding")):
        try:
            data = decode_body(raw, ce)
        except ValueError as e:
            content["_error"] = str(e)
    content["size"] = len(data)
    content["compression"] = len(data) - len(raw)
    if data:
        text, enc, truncated = body_text(data, max_body)
        content["text"] = text
        if enc:
            content["encoding"] = enc
        if truncated:
            content["_truncated"] = True
    return content, len(raw)


def _failed_response(error: str | None) -> dict[str, Any]:
    return {
        "status": 0, "statusText": "", "httpVersion": "", "cookies": [], "headers": [],
        "content": {"size": 0, "mimeType": ""}, "redirectURL": "",
        "headersSize": -1, "bodySize": -1, "_transferSize": 0,
        "_error": error or "no response",
    }


def flow_to_entry(flow: http.HTTPFlow, *, opened_connection: bool, max_body: int | None = None) -> dict[str, Any]:
    """The HAR 1.2 entry for a finished (or failed) HTTP or WebSocket flow.

    `opened_connection`: this flow opened its upstream connection, so connect/ssl are its
    own (the caller knows the order flows arrived in). `max_body`: bytes of each body to
    keep; longer bodies keep `size` and are marked `_truncated`.
    """
    req = flow.request
    start, phases = timings(flow, opened_connection)
    url = f"https://{req.pretty_host}:{req.port}/" if req.method == "CONNECT" else req.pretty_url
    if flow.websocket is not None:
        url = "ws" + url[4:] if url.startswith("http") else url
    request: dict[str, Any] = {
        "method": req.method,
        "url": url,
        "httpVersion": req.http_version,
        "cookies": _pairs(req.cookies.items(multi=True)),
        "headers": _headers(req.headers),
        "queryString": _pairs(req.query.items(multi=True)),
        "headersSize": _headers_size(f"{req.method} {req.path} {req.http_version}", req),
        "bodySize": len(req.raw_content) if req.raw_content is not None else -1,
    }
    if (post := _post_data(req, max_body)) is not None:
        request["postData"] = post

    resp = flow.response
    error = flow.error.msg if flow.error else None
    if resp is not None:
        content, body_size = _content(resp, max_body)
        response: dict[str, Any] = {
            "status": resp.status_code,
            "statusText": resp.reason,
            "httpVersion": resp.http_version,
            "cookies": response_cookies(resp),
            "headers": _headers(resp.headers),
            "content": content,
            "redirectURL": resp.headers.get("location", ""),
            "headersSize": _headers_size(f"{resp.http_version} {resp.status_code} {resp.reason}", resp),
            "bodySize": body_size,
        }
        if error:
            response["_error"] = error
    else:
        response = _failed_response(error)

    entry: dict[str, Any] = {
        "startedDateTime": iso(start),
        "time": sum(v for k, v in phases.items() if k != "ssl" and v > 0),
        "request": request,
        "response": response,
        "cache": {},
        "timings": phases,
    }
    conn = flow.server_conn
    if ip := _server_ip(conn.peername):
        entry["serverIPAddress"] = ip
    if conn.sockname:
        entry["connection"] = str(conn.sockname[1])
    if details := security_details(conn):
        entry["_securityDetails"] = details
    if flow.websocket is not None:
        entry["_resourceType"] = "websocket"
        entry["_webSocketMessages"] = websocket_messages(flow)
        ws = flow.websocket
        if ws.close_code is not None:
            entry["_webSocketClose"] = {
                "code": ws.close_code, "reason": ws.close_reason or "",
                "by": "client" if ws.closed_by_client else "server",
            }
    if error and resp is None:
        entry["_error"] = error
    return entry


def websocket_messages(flow: http.HTTPFlow) -> list[dict[str, Any]]:
    """Messages as Chrome writes them: type send/receive, time (s), opcode, data.

    Text frames (opcode 1) as text; binary frames (opcode 2) base64, exactly.
    """
    out = []
    for m in list(flow.websocket.messages):
        opcode = int(m.type)
        if m.is_text:
            data = m.content.decode("utf-8", "replace")
        else:
            data = base64.b64encode(m.content).decode("ascii")
        out.append({"type": "send" if m.from_client else "receive", "time": m.timestamp, "opcode": opcode, "data": data})
    return out


__all__ = ["flow_to_entry", "decode_body", "body_text", "iso", "timings"]
