"""Rules that answer a request themselves, so it never reaches the upstream: a mock, a
failure, a local file."""

from __future__ import annotations

import asyncio
import json as jsonlib
import mimetypes
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from necto_nb.errors import ArgumentError, ArgumentTypeError
from necto_nb.rules.base import Match, Rule, number

if TYPE_CHECKING:
    from mitmproxy import http

Headers = Mapping[str, str] | Iterable[tuple[str, str]] | None
#: headers that describe a recorded transfer, not a body served again (decoded, whole)
_TRANSFER = {"content-encoding", "content-length", "transfer-encoding", "connection", "keep-alive"}


def status_code(value: Any, argument: str = "status") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise ArgumentError(f"{argument} must be an HTTP status from 100 to 599, not {value!r}")
    return value


def header_pairs(headers: Headers, argument: str = "headers") -> list[tuple[str, str]]:
    if headers is None:
        return []
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    for pair in pairs:
        if (not isinstance(pair, tuple) or len(pair) != 2 or not all(isinstance(x, str) for x in pair)
                or not pair[0] or any(c in pair[0] for c in ": \r\n") or any(c in pair[1] for c in "\r\n")):
            raise ArgumentError(f"{argument} must map header names to string values, not {pair!r}")
    return pairs


def make_response(status: int, body: bytes, headers: list[tuple[str, str]]) -> http.Response:
    from mitmproxy import http

    response = http.Response.make(status, body, [(k.encode(), v.encode()) for k, v in headers])
    if "content-length" not in (k.lower() for k, _ in headers):
        response.headers["content-length"] = str(len(body))
    return response


class Mock(Rule):
    """Answer matching requests with `status`, `headers` and `body` (bytes or text) or `json`
    (any JSON value; sets Content-Type). The upstream is never contacted."""

    kind = "respond"

    def __init__(self, match: Match = None, status: int = 200, headers: Headers = None, body: bytes | str | None = None,
                 *, json: Any = None, method: str | Iterable[str] | None = None, name: str | None = None) -> None:
        super().__init__(match, method=method, name=name)
        self.status = status_code(status)
        self.headers = header_pairs(headers)
        if body is not None and json is not None:
            raise ArgumentError("give body= or json=, not both")
        if json is not None:
            try:
                self.body = jsonlib.dumps(json, ensure_ascii=False).encode()
            except (TypeError, ValueError) as e:
                raise ArgumentError(f"json is not JSON-serialisable: {e}") from None
            if not any(k.lower() == "content-type" for k, _ in self.headers):
                self.headers.append(("Content-Type", "application/json"))
        elif isinstance(body, str):
            self.body = body.encode()
        elif isinstance(body, (bytes, bytearray)) or body is None:
            self.body = bytes(body or b"")
        else:
            raise ArgumentTypeError(f"body must be bytes or str, not {type(body).__name__}")

    @classmethod
    def from_entry(cls, session: Any, row: int) -> Mock:
        """A Mock answering exactly entry `row`'s request (its method and URL) with its
        recorded response: what the grid's "Mock selected" makes."""
        entry = session.entries[row]
        request, response = entry["request"], entry["response"]
        if not response.get("status"):
            raise ArgumentError(f"entry {row} has no response to mock ({request['method']} {request['url']})")
        headers = [(h["name"], h["value"]) for h in response.get("headers", ())
                   if h["name"].lower() not in _TRANSFER and not h["name"].startswith(":")]
        glob = re.sub(r"([*?\[])", r"[\1]", request["url"])  # the URL itself, not a pattern
        return cls(glob, response["status"], headers, session.response_body(row) or b"", method=request["method"])

    def request(self, flow: http.HTTPFlow) -> None:
        flow.response = make_response(self.status, self.body, self.headers)

    def _arguments(self) -> list[str]:
        size = f", body=<{len(self.body)} bytes>" if self.body else ""
        return [f"status={self.status}{size}"]


class Fail(Rule):
    """Fail matching requests: `error="reset"` closes the client's connection with no
    response, `"timeout"` holds it `seconds` and then closes it, a status number (say 503)
    answers with that status. The upstream is never contacted."""

    kind = "respond"

    def __init__(self, match: Match = None, error: str | int = "reset", *, seconds: float = 30.0,
                 method: str | Iterable[str] | None = None, name: str | None = None) -> None:
        super().__init__(match, method=method, name=name)
        if isinstance(error, str):
            if error not in ("reset", "timeout"):
                raise ArgumentError(f"error must be 'reset', 'timeout' or an HTTP status, not {error!r}")
        else:
            status_code(error, "error")
        self.error = error
        self.seconds = number(seconds, "seconds", high=3600)

    def request(self, flow: http.HTTPFlow):
        if isinstance(self.error, int):
            flow.response = make_response(self.error, f"necto_nb: {self!r}\n".encode(),
                                          [("Content-Type", "text/plain; charset=utf-8")])
            return None
        if self.error == "reset":
            flow.kill()
            return None
        return self._time_out(flow)

    async def _time_out(self, flow: http.HTTPFlow) -> None:
        await asyncio.sleep(self.seconds)
        if flow.killable:
            flow.kill()

    def _arguments(self) -> list[str]:
        return [f"error={self.error!r}"] + ([f"seconds={self.seconds:g}"] if self.error == "timeout" else [])


class MapLocal(Rule):
    """Answer matching requests from files: `path` is a file (served for every match) or a
    folder, where the URL's path (less a leading `strip`) names the file, `index.html` for
    a folder. A file outside the folder is never served (403); a missing one is 404."""

    kind = "respond"

    def __init__(self, match: Match = None, path: str | Path = ".", *, strip: str = "",
                 method: str | Iterable[str] | None = None, name: str | None = None) -> None:
        super().__init__(match, method=method, name=name)
        if not isinstance(path, (str, Path)):
            raise ArgumentTypeError(f"path must be a file or folder, not {path!r}")
        self.path = Path(path).expanduser().resolve()
        if not self.path.exists():
            raise ArgumentError(f"path={str(path)!r} does not exist")
        if not isinstance(strip, str):
            raise ArgumentTypeError(f"strip must be a URL path prefix such as '/static', not {strip!r}")
        self.strip = strip

    def file_for(self, url: str) -> Path | None:
        """The file `url` maps to, or None when it would leave the folder."""
        if self.path.is_file():
            return self.path
        path = unquote(urlsplit(url).path)
        if self.strip and path.startswith(self.strip):
            path = path[len(self.strip):]
        target = (self.path / path.lstrip("/")).resolve()
        if target != self.path and self.path not in target.parents:
            return None
        return target / "index.html" if target.is_dir() else target

    def request(self, flow: http.HTTPFlow):
        return self._serve(flow)

    async def _serve(self, flow: http.HTTPFlow) -> None:
        target = self.file_for(flow.request.pretty_url)
        text = [("Content-Type", "text/plain; charset=utf-8")]
        if target is None:
            flow.response = make_response(403, b"necto_nb MapLocal: outside the mapped folder\n", text)
            return
        try:
            data = await asyncio.to_thread(target.read_bytes)  # a large file must not stall the loop
        except OSError as e:
            flow.response = make_response(404, f"necto_nb MapLocal: cannot read {target}: {e.strerror}\n".encode(),
                                          text)
            return
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        flow.response = make_response(200, data, [("Content-Type", kind)])

    def _arguments(self) -> list[str]:
        return [repr(str(self.path))] + ([f"strip={self.strip!r}"] if self.strip else [])
