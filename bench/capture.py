"""Capture throughput: Session.capture against a bare mitmdump under the same load.

    python3 bench/capture.py [--duration 10] [--rounds 3] [--connections 64]

Every part runs in its own process, as in use: an asyncio upstream server, the proxy
under test, and wrk as the load generator (64 keep-alive connections through the proxy).
Proxies compared:

- `mitmdump`: bare `mitmdump -q`, the peer.
- `thread+list`: mitmproxy in a thread of a Python process with an addon appending each
  flow to a list (the least a capture inside a kernel can do).
- `Session.capture`: necto_nb, converting every flow to HAR and filling a Session.
- `Session.capture, live view`: the same while a live view reads `len(s.df)` twice a second.
- `Session.capture, 10 idle rules`: with ten rules (`nn.rules`) that match no request;
  the target is at least 0.9x the throughput of `Session.capture` in the same round.

Workloads: `small` (13-byte text body) and `json` (20 KB of JSON, gzip-encoded, which
the capture decodes and stores). For the two in-process proxies the main thread plays a
notebook kernel: a trivial cell (`sum(range(10_000))`) is due every 50 ms, idle and under
load, and its time counts from when it was due (waiting for the GIL included).
Throughput ratios pair each run with the mitmdump run of the same round (the order
alternates), which cancels most of the drift of a shared machine. Lost flows: responses
wrk counted minus 200 entries in the Session (a request cut when wrk stops may be
recorded without wrk counting it, never the other way round).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

#: report name -> what runs it
PROXIES = {"mitmdump": "mitmdump", "thread+list": "thread", "Session.capture": "capture",
           "Session.capture, live view": "capture+view", "Session.capture, 10 idle rules": "capture+rules"}
SMALL = b"hello, bench\n"
JSON = gzip.compress(json.dumps([{"id": i, "name": f"item {i}", "tags": ["a", "b"]} for i in range(400)]).encode())


# -- the upstream server (its own process) ------------------------------------------------


class _Upstream(asyncio.Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport, self.buffer = transport, b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            path = head.split(b" ", 2)[1]
            if b"/json" in path:
                extra, body = b"Content-Type: application/json\r\nContent-Encoding: gzip\r\n", JSON
            elif b"/bytes?n=" in path:  # bench/rules.py's throttled download
                extra, body = b"Content-Type: application/octet-stream\r\n", b"x" * int(path.split(b"n=")[1])
            else:
                extra, body = b"Content-Type: text/plain\r\n", SMALL
            self.transport.write(b"HTTP/1.1 200 OK\r\n" + extra + b"Content-Length: %d\r\n\r\n" % len(body) + body)


async def _serve_upstream() -> None:
    server = await asyncio.get_running_loop().create_server(_Upstream, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


# -- a proxy in this process, main thread acting as the kernel ------------------------------


def _cell() -> None:
    sum(range(10_000))


def _sample(stop: threading.Event, out: list[float], cell=_cell, every: float = 0.05) -> None:
    """How long `cell` takes from the moment it is due: waiting for the GIL included,
    as a kernel's main thread waits for it when a message arrives."""
    while not stop.is_set():
        due = time.perf_counter() + every
        if stop.wait(every):
            return
        cell()
        out.append((time.perf_counter() - due) * 1000)


class _ListAppend:
    def __init__(self) -> None:
        self.flows: list = []

    def response(self, flow) -> None:
        self.flows.append(flow)

    def error(self, flow) -> None:
        self.flows.append(flow)


def _thread_master(confdir: str):
    """mitmproxy in a thread with a list-append addon: the floor for an in-process proxy."""
    from mitmproxy import options
    from mitmproxy.addons import core, next_layer, proxyserver, tlsconfig
    from mitmproxy.master import Master

    addon, ready, box = _ListAppend(), threading.Event(), {}

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: None)  # quiet shutdown
        master = Master(options.Options(listen_host="127.0.0.1", listen_port=0, confdir=confdir))
        ps = proxyserver.Proxyserver()
        master.addons.add(core.Core(), ps, next_layer.NextLayer(), tlsconfig.TlsConfig(), addon)
        box["master"] = master
        run = asyncio.ensure_future(master.run())
        while not ps.listen_addrs():
            await asyncio.sleep(0.01)
        box["port"] = ps.listen_addrs()[0][1]
        ready.set()
        await run
        await ps.servers.update([])

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    ready.wait()

    def stop() -> dict:
        box["master"].shutdown()
        thread.join()
        return {"recorded_200": sum(1 for f in addon.flows if f.response and f.response.status_code == 200),
                "recorded": len(addon.flows)}

    return box["port"], stop


