"""Bytes leaving the proxy at a set rate: the connections a `Throttle` flow travels on.

mitmproxy hands a hook whole bodies and calls a body's stream function synchronously, so a
rate cannot be kept inside the HTTP layer. It is kept where the proxy writes: mitmproxy's
connection handler writes each connection's bytes to an `asyncio.StreamWriter` and, after
every read, awaits `drain()` on all of them before it reads more. A `PacedWriter` in that
writer's place queues what is written and lets it out a slice at a time on the proxy's
loop; its `drain()` returns only once the queue is nearly out, so the proxy reads the
other side no faster than it delivers (a streamed body arrives paced end to end). A
throttled flow's times say when its paced bytes left (`Pacing.delivered`): HAR `send`
until the request's last byte left for the origin, `receive` until the response's left
for the client, not when they came in.

A client connection is paced while its latest request was throttled: the client's writer
(the response) and the writers to the origins it uses (the request body). HTTP/1.1 sends
one request at a time, so that is the flow's own traffic; an HTTP/2 connection carrying a
throttled stream is paced as a whole.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mitmproxy import http
    from mitmproxy.addons.proxyserver import Proxyserver
    from mitmproxy.proxy.server_hooks import ServerConnectionHookData

#: how often a paced writer lets a slice out (seconds): 100 small writes a second, each a
#: slice of the rate, so a reader sees a steady stream rather than bursts
TICK = 0.01
#: flow.metadata key: the Pacing that paces a throttled flow's connections
PACING = "necto_nb.pacing"


class PacedWriter:
    """Stands in for a connection's `asyncio.StreamWriter`; with `rate` (bytes per second)
    set, what is written leaves at that rate, else it passes straight through."""

    def __init__(self, writer: asyncio.StreamWriter, tasks: set[asyncio.Task]) -> None:
        self._writer = writer
        self._tasks = tasks  # the pacing's: a running sender is referenced, and cancelled at shutdown
        self.rate: float | None = None
        self._queue = bytearray()
        self._sending = False
        self._room = asyncio.Event()  # set while the queue is short enough for more to be read
        self._room.set()
        self._empty = asyncio.Event()
        self._empty.set()
        self._then: str | None = None  # "close" or "write_eof", asked for while bytes were queued
        #: when the queue last ran out (time.time()): the last paced byte left
        self.emptied_at = 0.0

    def __getattr__(self, name: str) -> Any:  # get_extra_info, transport, wait_closed, ...
        return getattr(self._writer, name)

    def write(self, data: bytes) -> None:
        if self.rate is None and not self._queue:
            self._writer.write(data)
            return
        self._queue += data
        self._empty.clear()
        if len(self._queue) > self._low():
            self._room.clear()
        if not self._sending:
            # Set before the task exists: under an eager task factory (mitmproxy 12 on
            # Python 3.12) it may run to its end inside create_task.
            self._sending = True
            sender = asyncio.get_running_loop().create_task(self._send())
            if not sender.done():
                self._tasks.add(sender)

    def _low(self) -> float:
        return 4 * TICK * self.rate if self.rate else 0

    async def _send(self) -> None:
        loop = asyncio.get_running_loop()
        start, sent = loop.time(), 0
        try:
            while self._queue and not self._writer.is_closing():
                rate = self.rate
                size = len(self._queue) if rate is None else max(1, int(rate * TICK))
                chunk = bytes(self._queue[:size])
                del self._queue[:size]
                self._writer.write(chunk)
                if len(self._queue) <= self._low():
                    self._room.set()
                if rate is not None and self._queue:
                    sent += len(chunk)
                    await asyncio.sleep(max(0.0, start + sent / rate - loop.time()))
            self.emptied_at = time.time()
        finally:
            self._queue.clear()  # the connection closed under it: nothing left to deliver
            self._room.set()
            self._empty.set()
            self._tasks.discard(asyncio.current_task())
            self._sending = False
            if self._then is not None and not self._writer.is_closing():
                getattr(self._writer, self._then)()

    async def drain(self) -> None:
        await self._room.wait()
        await self._writer.drain()

    async def flushed(self) -> None:
        """Until what was written so far has left."""
        await self._empty.wait()

    def is_closing(self) -> bool:
        return self._then is not None or self._writer.is_closing()

    def close(self) -> None:
        if self._queue:
            self._then = "close"  # once the queue is out
        else:
            self._writer.close()

    def write_eof(self) -> None:
        if self._queue:
            self._then = "write_eof"
        else:
            self._writer.write_eof()


class Pacing:
    """Which client connections are paced, and their writers (part of the `RuleEngine` addon)."""

    def __init__(self) -> None:
        #: the proxy's connection handlers, by client connection id (set by the proxy)
        self.proxyserver: Proxyserver | None = None
        #: bytes per second, by the id of a paced client connection
        self.rates: dict[str, float] = {}
        #: the writers to origins that a client's flows were paced on (kept: an origin may
        #: close its connection before the response hook looks)
        self._upstreams: dict[str, set[PacedWriter]] = {}
        self._tasks: set[asyncio.Task] = set()

    def set(self, flow: http.HTTPFlow, kbps: float | None) -> None:
        """Pace `flow`'s client connection at `kbps` (None: no longer)."""
        client = flow.client_conn.id
        rate = None if kbps is None else kbps * 1000 / 8
        if rate is None:
            if self.rates.pop(client, None) is None:
                return
            self._upstreams.pop(client, None)  # the throttled flow before this one is over
        else:
            self.rates[client] = rate
        handler = self._handler(client)
        if handler is None:
            return
        for connection, io in handler.transports.items():
            if (writer := self._paced(io)) is not None:
                writer.rate = rate
                if rate is not None and connection is not flow.client_conn:
                    self._upstreams.setdefault(client, set()).add(writer)
        if rate is not None:
            flow.metadata[PACING] = self

    def server_connected(self, data: ServerConnectionHookData) -> None:
        """A paced client's new origin connection: its writer carries the request body."""
        rate = self.rates.get(data.client.id)
        handler = self._handler(data.client.id) if rate is not None else None
        if handler is not None and (io := handler.transports.get(data.server)) is not None:
            if (writer := self._paced(io)) is not None:
                writer.rate = rate
                self._upstreams.setdefault(data.client.id, set()).add(writer)

    async def delivered(self, flow: http.HTTPFlow) -> None:
        """Once the response's last byte left for the client: the flow's times say when the
        paced bytes left, the request's (HAR send) and the response's (HAR receive)."""
        handler = self._handler(flow.client_conn.id)
        if handler is None or flow.response is None:
            return
        request, response = flow.request, flow.response
        upstreams = self._upstreams.get(flow.client_conn.id)
        if upstreams and request.timestamp_end is not None:
            # One request at a time (HTTP/1.1): its body is the last a paced origin writer let out.
            sent = max(w.emptied_at for w in upstreams)
            request.timestamp_end = max(request.timestamp_end, min(sent, response.timestamp_start or sent))
        client = handler.transports.get(flow.client_conn)
        if client is not None and isinstance(client.writer, PacedWriter):
            await client.writer.flushed()
            response.timestamp_end = max(response.timestamp_end or 0.0, time.time())

    def client_disconnected(self, client_id: str) -> None:
        self.rates.pop(client_id, None)
        self._upstreams.pop(client_id, None)

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def _handler(self, client_id: str) -> Any:
        return self.proxyserver.connections.get(client_id) if self.proxyserver is not None else None

    def _paced(self, io: Any) -> PacedWriter | None:
        if isinstance(io.writer, PacedWriter):
            return io.writer
        if isinstance(io.writer, asyncio.StreamWriter):  # not a UDP / QUIC stream
            io.writer = PacedWriter(io.writer, self._tasks)
            return io.writer
        return None
