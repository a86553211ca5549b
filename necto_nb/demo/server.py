"""A small demo web site on loopback, served from a background thread.

Built on tornado: it is already installed with both mitmproxy and JupyterLab (jupyter_server),
is maintained, runs on asyncio, and gives HTTP/1.1, WebSocket and negotiated gzip in one small
server. The stdlib's http.server has no WebSocket; `websockets` serves only the upgrade and
plain GET responses (no request bodies); aiohttp would be a new dependency for the same job.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import secrets
import threading
import time
from collections import deque
from typing import Any

import tornado.web
import tornado.websocket
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from necto_nb.demo import assets
from necto_nb.errors import ArgumentError

MAX_DELAY_MS = 60_000
MAX_ITEMS = 1000


class DemoServer:
    """The running demo site: `.url`, `.stop()`, and a context manager.

    `slow_ms` is added to every `/slow` response, so one script run against a "baseline"
    (`slow_ms=0`) and a "candidate" (`slow_ms=300`) shows a timing regression; it may be
    changed while the server runs. `build` (a number, or None) deploys a build: the page
    links its static files under `/build-<n>/static/` with a content hash in each name, as
    a bundler does, so a new build renames every asset. `served` lists `(method, uri,
    status)` of each request answered (status 0 for a dropped connection), newest last.
    """

    def __init__(self, port: int = 0, host: str = "127.0.0.1", *, slow_ms: int = 0, build: int | None = None) -> None:
        self.slow_ms = slow_ms
        self.build = build
        self.served: deque[tuple[str, str, int]] = deque(maxlen=10_000)
        try:
            self._sockets = bind_sockets(port, address=host)
        except OSError as e:
            raise OSError(e.errno, f"cannot serve the demo site on {host}:{port}: {e.strerror}") from None
        self.host = host
        self.port: int = self._sockets[0].getsockname()[1]
        self._websockets: set[_Echo] = set()
        # Set through the server's loop only; Event binds to a loop on first use (3.10+).
        self._stopping = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        # Daemon: a server someone forgot to stop must not keep the interpreter alive.
        self._thread = threading.Thread(target=self._run, name=f"necto-demo-{self.port}", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            raise RuntimeError(f"the demo site on {self.url} failed to start: {self._failure}") from self._failure

    @property
    def slow_ms(self) -> int:
        return self._slow_ms

    @slow_ms.setter
    def slow_ms(self, value: int) -> None:
        self._slow_ms = _delay(value, "slow_ms")

    @property
    def build(self) -> int | None:
        return self._build

    @build.setter
    def build(self, value: int | None) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError(f"build must be a whole number from 0, or None, not {value!r}")
        self._build = value

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http") + "/ws"

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Close the listening socket and every open connection, then end the thread."""
        if self._loop is not None and self._thread.is_alive():
            try:
                self._loop.call_soon_threadsafe(self._stopping.set)
            except RuntimeError:  # the loop already closed on its own
                pass
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"the demo site on {self.url} did not stop within {timeout} s")

    def __enter__(self) -> DemoServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<DemoServer {self.url} {state} slow_ms={self.slow_ms}>"

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as e:  # noqa: BLE001 - reported to the starting thread
            self._failure = e
        finally:
            self._ready.set()
            for sock in self._sockets:
                sock.close()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        server = HTTPServer(application(self), max_body_size=1 << 20)
        server.add_sockets(self._sockets)
        self._ready.set()
        await self._stopping.wait()
        server.stop()
        for ws in list(self._websockets):  # close_all_connections leaves WebSockets open
            ws.close(1001, "server stopping")
        await server.close_all_connections()
        # Handlers still in /slow woke on _stopping and dropped their connection; asyncio.run cancels the rest.


def serve(port: int = 0, host: str = "127.0.0.1", *, slow_ms: int = 0, build: int | None = None) -> DemoServer:
    """Start the demo site in a background thread and return its handle.

    `port=0` picks a free port (read it from `.url`). Loopback by default. Pages:
    `/` (HTML with CSS, JS and images), `/api/items` (JSON, GET and POST; `/api/items/<id>`),
    `/redirect?to=/path&status=302`, `/gzip` (always gzip-encoded; other text responses
    over 1 KiB are gzipped when the client accepts it), `/slow?ms=300` (plus `slow_ms`),
    `/error?status=500`, `/drop` (closes the connection without an answer), `/ws` (WebSocket echo).
    `build` deploys a build: hashed static files under `/build-<n>/static/` (see DemoServer).
    """
    return DemoServer(port, host, slow_ms=slow_ms, build=build)


def application(site: DemoServer) -> tornado.web.Application:
    args = {"site": site}
    return tornado.web.Application(
        [
            (r"/", _Index, args),
            (r"/static/(.+)", _Static, args),
            (r"/build-\d+/static/(.+)", _Static, args),
            (r"/api/items", _Items, args),
            (r"/api/items/(\d+)", _Item, args),
            (r"/redirect", _Redirect, args),
            (r"/gzip", _Gzip, args),
            (r"/slow", _Slow, args),
            (r"/error", _Error, args),
            (r"/drop", _Drop, args),
            (r"/ws", _Echo, args),
        ],
        default_handler_class=_NotFound,
        default_handler_args=args,
        compress_response=True,
        # Record instead of logging: tornado logs 5xx at ERROR, which would print in a notebook.
        log_function=lambda handler: site.served.append(
            (handler.request.method or "", handler.request.uri or "", handler.get_status())
        ),
        items=_Store(),
    )


