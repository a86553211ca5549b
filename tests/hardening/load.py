"""Servers and a load client for the proxy's load and fault tests, each run in its own process
(so that none of them shares the GIL with the proxy under test). Loopback only.

    python -m tests.hardening.load servers
        An upstream answering every request with its own path as the body, a faulty upstream
        (by path: /garbage, /empty, /cut, /stall-body, /stall) and a port that accepts TCP
        and never speaks (a TLS handshake that stalls). Prints their ports as one JSON line,
        serves until stdin closes.

    python -m tests.hardening.load client PROXY_PORT UPSTREAM_PORT CONNECTIONS TOTAL
        TOTAL requests over CONNECTIONS keep-alive connections through the proxy, each
        request's path unique (/load?c=<connection>&n=<number>). Prints one JSON line: how
        many came back 200 with their own path as body, other outcomes, connections opened.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter

# -- servers --------------------------------------------------------------------------------


class _Upstream(asyncio.Protocol):
    """HTTP/1.1 keep-alive: every request answered with its path as the body (/bytes?n=N: N bytes)."""

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport, self.buffer = transport, b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            path = head.split(b" ", 2)[1]
            body = path if not path.startswith(b"/bytes?n=") else b"x" * int(path[9:].partition(b"&")[0])
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
                                 % len(body))
            self.transport.write(body)


async def _faulty(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ", 2)[1]
        if path.startswith(b"/garbage"):
            writer.write(b"this is not HTTP at all\r\n\r\n")
        elif path.startswith(b"/cut"):  # headers promise 100000 bytes; 10 come, then the connection closes
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n0123456789")
        elif path.startswith(b"/stall-body"):  # 10 bytes of the body, then nothing, ever
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n0123456789")
            await writer.drain()
            await reader.read()  # until the proxy gives up on us
        elif path.startswith(b"/stall"):
            await reader.read()
        # /empty: close without a byte
        await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # accept, never speak (a TLS handshake that never completes)
    writer.close()


async def servers() -> None:
    loop = asyncio.get_running_loop()
    upstream = await loop.create_server(_Upstream, "127.0.0.1", 0)
    faulty = await asyncio.start_server(_faulty, "127.0.0.1", 0)
    silent = await asyncio.start_server(_silent, "127.0.0.1", 0)
    ports = {name: s.sockets[0].getsockname()[1] for name, s in
             (("upstream", upstream), ("faulty", faulty), ("silent", silent))}
    print(json.dumps(ports), flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # serve until the test closes our stdin


# -- the load client --------------------------------------------------------------------------


async def _connection(k: int, count: int, proxy: int, upstream: int, results: Counter) -> None:
    reader = writer = None
    n = 0
    while n < count:
        if writer is None:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy)
            results["connections"] += 1
        path = f"/load?c={k}&n={n}"
        writer.write(f"GET http://127.0.0.1:{upstream}{path} HTTP/1.1\r\nHost: 127.0.0.1:{upstream}\r\n\r\n".encode())
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            body = await reader.readexactly(length)
        except (ConnectionError, asyncio.IncompleteReadError, StopIteration) as e:
            results[f"broken: {type(e).__name__}"] += 1
            writer.close()
            writer = None
            continue  # the same request again on a new connection
        results["ok" if status == 200 and body == path.encode() else f"status {status}"] += 1
        n += 1
    writer.close()


async def client(proxy: int, upstream: int, connections: int, total: int) -> dict:
    results: Counter = Counter()
    shares = [total // connections + (k < total % connections) for k in range(connections)]
    began = time.perf_counter()
    await asyncio.gather(*(_connection(k, shares[k], proxy, upstream, results) for k in range(connections)))
    return {**results, "seconds": round(time.perf_counter() - began, 1)}


if __name__ == "__main__":
    if sys.argv[1] == "servers":
        asyncio.run(servers())
    else:
        print(json.dumps(asyncio.run(client(*map(int, sys.argv[2:6])))), flush=True)
