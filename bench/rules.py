"""Rules measured: what a Delay and a Throttle add (and when half a throttled body has
come), what idle rules cost, and a Chromium page load through `proxy.browser()` against
the browser's own timing and HAR.

    python3 bench/rules.py [--samples 21] [--no-browser]

Everything on loopback: bench/capture.py's asyncio upstream in a thread, the capture in
this process, httpx as the client, the demo site for the browser. Client-side times are medians of interleaved requests, with recording paused
while timing (converting flows would slow whichever request it overlaps).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import necto_nb as nn  # noqa: E402
from capture import _Upstream  # noqa: E402  (bench/capture.py: /echo and /bytes?n=)
from necto_nb import rules  # noqa: E402


def _serve() -> int:
    ready, box = threading.Event(), {}

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_Upstream, "127.0.0.1", 0)
        box["port"] = server.sockets[0].getsockname()[1]
        ready.set()
        await asyncio.Event().wait()

    threading.Thread(target=asyncio.run, args=(main(),), daemon=True).start()
    ready.wait()
    return box["port"]


def _timed(c: httpx.Client, url: str) -> float:
    started = time.perf_counter()
    c.get(url).raise_for_status()
    return (time.perf_counter() - started) * 1000


def _hook_cost(proxy, n: int = 20_000) -> float:
    """µs the rule engine spends on a flow no rule matches, with ten idle rules."""
    from mitmproxy.test import tflow

    flow = tflow.tflow()
    engine = proxy._rules
    started = time.perf_counter()
    for _ in range(n):
        engine.request(flow)
    return (time.perf_counter() - started) / n * 1e6


def proxy_figures(samples: int, confdir: str) -> dict:
    up = f"http://127.0.0.1:{_serve()}"
    idle = [rules.Delay(f"*/never-{i}/*", ms=200) for i in range(10)]
    out: dict = {}
    with nn.Session("bench rules").capture(port=0, confdir=confdir) as proxy, \
            httpx.Client(proxy=proxy.url, timeout=60) as c:
        proxy.pause()
        _timed(c, f"{up}/echo")
        added, unmatched, bare = [], [], []
        for i in range(samples):
            proxy.rules[:] = [rules.Delay("*/echo?slow*", ms=200)]
            fast = _timed(c, f"{up}/echo?fast={i}")
            added.append(_timed(c, f"{up}/echo?slow={i}") - fast)
            for rule_list, times in [(idle, unmatched), ([], bare)][:: 1 if i % 2 else -1]:  # turns at first
                proxy.rules[:] = rule_list
                times.append(_timed(c, f"{up}/echo?n={i}"))
        out["delay_added_ms"] = statistics.median(added)
        out["idle_rules_added_ms"] = statistics.median(unmatched) - statistics.median(bare)
        proxy.rules[:] = [rules.Throttle("*/bytes*", kbps=1000)]
        started, size, half = time.perf_counter(), 0, None
        with c.stream("GET", f"{up}/bytes?n=1000000") as r:
            for chunk in r.iter_raw():
                size += len(chunk)
                if half is None and size >= 500_000:
                    half = time.perf_counter() - started
        out["throttle_1MB_at_1000kbps_s"] = time.perf_counter() - started
        out["throttle_half_delivered_s"] = half
        assert size == 1_000_000
        proxy.rules[:] = idle
        out["idle_rules_hook_us"] = _hook_cost(proxy)
    return out


def browser_figures(confdir: str) -> dict:
    site = nn.demo.serve(port=0)
    session = nn.Session("bench browser")
    with tempfile.TemporaryDirectory() as tmp:
        own = Path(tmp) / "chromium.har"
        try:
            with session.capture(port=0, confdir=confdir) as proxy:
                context = proxy.browser(record_har_path=str(own))
                page = context.new_page()
                page.goto(site.url)
                page.wait_for_load_state("networkidle")
                nav = page.evaluate("() => { const t = performance.timing; return {load: t.loadEventStart - "
                                    "t.navigationStart, dcl: t.domContentLoadedEventStart - t.navigationStart}; }")
                context.close()
        finally:
            site.stop()
        theirs = json.loads(own.read_text())["log"]
    ours = session.pages[0]["pageTimings"]
    pairs = lambda es: sorted((e["request"]["method"], e["request"]["url"]) for e in es)  # noqa: E731
    return {"onLoad_ms": ours["onLoad"], "navigation_timing_load_ms": nav["load"],
            "onLoad_vs_navigation": ours["onLoad"] / nav["load"],
            "chromium_har_onLoad_ms": theirs["pages"][0]["pageTimings"]["onLoad"],
            "entries": len(session), "chromium_har_entries": len(theirs["entries"]),
            "same_entries": pairs(session.entries) == pairs(theirs["entries"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=21)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    import mitmproxy.version

    print(f"Python {sys.version.split()[0]}, mitmproxy {mitmproxy.version.VERSION}")
    with tempfile.TemporaryDirectory() as confdir:
        figures = proxy_figures(args.samples, confdir)
        if not args.no_browser:
            figures.update(browser_figures(confdir))
    for name, value in figures.items():
        print(f"{name}: {value:.3f}" if isinstance(value, float) else f"{name}: {value}")


if __name__ == "__main__":
    main()
