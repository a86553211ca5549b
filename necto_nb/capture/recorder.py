"""The mitmproxy addon that records finished flows into a Session.

Its hooks run on the proxy's event loop, where every microsecond is the client's latency,
so they only note a flow (a dict insert, a deque append). A separate thread wakes when
flows are waiting, converts them to HAR entries and hands each batch to
`Session.extend`, which is thread-safe; `s.df` can be read at any time.
"""

from __future__ import annotations

import collections
import re
import threading
import time
import traceback
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from mitmproxy import http
from mitmproxy.flow import Error

from necto_nb.capture.convert import flow_to_entry, iso

if TYPE_CHECKING:
    from necto_nb.session import Session

STOPPED = "the capture stopped before this exchange finished"
#: the longest a finished flow waits for its batch (seconds), under the heaviest load
MAX_BATCH_WAIT = 1.0


class Recorder:
    """Notes flows on the proxy's loop; converts and appends them on its own thread.

    A flow is recorded when its request starts while recording is not paused and its
    `host:port` matches none of `ignore_hosts` (regular expressions, as mitmproxy's
    option of that name). It is handed over when it ends: a response, an error, the
    end of a WebSocket, a refused CONNECT, or the capture stopping with it in flight.
    """

    def __init__(
        self,
        session: Session,
        *,
        ignore_hosts: Iterable[str] = (),
        max_body: int | None = None,
        batch_interval: float = 0.05,
    ) -> None:
        self.session = session
        self.ignore_hosts = [re.compile(p, re.IGNORECASE) for p in ignore_hosts]
        self.max_body = max_body
        self.batch_interval = batch_interval
        self.paused = False
        #: set by Proxy.stop(): flows failing from now on failed because the capture stopped
        self.stopping = False
        self.recorded = 0
        #: what went wrong converting or appending, one message each (never raised on the loop)
        self.errors: list[str] = []
        #: entries Session.extend refused, kept so nothing is lost
        self.rejected: list[dict[str, Any]] = []
        self._live: dict[str, http.HTTPFlow] = {}  # proxy loop only
        self._pending: collections.deque[http.HTTPFlow] = collections.deque()
        self._opened: set[str] = set()  # batch thread only
        self._handed = 0  # written on the proxy loop only
        self._processed = 0  # written on the batch thread only
        self._wake = threading.Event()  # flows are waiting
        self._hurry = threading.Event()  # someone waits for them: skip the batching delay
        self._last_extend = 0.0
        self._progress = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="necto_nb-capture-recorder", daemon=True)
        self._thread.start()

    # -- hooks, on the proxy's event loop ------------------------------------------

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if not self.paused and not self._ignored(flow):
            self._live[flow.id] = flow

    def response(self, flow: http.HTTPFlow) -> None:
        if flow.websocket is None:  # a WebSocket is recorded when it ends
            self._finish(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        if flow.websocket is None:
            self._finish(flow)

    def websocket_end(self, flow: http.HTTPFlow) -> None:
        self._finish(flow)

    def http_connect_error(self, flow: http.HTTPFlow) -> None:
        # A CONNECT the proxy refused (auth, upstream down): no request follows it.
        if not self.paused and not self._ignored(flow):
            self._hand_over(flow)

    def _ignored(self, flow: http.HTTPFlow) -> bool:
        if not self.ignore_hosts:
            return False
        target = f"{flow.request.host}:{flow.request.port}"
        return any(p.search(target) for p in self.ignore_hosts)

    def _finish(self, flow: http.HTTPFlow) -> None:
        if self._live.pop(flow.id, None) is not None:
            if self.stopping and flow.error is not None and flow.response is None:
                # mitmproxy reports the connections it cancels as "Client disconnected."
                flow.error = Error(f"{STOPPED} ({flow.error.msg})", flow.error.timestamp)
            self._hand_over(flow)

    def _hand_over(self, flow: http.HTTPFlow) -> None:
        self._handed += 1
        self._pending.append(flow)
        self._wake.set()

    # -- the batch thread ------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Recorded requests still waiting for their end (open WebSockets included)."""
        return len(self._live)

    @property
    def pending(self) -> int:
        """Flows finished but not yet in the Session."""
        return len(self._pending)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if not self._closing:
                # Let a burst gather into one Session.extend. Each extend has a fixed cost
                # (building a frame), so wait ten times the last one: at most ~10% of the
                # time goes to it, however fast flows arrive. flush() and close() cut it short.
                self._hurry.wait(min(MAX_BATCH_WAIT, max(self.batch_interval, 10 * self._last_extend)))
            self._hurry.clear()
            self._drain()
            if self._closing and not self._pending:
                return

    def _drain(self) -> None:
        while self._pending:
            batch = []
            while self._pending:
                batch.append(self._pending.popleft())
            entries = [self._convert(f) for f in batch]
            started, before = time.perf_counter(), len(self.session)
            try:
                self.session.extend(entries)
            except Exception as e:
                if len(self.session) > before:  # appended; what failed came after (an observer)
                    self.errors.append(f"after appending {len(entries)} entries to the session: {e!r}")
                    self.recorded += len(entries)
                else:
                    self.errors.append(f"Session.extend refused {len(entries)} entries: {e!r}")
                    self.rejected.extend(entries)
            else:
                self.recorded += len(entries)
            self._last_extend = time.perf_counter() - started
            with self._progress:
                self._processed += len(batch)
                self._progress.notify_all()

    def _convert(self, flow: http.HTTPFlow) -> dict[str, Any]:
        conn = flow.server_conn
        opened = conn.timestamp_start is not None and conn.id not in self._opened
        if opened:
            self._opened.add(conn.id)
        try:
            return flow_to_entry(flow, opened_connection=opened, max_body=self.max_body)
        except Exception as e:
            # A bug here must not lose the request: keep what is certain, say what failed.
            where = traceback.format_exception(e)[-1].strip()
            self.errors.append(f"could not convert {flow.request.method} {flow.request.pretty_url}: {where}")
            return _fallback_entry(flow, f"necto_nb could not convert this flow: {e!r}")

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every flow handed over so far is in the Session; False on timeout."""
        target = self._handed
        self._wake.set()
        self._hurry.set()
        with self._progress:
            return self._progress.wait_for(lambda: self._processed >= target, timeout)

    def close(self) -> None:
        """After the proxy's loop has ended: record flows still in flight, then drain."""
        for flow in self._live.values():
            # Still live: no response hook yet, so even a flow whose response headers came is
            # unfinished (its body was cut); a WebSocket is unfinished until it ended.
            if flow.error is None and (flow.websocket is None or flow.websocket.timestamp_end is None):
                flow.error = Error(STOPPED)
            self._hand_over(flow)
        self._live.clear()
        self._closing = True
        self._wake.set()
        self._hurry.set()
        if threading.current_thread() is self._thread:  # stop() called by a session observer
            self._drain()
        else:
            self._thread.join()


def _fallback_entry(flow: http.HTTPFlow, message: str) -> dict[str, Any]:
    req = flow.request
    return {
        "startedDateTime": iso(req.timestamp_start),
        "time": 0,
        "request": {
            "method": req.method, "url": req.pretty_url, "httpVersion": req.http_version,
            "cookies": [], "headers": [], "queryString": [], "headersSize": -1, "bodySize": -1,
        },
        "response": {
            "status": flow.response.status_code if flow.response else 0, "statusText": "",
            "httpVersion": "", "cookies": [], "headers": [], "content": {"size": 0, "mimeType": ""},
            "redirectURL": "", "headersSize": -1, "bodySize": -1, "_error": message,
        },
        "cache": {},
        "timings": {"send": 0, "wait": 0, "receive": 0},
        "_error": message,
    }
