"""The detail pane's HTML: every HAR string escaped, bodies shown by type, timings by phase."""

from __future__ import annotations

import base64
import html
import re
from html.parser import HTMLParser

import pytest

import necto_nb as nn
from necto_nb.widgets.detail import body_html, render, timing_html
from tests.factory import entry, har

MARKUP = ['<script>alert("x")</script>', "<img src=x onerror=alert(1)>", '"><svg onload=alert(2)>']
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


class Tags(HTMLParser):
    """Every tag and attribute in a piece of HTML, as a browser's parser would see them."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def assert_inert(markup: str) -> None:
    """No script, no event handler, no element beyond the pane's own vocabulary."""
    allowed = {"div", "p", "b", "details", "summary", "table", "tr", "th", "td", "pre", "img", "colgroup", "col"}
    for tag, attrs in Tags(markup).tags:
        assert tag in allowed, tag
        assert not any(a.startswith("on") for a in attrs), (tag, attrs)
        if tag == "img":
            assert re.fullmatch(r"data:image/[a-z0-9.+-]+;base64,[A-Za-z0-9+/=]+", attrs["src"]), attrs


def hostile_session():
    e = entry("https://x.test/a?q=%3Cscript%3E", 200)
    e["request"]["headers"] = [{"name": m, "value": m} for m in MARKUP]
    e["request"]["queryString"] = [{"name": "q", "value": MARKUP[0]}]
    e["request"]["cookies"] = [{"name": "c", "value": MARKUP[1]}]
    e["request"]["postData"] = {"mimeType": "text/html", "text": MARKUP[2]}
    e["request"]["method"] = "POST"
    e["response"]["headers"] = [{"name": "X-Evil", "value": MARKUP[1]}]
    e["response"]["cookies"] = [{"name": MARKUP[2], "value": "v"}]
    e["response"]["statusText"] = MARKUP[0]
    e["response"]["content"] = {"size": 40, "mimeType": 'text/html"><script>alert(3)</script>',
                                "text": "".join(MARKUP)}
    e["serverIPAddress"] = "127.0.0.1"
    e["connection"] = MARKUP[1]
    return nn.read_har(har(e))


def test_every_hostile_string_is_shown_as_text():
    markup = render(hostile_session(), 0)
    assert_inert(markup)
    text = html.unescape(re.sub(r"<[^>]+>", "", markup))
    for m in MARKUP:
        assert m in text


def test_no_row_gives_a_hint():
    s = hostile_session()
    assert "Select a row" in render(s, None)
    assert "Select a row" in render(s, 5)


def test_json_is_pretty_printed_and_escaped():
    out = body_html(b'{"a":[1,2],"b":"</pre><script>x</script>"}', "application/json; charset=utf-8")
    assert '{\n  &quot;a&quot;: [\n    1,\n    2\n  ],' in out
    assert_inert(out)


def test_text_that_only_looks_like_json_is_shown_as_is():
    assert "<pre>{not json</pre>" in body_html(b"{not json", "application/json")


def test_images_only_for_image_types():
    shown = body_html(PNG, "image/png")
    assert '<img alt="response image" src="data:image/png;base64,' in shown
    assert_inert(shown)
    # the same bytes under another type are described, never rendered
    assert "<img" not in body_html(PNG, "application/octet-stream")
    assert "binary data" in body_html(PNG, "application/octet-stream")
    # a crafted image type cannot reach the data URI
    crafted = body_html(b"<svg onload=alert(1)>", 'image/png" onerror="alert(1)')
    assert "<img" not in crafted and "&lt;svg onload" in crafted


def test_svg_is_shown_as_an_image_whose_scripts_never_run():
    out = body_html(b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>', "image/svg+xml")
    tags = Tags(out).tags
    assert [t for t, _ in tags if t == "img"] == ["img"]
    assert_inert(out)


def test_bodies_absent_empty_binary_large_and_charset():
    assert "not recorded" in body_html(None, "text/plain")
    assert "empty" in body_html(b"", "text/plain")
    assert "caf\u00e9" in body_html("caf\u00e9".encode("latin-1"), "text/plain; charset=ISO-8859-1")
    big = body_html(b"x" * 300_000, "text/plain")
    assert "showing the first 200,000 of 300,000 characters" in big
    assert "ff d8 ff" in body_html(b"\xff\xd8\xff\x00", "application/octet-stream")


def test_unreadable_body_is_explained():
    e = entry()
    e["response"]["content"] = {"size": 4, "mimeType": "image/png", "text": "***not base64***", "encoding": "base64"}
    s = nn.read_har(har(e))
    assert "cannot show the body: response.content.text: marked base64 but is not valid base64" in render(s, 0)


def test_timing_puts_ssl_inside_connect():
    out = timing_html({"blocked": 10, "dns": -1, "connect": 40, "ssl": 30, "send": 0, "wait": 40, "receive": 10}, 100)
    bars = {m[0]: (float(m[1]), float(m[2])) for m in
            re.findall(r"<th>([a-z ()]+)</th><td>[^<]*</td><td><div class=\"[^\"]+\" style=\"margin-left:([\d.]+)%;width:([\d.]+)%", out)}
    assert bars["blocked"] == (0, 10)
    assert bars["connect"] == (10, 40)
    assert bars["ssl (within connect)"] == (20, 30)
    assert bars["wait"] == (50, 40)
    assert bars["receive"] == (90, 10)
    assert "<th>dns</th><td>\u2014</td>" in out


@pytest.mark.parametrize("total", [None, "junk", -1])
def test_timing_without_a_total(total):
    assert "<th>total</th><td></td>" in timing_html({"wait": 5}, total)
