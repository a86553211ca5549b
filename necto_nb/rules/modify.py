"""Rules that change a request or response on its way: headers and JSON values, or where it goes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from necto_nb.errors import ArgumentError, ArgumentTypeError
from necto_nb.har.conventions import DEFAULT_PORTS
from necto_nb.rules.base import Match, Rule

if TYPE_CHECKING:
    from mitmproxy import http


class _Remove:
    def __repr__(self) -> str:
        return "nn.rules.REMOVE"


#: as a value in Rewrite: remove the header or JSON member
REMOVE: Any = _Remove()

_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\[(['\"])(.*?)\3\]")


def json_path(path: str, argument: str) -> list[str | int]:
    """'$.user.roles[0]' or 'user.roles[0]' as steps ['user', 'roles', 0]; ValueError naming `argument`."""
    if not isinstance(path, str) or not path:
        raise ArgumentError(f"{argument}: a JSON path such as 'user.roles[0]', not {path!r}")
    text = path[1:] if path.startswith("$") else path
    if text and not text.startswith((".", "[")):
        text = "." + text
    steps: list[str | int] = []
    at = 0
    while at < len(text):
        m = _STEP.match(text, at)
        if m is None:
            raise ArgumentError(f"{argument}: {path!r} is not a JSON path (at character {at + (len(path) - len(text))}: "
                                f"use names joined by '.', and [n] for list items)")
        steps.append(m.group(1) if m.group(1) is not None else int(m.group(2)) if m.group(2) is not None else m.group(4))
        at = m.end()
    if not steps:
        raise ArgumentError(f"{argument}: the JSON path {path!r} names no member")
    return steps


def _set(document: Any, steps: list[str | int], value: Any, path: str) -> None:
    node = document
    for step in steps[:-1]:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            raise ValueError(f"the body has no {path!r}") from None
    last = steps[-1]
    if isinstance(last, int) and not isinstance(node, list) or isinstance(last, str) and not isinstance(node, dict):
        raise ValueError(f"the body has no {path!r}")
    if value is REMOVE:
        if isinstance(node, dict):
            node.pop(last, None)
        elif isinstance(last, int) and last < len(node):  # a list here, so an index (checked above)
            del node[last]
    elif isinstance(node, list) and isinstance(last, int) and last >= len(node):
        raise ValueError(f"the body has no {path!r} (the list has {len(node)} items)")
    else:
        node[last] = value


def _headers(value: Mapping[str, str | None] | None, argument: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ArgumentTypeError(f"{argument} must map header names to a value (or REMOVE), not {value!r}")
    for k, v in value.items():
        if not isinstance(k, str) or not k or any(c in k for c in ": \r\n"):
            raise ArgumentError(f"{argument}: {k!r} is not a header name")
        if v is not REMOVE and (not isinstance(v, str) or any(c in v for c in "\r\n")):
            raise ArgumentError(f"{argument}[{k!r}] must be a one-line string or REMOVE, not {v!r}")
    return dict(value)


def _json_edits(value: Mapping[str, Any] | None, argument: str) -> list[tuple[str, list, Any]]:
    if value is None:
        return []
    if not isinstance(value, Mapping):
        raise ArgumentTypeError(f"{argument} must map JSON paths to values (or REMOVE), not {value!r}")
    edits = []
    for path, v in value.items():
        steps = json_path(path, argument)
        if v is not REMOVE:
            try:
                json.dumps(v)
            except (TypeError, ValueError) as e:
                raise ArgumentError(f"{argument}[{path!r}] is not JSON-serialisable: {e}") from None
        edits.append((path, steps, v))
    return edits


def _edit(message: http.Message, headers: dict[str, Any], edits: list[tuple[str, list, Any]], side: str) -> None:
    """Apply to `message` all at once: if the body is not JSON or lacks a path, nothing changes."""
    body = None
    if edits:
        try:
            document = json.loads(message.get_content(strict=False) or b"")
        except ValueError:
            raise ValueError(f"the {side} body is not JSON") from None
        for path, steps, v in edits:
            _set(document, steps, v, path)
        body = json.dumps(document, ensure_ascii=False).encode()
    for k, v in headers.items():
        if v is REMOVE:
            message.headers.pop(k, None)
        else:
            message.headers[k] = v
    if body is not None:
        message.set_content(body)  # re-encodes with the message's Content-Encoding


class Rewrite(Rule):
    """Change headers and JSON values of matching requests (before they go upstream) and
    responses (before the client gets them). Headers: name -> value, or `REMOVE`; JSON:
    path ('user.roles[0]') -> value, or `REMOVE`. A body that is not JSON, or lacks a
    path, is left unchanged and the entry's `_ruleError` says why."""

    kind = "rewrite"

    def __init__(self, match: Match = None, *, request_headers: Mapping[str, Any] | None = None,
                 response_headers: Mapping[str, Any] | None = None, request_json: Mapping[str, Any] | None = None,
                 response_json: Mapping[str, Any] | None = None, method: str | Iterable[str] | None = None,
                 name: str | None = None) -> None:
        super().__init__(match, method=method, name=name)
        self.request_headers = _headers(request_headers, "request_headers")
        self.response_headers = _headers(response_headers, "response_headers")
        self.request_json = _json_edits(request_json, "request_json")
        self.response_json = _json_edits(response_json, "response_json")
        if not (self.request_headers or self.response_headers or self.request_json or self.response_json):
            raise ArgumentError("Rewrite needs request_headers, response_headers, request_json or response_json")
        self.whole_response = bool(self.response_headers or self.response_json)

    def request(self, flow: http.HTTPFlow) -> None:
        if self.request_headers or self.request_json:
            _edit(flow.request, self.request_headers, self.request_json, "request")

    def response(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None and (self.response_headers or self.response_json):
            _edit(flow.response, self.response_headers, self.response_json, "response")

    def _arguments(self) -> list[str]:
        out = []
        for name in ("request_headers", "response_headers"):
            if getattr(self, name):
                out.append(f"{name}={getattr(self, name)!r}")
        for name in ("request_json", "response_json"):
            if getattr(self, name):
                out.append(f"{name}={{{', '.join(f'{p!r}: {v!r}' for p, _, v in getattr(self, name))}}}")
        return out


class MapRemote(Rule):
    """Send matching requests to another server: `url`'s scheme, host and port replace the
    request's; a path in `url` (other than '/') replaces the request's path, the query is kept."""

    kind = "route"

    def __init__(self, match: Match = None, url: str = "", *, method: str | Iterable[str] | None = None,
                 name: str | None = None) -> None:
        super().__init__(match, method=method, name=name)
        try:
            parts = urlsplit(url) if isinstance(url, str) else None
            port = parts.port if parts else None
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ArgumentError(f"url must be an http(s) URL such as 'http://127.0.0.1:8000', not {url!r}")
        self.url = url
        self.scheme, self.host = parts.scheme, parts.hostname
        self.port = port or (443 if parts.scheme == "https" else 80)
        self.path = parts.path if parts.path not in ("", "/") else None

    def request(self, flow: http.HTTPFlow) -> None:
        request = flow.request
        request.scheme, request.host, request.port = self.scheme, self.host, self.port
        if self.path is not None:
            query = request.path.partition("?")[2]
            request.path = self.path + (f"?{query}" if query else "")
        request.host_header = _authority(self.host, self.port, self.scheme)

    def _arguments(self) -> list[str]:
        return [f"url={self.url!r}"]


def _authority(host: str, port: int, scheme: str) -> str:
    host = f"[{host}]" if ":" in host else host
    return host if port == DEFAULT_PORTS[scheme] else f"{host}:{port}"
