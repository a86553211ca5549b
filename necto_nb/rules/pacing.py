"""Bytes leaving the proxy at a set rate: the connections a `Throttle` flow travels on.

mitmproxy hands a hook whole bodies and calls a body's stream function synchronously, so a
rate cannot be kept inside the HTTP layer. It is kept where the proxy writes: mitmproxy's
connection handler writes each connection's bytes to an `asyncio.StreamWriter` and, after
every read, awaits `drain()` on all of them before it reads more. A `PacedWriter` in that
writer's place queues what is written and lets it out a slice at a time on the proxy's
loop; its `drain()` returns only once the queue is nearly out, so the proxy reads the
other side no faster than it delivers (a streamed body arrives paced end to end, and its
`timestamp_end` is when its last bytes left, not when they came in).

A client connection is paced while its latest request was throttled: the client's writer
(the response) and the writers to the origins it uses (the request body). HTTP/1.1 sends
one request at a time, so that is the flow's own traffic; an HTTP/2 connection carrying a
throttled stream is paced as a whole.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mitmproxy import http
    from mitmproxy.addons.proxyserver import Proxyserver
    from mitmproxy.proxy.server_hooks import ServerConnectionHookData

#: how often a paced writer lets a slice out (seconds): 100 small writes a second, each a
#: slice of the rate, so a reader sees a steady stream rather than bursts
TICK = 0.01
#: flow.metadata key: the PacedWriter that carries a throttled flow's response
CLIENT_WRITER = "necto_nb.paced"


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
        self._tasks: set[asyncio.Task] = set()

    def set(self, flow: http.HTTPFlow, kbps: float | None) -> None:
        """Pace `flow`'s client connection at `kbps` (None: no longer)."""
        client = flow.client_conn.id
        rate = None if kbps is None else kbps * 1000 / 8
        if rate is None:
            if self.rates.pop(client, None) is None:
                return
        else:
            self.rates[client] = rate
        handler = self._handler(client)
        if handler is None:
            return
        for connection, io in handler.transports.items():
            writer = self._paced(io)
            if writer is not None:
                writer.rate = rate
                if connection is flow.client_conn:
                    flow.metadata[CLIENT_WRITER] = writer

    def server_connected(self, data: ServerConnectionHookData) -> None:
        """A paced client's new origin connection: its writer carries the request body."""
        rate = self.rates.get(data.client.id)
        handler = self._handler(data.client.id) if rate is not None else None
        if handler is not None and (io := handler.transports.get(data.server)) is not None:
            if (writer := self._paced(io)) is not None:
                writer.rate = rate

    def client_disconnected(self, client_id: str) -> None:
        self.rates.pop(client_id, None)

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
