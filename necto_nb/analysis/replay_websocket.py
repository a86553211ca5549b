"""Replay of a recorded WebSocket: the upgrade handshake, then the recorded client messages.

The `websockets` client does the handshake (its key, version and extensions are its own, as
a new connection needs); the recorded URL, User-Agent and other headers go out as recorded.
Each message the client sent is sent again in order, and where the recording has a message
from the server, one is awaited, so the entry's `_webSocketMessages` show what the server
answers today.
"""

from __future__ import annotations

import base64
import socket
import ssl
import time
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

#: Handshake headers the client makes for each new connection.
HANDSHAKE_HEADERS = frozenset({"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
                               "sec-websocket-accept"})
_WS_SCHEMES = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}


def is_websocket(request: dict) -> bool:
    """A WebSocket handshake: a ws(s) URL, or an HTTP request asking to upgrade to one."""
    if urlsplit(str(request.get("url") or "")).scheme.lower() in ("ws", "wss"):
        return True
    return any(str(h.get("name", "")).lower() == "upgrade" and str(h.get("value", "")).lower() == "websocket"
               for h in request.get("headers") or [] if isinstance(h, dict))


def exchange(url: str, headers: list[tuple[str, str]], recorded: dict, *, timeout: float,
             verify: bool | str, started: datetime) -> dict:
    """Open the WebSocket at `url`, replay the recorded client messages; the HAR entry's
    request, response, timings and messages (a refused upgrade keeps its real response)."""
    from websockets.exceptions import InvalidStatus, WebSocketException
    from websockets.sync.client import connect

    parts = urlsplit(url)
    target = urlunsplit((_WS_SCHEMES[parts.scheme.lower()], *parts[1:]))
    secure = target.startswith("wss:")
    sent = [(k, v) for k, v in headers if k.lower() not in HANDSHAKE_HEADERS]
    t0 = time.perf_counter()
    sock = socket.create_connection((parts.hostname, parts.port or (443 if secure else 80)), timeout=timeout)
    connected = time.perf_counter()
    try:
        with connect(target, sock=sock, ssl=_ssl(verify) if secure else None, additional_headers=sent,
                     user_agent_header=None, open_timeout=timeout, close_timeout=timeout) as ws:
            opened = time.perf_counter()
            messages = _messages(ws, recorded.get("_webSocketMessages"), timeout, started, t0)
            handshake = ws.request, ws.response
    except InvalidStatus as exc:  # the server answered the upgrade with a plain HTTP response
        opened = time.perf_counter()
        handshake, messages = (None, exc.response), []
    except (WebSocketException, TimeoutError) as exc:
        sock.close()
        raise OSError(f"WebSocket: {exc}") from exc
    request, response = handshake
    if response is None:  # websockets gives one with every handshake, failed ones included
        raise OSError("WebSocket: the server sent no handshake response")
    out_headers = list(request.headers.raw_items()) if request is not None else sent
    entry: dict[str, Any] = {
        "request": {"method": "GET", "url": url, "httpVersion": "HTTP/1.1", "cookies": [],
                    "headers": [{"name": k, "value": v} for k, v in out_headers], "queryString": [],
                    "headersSize": -1, "bodySize": 0},
        "response": {"status": response.status_code, "statusText": response.reason_phrase,
                     "httpVersion": "HTTP/1.1", "cookies": [],
                     "headers": [{"name": k, "value": v} for k, v in response.headers.raw_items()],
                     "content": _content(bytes(response.body) if response.body is not None else None), "redirectURL": response.headers.get("Location", ""),
                     "headersSize": -1, "bodySize": len(response.body or b"")},
        "cache": {},
        # TCP connect, then the handshake (TLS included for wss) as the wait; the messages after it
        # are not part of the request's time, as in the HAR files browsers write.
        "timings": {"blocked": 0, "dns": -1, "connect": round((connected - t0) * 1000, 3), "ssl": -1, "send": 0,
                    "wait": round((opened - connected) * 1000, 3), "receive": 0},
        "_resourceType": "websocket",
        "_webSocketMessages": messages,
    }
    entry["time"] = round(entry["timings"]["connect"] + entry["timings"]["wait"], 3)
    return entry


def _ssl(verify: bool | str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
    if verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _messages(ws, recorded: Any, timeout: float, started: datetime, t0: float) -> list[dict]:
    """Send what the client sent, in order; where the server spoke, take its next message."""
    out = []

    def note(kind: str, data: str | bytes) -> None:
        text = isinstance(data, str)
        out.append({"type": kind, "time": started.timestamp() + time.perf_counter() - t0, "opcode": 1 if text else 2,
                    "data": data if isinstance(data, str) else base64.b64encode(data).decode("ascii")})

    for message in recorded if isinstance(recorded, list) else ():
        if not isinstance(message, dict) or not isinstance(message.get("data"), str):
            continue
        if message.get("type") == "send":
            data = base64.b64decode(message["data"]) if message.get("opcode") == 2 else message["data"]
            ws.send(data)
            note("send", data)
        elif message.get("type") == "receive":
            try:
                note("receive", ws.recv(timeout=timeout))
            except TimeoutError:
                break  # the server says less than it did: the messages show it
    return out


def _content(body: bytes | None) -> dict:
    if not body:
        return {"size": 0, "mimeType": "x-unknown"}
    try:
        return {"size": len(body), "mimeType": "x-unknown", "text": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"size": len(body), "mimeType": "x-unknown", "text": base64.b64encode(body).decode(), "encoding": "base64"}
