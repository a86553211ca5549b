"""Untrusted HAR text in a real JupyterLab and Chromium: markup and script from URLs, headers,
bodies, cookies, page ids and titles, and the report's messages built from them, show as
text and never run, in every HTML face of a Session: the report, the Session itself, the
traffic grid (rows, detail pane, import summary), the waterfall's hover labels and page
marks, and the capture's status table.

Extends tests/widgets/test_browser.py (grid rows, detail pane, upload) and
tests/plots/test_waterfall_browser.py (hover, standalone HTML) to the report, the Session,
page ids and titles, the import summary, and all of them at once inside JupyterLab.
"""

from __future__ import annotations

import time

import orjson
import pytest

from tests.factory import entry, har
from tests.widgets.lab import (JupyterLab, chromium, errors_in_outputs, needs_chromium, open_notebook,
                               py, run_all)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.browser,
    pytest.mark.jupyterlab,
    needs_chromium,
]

# Each payload runs code or adds an element if it is ever parsed as HTML (no quotes, so Python's
# repr in report messages leaves it whole).
PAYLOADS = [
    "<img src=x onerror=window.__pwned=1>",
    "<script>window.__pwned=2</script>",
    "<svg onload=window.__pwned=3></svg>",
    "<iframe src=javascript:parent.__pwned=4></iframe>",
    "<b id=pwned>bold</b>",
    "<a id=pwnedlink href=javascript:window.__pwned=5>link</a>",
]
H = "".join(PAYLOADS)


def hostile_har() -> dict:
    page = {"id": "page" + H, "title": "title" + H, "startedDateTime": "2026-11-01T10:00:00.000Z",
            "pageTimings": {"onContentLoad": 5, "onLoad": 40}}
    main = entry(url="https://evil.example/a?q=" + H, pageref=page["id"])
    main["request"]["headers"] = [{"name": "X-Name" + H, "value": "value" + H}]
    main["request"]["cookies"] = [{"name": "c", "value": "cookie" + H}]
    main["request"]["queryString"] = [{"name": "q", "value": H}]
    main["request"]["method"] = "POST"
    main["request"]["postData"] = {"mimeType": "text/html", "text": "request" + H}
    main["response"]["statusText"] = "status" + H
    main["response"]["headers"] = [{"name": "X-Evil", "value": "header" + H}]
    main["response"]["content"] = {"size": 10, "mimeType": "text/html", "text": "body" + H}
    main["comment"] = "comment" + H
    # entries whose repairs quote HAR text in the report's messages
    orphan = entry(url="https://evil.example/orphan", pageref="missing" + H)
    address = entry(url="https://evil.example/ip", serverIPAddress="ip" + H)
    date = entry(url="https://evil.example/date", startedDateTime="date" + H)
    failed = entry(url="https://evil.example/failed", status=0)
    failed["response"]["_error"] = "error" + H
    side = entry(url="https://evil.example/side")
    side["response"]["content"] = {"size": 1, "mimeType": "text/plain", "_file": "../" + H}
    not_a_url = entry(url="url" + H)
    second = dict(page, id="second" + H, startedDateTime="2026-11-01T10:00:00.010Z")  # two pages: marks name them
    return har(main, orphan, address, date, failed, side, not_a_url, pages=[page, second])


def assert_nothing_ran(page) -> None:
    time.sleep(0.5)  # give any injected handler its chance
    assert page.dialogs == []
    assert page.evaluate("window.__pwned") is None
    assert page.evaluate("document.getElementById('pwned') === null && document.getElementById('pwnedlink') === null")
    injected = page.evaluate("""() => [...document.querySelectorAll(
        'img[src="x"], svg[onload], iframe[src^="javascript"], script')].filter(
        e => (e.outerHTML || '').includes('__pwned')).length""")
    assert injected == 0


