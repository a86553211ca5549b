"""A scripted page load of the demo site, for notebooks and tests with no browser at hand.

It makes the requests a browser loading the demo page makes, in the same order: the
document, then its stylesheet, script and images six at a time (a browser's connection
limit per host), then the calls the page's script makes (`assets.APP_JS`): the item list,
a POST, the slow endpoint and a WebSocket echo.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urljoin

import httpx

_ASSET = re.compile(r'(?:src|href)="(/(?:build-\d+/)?static/[^"]+)"')
_HEADERS = {"Authorization": "Bearer demo-token", "Content-Type": "application/json"}


def visit(url: str, *, proxy: str | None = None, websocket: bool = True, timeout: float = 30.0) -> list[int]:
    """Load the demo page at `url` (through `proxy`, if given); returns the status codes seen."""
    statuses: list[int] = []
    with httpx.Client(proxy=proxy, timeout=timeout, limits=httpx.Limits(max_connections=6)) as client:
        page = client.get(url)
        statuses.append(page.status_code)
        assets = [urljoin(url, path) for path in _ASSET.findall(page.text)]
        with ThreadPoolExecutor(max_workers=6) as pool:
            statuses += [r.status_code for r in pool.map(client.get, assets)]
        statuses.append(client.get(urljoin(url, "/api/items"), headers=_HEADERS).status_code)
        created = client.post(urljoin(url, "/api/items"), headers=_HEADERS, json={"name": "widget", "price": 9.5})
        statuses.append(created.status_code)
        statuses.append(client.get(urljoin(url, "/slow"), params={"ms": 50}).status_code)
    if websocket:
        _echo(url, proxy, timeout)
    return statuses


def _echo(url: str, proxy: str | None, timeout: float) -> None:
    from websockets.sync.client import connect

    ws_url = re.sub(r"^http", "ws", urljoin(url, "/ws"))
    with connect(ws_url, proxy=proxy, open_timeout=timeout) as ws:
        ws.send("hello")
        if ws.recv(timeout=timeout) != "hello":
            raise RuntimeError("the demo's WebSocket echo answered something else")
