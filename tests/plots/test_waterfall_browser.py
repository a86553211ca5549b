"""The waterfall in a real Chromium: it draws, hover works, and HAR text in it stays text."""

from __future__ import annotations

import pytest

import necto_nb as nn
from necto_nb.plots.waterfall import BARS_UP_TO
from tests.factory import entry, page
from tests.widgets.lab import chromium as chromium_context
from tests.widgets.lab import needs_chromium

pytestmark = [pytest.mark.integration, pytest.mark.browser, needs_chromium]

PHASES = ["blocked", "dns", "connect (without ssl)", "ssl", "send", "wait", "receive"]


@pytest.fixture(scope="module")
def chromium():
    with chromium_context(viewport={"width": 1300, "height": 1000}) as context:
        yield context


def show(chromium, fig, path):
    """Open the figure as a standalone HTML file (plotly.js inlined); the page once drawn."""
    fig.write_html(path, include_plotlyjs=True, full_html=True, div_id="plot",
                   post_script="window.__plotted = performance.now();")
    tab = chromium.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.goto(path.as_uri())
    tab.wait_for_function("window.__plotted !== undefined")
    assert errors == []
    return tab


def hover_text(tab, subplot: str, fraction: float = 0.5) -> str:
    """Move the mouse into a subplot (hovermode "y": a lane shows its request) and read the label."""
    box = tab.locator(f"#plot .draglayer .{subplot} .nsewdrag").first.bounding_box()
    tab.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * fraction)
    tab.wait_for_function("document.querySelector('.hoverlayer .hovertext') !== null")
    return tab.evaluate("document.querySelector('.hoverlayer').textContent")


def test_bars_page_marks_and_escaped_hover_render(chromium, corpus, tmp_path):
    wpt = nn.read_har(corpus / "webpagetest__perfcascade-github-2.19.har")
    bad = entry("https://example.com/x?a=1&b=<script>window.__pwned=3</script>", status=500,
                error="<img src=x onerror='window.__pwned=1'>", page="page_1")
    # plotly.js renders <a href>, <b>, <span style> in text as markup (links, spoofed text) and
    # leaves <script> and <img> as text: both kinds must come out as the literal text.
    bad["response"]["statusText"] = ('<script>window.__pwned=2</script><a href="https://evil.example/">evil</a>'
                                     '<span style="font-size:60px">big</span>')
    evil = nn.Session("<img src=x onerror='window.__pwned=4'><b>bold</b>", [bad], pages=[page()])
    fig = nn.waterfall([wpt, evil])
    tab = show(chromium, fig, tmp_path / "waterfall.html")

    drawn = sum(len(t.x) for t in fig.data if t.type == "bar")
    assert tab.locator("#plot .barlayer .point").count() == drawn
    legend = tab.locator("#plot .legendtext").all_text_contents()
    assert legend == ["dns", "connect (without ssl)", "ssl", "wait", "receive", "failed"]  # phases drawn, marks
    texts = tab.locator("#plot .annotation-text").all_text_contents()
    assert "onLoad" in texts and "_startRender" in texts
    assert "<img src=x onerror='window.__pwned=4'><b>bold</b>" in texts  # the session's name, as text

    label = hover_text(tab, "x2y2")
    assert '<script>window.__pwned=2</script><a href="https://evil.example/">evil</a>' in label  # shown literally...
    assert '<span style="font-size:60px">big</span>' in label
    assert "error: <img src=x onerror='window.__pwned=1'>" in label
    assert "a=1&b=%3Cscript%3E" in label  # the core percent-encodes URLs; & survives as &
    assert tab.evaluate("window.__pwned") is None  # ...and never run
    assert tab.evaluate("document.querySelectorAll('#plot script, #plot img, #plot svg a, #plot svg b').length") == 0
    assert tab.evaluate("document.querySelectorAll('#plot .hoverlayer tspan[style*=\"font-size:60px\"]').length") == 0
    first = hover_text(tab, "xy", fraction=0.02)
    assert "https://github.com/" in first and "connect 130.0 ms (ssl 130.0 ms)" in first
    assert "size 7.3kB (9.25kB transferred) · total 296.0 ms" in first  # numbers formatted by plotly.js
    assert "blocked – · dns – · connect" in first  # HAR's -1, "does not apply"


def test_many_requests_render_with_webgl_and_hover(chromium, tmp_path):
    n = BARS_UP_TO * 2
    s = nn.Session("many", [entry(f"https://example.com/asset/{i}.js", at=i * 2.0, timings={"wait": 20.0})
                            for i in range(n)])
    fig = nn.waterfall(s)
    tab = show(chromium, fig, tmp_path / "many.html")
    assert tab.locator("#plot canvas.gl-canvas-context").count() == 1
    assert tab.locator("#plot .barlayer .point").count() == 0
    legend = tab.locator("#plot .legendtext").all_text_contents()
    assert [name for name in legend if name in PHASES] == ["blocked", "send", "wait", "receive"]
    label = hover_text(tab, "xy", fraction=0.5)
    assert "https://example.com/asset/" in label and "wait 20.0 ms" in label
