"""Send recorded requests again and record what comes back, timings included.

httpx sends them (a maintained client; its transport, httpcore, reports each step of a
request through the `trace` extension, which gives the HAR phases). Methods, bodies and
headers go out as recorded, except the headers that belong to the old connection (Host,
Content-Length, hop-by-hop ones), which httpx sets for the new one. Requests go one after
another, in order of their start, so each is timed alone; redirects are not followed,
since a recorded redirect is its own entry. A WebSocket is opened as one, and its recorded
client messages sent again (`replay_websocket`).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from necto_nb.analysis import replay_websocket
from necto_nb.errors import ArgumentError
from necto_nb.har.conventions import no_response, total_time

if TYPE_CHECKING:
    from necto_nb.session import Session

#: Recorded request headers not sent again: httpx writes them for the new connection.
CONNECTION_HEADERS = frozenset({
    "host", "content-length", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
    "trailer", "upgrade",
})
_SCHEMES = ("http", "https")


def replay(
    session: Session,
    *,
    rows: Any = None,
    base_url: str | None = None,
    name: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    verify: bool | str = True,
    http2: bool = False,
    client: httpx.Client | None = None,
) -> Session:
    """Send `session`'s requests (or `rows` of it) again; a new Session of what came back.

    `base_url` ("http://127.0.0.1:8000", "https://staging.example/v2") replaces each URL's
    scheme and host, and a path it has is put before each request's path. `headers`
    replaces or adds request headers (an Authorization for staging, say). Each new entry
    has measured timings (dns is folded into connect: httpcore resolves while connecting),
    the response with its body, and `_replayOf`: the entry it repeats. A request that fails
    (refused, timed out, not HTTP) becomes an entry with status 0 and its `_error`, so
    `diff(before, replay(before))` lines up. `client` is an httpx.Client you configured
    (proxies, certificates); otherwise one is made with `timeout`, `verify` and `http2`,
    ignoring proxy environment variables. A recorded WebSocket (ws:// or wss:// URL, or an
    Upgrade: websocket request) is opened as one, without a proxy, with `timeout` and
    `verify`; its recorded client messages are sent again and its entry lists the messages
    of the new connection.
    """
    from necto_nb.session import Session

    rebase("/", base_url)  # a bad base_url fails here, before anything is sent
    frame = session.df if rows is None else session.df.loc[session._positions(rows)]  # rows as Session.select
    frame = frame.sort_values("started", kind="stable")
    own = client is None
    client = client or httpx.Client(timeout=timeout, verify=verify, http2=http2, trust_env=False,
                                    follow_redirects=False)
    extra = {k.lower(): (k, v) for k, v in (headers or {}).items()}
    try:
        entries = [_exchange(client, session, int(i), base_url, extra, timeout, verify) for i in frame.index]
    finally:
        if own:
            client.close()
    return Session(name or f"{session.name} (replay)", entries)


def rebase(url: str, base_url: str | None) -> str:
    """`url` sent to `base_url` instead: its scheme and host, its path before url's path."""
    if not base_url:
        return url
    base, parts = urlsplit(base_url), urlsplit(url)
    if base.scheme not in _SCHEMES or not base.netloc:
        raise ArgumentError(f"base_url={base_url!r}: give a scheme and a host, e.g. 'http://127.0.0.1:8000'")
    scheme = {"http": "ws", "https": "wss"}[base.scheme] if parts.scheme.lower() in ("ws", "wss") else base.scheme
    return urlunsplit((scheme, base.netloc, base.path.rstrip("/") + (parts.path or "/"), parts.query, ""))


def _exchange(client: httpx.Client, session: Session, i: int, base_url: str | None,
              extra: dict[str, tuple[str, str]], timeout: float, verify: bool | str) -> dict:
    recorded = session.entries[i]
    request = recorded.get("request") or {}
    method = request.get("method") or "GET"
    url = rebase(request.get("url") or "", base_url)
    sent = [(h.get("name", ""), h.get("value", "")) for h in request.get("headers") or []]
    sent = [(k, v) for k, v in sent if k and not k.startswith(":") and k.lower() not in CONNECTION_HEADERS
            and k.lower() not in extra]
    sent += list(extra.values())

    clock = _Clock()
    started = datetime.now(timezone.utc)
    entry: dict[str, Any] = {"startedDateTime": started.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
             "_replayOf": {"entry": i, "url": request.get("url")}}
    scheme = urlsplit(url).scheme.lower()
    try:
        if replay_websocket.is_websocket(request):
            entry.update(replay_websocket.exchange(url, sent, recorded, timeout=timeout, verify=verify,
                                                   started=started))
            return entry
        if scheme not in _SCHEMES:
            raise ValueError(f"not replayed: {scheme or 'no'} scheme (only http and https)")
        body = session.request_body(i) or b""  # HarError: recorded base64 that is not
        # A Request of our own, not client.build_request: no client defaults (User-Agent,
        # Accept, cookies from the jar) are added to what was recorded.
        outgoing = httpx.Request(method, url, headers=[(_wire(k), _wire(v)) for k, v in sent], content=body or None,
                                 extensions={"trace": clock.trace, "timeout": client.timeout.as_dict()})
        clock.start()
        response = client.send(outgoing, stream=True)
        try:
            raw = b"".join(response.iter_raw())
        finally:
            response.close()
        clock.done()
    except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as exc:  # HarError is a ValueError
        clock.done()
        entry.update(_failed(method, url, sent, request, str(exc) or type(exc).__name__))
        entry["timings"] = clock.timings()
        entry["time"] = clock.total()
        return entry

    entry["request"] = _request(outgoing, response.http_version, request, len(body))
    entry["response"] = _response(response, raw)
    entry["cache"] = {}
    entry["timings"] = clock.timings()
    entry["time"] = clock.total()
    stream = response.extensions.get("network_stream")
    address = stream.get_extra_info("server_addr") if stream is not None else None
    if address:
        entry["serverIPAddress"] = str(address[0])
    return entry


