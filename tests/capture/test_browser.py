"""proxy.browser(): Debian's Chromium through the capture, its pages and resource types
from the browser, compared with the HAR Chromium (Playwright) records of the same load."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

import necto_nb as nn
from necto_nb.chromium import find_chromium
from tests.kernel import execute

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


def test_in_a_notebook_cell_the_browser_records_pages_and_closes_with_the_proxy(chromium, confdir, tmp_path):
    """A kernel's main thread runs an asyncio loop, where Playwright's sync API refuses to
    start: the issue's one line must work there, and stopping (or leaving the capture
    block, the cell failed or not) must end Chromium."""
    import nbformat

    cell = nbformat.v4.new_code_cell
    failing = cell(textwrap.dedent(f"""
        with nn.Session("failing cell").capture(port=0, confdir={str(confdir)!r}) as other:
            other.browser().new_page().goto(site.url)
            during_failing = bool(chromium_running())
            raise RuntimeError("the cell failed")
    """))
    failing.metadata["tags"] = ["raises-exception"]
    cells = [
        cell(textwrap.dedent(f"""
            import json, time
            import psutil
            import necto_nb as nn

            def chromium_running():
                return [p for p in psutil.Process().children(recursive=True)
                        if "chrom" in p.name() and p.status() != psutil.STATUS_ZOMBIE]

            def until(condition, seconds=60):
                deadline = time.monotonic() + seconds
                while not condition() and time.monotonic() < deadline:
                    time.sleep(0.05)
                return bool(condition())

            site = nn.demo.serve(port=0)
            s = nn.Session("kernel browser")
            proxy = s.capture(port=0, confdir={str(confdir)!r})
        """)),
        cell("page = proxy.browser().new_page(); page.goto(site.url)"),
        cell("import asyncio\nawaited_title = await asyncio.to_thread(page.title)  # from another thread, awaited"),
        cell(textwrap.dedent("""
            loaded = until(lambda: s.pages and s.pages[0]["pageTimings"]["onLoad"] > 0)
            title = page.title()
            during = bool(chromium_running())
            proxy.stop()
            closed = until(lambda: not chromium_running(), 30)
        """)),
        failing,
        cell(textwrap.dedent("""
            closed_after_failing = until(lambda: not chromium_running(), 30)
            site.stop()
            print(json.dumps({"loaded": loaded, "title": title, "awaited_title": awaited_title, "pages": s.pages,
                              "pagerefs": sorted({e.get("pageref") for e in s.entries}, key=str),
                              "during": during, "closed": closed, "during_failing": during_failing,
                              "closed_after_failing": closed_after_failing}))
        """)),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells)
    execute(notebook, tmp_path, timeout=300)
    assert "the cell failed" in notebook.cells[4].outputs[0]["evalue"]
    result = json.loads(notebook.cells[-1].outputs[0]["text"])
    assert result["loaded"] and result["title"] == result["awaited_title"] == "necto demo shop", result
    [page] = result["pages"]
    assert page["title"] == "necto demo shop" and page["pageTimings"]["onLoad"] > 0, page
    assert result["pagerefs"] == [page["id"]]  # every entry belongs to the page
    assert result["during"] and result["closed"]
    assert result["during_failing"] and result["closed_after_failing"]


def test_the_browsers_objects_work_from_any_thread_as_playwrights_own(chromium, confdir):
    """Handlers, context managers and waits cross to the browser's thread and back; a call
    once it closed says so."""
    site = nn.demo.serve(port=0)
    try:
        with nn.Session("remote").capture(port=0, confdir=confdir) as proxy, proxy.browser() as context:
            page = context.new_page()
            seen: list[tuple[str, str]] = []
            page.on("response", lambda response: seen.append((response.url, response.frame.page.title())))
            with page.expect_response(lambda r: r.url.endswith("/style.css")) as waited:
                page.goto(site.url)
            css = waited.value
            assert css.status == 200 and css.request.method == "GET"
            assert context.pages == [page] and page.url.rstrip("/") == site.url.rstrip("/")
            css_url = css.url
        assert any(url == css_url for url, _ in seen), seen
        with pytest.raises(RuntimeError, match="this browser is closed"):
            page.title()
    finally:
        site.stop()
