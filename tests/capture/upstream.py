"""Upstream servers for the capture tests, run in their own process on loopback.

`python -m tests.capture.upstream CERT KEY` serves plain HTTP, HTTPS (the given
self-signed certificate), an HTTP/2-only HTTPS origin, and a WebSocket echo (plain and
TLS), then prints one JSON line of their ports and serves until stdin closes. tornado
serves HTTP/1.1 (installed with mitmproxy and JupyterLab; chunked, TLS); the `h2`
library (mitmproxy's) the HTTP/2 origin; the `websockets` library the echo.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import os
import random
import socket
import ssl
import struct
import sys
import urllib.parse

import brotli
import h2.config
import h2.connection
import h2.events
import tornado.web
from tornado.httpserver import HTTPServer
from websockets.asyncio.server import serve as ws_serve


def _rst(handler: tornado.web.RequestHandler) -> None:
    """Close the client socket with a TCP reset (SO_LINGER 0)."""
    sock = handler.request.connection.stream.socket
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.request.connection.stream.close()


def payload(n: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(n)


class Echo(tornado.web.RequestHandler):
    """Any method: what the server received, as JSON."""

    def _echo(self) -> None:
        body = self.request.body
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps({
            "method": self.request.method, "uri": self.request.uri, "version": self.request.version,
            "length": len(body), "sha256": hashlib.sha256(body).hexdigest(),
            "headers": list(self.request.headers.get_all()),
        }))

    get = post = put = patch = delete = _echo


class Bytes(tornado.web.RequestHandler):
    def get(self) -> None:
        data = payload(int(self.get_argument("n")))
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("X-SHA256", hashlib.sha256(data).hexdigest())
        self.write(data)


class Gzip(tornado.web.RequestHandler):
    def get(self) -> None:
        text = ("gzip body line\n" * 2000).encode()
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("Content-Encoding", "gzip")
        self.write(gzip.compress(text))


class Brotli(tornado.web.RequestHandler):
    def get(self) -> None:
        text = json.dumps({"items": list(range(3000))}).encode()
        self.set_header("Content-Type", "application/json")
        self.set_header("Content-Encoding", "br")
        self.write(brotli.compress(text))


class Chunked(tornado.web.RequestHandler):
    async def get(self) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        for i in range(5):
            self.write(f"chunk {i}\n")
            await self.flush()  # no Content-Length: tornado sends Transfer-Encoding: chunked
            await asyncio.sleep(0.01)


class Cookies(tornado.web.RequestHandler):
    def get(self) -> None:
        self.add_header("Set-Cookie", "session=abc123; Path=/app; Domain=127.0.0.1; HttpOnly; Secure; SameSite=Lax")
        self.add_header("Set-Cookie", "theme=dark; Expires=Wed, 21 Oct 2037 07:28:00 GMT")
        self.write("ok")


class Latin1(tornado.web.RequestHandler):
    def get(self) -> None:
        # 150 bytes of ASCII, then bytes that are not UTF-8: a sniff of the first 100 says text.
        self.set_header("Content-Type", "text/plain; charset=latin-1")
        self.write(b"a" * 150 + "caf\xe9 cr\xe8me".encode("latin-1"))


class Redirect(tornado.web.RequestHandler):
    def get(self) -> None:
        self.redirect("/echo?from=redirect", status=302)


class Status(tornado.web.RequestHandler):
    def get(self, code: str) -> None:
        self.set_status(int(code))
        self.write(f"status {code}")


class Reset(tornado.web.RequestHandler):
    def get(self) -> None:
        _rst(self)


class ResetMidBody(tornado.web.RequestHandler):
    async def get(self) -> None:
        self.set_header("Content-Length", "100000")
        self.write(b"x" * 1000)
        await self.flush()
        await asyncio.sleep(0.05)
        _rst(self)


class Paced(tornado.web.RequestHandler):
    """A known think time before the headers, then a known slow body.

    `think` ms before the response starts, then `chunks` chunks of 1000 bytes `gap` ms apart.
    """

    async def get(self) -> None:
        think, chunks, gap = (float(self.get_argument(k, d)) for k, d in (("think", "0"), ("chunks", "1"), ("gap", "0")))
        await asyncio.sleep(think / 1000)
        self.set_header("Content-Type", self.get_argument("type", "text/plain"))
        self.set_header("Content-Length", str(int(chunks) * 1000))
        for i in range(int(chunks)):
            if i:
                await asyncio.sleep(gap / 1000)
            self.write(b"p" * 1000)
            await self.flush()


class Page(tornado.web.RequestHandler):
    """An HTML page loading `n` scripts, each with a think time: a browser fetches them in parallel."""

    def get(self) -> None:
        n, think = int(self.get_argument("n", "6")), self.get_argument("think", "50")
        scripts = "".join(f'<script src="/paced?think={think}&type=text/javascript&i={i}"></script>' for i in range(n))
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.write(f"<!doctype html><html><head><title>paced</title>{scripts}</head><body>ok</body></html>")


class Connections(tornado.web.RequestHandler):
    """How many TCP connections each server has accepted so far."""

    def get(self) -> None:
        self.write(self.settings["accepted"])


class Hang(tornado.web.RequestHandler):
    async def get(self) -> None:
        await asyncio.sleep(float(self.get_argument("s", "30")))
        self.write("late")


class CountingServer(HTTPServer):
    """An HTTPServer that counts the connections it accepts (under `accepted[name]`)."""

    def initialize(self, *args, accepted: dict[str, int], name: str, **kw) -> None:
        super().initialize(*args, **kw)
        self.accepted, self.name = accepted, name

    def handle_stream(self, stream, address) -> None:
        self.accepted[self.name] += 1
        super().handle_stream(stream, address)


def app(accepted: dict[str, int]) -> tornado.web.Application:
    return tornado.web.Application([
        (r"/echo.*", Echo), (r"/bytes", Bytes), (r"/gzip", Gzip), (r"/brotli", Brotli),
        (r"/chunked", Chunked), (r"/cookies", Cookies), (r"/latin1", Latin1),
        (r"/redirect", Redirect), (r"/status/(\d+)", Status), (r"/reset", Reset),
        (r"/reset-mid-body", ResetMidBody), (r"/hang", Hang), (r"/paced", Paced), (r"/page", Page),
        (r"/connections", Connections),
    ], accepted=accepted)


class H2Origin(asyncio.Protocol):
    """An HTTP/2-only origin (the `h2` library; tornado speaks HTTP/1.1 only): every
    request is answered like /paced, after `think` ms, with `chunks` chunks of 1000 bytes.
    Connections accepted are counted under `accepted["h2"]`."""

    def __init__(self, accepted: dict[str, int]) -> None:
        self.accepted = accepted

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.accepted["h2"] += 1
        self.transport = transport
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        self.conn.initiate_connection()
        transport.write(self.conn.data_to_send())

    def data_received(self, data: bytes) -> None:
        for event in self.conn.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                path = dict(event.headers)[b":path"].decode()
                asyncio.get_running_loop().create_task(self._answer(event.stream_id, path))
        self.transport.write(self.conn.data_to_send())

    async def _answer(self, stream_id: int, path: str) -> None:
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query))
        await asyncio.sleep(float(query.get("think", "0")) / 1000)
        body = b"h" * (1000 * int(query.get("chunks", "1")))
        self.conn.send_headers(stream_id, [(":status", "200"), ("content-type", "text/plain"),
                                           ("content-length", str(len(body)))])
        self.conn.send_data(stream_id, body, end_stream=True)
        self.transport.write(self.conn.data_to_send())


async def _ws_echo(ws) -> None:
    async for message in ws:
        await ws.send(message)  # str stays text (opcode 1), bytes stay binary (opcode 2)


async def main(cert: str, key: str) -> None:
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    ports, accepted = {}, {"http": 0, "https": 0, "h2": 0}
    for name, options in (("http", None), ("https", tls)):
        server = CountingServer(app(accepted), ssl_options=options, max_body_size=200 * 2**20,
                                max_buffer_size=200 * 2**20, accepted=accepted, name=name)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(256)
        sock.setblocking(False)
        server.add_sockets([sock])
        ports[name] = sock.getsockname()[1]
    ws = await ws_serve(_ws_echo, "127.0.0.1", 0, max_size=None)
    wss = await ws_serve(_ws_echo, "127.0.0.1", 0, ssl=tls, max_size=None)
    h2_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    h2_tls.load_cert_chain(cert, key)
    h2_tls.set_alpn_protocols(["h2"])
    h2_server = await asyncio.get_running_loop().create_server(lambda: H2Origin(accepted), "127.0.0.1", 0, ssl=h2_tls)
    ports["h2"] = h2_server.sockets[0].getsockname()[1]
    ports["ws"] = ws.sockets[0].getsockname()[1]
    ports["wss"] = wss.sockets[0].getsockname()[1]
    print(json.dumps(ports), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the test closes stdin
    os._exit(0)  # requests still hanging need no orderly goodbye


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
