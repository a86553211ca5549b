"""Generate a large, realistic HAR file for the benchmarks.

The entries look like a Chrome DevTools export: a dozen headers each way, cookies,
query strings, Chrome's underscore fields, a mix of text and base64 bodies.
Deterministic for a given entry count, so runs compare like with like.
"""

from __future__ import annotations

import argparse
import base64
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

_TYPES = [
    ("document", "text/html; charset=utf-8"),
    ("script", "application/javascript"),
    ("stylesheet", "text/css"),
    ("image", "image/png"),
    ("fetch", "application/json"),
    ("font", "font/woff2"),
]


def _headers(rng: random.Random, n: int) -> list[dict]:
    names = ["accept", "accept-encoding", "accept-language", "cache-control", "user-agent",
             "sec-ch-ua", "sec-fetch-mode", "sec-fetch-site", "referer", "pragma", "x-request-id",
             "content-type", "date", "server", "etag", "vary"]
    return [{"name": rng.choice(names), "value": "v" * rng.randint(4, 30)} for _ in range(n)]


def entry(i: int, rng: random.Random, start: datetime) -> dict:
    resource_type, mime = _TYPES[i % len(_TYPES)]
    host = f"cdn{i % 7}.example.com"
    binary = mime.startswith(("image/", "font/"))
    body = bytes(rng.getrandbits(8) for _ in range(rng.randint(40, 200)))
    text = base64.b64encode(body).decode() if binary else "x" * rng.randint(100, 500)
    timings = {"blocked": rng.uniform(0, 5), "dns": -1, "connect": -1, "ssl": -1,
               "send": rng.uniform(0, 1), "wait": rng.uniform(5, 200), "receive": rng.uniform(0, 30),
               "_blocked_queueing": rng.uniform(0, 2)}
    if i % 10 == 0:
        timings.update(dns=rng.uniform(1, 20), connect=rng.uniform(5, 40), ssl=rng.uniform(3, 20))
    started = start + timedelta(milliseconds=i * 13.7)
    content = {"size": len(body) if binary else len(text), "mimeType": mime, "text": text}
    if binary:
        content["encoding"] = "base64"
    return {
        "_initiator": {"type": "parser", "url": f"https://{host}/index.html", "lineNumber": i % 300},
        "_priority": "High",
        "_resourceType": resource_type,
        "cache": {},
        "connection": str(1000 + i % 50),
        "pageref": f"page_{i // 5000 + 1}",
        "request": {
            "method": "POST" if i % 17 == 0 else "GET",
            "url": f"https://{host}/assets/{resource_type}/{i}.bin?v={i % 97}&lang=en",
            "httpVersion": "http/2.0",
            "headers": _headers(rng, 10),
            "queryString": [{"name": "v", "value": str(i % 97)}, {"name": "lang", "value": "en"}],
            "cookies": [{"name": "session", "value": f"s{i:08d}"}],
            "headersSize": -1,
            "bodySize": 0,
        },
        "response": {
            "status": 404 if i % 101 == 0 else 200,
            "statusText": "",
            "httpVersion": "http/2.0",
            "headers": _headers(rng, 10),
            "cookies": [],
            "content": content,
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
            "_transferSize": len(body) + 300,
            "_error": None,
        },
        "serverIPAddress": f"203.0.113.{i % 250}",
        "startedDateTime": started.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "time": sum(v for k, v in timings.items() if v > 0 and k not in ("ssl", "_blocked_queueing")),
        "timings": timings,
    }


def generate(n: int, seed: int = 1) -> dict:
    rng = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    pages = [{"startedDateTime": (start + timedelta(milliseconds=p * 5000 * 13.7)).isoformat().replace("+00:00", "Z"),
              "id": f"page_{p + 1}", "title": f"https://cdn0.example.com/page/{p}",
              "pageTimings": {"onContentLoad": 800.5, "onLoad": 1500.25}}
             for p in range((n - 1) // 5000 + 1)]
    return {"log": {"version": "1.2", "creator": {"name": "WebInspector", "version": "537.36"},
                    "pages": pages, "entries": [entry(i, rng, start) for i in range(n)]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--entries", type=int, default=50_000)
    args = parser.parse_args()
    args.out.write_bytes(orjson.dumps(generate(args.entries)))
    print(f"{args.out}: {args.out.stat().st_size / 1e6:.1f} MB, {args.entries} entries")


if __name__ == "__main__":
    main()
