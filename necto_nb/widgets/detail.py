"""The detail pane's HTML for one entry: headers, query, cookies, bodies and timings.

HAR content is untrusted: every string from it goes through `html.escape`, and nothing
from it is placed in a tag, attribute name, URL or style. Images are shown only for image
MIME types, as a data URI built from the decoded bytes under a MIME type taken from a fixed
list, so a crafted `mimeType` or body cannot break out of the `src` attribute. Browsers do
not run scripts inside an `<img>`, SVG included.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from necto_nb.errors import HarError
from necto_nb.har.conventions import PHASES, SEQUENTIAL_PHASES
from necto_nb.widgets.table import human_ms, human_size

if TYPE_CHECKING:
    from necto_nb.session import Session

#: image MIME types shown as pictures (others are described, not rendered)
IMAGE_TYPES = {
    "image/png", "image/jpeg", "image/jpg", "image/gif", "image/webp", "image/avif", "image/bmp",
    "image/x-icon", "image/vnd.microsoft.icon", "image/svg+xml",
}
MAX_TEXT = 200_000  # characters of a body shown; the rest is counted, not drawn
MAX_IMAGE = 5_000_000  # bytes
MAX_PRETTY = 2_000_000  # bytes of JSON worth re-indenting

esc = html.escape


def _mime(value: Any) -> tuple[str, str]:
    """(lower-case type without parameters, charset or '') of a Content-Type-like string."""
    text = str(value or "")
    kind, _, params = text.partition(";")
    charset = ""
    for param in params.split(";"):
        name, _, val = param.partition("=")
        if name.strip().lower() == "charset":
            charset = val.strip().strip('"')
    return kind.strip().lower(), charset


def _table(pairs: list[tuple[Any, Any]], empty: str = "none") -> str:
    if not pairs:
        return f'<p class="necto-note">{esc(empty)}</p>'
    rows = "".join(f"<tr><th>{esc(str(k))}</th><td>{esc(str(v))}</td></tr>" for k, v in pairs)
    return f"<table>{rows}</table>"


def _named(items: Any) -> list[tuple[Any, Any]]:
    return [(i.get("name", ""), i.get("value", "")) for i in items or [] if isinstance(i, dict)]


def _section(title: str, inner: str, *, open_: bool = True) -> str:
    return f"<details{' open' if open_ else ''}><summary>{esc(title)}</summary>{inner}</details>"


def body_html(data: bytes | None, mime: Any) -> str:
    """A body as escaped text, pretty JSON, a picture (image types only) or a description."""
    if data is None:
        return '<p class="necto-note">not recorded</p>'
    if not data:
        return '<p class="necto-note">empty</p>'
    kind, charset = _mime(mime)
    if kind in IMAGE_TYPES:
        if len(data) > MAX_IMAGE:
            return f'<p class="necto-note">{esc(kind)} image, {human_size(len(data))}: too large to show</p>'
        src = f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"
        return f'<p class="necto-note">{esc(kind)}, {human_size(len(data))}</p><img alt="response image" src="{src}">'
    try:
        text = data.decode(charset or "utf-8")
    except (LookupError, UnicodeDecodeError):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            preview = " ".join(f"{b:02x}" for b in data[:64])
            return (f'<p class="necto-note">binary data ({esc(kind or "unknown type")}), {len(data):,} bytes; '
                    f"first bytes:</p><pre>{esc(preview)}</pre>")
    if ("json" in kind or text.lstrip()[:1] in ("{", "[")) and len(data) <= MAX_PRETTY:
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            pass  # not JSON after all: show it as it is
    note = ""
    if len(text) > MAX_TEXT:
        note = f'<p class="necto-note">showing the first {MAX_TEXT:,} of {len(text):,} characters</p>'
        text = text[:MAX_TEXT]
    return f"{note}<pre>{esc(text)}</pre>"


def _ms(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if number >= 0 else math.nan


def timing_html(timings: dict, total: Any) -> str:
    """Each phase's duration and a bar at its offset, like a browser's timing tab.

    HAR counts `ssl` inside `connect`, so the bar for ssl sits at the end of connect and the
    phases after connect start where connect ends.
    """
    phases = {p: _ms(timings.get(p)) for p in PHASES}
    end = 0.0
    starts: dict[str, float] = {}
    for phase in SEQUENTIAL_PHASES:
        starts[phase] = end
        end += 0.0 if math.isnan(phases[phase]) else phases[phase]
    if not math.isnan(phases["ssl"]) and not math.isnan(phases["connect"]):
        starts["ssl"] = starts["connect"] + phases["connect"] - phases["ssl"]
    else:
        starts["ssl"] = starts["connect"]
    scale = max(end, _ms(total) if not math.isnan(_ms(total)) else 0.0, 1e-9) / 100
    kinds = {"blocked": "pre", "dns": "pre", "connect": "pre", "ssl": "pre", "send": "pre", "receive": "receive"}
    rows = []
    for phase, value in phases.items():
        label = "ssl (within connect)" if phase == "ssl" else phase
        if math.isnan(value):
            rows.append(f'<tr><th>{label}</th><td>\u2014</td><td></td></tr>')
            continue
        left, width = starts[phase] / scale, value / scale
        bar = (f'<div class="necto-phase necto-phase-{kinds.get(phase, "wait")}" '
               f'style="margin-left:{left:.3f}%;width:{width:.3f}%"></div>')
        rows.append(f"<tr><th>{label}</th><td>{esc(human_ms(value))}</td><td>{bar}</td></tr>")
    return (f'<table><colgroup><col style="width:28%"><col style="width:18%"><col></colgroup>{"".join(rows)}'
            f"<tr><th>total</th><td>{esc(human_ms(_ms(total)))}</td><td></td></tr></table>")


def _body(read: Callable[[int], bytes | None], label: int) -> tuple[bytes | None, str]:
    """A body, or the reason it cannot be read (bad base64, a missing side file) as HTML."""
    try:
        return read(label), ""
    except HarError as exc:
        return None, f'<p class="necto-note">cannot show the body: {esc(str(exc))}</p>'


def render(session: Session, label: int | None) -> str:
    """The detail pane for entry `label` of `session` (a hint when there is none)."""
    if label is None or not 0 <= label < len(session):
        return '<div class="necto-detail"><p class="necto-note">Select a row to see its details.</p></div>'
    entry = session.entries[label]
    request = entry.get("request") or {}
    response = entry.get("response") or {}
    content = response.get("content") or {}
    post = request.get("postData") or {}
    status = response.get("status", 0)
    general = [
        ("URL", request.get("url", "")),
        ("Method", request.get("method", "")),
        ("Status", f"{status} {response.get('statusText', '')}".strip() if status else "(failed)"),
        ("HTTP version", response.get("httpVersion") or request.get("httpVersion", "")),
        ("Started", entry.get("startedDateTime", "")),
        ("Server address", entry.get("serverIPAddress", "")),
        ("Connection", entry.get("connection", "")),
        ("Page", entry.get("pageref", "")),
    ]
    error = response.get("_error") or entry.get("_error")
    if error:
        general.append(("Error", error))
    general = [(k, v) for k, v in general if v not in ("", None)]
    request_body, request_error = _body(session.request_body, label)
    if request_error:
        request_part = request_error
    elif request_body is None and post.get("params"):
        request_part = _table(_named(post.get("params")))
    elif request_body is None and not post:
        request_part = '<p class="necto-note">no body</p>'
    else:
        request_part = body_html(request_body, post.get("mimeType"))
    response_body, response_error = _body(session.response_body, label)
    cookies = (
        "<p><b>Request</b></p>" + _table(_named(request.get("cookies")))
        + "<p><b>Response</b></p>" + _table(_named(response.get("cookies")))
    )
    parts = [
        f"<p><b>#{label}</b> {esc(str(request.get('method', '')))} {esc(str(request.get('url', '')))}</p>",
        _section("General", _table(general)),
        _section("Request headers", _table(_named(request.get("headers")))),
        _section("Response headers", _table(_named(response.get("headers")))),
        _section("Query string", _table(_named(request.get("queryString"))), open_=False),
        _section("Cookies", cookies, open_=False),
        _section("Request body", request_part, open_=bool(request_body)),
        _section(f"Response body ({content.get('mimeType') or 'no type'})",
                 response_error or body_html(response_body, content.get("mimeType"))),
        _section("Timing", timing_html(entry.get("timings") or {}, entry.get("time"))),
    ]
    return f'<div class="necto-detail">{"".join(parts)}</div>'
