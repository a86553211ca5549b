"""The mitmproxy addon that records finished flows into a Session.

Its hooks run on the proxy's event loop, where every microsecond is the client's latency,
so they only note a flow (a dict insert, a deque append). A separate thread wakes when
flows are waiting, converts them to HAR entries and hands each batch to
`Session.extend`, which is thread-safe; `s.df` can be read at any time.

Response bodies are streamed to the client as they arrive, as without the proxy (mitmproxy
otherwise holds a body until its end: the client's first byte would wait for the last,
and a body cut by the server would reach the client as the proxy's 502). A `_Tap` keeps
the bytes for the record. An addon that must see a whole response before the client does
(to rewrite it) sets `flow.response.stream = False` in a `responseheaders` hook after
this one; such a flow is recorded from mitmproxy's buffer as before.
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
from necto_nb.har.conventions import no_response
from necto_nb.rules.base import ENTRY_FIELDS

if TYPE_CHECKING:
    from necto_nb.session import Session

STOPPED = "the capture stopped before this exchange finished"
#: flow.metadata key an addon before this one sets on a flow whose whole response it must see
#: before the client does (a rule rewriting it, a response callback): not streamed, recorded from
#: mitmproxy's buffer
WHOLE_BODY = "necto_nb.whole_body"
#: flow.metadata key another addon sets on a flow that is not the user's traffic (a browser's own)
NOT_RECORDED = "necto_nb.not_recorded"
#: the longest a finished flow waits for its batch (seconds), under the heaviest load
MAX_BATCH_WAIT = 1.0


class _Tap:
    """`Response.stream` callable: passes each chunk on to the client and keeps it.

    `expected`: the Content-Length of an HTTP/1 body. Its client has the whole response
    once that many bytes went through, a moment before mitmproxy's `response` hook.
    """

    __slots__ = ("chunks", "received", "expected")

    def __init__(self, expected: int | None) -> None:
        self.chunks: list[bytes] = []
        self.received = 0
        self.expected = expected

    def __call__(self, chunk: bytes) -> bytes:
        if chunk:
            self.chunks.append(chunk)
            self.received += len(chunk)
        return chunk

    @property
    def delivered(self) -> bool:
        return self.expected is not None and self.received >= self.expected

    def body(self) -> bytes:
        return b"".join(self.chunks)


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
        if not self.paused and not self._ignored(flow) and NOT_RECORDED not in flow.metadata:
            self._live[flow.id] = flow

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        response = flow.response
        if response is None or response.stream is not False or WHOLE_BODY in flow.metadata:  # another addon chose how it travels
            return
        if flow.id not in self._live:
            response.stream = True
            return
        length = response.headers.get("content-length", "") if response.http_version.startswith("HTTP/1") else ""
        response.stream = _Tap(int(length) if length.isdigit() else None)

    def response(self, flow: http.HTTPFlow) -> None:
        response = flow.response
        if response is not None and isinstance(tap := response.stream, _Tap) and response.raw_content is None:
            # Streamed from the server (not made by an addon): the whole body, for addons
            # after this one and for the record.
            response.data.content = tap.body()
            tap.chunks.clear()
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
            # In the order they started, so the first request on a connection books its set-up.
            batch.sort(key=lambda f: f.request.timestamp_start)
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

    def _opens_connection(self, flow: http.HTTPFlow) -> bool:
        """Whether `flow` is the first recorded request on its upstream connection.

        Its connect and TLS time are this flow's, as a browser books them: on a multiplexed
        (HTTP/2) connection that is the request that started first, not the first to finish.
        """
        conn = flow.server_conn
        if conn.timestamp_start is None or conn.id in self._opened:
            return False
        start = flow.request.timestamp_start
        live = self._live.copy().values()  # copied at once: the proxy's loop changes it
        if any(f.server_conn.id == conn.id and f.request.timestamp_start < start for f in live if f is not flow):
            return False  # an earlier request on it is still running: it books them when it ends
        self._opened.add(conn.id)
        return True

    def _convert(self, flow: http.HTTPFlow) -> dict[str, Any]:
        opened = self._opens_connection(flow)
        body = None
        response = flow.response
        if response is not None and isinstance(tap := response.stream, _Tap) and response.raw_content is None:
            body = tap.body()  # the response failed mid-body: the bytes that arrived
        try:
            entry = flow_to_entry(flow, opened_connection=opened, max_body=self.max_body, partial_body=body)
        except Exception as e:
            # A bug here must not lose the request: keep what is certain, say what failed.
            where = traceback.format_exception(e)[-1].strip()
            self.errors.append(f"could not convert {flow.request.method} {flow.request.pretty_url}: {where}")
            entry = _fallback_entry(flow, f"necto_nb could not convert this flow: {e!r}")
        # What other addons noted for the entry: the rules that touched it, its cell, its page.
        entry.update(flow.metadata.get(ENTRY_FIELDS, ()))
        return entry

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every flow handed over so far is in the Session; False on timeout.

        Flows whose client already has the whole response count as handed over: their
        `response` hook is a moment away (a client may return before it runs).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        delivered = [f.id for f in self._live.copy().values()
                     if f.response is not None and isinstance(f.response.stream, _Tap) and f.response.stream.delivered]
        while any(i in self._live for i in delivered):
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.001)
        if deadline is not None:
            timeout = max(0.0, deadline - time.monotonic())
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
        "response": {**no_response(message), "status": flow.response.status_code if flow.response else 0},
        "cache": {},
        "timings": {"send": 0, "wait": 0, "receive": 0},
        "_error": message,
    }
