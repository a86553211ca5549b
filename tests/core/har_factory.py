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