def _delay(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DELAY_MS:
        raise ArgumentError(f"{what} must be a whole number of milliseconds from 0 to {MAX_DELAY_MS}, not {value!r}")
    return value


class _Store:
    """The API's items; only touched from the server's event loop, so no lock."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.items: dict[int, dict] = {}
        for item in assets.SEED_ITEMS:
            self.add(item)

    def add(self, item: dict) -> dict:
        i = next(self._ids)
        self.items[i] = {"id": i, **item}
        return self.items[i]


class _Refusal(tornado.web.HTTPError):
    """An error answer whose message goes in the JSON body; the status line keeps its standard reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status)
        self.message = message


class _Handler(tornado.web.RequestHandler):
    def initialize(self, site: DemoServer) -> None:
        self.site = site

    def set_default_headers(self) -> None:
        self.set_header("Server", "necto-demo")
        # Every page load goes to the network, so repeated runs record the same requests.
        self.set_header("Cache-Control", "no-cache")

    def send_json(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(value))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        message = error.message if isinstance(error, _Refusal) else self._reason
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps({"error": message, "status": status_code}))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        # Refusals are answers, not faults: tornado would log them as warnings.
        if not isinstance(value, _Refusal):
            super().log_exception(typ, value, tb)

    def fail(self, status: int, message: str) -> None:
        raise _Refusal(status, message)

    def int_argument(self, name: str, default: int) -> int:
        raw = self.get_query_argument(name, None)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            self.fail(400, f"query parameter {name} must be an integer, not {raw!r}")
            raise  # unreachable: fail raises


class _NotFound(_Handler):
    def prepare(self) -> None:
        self.fail(404, f"no such page: {self.request.path}")


class _Index(_Handler):
    def get(self) -> None:
        if not self.get_cookie("demo_session"):
            # A session cookie gives redaction something real to remove on export.
            self.set_cookie("demo_session", secrets.token_hex(8), httponly=True, samesite="Lax")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(assets.index_html(self.site.build))


class _Static(_Handler):
    def get(self, name: str) -> None:
        name = assets.unbuilt(name)
        if name not in assets.STATIC:
            self.fail(404, f"no such static file: {name}")
        content_type, body = assets.STATIC[name]
        self.set_header("Content-Type", content_type)
        self.finish(body)


class _Items(_Handler):
    def get(self) -> None:
        items = list(self.settings["items"].items.values())
        self.send_json({"count": len(items), "items": items})

    def post(self) -> None:
        store: _Store = self.settings["items"]
        try:
            item = json.loads(self.request.body or b"null")
        except (ValueError, UnicodeDecodeError) as e:
            self.fail(400, f"the body is not JSON: {e}")
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            self.fail(400, 'the body must be a JSON object with a string "name"')
        if len(store.items) >= MAX_ITEMS:
            self.fail(507, f"the demo keeps at most {MAX_ITEMS} items")
        created = store.add({k: v for k, v in item.items() if k != "id"})
        self.set_header("Location", f"/api/items/{created['id']}")
        self.send_json(created, 201)


class _Item(_Handler):
    def get(self, item_id: str) -> None:
        item = self.settings["items"].items.get(int(item_id))
        if item is None:
            self.fail(404, f"no item with id {item_id}")
        self.send_json(item)


class _Redirect(_Handler):
    def get(self) -> None:
        target = self.get_query_argument("to", "/") or "/"
        status = self.int_argument("status", 302)
        # Only paths on this site: the demo must never become an open redirect.
        if not target.startswith("/") or target.startswith("//") or "\\" in target:
            self.fail(400, f"to must be a path on this site starting with one '/', not {target!r}")
        if status not in (301, 302, 303, 307, 308):
            self.fail(400, f"status must be 301, 302, 303, 307 or 308, not {status}")
        self.redirect(target, status=status)


class _Gzip(_Handler):
    def get(self) -> None:
        body = json.dumps({"gzipped": True, "items": assets.SEED_ITEMS}).encode()
        # Always compressed (like httpbin's /gzip); the negotiated gzip skips content-encoded bodies.
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Content-Encoding", "gzip")
        self.finish(gzip.compress(body, mtime=0))


class _Slow(_Handler):
    async def get(self) -> None:
        try:
            requested = _delay(self.int_argument("ms", 0), "query parameter ms")
        except ValueError as e:
            self.fail(400, str(e))
        extra = self.site.slow_ms
        started = time.perf_counter()
        try:
            # Wake early when the server stops, rather than being cancelled mid-request.
            await asyncio.wait_for(self.site._stopping.wait(), (requested + extra) / 1000)
        except TimeoutError:
            slept = round((time.perf_counter() - started) * 1000, 1)
            self.send_json({"requested_ms": requested, "extra_ms": extra, "slept_ms": slept})
        else:
            self.detach().close()


class _Error(_Handler):
    def get(self) -> None:
        status = self.int_argument("status", 500)
        if not 400 <= status <= 599:
            self.fail(400, f"status must be an error status from 400 to 599, not {status}")
        self.fail(status, "the demo failed on purpose")

    post = get


class _Drop(_Handler):
    def get(self) -> None:
        self.site.served.append((self.request.method or "", self.request.uri or "", 0))
        self.detach().close()  # no status line at all: the client sees the connection end

    post = get


class _Echo(tornado.websocket.WebSocketHandler):
    def initialize(self, site: DemoServer) -> None:
        self.site = site

    def open(self, *args: str, **kwargs: str) -> None:
        self.site._websockets.add(self)

    def on_message(self, message: str | bytes) -> None:
        self.write_message(message, binary=isinstance(message, bytes))

    def on_close(self) -> None:
        self.site._websockets.discard(self)
