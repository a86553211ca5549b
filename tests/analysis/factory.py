"""HAR entries and runs of page loads made to measure, for the analysis and plot tests."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import numpy as np

import necto_nb as nn

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=timezone.utc)


def when(ms: float, t0: datetime = T0) -> str:
    return (t0 + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def entry(url: str = "https://example.com/api", *, method: str = "GET", status: int = 200, at: float = 0.0,
          t0: datetime = T0, timings: dict | None = None, body: object = None, mime: str = "application/json",
          headers: dict | list | None = None, request_headers: dict | list | None = None,
          post: bytes | str | None = None, page: str | None = None, error: str | None = None) -> dict:
    """One valid entry; `body` is JSON-encoded unless bytes (base64) or str (as is)."""
    t = {"blocked": 1.0, "dns": -1, "connect": -1, "ssl": -1, "send": 0.5, "wait": 20.0, "receive": 3.0}
    t.update(timings or {})
    content: dict = {"size": 0, "mimeType": mime}
    if body is not None:
        if isinstance(body, bytes):
            content.update(text=base64.b64encode(body).decode(), encoding="base64", size=len(body))
        else:
            text = body if isinstance(body, str) else json.dumps(body)
            content.update(text=text, size=len(text.encode()))

    def pairs(h):
        return [{"name": k, "value": v} for k, v in (h.items() if isinstance(h, dict) else h or [])]

    e = {
        "startedDateTime": when(at, t0),
        "time": sum(v for k, v in t.items() if k != "ssl" and v > 0),
        "request": {"method": method, "url": url, "httpVersion": "HTTP/1.1", "cookies": [],
                    "headers": pairs(request_headers), "queryString": [], "headersSize": -1,
                    "bodySize": len(post.encode() if isinstance(post, str) else post) if post is not None else 0},
        "response": {"status": status, "statusText": "", "httpVersion": "HTTP/1.1" if status else "",
                     "cookies": [], "headers": pairs(headers), "content": content, "redirectURL": "",
                     "headersSize": -1, "bodySize": content["size"] if status else -1},
        "cache": {},
        "timings": t,
    }
    if isinstance(post, str):
        e["request"]["postData"] = {"mimeType": "application/json", "text": post}
    elif post is not None:  # binary: base64, as necto_nb and some tools write it
        e["request"]["postData"] = {"mimeType": "application/octet-stream", "text": base64.b64encode(post).decode(),
                                    "encoding": "base64"}
    if page:
        e["pageref"] = page
    if error:
        e["response"]["_error"] = error
    return e


def page(id: str = "page_1", *, t0: datetime = T0, at: float = 0.0, **timings: float) -> dict:
    return {"id": id, "title": f"https://example.com/{id}", "startedDateTime": when(at, t0),
            "pageTimings": timings or {"onContentLoad": 300.0, "onLoad": 500.0}}


def runs(n_runs: int, n_requests: int, *, seed: int, slow: dict[int, float] | None = None,
         noise: float = 0.1) -> list[nn.Session]:
    """`n_runs` loads of one page of `n_requests` requests with lognormal noise on wait.

    Every URL carries a cache-buster that changes per run; `slow` multiplies the wait of
    the given requests (index -> factor), the known slowdown a comparison must find.
    """
    rng = np.random.default_rng(seed)
    typical = np.random.default_rng(0).uniform(20, 200, size=n_requests)  # the same page every time
    sessions = []
    for r in range(n_runs):
        t0 = T0 + timedelta(minutes=r)
        waits = typical * rng.lognormal(0.0, noise, size=n_requests)
        for i, factor in (slow or {}).items():
            waits[i] *= factor
        entries = [entry(f"https://cdn{i % 3}.example.com/asset/{i}.js?v=3&_={rng.integers(1 << 40)}", at=i * 5.0,
                         t0=t0, page="page_1", timings={"wait": float(waits[i]), "receive": float(rng.uniform(1, 5))})
                   for i in range(n_requests)]
        load = float(1000 + rng.normal(0, 10))
        sessions.append(nn.Session(f"run {r}", entries, pages=[page(t0=t0, onContentLoad=load * 0.6, onLoad=load)]))
    return sessions