def _idle_rules() -> list:
    """Ten rules of every kind that match nothing the load sends (globs, a method, a predicate)."""
    from necto_nb import rules

    return [rules.Delay("*/never/*", ms=100), rules.Throttle("*.example.com/*", kbps=100),
            rules.Mock("*/api/flags", json={"beta": True}), rules.Fail("*/fail*", 503),
            rules.Rewrite("*/rewrite/*", response_headers={"X-A": "1"}), rules.MapLocal("*/static/*", "."),
            rules.MapRemote("*://old.example.com/*", "http://127.0.0.1:9"),
            rules.Callback("*/hook", lambda flow: None), rules.Mock("*", method="DELETE"),
            rules.Delay(lambda flow: flow.request.port == 9, ms=100)]


def _capture(confdir: str, with_rules: bool = False):
    import necto_nb as nn

    session = nn.Session("bench")
    proxy = session.capture(port=0, confdir=confdir, rules=_idle_rules() if with_rules else ())

    def stop() -> dict:
        proxy.stop()
        df = session.df
        return {"recorded_200": int((df.status == 200).sum()), "recorded": len(df), "errors": proxy.errors[:3]}

    return proxy.port, stop, session


def _child(kind: str, confdir: str) -> None:
    session = None
    if kind == "thread":
        port, stop = _thread_master(confdir)
    else:
        port, stop, session = _capture(confdir, with_rules=kind == "capture+rules")
    idle: list[float] = []
    quiet = threading.Event()
    threading.Timer(2.0, quiet.set).start()
    _sample(quiet, idle)
    print(port, flush=True)
    sys.stdin.readline()  # "load": wrk starts now
    loaded, df_ms, done = [], [], threading.Event()

    samplers = [threading.Thread(target=_sample, args=(done, loaded))]
    if kind == "capture+view":  # a live view refreshing twice a second
        samplers.append(threading.Thread(target=_sample, args=(done, df_ms, lambda: len(session.df), 0.5)))
    for s in samplers:
        s.start()
    sys.stdin.readline()  # "stop"
    done.set()
    for s in samplers:
        s.join()
    result = stop()
    result.update(cell_idle_ms=_stats(idle), cell_load_ms=_stats(loaded), df_load_ms=_stats(df_ms))
    print(json.dumps(result), flush=True)


def _stats(values: list[float]) -> dict | None:
    if not values:
        return None
    ordered = sorted(values)
    return {"median": statistics.median(ordered), "p95": ordered[int(0.95 * (len(ordered) - 1))], "n": len(ordered)}


# -- the driver ----------------------------------------------------------------------------

