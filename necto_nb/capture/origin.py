"""Where a flow came from: the notebook cell that was running when it started, and the
browser page it belongs to. A mitmproxy addon; what it learns goes into the flow's
entry (`_cell`, `pageref`, `_resourceType`) through the recorder.

Pages are told from the browser's own request headers: a navigation of the top-level
document (`Sec-Fetch-Mode: navigate`, `Sec-Fetch-Dest: document`) starts a page, and
every request with `Sec-Fetch-Dest` after it belongs to that page, its destination
naming its resource type. (Chromium sends `Sec-Fetch-*` to HTTPS and loopback origins
only, so plain-HTTP pages elsewhere get no pages.) The browser reports each page's title
and load timings when it has loaded (`page_loaded`); the page goes into the session then.
Chromium's own errands (updates, the sign-in check) are dropped while a browser runs.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from necto_nb.capture.convert import iso
from necto_nb.capture.recorder import NOT_RECORDED
from necto_nb.rules.base import note

if TYPE_CHECKING:
    from mitmproxy import http

    from necto_nb.session import Session

#: Sec-Fetch-Dest -> Chrome DevTools' resource type (fetch() and XHR both send "empty")
RESOURCE_TYPES = {
    "document": "document", "iframe": "document", "frame": "document", "script": "script",
    "style": "stylesheet", "image": "image", "font": "font", "audio": "media", "video": "media",
    "track": "texttrack", "manifest": "manifest", "empty": "fetch", "worker": "script",
    "sharedworker": "script", "serviceworker": "script", "object": "other", "embed": "other",
    "websocket": "websocket",
}


class Origin:
    """mitmproxy addon: notes each flow's cell and page."""

    def __init__(self, session: Session) -> None:
        self.session = session
        #: the cell running now (`{"executionCount": n, "id": ...}`), set by an intercept
        self.cell: dict[str, Any] | None = None
        #: on while a browser launched by the proxy runs
        self.track_pages = False
        self._lock = threading.Lock()
        self._pages: dict[str, dict[str, Any]] = {}  # id -> page not yet in the session
        self._documents: dict[str, str] = {}  # document URL (each redirect hop) -> page id
        self._current: str | None = None
        self._redirected_to: str | None = None
        self._count = 0

    # -- hooks, on the proxy's loop -----------------------------------------------------

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if self.cell is not None:
            note(flow, "_cell", self.cell)
        if not self.track_pages:
            return
        headers = flow.request.headers
        if _background(headers):
            flow.metadata[NOT_RECORDED] = True
            flow.kill()  # the browser's own errand, not the page's: never sent, never recorded
            return
        dest = headers.get("sec-fetch-dest")
        if dest is None and "sec-websocket-key" in headers and "origin" in headers:
            dest = "websocket"  # Chromium's WebSocket handshakes carry no Sec-Fetch-Dest
        if dest is None:
            return
        url = flow.request.pretty_url
        if dest == "document" and headers.get("sec-fetch-mode") == "navigate" and url != self._redirected_to:
            self._start_page(flow, url)
        elif dest == "document" and url == self._redirected_to and self._current is not None:
            self._documents[url] = self._current
        if self._current is not None:
            note(flow, "pageref", self._current)
        note(flow, "_resourceType", RESOURCE_TYPES.get(dest, "other"))

    def response(self, flow: http.HTTPFlow) -> None:
        if not self.track_pages or flow.response is None:
            return
        if flow.request.headers.get("sec-fetch-mode") == "navigate" and 300 <= flow.response.status_code < 400:
            location = flow.response.headers.get("location")
            self._redirected_to = urljoin(flow.request.pretty_url, location) if location else None

    def _start_page(self, flow: http.HTTPFlow, url: str) -> None:
        with self._lock:
            taken = {p.get("id") for p in self.session.pages} | self._pages.keys()
            while True:
                self._count += 1
                page_id = f"page_{self._count}"
                if page_id not in taken:
                    break
            self._pages[page_id] = {"startedDateTime": iso(flow.request.timestamp_start), "id": page_id,
                                    "title": url, "pageTimings": {"onContentLoad": -1, "onLoad": -1}}
        self._documents[url] = self._current = page_id
        self._redirected_to = None

    # -- from the browser ----------------------------------------------------------------

    def page_loaded(self, url: str, *, title: str, started: float | None, on_content_load: float | None,
                    on_load: float | None) -> str | None:
        """The browser loaded `url`: its title and timings (ms from `started`, a Unix
        time in seconds) complete that page, which goes into the session. Returns its id."""
        with self._lock:
            page_id = self._documents.get(url)
            page = self._pages.pop(page_id, None) if page_id else None
            if page is None:
                return None
        if started is not None:
            page["startedDateTime"] = iso(started)
        page["title"] = title or url
        page["pageTimings"] = {"onContentLoad": _ms(on_content_load), "onLoad": _ms(on_load)}
        self.session.extend([], pages=[page])
        return page_id

    def close_pages(self) -> None:
        """The browser closed: pages that never loaded go into the session as they are."""
        with self._lock:
            pages, self._pages = list(self._pages.values()), {}
            self.track_pages = False
        if pages:
            self.session.extend([], pages=pages)


def _background(headers) -> bool:
    """Chromium's own requests that its switches do not stop in Debian's build: component
    updates (`X-Goog-Update-*`) and requests no page started (`Sec-Fetch-Site: none`
    outside a navigation, such as the sign-in check of accounts.google.com)."""
    if "x-goog-update-appid" in headers:
        return True
    return headers.get("sec-fetch-site") == "none" and headers.get("sec-fetch-mode") not in (None, "navigate")


def _ms(value: float | None) -> float:
    return -1 if value is None or value < 0 else round(value, 3)
