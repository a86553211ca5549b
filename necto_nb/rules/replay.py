"""Serve a recording instead of the site: each request gets the recorded response of its
matching request, found as `necto_nb.match` pairs captures (method and URL with
cache-busting parameters ignored, then the same path with other query values, then the
same path template with ids masked). A request with no recording is explained: the
closest recording and what differed."""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from necto_nb.errors import ArgumentError
from necto_nb.rules.base import Rule, note
from necto_nb.rules.respond import _TRANSFER, make_response, status_code

if TYPE_CHECKING:
    from mitmproxy import http

    from necto_nb.match import IgnoreQuery
    from necto_nb.session import Session

def _template(head: str) -> str:
    """A normalised URL without its query, its path's hashes and ids masked as `match_requests`
    masks them, and numeric segments too (an API's `/users/41`: a replay serves a similar one)."""
    from necto_nb.match import MASK, template_path

    scheme, _, rest = head.partition("://")
    host, slash, path = rest.partition("/")
    masked = "/".join(MASK if part.isdigit() else part for part in template_path(slash + path).split("/"))
    return f"{scheme}://{host}{masked}"


class Replay(Rule):
    """Answer requests from `session`'s recorded responses (a Session, or a path read with
    `nn.read_har`). The n-th request for a URL gets the n-th recording of it (the last once
    they run out). `fallback`: what a request without a recording gets, an HTTP status
    (404: a text body explaining the miss) or "upstream" (sent on to the site).
    `ignore_query`: query parameters that never tell requests apart (default: the
    cache busters of `necto_nb.match.CACHE_BUSTERS`, such as `t` and `_`).
    `misses` lists each miss with the closest recording and what differed.
    """

    kind = "respond"

    def __init__(self, session: Session | Any, *, fallback: str | int = 404, match=None,
                 ignore_query: IgnoreQuery | None = None, method: str | Iterable[str] | None = None,
                 name: str | None = None) -> None:
        super().__init__(match, method=method, name=name)
        from necto_nb.match import CACHE_BUSTERS, normalise_url
        from necto_nb.session import Session, read_har

        if ignore_query is None:
            ignore_query = CACHE_BUSTERS
        self._normalise = normalise_url

        if not isinstance(session, Session):
            try:
                session = read_har(session)
            except Exception as e:
                raise ArgumentError(f"session must be a Session or a HAR to read: {e}") from None
        if fallback != "upstream":
            status_code(fallback, "fallback")
        self.session, self.fallback, self.ignore_query = session, fallback, ignore_query
        #: requests that found no recording: method, url, closest, differs
        self.misses: list[dict[str, Any]] = []
        self._exact: dict[tuple[str, str], list[int]] = defaultdict(list)
        self._path: dict[tuple[str, str], list[int]] = defaultdict(list)
        self._template: dict[tuple[str, str], list[int]] = defaultdict(list)
        self._urls: list[tuple[str, str]] = []
        self._served: dict[tuple[str, tuple], int] = defaultdict(int)
        self._lock = threading.Lock()
        df = session.df
        for i, (m, url, status) in enumerate(zip(df["method"].astype(str), df["url"].astype(str), df["status"])):
            self._urls.append((m.upper(), url))
            if not status or status != status:  # no response recorded (0 or NaN)
                continue
            self._exact[(m.upper(), self._normalise(url, ignore_query))].append(i)
            head = self._normalise(url, True)
            self._path[(m.upper(), head)].append(i)
            self._template[(m.upper(), _template(head))].append(i)
        if not self._exact:
            raise ArgumentError(f"session {session.name!r} has no recorded responses to replay")

    def lookup(self, method: str, url: str) -> tuple[int, str] | None:
        """(entry position, how it matched: 'url', 'query' or 'template') for a request, or None."""
        method = method.upper()
        head = self._normalise(url, True)
        for stage, key, index in (("url", self._normalise(url, self.ignore_query), self._exact),
                                  ("query", head, self._path), ("template", _template(head), self._template)):
            found = index.get((method, key))
            if found:
                with self._lock:
                    n = self._served[(stage, (method, key))]
                    self._served[(stage, (method, key))] = n + 1
                return found[min(n, len(found) - 1)], stage
        return None

    def explain(self, method: str, url: str) -> dict[str, Any]:
        """The recording closest to a request without one, and what differed."""
        want = urlsplit(url)
        best, best_score = None, -1
        for i, (m, u) in enumerate(self._urls):
            have = urlsplit(u)
            a, b = want.path.split("/"), have.path.split("/")
            common = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            score = (have.hostname == want.hostname) * 1000 + common * 10 + (m == method.upper()) * 5
            if score > best_score:
                best, best_score = i, score
        assert best is not None  # __init__ refuses a recording with no responses
        m, u = self._urls[best]
        have = urlsplit(u)
        differs = []
        if m != method.upper():
            differs.append(f"method {method.upper()} vs {m}")
        if (have.scheme, have.netloc) != (want.scheme, want.netloc):
            differs.append(f"origin {want.scheme}://{want.netloc} vs {have.scheme}://{have.netloc}")
        if have.path != want.path:
            differs.append(f"path {want.path} vs {have.path}")
        qa, qb = dict(parse_qsl(want.query)), dict(parse_qsl(have.query))
        for k in sorted(qa.keys() | qb.keys()):
            if qa.get(k) != qb.get(k):
                differs.append(f"query {k}: {qa.get(k, '(absent)')!r} vs {qb.get(k, '(absent)')!r}")
        return {"method": method.upper(), "url": url, "closest": u, "closest_entry": best,
                "differs": differs or ["only the order: every recording of it was served"]}

    def request(self, flow: http.HTTPFlow):
        from necto_nb.capture.convert import url_of

        url = url_of(flow.request)  # as recordings show URLs
        found = self.lookup(flow.request.method, url)
        if found is None:
            miss = self.explain(flow.request.method, url)
            self.misses.append(miss)
            text = f"no recording; closest {miss['closest']}: " + "; ".join(miss["differs"])
            note(flow, "_replay", {"miss": text})
            if self.fallback != "upstream":
                flow.response = make_response(int(self.fallback), f"necto_nb Replay: {text}\n".encode(),
                                              [("Content-Type", "text/plain; charset=utf-8")])
            return None
        return self._serve(flow, *found)

    async def _serve(self, flow: http.HTTPFlow, position: int, stage: str) -> None:
        entry, body = await asyncio.to_thread(self._recorded, position)
        response = entry["response"]
        headers = [(h["name"], h["value"]) for h in response.get("headers", ())
                   if h["name"].lower() not in _TRANSFER and not h["name"].startswith(":")]
        flow.response = make_response(response["status"], body, headers)
        flow.response.reason = response.get("statusText") or flow.response.reason
        note(flow, "_replay", {"entry": position, "matchedBy": stage})

    def _recorded(self, position: int) -> tuple[dict, bytes]:
        return self.session.entries[position], self.session.response_body(position) or b""

    def _arguments(self) -> list[str]:
        return [f"<{len(self.session)} entries of {self.session.name!r}>", f"fallback={self.fallback!r}"]

    def __repr__(self) -> str:
        if self.name:
            return self.name
        return f"Replay({', '.join(self._arguments())})"