_LUA = """
wrk.method = "GET"
wrk.path = "http://127.0.0.1:%(up)d/%(workload)s"
wrk.headers["Host"] = "127.0.0.1:%(up)d"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('NECTO {"requests": %%d, "duration_us": %%d, "connect": %%d, "read": %%d, '
    .. '"write": %%d, "status": %%d, "timeout": %%d, "p50_ms": %%.2f, "p99_ms": %%.2f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def _wrk(proxy_port: int, up: int, workload: str, duration: int, connections: int, folder: Path) -> dict:
    script = folder / f"{workload}.lua"
    script.write_text(_LUA % {"up": up, "workload": workload})
    done = subprocess.run(["wrk", "-t", "1", "-c", str(connections), "-d", f"{duration}s", "--timeout", "10s",
                           "-s", str(script), f"http://127.0.0.1:{proxy_port}"],
                          capture_output=True, text=True, check=True)
    line = next(x for x in done.stdout.splitlines() if x.startswith("NECTO "))
    stats = json.loads(line[6:])
    stats["rps"] = stats["requests"] / (stats["duration_us"] / 1e6)
    return stats


def _run_mitmdump(up: int, workload: str, args, folder: Path) -> dict:
    proc = subprocess.Popen(
        [sys.executable, "-c", "from mitmproxy.tools.main import mitmdump; mitmdump()", "-q",
         "--listen-host", "127.0.0.1", "-p", str(args.mitmdump_port), "--set", f"confdir={folder / 'conf'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(args.mitmdump_port)
        return _wrk(args.mitmdump_port, up, workload, args.duration, args.connections, folder)
    finally:
        proc.terminate()
        proc.wait()


def _wait_listening(port: int) -> None:
    import socket

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def _run_child(kind: str, up: int, workload: str, args, folder: Path) -> dict:
    proc = subprocess.Popen([sys.executable, __file__, "--child", kind, "--confdir", str(folder / "conf")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        proc.stdin.write("load\n")
        proc.stdin.flush()
        stats = _wrk(port, up, workload, args.duration, args.connections, folder)
        proc.stdin.write("stop\n")
        proc.stdin.flush()
        stats.update(json.loads(proc.stdout.readline()))
        stats["lost"] = max(0, stats["requests"] - stats["recorded_200"])
        return stats
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each proxy")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workloads", default="small,json")
    parser.add_argument("--proxies", default=",".join(PROXIES.values()),
                        help="which to run, by kind: " + ",".join(PROXIES.values()))
    parser.add_argument("--mitmdump-port", type=int, default=18080)
    parser.add_argument("--upstream", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--confdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.upstream:
        return asyncio.run(_serve_upstream())
    if args.child:
        return _child(args.child, args.confdir)
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    import mitmproxy.version

    print(f"Python {sys.version.split()[0]}, mitmproxy {mitmproxy.version.VERSION}, {os.cpu_count()} cores, "
          f"wrk -c {args.connections}, {args.duration} s per run, {args.rounds} rounds")
    upstream = subprocess.Popen([sys.executable, __file__, "--upstream"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    up = int(upstream.stdout.readline())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        chosen = [name for name, kind in PROXIES.items() if kind in args.proxies.split(",")]
        for workload in args.workloads.split(","):
            runs: dict[str, list[dict]] = {name: [] for name in chosen}
            for round_ in range(args.rounds):
                # Alternate the order so a machine getting busier or quieter favours no one.
                for name in chosen if round_ % 2 == 0 else reversed(chosen):
                    kind = PROXIES[name]
                    run = (_run_mitmdump(up, workload, args, folder) if kind == "mitmdump"
                           else _run_child(kind, up, workload, args, folder))
                    runs[name].append(run)
            _report(workload, runs)
    upstream.stdin.close()
    upstream.wait()


def _report(workload: str, runs: dict[str, list[dict]]) -> None:
    best = {name: max(rs, key=lambda r: r["rps"]) for name, rs in runs.items()}
    peer = "mitmdump" if "mitmdump" in runs else next(iter(runs))
    peers = [r["rps"] for r in runs[peer]]
    print(f"\nworkload {workload}")
    print(f"| proxy | req/s best (all runs) | vs {peer}, same round (median) | p50 / p99 ms | lost flows | wrk errors | "
          "trivial cell idle / under load ms (median, p95) | len(s.df) under load ms (median, p95) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, rs in runs.items():
        b = best[name]
        errors = sum(b[k] for k in ("connect", "read", "write", "status", "timeout"))
        all_rps = ", ".join(f"{r['rps']:.0f}" for r in rs)
        cell = df = lost = "-"
        if "cell_load_ms" in b:
            i, u = b["cell_idle_ms"], b["cell_load_ms"]
            cell = f"{i['median']:.2f}, {i['p95']:.2f} / {u['median']:.2f}, {u['p95']:.2f}"
            lost = str(max(r["lost"] for r in rs))
        if b.get("df_load_ms"):
            d = b["df_load_ms"]
            df = f"{d['median']:.1f}, {d['p95']:.1f}"
        ratio = statistics.median(r["rps"] / p for r, p in zip(rs, peers))
        print(f"| {name} | {b['rps']:.0f} ({all_rps}) | {ratio:.2f}x | {b['p50_ms']:.1f} / {b['p99_ms']:.1f} "
              f"| {lost} | {errors} | {cell} | {df} |")
        if b.get("errors"):
            print(f"  capture errors: {b['errors']}")
    if "Session.capture" in runs and "Session.capture, 10 idle rules" in runs:
        ratio = statistics.median(r["rps"] / p["rps"] for r, p in zip(runs["Session.capture, 10 idle rules"],
                                                                       runs["Session.capture"]))
        print(f"\n10 idle rules vs none, same round (median): {ratio:.2f}x (target >= 0.90x)")


if __name__ == "__main__":
    main()
