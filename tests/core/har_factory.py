"""Small valid HAR documents to change one thing at a time in tests."""

from __future__ import annotations

import copy


def entry(url: str = "https://example.com/api?x=1", status: int = 200, **changes) -> dict:
    base = {
        "startedDateTime": "2026-11-01T10:00:00.000Z",
        "time": 30.5,
        "request": {"method": "GET", "url": url, "httpVersion": "HTTP/1.1", "cookies": [],
                    "headers": [{"name": "Accept", "value": "*/*"}], "queryString": [{"name": "x", "value": "1"}],
                    "headersSize": 100, "bodySize": 0},
        "response": {"status": status, "statusText": "OK", "httpVersion": "HTTP/1.1", "cookies": [],
                     "headers": [{"name": "Content-Type", "value": "application/json"}],
                     "content": {"size": 11, "mimeType": "application/json", "text": '{"ok": true}'},
                     "redirectURL": "", "headersSize": 120, "bodySize": 11},
        "cache": {},
        "timings": {"blocked": 1, "dns": -1, "connect": -1, "ssl": -1, "send": 0.5, "wait": 25, "receive": 4},
    }
    base.update(changes)
    return base


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
