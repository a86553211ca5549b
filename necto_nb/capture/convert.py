"""One finished mitmproxy flow as one HAR 1.2 entry dict.

mitmproxy's own `addons/savehar.py` is the reference this follows, with the differences a
lossless record needs: header bytes and order kept, bodies decoded without
`Message.content` (whose shared decode cache is not safe off the proxy's thread), text
chosen only when the bytes are exact UTF-8 (anything else is base64, so the bytes come
back unchanged), `wait` without the upstream connect it used to contain, -1 for phases
that were not measured, failures kept with `_error`, TLS details of the upstream server
under `_securityDetails` (Chrome's DevTools protocol names).

It runs once per flow on the capture's batch thread, sharing the GIL with the proxy, so
it reads `headers.fields` once instead of going through mitmproxy's multidict lookups
(about ten times slower per header).
"""

from __future__ import annotations

import base64
import ipaddress
import re
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, quote

from mitmproxy import http
from mitmproxy.net import encoding
from mitmproxy.net.http import cookies

from necto_nb.har.conventions import BARE_PERCENT, DEFAULT_PORTS, NO_RESPONSE, no_response, total_time

_BODY_METHODS = {"POST", "PUT", "PATCH"}
#: what mitmproxy answers a client whose response failed before it was sent on
PROXY_ERROR_STATUS = 502
# RFC 3986 path and query characters (what HAR readers accept unescaped); the rest is %-encoded.
_URI_SAFE = "!$&'()*+,;=:@/?%"
_PLAIN_PATH = re.compile(rb"^[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*$")


def iso(ts: float) -> str:
    """A Unix timestamp as RFC 3339 UTC with microseconds (HAR's date-time)."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds")[:-6] + "Z"


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


class _Head:
    """A header block read once: HAR headers, first value by lower-case name, and sizes."""

    __slots__ = ("headers", "first", "cookie_lines", "set_cookie_lines", "block")

    def __init__(self, fields) -> None:
        self.headers: list[dict[str, str]] = []
        self.first: dict[str, str] = {}
        self.cookie_lines: list[str] = []
        self.set_cookie_lines: list[str] = []
        self.block = 2  # the blank line
        for k, v in fields:
            name, value = _str(k), _str(v)
            self.headers.append({"name": name, "value": value})
            lower = name.lower()
            self.first.setdefault(lower, value)
            if lower == "cookie":
                self.cookie_lines.append(value)
            elif lower == "set-cookie":
                self.set_cookie_lines.append(value)
            self.block += len(k) + len(v) + 4

    def size(self, http_version: str, first_line: str) -> int:
        """Bytes of an HTTP/1 header block; -1 for HTTP/2 and 3, whose headers are compressed."""
        return len(first_line) + 2 + self.block if http_version.startswith("HTTP/1") else -1


def _gzip(data: bytes) -> bytes:
    inflate = zlib.decompressobj(47)  # gzip or zlib header, detected
    out = inflate.decompress(data) + inflate.flush()
    if inflate.unused_data:  # a multi-member gzip: let mitmproxy's reader take all members
        return encoding.custom_decode["gzip"](data)
    return out


def decode_body(raw: bytes, content_encoding: str) -> bytes:
    """`raw` with every listed Content-Encoding undone, last applied first.

    Raises ValueError naming the coding that failed or is unknown.
    """
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    data = raw
    for coding in reversed(codings):
        decode: Callable[[bytes], bytes] | None
        if coding in ("gzip", "x-gzip"):
            decode = _gzip
        else:
            decode = encoding.custom_decode.get(coding)  # mitmproxy's codec table, no shared cache
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


def url_of(request: http.Request, websocket: bool = False) -> str:
    """The absolute URL, %-encoding whatever RFC 3986 does not allow in a path."""
    scheme = request.scheme
    if websocket:
        scheme = {"http": "ws", "https": "wss"}.get(scheme, scheme)
    host = request.host
    if ":" in host:
        host = f"[{host}]"
    if request.port != DEFAULT_PORTS.get(scheme):
        host = f"{host}:{request.port}"
    if request.method == "CONNECT":
        return f"https://{host}/"
    raw = request.data.path
    if not raw.startswith(b"/"):  # "OPTIONS *" and the like: keep the URL well-formed
        raw = b"/" + raw
    if _PLAIN_PATH.match(raw) and b"%" not in raw:
        path = raw.decode("ascii")
    else:
        path = BARE_PERCENT.sub("%25", quote(raw, safe=_URI_SAFE))
    return f"{scheme}://{host}{path}"


def _query(url: str) -> list[dict[str, str]]:
    query = url.partition("?")[2].partition("#")[0]
    if not query:
        return []
    return [{"name": k, "value": v} for k, v in parse_qsl(query, keep_blank_values=True, errors="replace")]


def _request_cookies(head: _Head) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for line in head.cookie_lines for k, v in cookies.parse_cookie_header(line)]


def _expires(attrs, received: float | None) -> str | None:
    if (max_age := attrs.get("max-age")) is not None and received is not None:
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
        return iso(when.timestamp())
    return None


def response_cookies(head: _Head, received: float | None) -> list[dict[str, Any]]:
    out = []
    for line in head.set_cookie_lines:
        try:
            parsed = cookies.parse_set_cookie_header(line)
        except ValueError:  # an unparsable Set-Cookie stays in the headers
            continue
        for name, value, attrs in parsed:
            cookie: dict[str, Any] = {
                "name": name,
                "value": value,
                "path": attrs.get("path") or "/",
                "domain": attrs.get("domain") or "",
                "httpOnly": "httponly" in attrs,
                "secure": "secure" in attrs,
            }
            if expires := _expires(attrs, received):
                cookie["expires"] = expires
            if same_site := attrs.get("samesite"):
                cookie["sameSite"] = same_site
            out.append(cookie)
    return out


def _server_ip(peername) -> str | None:
    if not peername:
        return None
    address = str(peername[0])
    if address.count(".") == 3 and address.replace(".", "").isdigit():
        return address  # the common case, IPv4, needs no parsing
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return str(ip)


def _dn(pairs: list[tuple[str, str]]) -> str:
    return ", ".join(f"{k}={v}" for k, v in pairs)


def _tls_protocol(version: str | None) -> str:
    """mitmproxy's "TLSv1.3" as DevTools writes it, "TLS 1.3"."""
    if version and version.startswith("TLSv"):
        return f"TLS {version[4:]}"
    return version or ""


