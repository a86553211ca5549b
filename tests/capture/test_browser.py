"""proxy.browser(): Debian's Chromium through the capture, its pages and resource types
from the browser, compared with the HAR Chromium (Playwright) records of the same load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import necto_nb as nn
from necto_nb.chromium import find_chromium

pytestmark = [pytest.mark.integration, pytest.mark.proxy, pytest.mark.browser]


@pytest.fixture(scope="module")
def chromium() -> Path:
    pytest.importorskip("playwright", reason="Playwright is not installed")
    try:
        return find_chromium()
    except RuntimeError as e:
        pytest.skip(str(e))


def test_a_page_load_gives_the_browsers_pages_timings_and_entries(chromium, confdir, tmp_path):
    site = nn.demo.serve(port=0)
    session = nn.Session("browser")
    own_har = tmp_path / "chromium.har"
    try:
        with session.capture(port=0, confdir=confdir) as proxy:
            context = proxy.browser(record_har_path=str(own_har))
            page = context.new_page()
            page.goto(site.url)
            page.wait_for_function("() => performance.getEntriesByType('navigation')[0].loadEventEnd > 0")
            page.wait_for_load_state("networkidle")
            timing = page.evaluate("() => { const t = performance.timing; return {load: t.loadEventStart - "
                                   "t.navigationStart, dcl: t.domContentLoadedEventStart - t.navigationStart}; }")
            context.close()
    finally:
        site.stop()
    assert len(session.pages) == 1, session.pages
    ours = session.pages[0]
    assert ours["title"] == "necto demo shop"
    on_load, on_content = ours["pageTimings"]["onLoad"], ours["pageTimings"]["onContentLoad"]
    assert abs(on_load - timing["load"]) <= 0.1 * timing["load"], (ours, timing)
    assert abs(on_content - timing["dcl"]) <= 0.1 * timing["dcl"] + 1, (ours, timing)

    theirs = json.loads(own_har.read_text())["log"]
    pairs = lambda entries: sorted((e["request"]["method"], e["request"]["url"]) for e in entries)  # noqa: E731
    assert pairs(session.entries) == pairs(theirs["entries"])
    entries = session.entries
    assert {e.get("pageref") for e in entries} == {ours["id"]}
    types = {e["request"]["url"].rsplit("/", 1)[-1]: e.get("_resourceType") for e in entries}
    assert types[""] == "document" and types["style.css"] == "stylesheet" and types["app.js"] == "script"
    assert types["logo.svg"] == "image" and types["items"] == "fetch" and types["ws"] == "websocket"
    started = min(e["startedDateTime"] for e in entries)
    assert ours["startedDateTime"] <= started


def test_https_is_trusted_by_key_pin_and_the_browsers_own_traffic_stays_out(chromium, confdir, upstream):
    session = nn.Session("browser https")
    with session.capture(port=0, confdir=confdir, ssl_insecure=True) as proxy:
        context = proxy.browser()
        page = context.new_page()
        response = page.goto(f"{upstream.https}/echo?browser")
        assert response.status == 200 and json.loads(page.inner_text("body"))["uri"] == "/echo?browser"
        context.close()
        proxy.flush()
    hosts = {e["request"]["url"].split("/")[2] for e in session.entries}
    assert hosts == {upstream.https.removeprefix("https://")}, hosts


def test_a_missing_chromium_says_how_to_install_it(tmp_path):
    with pytest.raises(RuntimeError, match="apt-get install chromium"):
        find_chromium(tmp_path / "no-chromium")