def _wire(text: str) -> bytes:
    """A header as bytes: HAR holds them as text, decoded as Latin-1 by most tools, UTF-8 by some."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


class _Clock:
    """HAR phases from httpcore's trace events (perf_counter, so they are monotonic)."""

    def __init__(self) -> None:
        self.marks: dict[str, float] = {}
        self.t0 = self.end = 0.0

    def start(self) -> None:
        self.t0 = time.perf_counter()

    def trace(self, event: str, info: dict) -> None:
        # "connection.connect_tcp.started", "http11.send_request_headers.complete", "http2...."
        step, _, edge = event.partition(".")[2].rpartition(".")
        self.marks.setdefault(f"{step}.{edge}", time.perf_counter())

    def done(self) -> None:
        self.end = time.perf_counter()
        self.t0 = self.t0 or self.end

    def _span(self, step: str) -> float:
        start, end = self.marks.get(f"{step}.started"), self.marks.get(f"{step}.complete")
        return (end - start) * 1000 if start is not None and end is not None else -1.0

    def timings(self) -> dict[str, float]:
        m = self.marks
        tcp, tls = self._span("connect_tcp"), self._span("start_tls")
        connect = tcp + max(tls, 0) if tcp >= 0 else -1.0
        sending = m.get("send_request_headers.started")
        sent = m.get("send_request_body.complete", m.get("send_request_headers.complete"))
        heard = m.get("receive_response_headers.complete")
        first = sending if sending is not None else self.end
        blocked = (first - self.t0) * 1000 - max(connect, 0)
        return {
            "blocked": round(max(blocked, 0.0), 3),
            "dns": -1,
            "connect": round(connect, 3),
            "ssl": round(tls, 3),
            "send": round((sent - sending) * 1000, 3) if sending is not None and sent is not None else 0,
            "wait": round((heard - sent) * 1000, 3) if heard is not None and sent is not None else 0,
            "receive": round((self.end - heard) * 1000, 3) if heard is not None else 0,
        }

    def total(self) -> float:
        t = self.timings()
        return round(total_time(t), 3)


def _name_values(pairs) -> list[dict]:
    return [{"name": k, "value": v} for k, v in pairs]


def _cookies(header_values: list[str]) -> list[dict]:
    cookies = []
    for value in header_values:
        jar = SimpleCookie()
        try:
            jar.load(value)
        except CookieError:
            continue  # kept in the headers; HAR's cookie list is a convenience
        for morsel in jar.values():
            cookie = {"name": morsel.key, "value": morsel.value}
            for attr, key in (("path", "path"), ("domain", "domain"), ("expires", "expires")):
                if morsel[attr]:
                    cookie[key] = morsel[attr]
            cookie.update({k: True for k, attr in (("httpOnly", "httponly"), ("secure", "secure")) if morsel[attr]})
            cookies.append(cookie)
    return cookies


def _request(sent: httpx.Request, http_version: str, recorded: dict, size: int) -> dict:
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in sent.headers.raw]
    out = {
        "method": sent.method,
        "url": str(sent.url),
        "httpVersion": http_version,
        "cookies": _cookies([v for k, v in headers if k.lower() == "cookie"]),
        "headers": _name_values(headers),
        "queryString": _name_values(sent.url.params.multi_items()),
        "headersSize": -1,
        "bodySize": size,
    }
    if recorded.get("postData") is not None:
        out["postData"] = recorded["postData"]  # the body went out exactly as recorded
    return out


def _response(response: httpx.Response, raw: bytes) -> dict:
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw]
    mime = response.headers.get("content-type", "x-unknown")
    content: dict[str, Any] = {"mimeType": mime}
    try:
        decoded = httpx.Response(response.status_code, headers=response.headers, content=raw).content
    except httpx.DecodingError as exc:
        decoded = raw
        content["comment"] = f"content-encoding not decoded ({exc}); the body is as received"
    content["size"] = len(decoded)
    if len(decoded) > len(raw):
        content["compression"] = len(decoded) - len(raw)  # HAR: bytes saved by the encoding
    try:
        content["text"] = decoded.decode("utf-8")
    except UnicodeDecodeError:
        content["text"] = base64.b64encode(decoded).decode("ascii")
        content["encoding"] = "base64"
    return {
        "status": response.status_code,
        "statusText": response.reason_phrase,
        "httpVersion": response.http_version,
        "cookies": _cookies([v for k, v in headers if k.lower() == "set-cookie"]),
        "headers": _name_values(headers),
        "content": content,
        "redirectURL": response.headers.get("location", ""),
        "headersSize": -1,
        "bodySize": len(raw),
    }


def _failed(method: str, url: str, headers: list, recorded: dict, error: str) -> dict:
    request = {"method": method, "url": url, "httpVersion": "", "cookies": [], "headers": _name_values(headers),
               "queryString": [], "headersSize": -1, "bodySize": -1}
    if recorded.get("postData") is not None:
        request["postData"] = recorded["postData"]
    return {
        "request": request,
        "response": no_response(error),
        "cache": {},
    }
