"""Redaction: replace credentials in an entry with a marker and count what was replaced.

A `Redactor` is settings, reusable for any number of exports; each export redacts through
its own `Redaction`, which counts what that export replaced (as a mitmproxy addon resets
its state in `configure`, so one run's counts never leak into the next).

What counts as a secret is configurable: header names, cookie handling, query and form
parameter names, JSON keys, and value shapes (JWTs, cloud keys) found anywhere in text.
Every string of an entry is looked at, custom fields (`_initiator`, ...) and page titles
included: URLs (a Location, a Referer) by their parameters, other text by shape.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import msgspec

MARKER = "[REDACTED]"

SECRET_HEADERS = frozenset({
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key", "apikey",
    "x-auth-token", "x-access-token", "x-csrf-token", "x-xsrf-token", "x-amz-security-token",
    "x-goog-api-key", "x-functions-key", "ocp-apim-subscription-key", "x-vault-token", "private-token",
    "x-gitlab-token", "x-shopify-access-token", "x-hub-signature", "x-hub-signature-256",
})
# A parameter, header or JSON key whose name says it holds a secret.
SECRET_NAME = re.compile(
    r"(pass(word|wd)?|pwd|secret|token|api[-_]?key|apikey|access[-_]?key|auth|credential|session[-_]?id|"
    r"sessid|signature|^sig$|^code$|private[-_]?key|client[-_]?secret|otp|ssn|card[-_]?number|cvv)",
    re.I,
)
# Secret-shaped values, wherever they appear: JWTs, bearer tokens, well-known key formats.
# A JWT starts where a run of its characters starts: tried from every "eyJ" inside a run,
# the pattern took quadratic time (5 MB of "eyJeyJ..." took minutes).
SECRET_VALUE = re.compile(
    r"((?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"  # JWT
    r"|(?<=Bearer )[A-Za-z0-9._~+/=-]{8,}"  # bearer token in text
    r"|AKIA[0-9A-Z]{16}"  # AWS access key id
    r"|gh[pousr]_[A-Za-z0-9]{30,}"  # GitHub token
    r"|github_pat_[A-Za-z0-9_]{30,}"
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"  # Slack
    r"|sk_(live|test)_[A-Za-z0-9]{16,}"  # Stripe
    r"|AIza[0-9A-Za-z_-]{35}"  # Google API key
    r"|glpat-[A-Za-z0-9_-]{20,}"  # GitLab
    r"|-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----[A-Za-z0-9+/=\s]*-----END (?:[A-Z]+ )*PRIVATE KEY-----)"  # PEM
)
# A URL or a path that may carry parameters (a Location, a Referer, an initiator).
_URLISH = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.\-]*://|/)")
# "name": value in text that is not JSON as a whole: a body cut short, a Socket.IO frame
# (42["auth",{"token":...}]), JSON inside a script, a JavaScript object ({token: 'x'}).
# A string value may run to the end.
_MEMBER = re.compile(r'(?:"((?:[^"\\\n]|\\.){1,100})"|(?<![\w$.])([A-Za-z_$][\w$]{0,99}))(\s*:\s*)'
                     r'("(?:[^"\\]|\\.)*(?:"|$)|\'(?:[^\'\\]|\\.)*(?:\'|$)|-?[0-9][0-9.eE+-]*)')
# A body that is a URL-encoded form whatever its MIME type says: name=value&name=value.
_FORM = re.compile(r"[^\s=&]+=[^\s&]*(?:&[^\s=&]+=[^\s&]*)*")
_BOUNDARY = re.compile(r'boundary="?([^";\s]+)"?', re.I)
_PART_NAME = re.compile(r'\bname="([^"]*)"', re.I)
_SHORTEST_SECRET = len("Bearer ") + 8  # no SECRET_VALUE match is shorter
# Custom fields of WebSocket entries (capture/convert.py): their texts are redacted as
# messages, their other values are frames' metadata (opcode, close code), never secrets.
_WEBSOCKET_FIELDS = ("_webSocketMessages", "_webSocketClose")


@dataclass(frozen=True)
class Redactor:
    """What counts as a secret and what replaces it; pass it to `to_har(redact=...)`."""

    headers: frozenset[str] = SECRET_HEADERS
    names: re.Pattern = SECRET_NAME
    values: re.Pattern = SECRET_VALUE
    marker: str = MARKER
    cookies: bool = True  # every cookie value is a credential until shown otherwise

    def redaction(self) -> Redaction:
        """A fresh redaction with these settings, for one export."""
        return Redaction(self)


class Redaction:
    """One export's redaction: a Redactor's settings, and the counts of what it replaced;
    `summary()` says what, and how often."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.headers, self.names, self.values = redactor.headers, redactor.names, redactor.values
        self.marker, self.cookies = redactor.marker, redactor.cookies
        self.counts: Counter[str] = Counter()
        self._names_seen: dict[str, bool] = {}  # the same names recur in every entry

    def summary(self) -> dict:
        return {"marker": self.marker, "replaced": dict(sorted(self.counts.items()))}

    # -- pieces ------------------------------------------------------------------------

    def _secret_name(self, name: str) -> bool:
        secret = self._names_seen.get(name)
        if secret is None:
            secret = self._names_seen[name] = bool(self.names.search(name))
        return secret

    def text(self, value: str, what: str, marker: str | None = None) -> str:
        """Secret-shaped substrings of free text."""
        if len(value) < _SHORTEST_SECRET:
            return value
        replaced, n = self.values.subn(marker or self.marker, value)
        if n:
            self.counts[what] += n
        return replaced

    def pairs(self, pairs: Any, what: str, secret: Callable[[str], bool]) -> None:
        for pair in pairs if isinstance(pairs, list) else ():
            if not isinstance(pair, dict) or not isinstance(pair.get("value"), str):
                continue
            name = str(pair.get("name", ""))
            if secret(name) and pair["value"] != self.marker:
                pair["value"] = self.marker
                self.counts[f"{what} {name.lower()}"] += 1
            else:
                pair["value"] = self.string(pair["value"], f"{what} {name.lower()}")

    def string(self, value: str, what: str) -> str:
        """Any string: a URL or path with parameters by `url`, other text by shape."""
        if _URLISH.match(value) and ("?" in value or "#" in value or "@" in value):
            return self.url(value)
        return self.text(value, what)

    def url(self, url: str) -> str:
        """Secret query and fragment parameters (OAuth puts tokens in the fragment), a password
        in the userinfo, secret shapes. A URL without any comes back as it was."""
        marker = quote(self.marker, safe="")  # a URL stays a valid URI
        try:
            parts = urlsplit(url)
        except ValueError:
            return self.text(url, "url", marker)
        query, fragment, netloc = self._params(parts.query, "url"), self._params(parts.fragment, "url"), parts.netloc
        if "@" in netloc and ":" in netloc.partition("@")[0]:  # user:password@host
            netloc = f"{netloc.partition(':')[0]}:{marker}@{netloc.partition('@')[2]}"
            self.counts["url password"] += 1
        if (query, fragment, netloc) != (parts.query, parts.fragment, parts.netloc):  # else: as it was
            url = urlunsplit(parts._replace(query=query, fragment=fragment, netloc=netloc))
        return self.text(url, "url", marker)

    def _params(self, text: str, what: str) -> str:
        """A query, fragment or form with the values of secret-named parameters replaced."""
        if "=" not in text:
            return text
        params = parse_qsl(text, keep_blank_values=True)
        secret = [name for name, _ in params if self._secret_name(name)]
        if not secret:  # rebuilt only when needed: re-encoding would change innocent text
            return text
        self.counts.update(f"{what} {name.lower()}" for name in secret)
        return urlencode([(n, self.marker if self._secret_name(n) else v) for n, v in params])

    def json_value(self, value, what: str):
        """Redact a decoded JSON value in place, without recursion: a body can be nested
        as deep as the decoder allows, deeper than Python's recursion limit."""
        if isinstance(value, str):
            return self.string(value, what)
        if not isinstance(value, (dict, list)):
            return value
        stack = [value]
        while stack:
            node = stack.pop()
            for key, inner in node.items() if isinstance(node, dict) else enumerate(node):
                if (isinstance(node, dict) and self._secret_name(str(key)) and isinstance(inner, (str, int, float))
                        and inner != self.marker):
                    node[key] = self.marker
                    self.counts[f"{what} {key}"] += 1
                elif isinstance(inner, (dict, list)):
                    stack.append(inner)
                elif isinstance(inner, str):
                    node[key] = self.string(inner, what)
        return value

    def members(self, text: str, what: str) -> str:
        """Secret-named `"name": value` (or `name: 'value'`) members of text that is not JSON as a whole."""
        if ":" not in text:
            return text

        def replace(match: re.Match) -> str:
            quoted, bare, colon, value = match.groups()
            name = quoted if quoted is not None else bare
            if not self._secret_name(name) or value[1:-1] == self.marker:
                return match.group(0)
            self.counts[f"{what} {name}"] += 1
            return f'{match.group(0)[:match.start(3) - match.start()]}{colon}"{self.marker}"'

        return _MEMBER.sub(replace, text)

    def multipart(self, text: str, boundary: str, what: str) -> str:
        """The values of secret-named parts of a multipart/form-data body."""
        delimiter = "--" + boundary
        parts = text.split(delimiter)
        for i, part in enumerate(parts):
            blank = min((j for j in (part.find("\r\n\r\n"), part.find("\n\n")) if j >= 0), default=-1)
            name = _PART_NAME.search(part, 0, blank) if blank >= 0 else None
            if name and self._secret_name(name.group(1)):
                start = blank + (4 if part.startswith("\r\n\r\n", blank) else 2)
                end = max(start, len(part.rstrip("\r\n")))
                parts[i] = part[:start] + self.marker + part[end:]
                self.counts[f"{what} form {name.group(1).lower()}"] += 1
        return delimiter.join(parts)

    def body(self, text: str, mime: str, what: str) -> str:
        """JSON, form and multipart bodies by key; anything else by JSON-like members and shape."""
        stripped = text.lstrip()
        if "json" in mime or stripped[:1] in ("{", "["):
            try:
                parsed = msgspec.json.decode(text)
            except (msgspec.DecodeError, RecursionError):
                pass
            else:
                return msgspec.json.encode(self.json_value(parsed, f"{what} json")).decode()
        if "x-www-form-urlencoded" in mime or _FORM.fullmatch(stripped):  # fetch() sends strings as text/plain
            return self._params(text, f"{what} form")
        boundary = _BOUNDARY.search(mime) if "multipart/" in mime.lower() else None
        if boundary:
            text = self.multipart(text, boundary.group(1), what)
        return self.text(self.members(text, what), what)

    # -- an entry ----------------------------------------------------------------------

    def entry(self, entry: dict) -> dict:
        """Redact `entry` in place (and return it)."""
        header_secret = lambda name: name.lower() in self.headers or self._secret_name(name)  # noqa: E731
        everything = lambda name: self.cookies  # noqa: E731
        request = entry.get("request") or {}
        response = entry.get("response") or {}
        if isinstance(request.get("url"), str):
            request["url"] = self.url(request["url"])
        for message, side in ((request, "request"), (response, "response")):
            self.pairs(message.get("headers"), f"{side} header", header_secret)
            self.pairs(message.get("cookies"), f"{side} cookie", everything)
        self.pairs(request.get("queryString"), "query", self._secret_name)
        post = request.get("postData") or {}
        self.pairs(post.get("params"), "form", self._secret_name)
        if isinstance(post.get("text"), str) and post.get("encoding") != "base64":
            post["text"] = self.body(post["text"], str(post.get("mimeType", "")), "request body")
        content = response.get("content") or {}
        if isinstance(content.get("text"), str) and content.get("encoding") != "base64":
            content["text"] = self.body(content["text"], str(content.get("mimeType", "")), "response body")
        if isinstance(response.get("redirectURL"), str) and response["redirectURL"]:
            response["redirectURL"] = self.url(response["redirectURL"])
        messages = entry.get("_webSocketMessages")
        for message in messages if isinstance(messages, list) else ():
            if isinstance(message, dict) and isinstance(message.get("data"), str) and message.get("opcode") != 2:
                message["data"] = self.body(message["data"], "", "websocket message")
        close = entry.get("_webSocketClose")  # its code is a status (1000), not an OAuth code
        if isinstance(close, dict) and isinstance(close.get("reason"), str):
            close["reason"] = self.text(close["reason"], "websocket close reason")
        self.custom(entry)
        return entry

    def custom(self, obj: dict) -> None:
        """Custom fields (`_initiator` and its stack of URLs, ...): secret names, URLs, shapes."""
        for key in [k for k in obj if isinstance(k, str) and k.startswith("_") and k not in _WEBSOCKET_FIELDS]:
            obj[key] = self.json_value(obj[key], f"custom {key}")

    def page(self, page: dict) -> dict:
        """Redact a page in place: browsers title an untitled page with its URL."""
        if isinstance(page.get("title"), str):
            page["title"] = self.string(page["title"], "page title")
        self.custom(page)
        return page