def security_details(server) -> dict[str, Any] | None:
    """The upstream TLS session in the shapes of Chrome's DevTools `SecurityDetails`.

    `protocol` "TLS 1.3", `issuer` the issuer's common name, `validFrom`/`validTo` epoch
    seconds, so tools that read DevTools HARs read these; `subject` keeps the full name.
    """
    if not server.tls or not server.tls_established:
        return None
    details: dict[str, Any] = {
        "protocol": _tls_protocol(server.tls_version),
        "cipher": server.cipher or "",
        "alpn": (server.alpn or b"").decode("ascii", "replace"),
        "sni": server.sni or "",
    }
    if server.certificate_list:
        cert = server.certificate_list[0]
        issuer = dict(cert.issuer)
        details.update(
            subjectName=cert.cn or "",
            subject=_dn(cert.subject),
            issuer=issuer.get("CN") or _dn(cert.issuer),
            sanList=[str(name.value) for name in cert.altnames],
            validFrom=int(cert.notbefore.timestamp()),
            validTo=int(cert.notafter.timestamp()),
        )
    return details


def timings(flow: http.HTTPFlow, opened_connection: bool) -> tuple[float, dict[str, float]]:
    """(start timestamp, HAR timings in ms) from mitmproxy's timestamps.

    `connect` includes `ssl`; both are -1 unless this flow opened its upstream connection
    or failed to get one. DNS is folded into connect by mitmproxy (-1 here). A lazily
    opened connection is set up after the request was read, inside
    `response.start - request.end`: that overlap is taken out of `wait`, so no time is
    counted twice. A connection that failed lasted until the error; one the flow never got
    (mitmproxy leaves the flow's server connection unset then) is all `connect`, up to the
    error. A body cut by an error was received until the error.
    """
    req, resp, conn = flow.request, flow.response, flow.server_conn
    error_at = flow.error.timestamp if flow.error else None
    start = req.timestamp_start
    req_end = req.timestamp_end
    ended = (resp.timestamp_start if resp else None) or error_at

    blocked = connect = ssl = -1.0
    conn_start = conn.timestamp_start if opened_connection else None
    conn_end = None
    if conn_start is not None:
        tcp = conn.timestamp_tcp_setup
        conn_end = conn.timestamp_tls_setup if conn.tls else tcp
        if conn_end is None:  # refused, timed out or failed TLS: it lasted until the error
            conn_end = conn.timestamp_end or ended
        if conn_end is not None:
            connect = _ms(conn_start, conn_end)
            if tcp is not None and conn.tls:
                ssl = _ms(tcp, conn_end)
        if conn_start < start:
            # Opened before the request began (at the client's TLS handshake): the entry
            # starts there, and the wait between the ready connection and the request is `blocked`.
            blocked = _ms(conn_end or conn_start, start)
            start = conn_start
    no_connection = resp is None and conn.timestamp_start is None and req_end is not None and error_at is not None
    if no_connection:  # getting a connection to the server failed
        connect = _ms(req_end, error_at)

    send = _ms(req.timestamp_start, req_end) if req_end else 0.0
    wait = 0.0
    if req_end is not None and ended is not None and not no_connection:
        wait = (ended - req_end) * 1000.0
        if conn_start is not None and conn_end is not None:
            overlap = min(conn_end, ended) - max(conn_start, req_end)
            wait -= max(0.0, overlap) * 1000.0
        wait = max(0.0, wait)
    receive = 0.0
    if resp is not None and (resp_end := resp.timestamp_end or error_at) is not None:
        receive = _ms(resp.timestamp_start, resp_end)
    return start, {
        "blocked": blocked, "dns": -1.0, "connect": connect, "ssl": ssl,
        "send": send, "wait": wait, "receive": receive,
    }


