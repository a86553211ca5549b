"""HAR entries, documents and runs made to measure for the tests: one valid shape, changed one
thing at a time (`entry(status=500)`, `entry(timings={"wait": 300})`, `entry(cache=None)`)."""

from __future__ import annotations

import base64
import copy
import json
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlsplit

import numpy as np

import necto_nb as nn

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=timezone.utc)
_OK = '{"ok": true}'


def when(ms: float, t0: datetime = T0) -> str:
    return (t0 + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _pairs(headers: dict | list) -> list[dict]:
    return [{"name": k, "value": v} for k, v in (headers.items() if isinstance(headers, dict) else headers)]


def entry(url: str = "https://example.com/api", status: int = 200, *, method: str = "GET", at: float = 0.0,
          t0: datetime = T0, timings: dict | None = None, body: object = _OK, mime: str = "application/json",
          headers: dict | list | None = None, request_headers: dict | list | None = None,
          post: bytes | str | None = None, page: str | None = None, error: str | None = None,
          status_text: str | None = None, **changes) -> dict:
    """One valid entry. `body` is JSON-encoded unless bytes (base64) or str (as is), None for
    none; `headers` default to the body's Content-Type; `changes` replace top-level fields."""
    t = {"blocked": 1.0, "dns": -1, "connect": -1, "ssl": -1, "send": 0.5, "wait": 25.0, "receive": 4.0}
    t.update(timings or {})
    content: dict = {"size": 0, "mimeType": mime}
    if body is not None:
        if isinstance(body, bytes):
            content.update(text=base64.b64encode(body).decode(), encoding="base64", size=len(body))
        else:
            text = body if isinstance(body, str) else json.dumps(body)
            content.update(text=text, size=len(text.encode()))
    e = {
        "startedDateTime": when(at, t0),
        "time": sum(v for k, v in t.items() if k != "ssl" and v > 0),
        "request": {"method": method, "url": url, "httpVersion": "HTTP/1.1", "cookies": [],
                    "headers": _pairs({"Accept": "*/*"} if request_headers is None else request_headers),
                    "queryString": _pairs(parse_qsl(urlsplit(url).query, keep_blank_values=True)),
                    "headersSize": 100,
                    "bodySize": len(post.encode() if isinstance(post, str) else post) if post is not None else 0},
        "response": {"status": status, "httpVersion": "HTTP/1.1" if status else "",
                     "statusText": ("OK" if status == 200 else "") if status_text is None else status_text,
                     "cookies": [], "headers": _pairs({"Content-Type": mime} if headers is None else headers),
                     "content": content, "redirectURL": "", "headersSize": 120 if status else -1,
                     "bodySize": content["size"] if status else -1},
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
    e.update(changes)
    return e


def har(*entries: dict, **log) -> dict:
    doc = {"log": {"version": "1.2", "creator": {"name": "test", "version": "1"},
                   "pages": [], "entries": [copy.deepcopy(e) for e in entries] or [entry()]}}
    doc["log"].update(log)
    return doc


def maximal() -> dict:
    """A HAR with every field HAR 1.2 defines, optional ones included, and lists of two."""
    def pairs(prefix: str) -> list[dict]:
        return [{"name": f"{prefix}{i}", "value": f"v{i}", "comment": f"{prefix} {i}"} for i in range(2)]

    def cookies() -> list[dict]:
        return [{"name": f"c{i}", "value": f"v{i}", "path": "/", "domain": "example.com",
                 "expires": "2027-01-01T00:00:00.000Z", "httpOnly": True, "secure": False, "comment": f"cookie {i}"}
                for i in range(2)]

    def cache_state(when: str) -> dict:
        return {"expires": "2027-01-01T00:00:00Z", "lastAccess": "2026-11-01T10:00:00Z", "eTag": f'"{when}"',
                "hitCount": 2, "comment": when}

    def one(i: int) -> dict:
        return {
            "pageref": f"page_{i}",
            "startedDateTime": f"2026-11-01T10:00:0{i}.000Z",
            "time": 31.5,
            "request": {"method": "POST", "url": f"https://example.com/api/{i}?a=0&b=1", "httpVersion": "HTTP/1.1",
                        "cookies": cookies(), "headers": pairs("h"), "queryString": pairs("q"),
                        "postData": {"mimeType": "application/x-www-form-urlencoded", "text": "p0=v0&p1=v1",
                                     "params": [{"name": f"p{j}", "value": f"v{j}", "fileName": f"f{j}.txt",
                                                 "contentType": "text/plain", "comment": f"param {j}"}
                                                for j in range(2)],
                                     "comment": "form"},
                        "headersSize": 100, "bodySize": 11, "comment": "request"},
            "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "cookies": cookies(),
                         "headers": pairs("h"),
                         "content": {"size": 11, "compression": 0, "mimeType": "application/json",
                                     "text": "eyJvayI6IHRydWV9", "encoding": "base64", "comment": "body"},
                         "redirectURL": "", "headersSize": 120, "bodySize": 11, "comment": "response"},
            "cache": {"beforeRequest": cache_state("before"), "afterRequest": cache_state("after"), "comment": "cache"},
            "timings": {"blocked": 1, "dns": 0.5, "connect": 2, "send": 0.5, "wait": 25, "receive": 2.5, "ssl": 1,
                        "comment": "timings"},
            "serverIPAddress": "10.0.0.1",
            "connection": "443",
            "comment": f"entry {i}",
        }

    return {"log": {
        "version": "1.2",
        "creator": {"name": "test", "version": "1", "comment": "creator"},
        "browser": {"name": "Chromium", "version": "131", "comment": "browser"},
        "pages": [{"startedDateTime": f"2026-11-01T10:00:0{i}.000Z", "id": f"page_{i}", "title": f"Page {i}",
                   "pageTimings": {"onContentLoad": 10, "onLoad": 20, "comment": "page timings"},
                   "comment": f"page {i}"} for i in range(2)],
        "entries": [one(i) for i in range(2)],
        "comment": "log",
    }}


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