def shows_as_text(text: str) -> None:
    missing = [p for p in PAYLOADS if p not in text]
    assert not missing, f"not shown literally: {missing}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    server = JupyterLab(tmp_path_factory.mktemp("hostile-notebooks"))
    yield server
    server.close()


@pytest.fixture
def page(lab):
    with chromium() as context:
        page = context.new_page()
        page.dialogs = []
        page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
        yield page
        lab.shutdown_kernels()


def test_hostile_har_text_never_runs_in_any_html_view(page, lab, tmp_path):
    (lab.root / "hostile.har").write_bytes(orjson.dumps(hostile_har()))
    name = "session" + H
    lab.notebook("hostile.ipynb", [
        f"import necto_nb as nn\ns = nn.read_har('hostile.har', name={name!r})\ns.report",
        "s",
        "grid = s.grid()\ngrid",
        f"grid.import_files([({'file' + H + '.har'!r}, open('hostile.har', 'rb').read())]);",
        "fig = nn.waterfall(s, rows=~s.df.url.str.endswith('/date'))  # its repaired start is today\nfig",
        f"proxy = nn.Session({name!r}).capture(port=0, confdir={str(tmp_path / 'mitm')!r})\nproxy",
    ])
    open_notebook(page, lab, "hostile.ipynb")
    run_all(page, lab)
    assert not errors_in_outputs(page), errors_in_outputs(page)
    kernel = lab.kernel("hostile.ipynb")
    try:
        cells = page.locator(".jp-Notebook .jp-CodeCell")
        outputs = [cells.nth(i).locator(".jp-Cell-outputWrapper") for i in range(6)]
        page.wait_for_selector(".necto-table .necto-tr")
        page.wait_for_selector(".js-plotly-plot .barlayer")
        assert_nothing_ran(page)

        # the report: every message quoting HAR text shows it as text
        report = outputs[0].inner_text()
        for quoted in ("missing", "ip", "date", "error", "../", "url"):
            assert quoted + PAYLOADS[0] in report, f"{quoted}: {report[:2000]}"
        shows_as_text(report)
        # the Session: its name and its frame's cells
        session_html = outputs[1].inner_text()
        assert "session" + PAYLOADS[0] in session_html and "status" + PAYLOADS[0] in session_html

        # the grid: rows, then every section of the detail pane
        grid = outputs[2]
        grid.locator(".necto-tr[data-id='0']").click()
        detail = grid.locator(".necto-detail")
        detail.get_by_text("Response headers").wait_for()
        for summary in detail.locator("summary").all():
            if summary.evaluate("s => !s.parentElement.open"):
                summary.click()
        text = detail.inner_text()
        for field in ("X-Name", "value", "cookie", "request", "header", "body", "status", "page"):
            assert field + PAYLOADS[0] in text, field
        shows_as_text(text)
        # the import summary (the file name and the report of the imported file)
        status = grid.locator(".necto-status")
        status.get_by_text("Imported").wait_for()
        assert "file" + PAYLOADS[0] in status.inner_text() and "missing" + PAYLOADS[0] in status.inner_text()
        assert_nothing_ran(page)

        # the waterfall: the page mark, the lane title, the hover label of the hostile request
        plot = outputs[4]
        annotations = " ".join(plot.locator(".annotation-text").all_text_contents())
        assert "page" + PAYLOADS[0] in annotations and "session" + PAYLOADS[0] in annotations
        box = plot.locator(".draglayer .xy .nsewdrag").first.bounding_box()
        for fraction in (0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95):
            page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * fraction)
            time.sleep(0.2)
            hover = page.evaluate("(document.querySelector('.hoverlayer') || {}).textContent || ''")
            if "status" + PAYLOADS[0] in hover:
                break
        assert "status" + PAYLOADS[0] in hover, hover
        assert_nothing_ran(page)

        # the capture's status table
        assert "session" + PAYLOADS[0] in outputs[5].inner_text()
        assert_nothing_ran(page)
    finally:
        py(kernel, "proxy.stop()")
        kernel.stop_channels()