def _post_data(request: http.Request, head: _Head, max_body: int | None) -> dict[str, Any] | None:
    raw = request.raw_content
    if not raw and request.method not in _BODY_METHODS:
        return None
    mime = head.first.get("content-type", "")
    post: dict[str, Any] = {"mimeType": mime, "text": ""}
    data = raw or b""
    if data and (ce := head.first.get("content-encoding")):
        try:
            data = decode_body(data, ce)
        except ValueError as e:  # keep the bytes as sent, say why they are not decoded
            post["_error"] = str(e)
    if not data:
        return post
    text, enc, truncated = _put_body(post, data, max_body)
    if enc is None and not truncated and mime.lower().startswith("application/x-www-form-urlencoded"):
        post["params"] = [{"name": k, "value": v} for k, v in parse_qsl(text, keep_blank_values=True)]
    return post


def _content(raw: bytes | None, head: _Head, max_body: int | None) -> tuple[dict[str, Any], int]:
    """(HAR content, bodySize): the decoded body, its size and what compression saved."""
    content: dict[str, Any] = {"size": 0, "compression": 0, "mimeType": head.first.get("content-type", "")}
    if raw is None:  # streamed through without being stored
        content["_truncated"] = True
        return content, -1
    data = raw
    if raw and (ce := head.first.get("content-encoding")):
        try:
            data = decode_body(raw, ce)
        except ValueError as e:
            content["_error"] = str(e)
    content["size"] = len(data)
    content["compression"] = len(data) - len(raw)
    if data:
        _put_body(content, data, max_body)
    return content, len(raw)


def _put_body(target: dict[str, Any], data: bytes, max_body: int | None) -> tuple[str, str | None, bool]:
    """`data` into a HAR postData or content: text, base64 `encoding`, `_truncated` mark."""
    text, enc, truncated = body_text(data, max_body)
    target["text"] = text
    if enc:
        target["encoding"] = enc
    if truncated:
        target["_truncated"] = True
    return text, enc, truncated


def flow_to_entry(flow: http.HTTPFlow, *, opened_connection: bool, max_body: int | None = None,
                  partial_body: bytes | None = None) -> dict[str, Any]:
    """The HAR 1.2 entry for a finished (or failed) HTTP or WebSocket flow.

    `opened_connection`: this flow opened its upstream connection, so connect/ssl are its
    own (the caller knows the order flows arrived in). `max_body`: bytes of each body to
    keep; longer bodies keep `size` and are marked `_truncated`. `partial_body`: the bytes
    of a response body that was streamed to the client and cut by an error.
    """
    req = flow.request
    start, phases = timings(flow, opened_connection)
    url = url_of(req, websocket=flow.websocket is not None)
    version = req.http_version
    head = _Head(req.headers.fields)
    request: dict[str, Any] = {
        "method": req.method,
        "url": url,
        "httpVersion": version,
        "cookies": _request_cookies(head),
        "headers": head.headers,
        "queryString": _query(url),
        "headersSize": head.size(version, f"{req.method} {req.path} {version}"),
        "bodySize": len(req.raw_content) if req.raw_content is not None else -1,
    }
    if (post := _post_data(req, head, max_body)) is not None:
        request["postData"] = post

    resp = flow.response
    error = flow.error.msg if flow.error else None
    if resp is not None:
        rhead = _Head(resp.headers.fields)
        cut = error is not None and resp.raw_content is None
        content, body_size = _content(resp.raw_content if partial_body is None else partial_body, rhead, max_body)
        rversion = resp.http_version
        response: dict[str, Any] = {
            "status": resp.status_code,
            "statusText": resp.reason,
            "httpVersion": rversion,
            "cookies": response_cookies(rhead, resp.timestamp_start),
            "headers": rhead.headers,
            "content": content,
            "redirectURL": rhead.first.get("location", ""),
            "headersSize": rhead.size(rversion, f"{rversion} {resp.status_code} {resp.reason}"),
            "bodySize": body_size,
        }
        if body_size >= 0:
            response["_transferSize"] = max(response["headersSize"], 0) + body_size
        if cut:
            content["_truncated"] = True  # the bytes that arrived before the error
            if not resp.stream:
                # The body was held for a whole response that never came: the client got
                # the proxy's error instead. What the server had sent is kept beside it.
                response.update(status=PROXY_ERROR_STATUS, statusText="Bad Gateway", cookies=[], headers=[],
                                redirectURL="", headersSize=-1,
                                _upstream={"status": resp.status_code, "headers": rhead.headers})
        if error:
            response["_error"] = error
    else:
        response = {**no_response(error or NO_RESPONSE), "_transferSize": 0}

    entry: dict[str, Any] = {
        "startedDateTime": iso(start),
        "time": total_time(phases),
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
    out: list[dict[str, Any]] = []
    for m in list(flow.websocket.messages) if flow.websocket else ():
        if m.is_text:
            data = m.content.decode("utf-8", "replace")
        else:
            data = base64.b64encode(m.content).decode("ascii")
        out.append({"type": "send" if m.from_client else "receive", "time": m.timestamp, "opcode": int(m.type),
                    "data": data})
    return out
