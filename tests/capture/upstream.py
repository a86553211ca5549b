"""Upstream servers for the capture tests, run in their own process on loopback.

`python -m tests.capture.upstream CERT KEY` serves plain HTTP, HTTPS (the given
self-signed certificate), and a WebSocket echo (plain and TLS), then prints one JSON line
of their ports and serves until stdin closes. tornado serves HTTP (installed with
mitmproxy and JupyterLab; chunked, TLS); the `websockets` library serves the echo.
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

import brotli
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


class Hang(tornado.web.RequestHandler):
    async def get(self) -> None:
        await asyncio.sleep(float(self.get_argument("s", "30")))
        self.write("late")


def app() -> tornado.web.Application:
    return tornado.web.Application([
        (r"/echo.*", Echo), (r"/bytes", Bytes), (r"/gzip", Gzip), (r"/brotli", Brotli),
        (r"/chunked", Chunked), (r"/cookies", Cookies), (r"/latin1", Latin1),
        (r"/redirect", Redirect), (r"/status/(\d+)", Status), (r"/reset", Reset),
        (r"/reset-mid-body", ResetMidBody), (r"/hang", Hang),
    ])


async def _ws_echo(ws) -> None:
    async for message in ws:
        await ws.send(message)  # str stays text (opcode 1), bytes stay binary (opcode 2)


async def main(cert: str, key: str) -> None:
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    ports = {}
    for name, options in (("http", None), ("https", tls)):
        server = HTTPServer(app(), ssl_options=options, max_body_size=200 * 2**20, max_buffer_size=200 * 2**20)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(256)
        sock.setblocking(False)
        server.add_sockets([sock])
        ports[name] = sock.getsockname()[1]
    ws = await ws_serve(_ws_echo, "127.0.0.1", 0, max_size=None)
    wss = await ws_serve(_ws_echo, "127.0.0.1", 0, ssl=tls, max_size=None)
    ports["ws"] = ws.sockets[0].getsockname()[1]
    ports["wss"] = wss.sockets[0].getsockname()[1]
    print(json.dumps(ports), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the test closes stdin
    os._exit(0)  # requests still hanging need no orderly goodbye


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
