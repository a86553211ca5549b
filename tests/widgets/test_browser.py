"""TrafficGrid in a real JupyterLab and Chromium: rows, clicks, Python in step, export,
upload, live capture, and hostile HAR markup that must show as text and never run."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import orjson
import pytest

from tests.conftest import REPO
from tests.factory import entry, har
from tests.widgets.lab import (JupyterLab, chromium, errors_in_outputs, needs_chromium, open_notebook,
                               py, run_all, wait_py, watch)

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.jupyterlab, needs_chromium]

ROWS = ".necto-tr"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    # with the repository's JupyterLab extension, not an installed copy that may be older: it
    # keeps a kernel warm while the file browser shows the tests' HAR files
    server = JupyterLab(tmp_path_factory.mktemp("notebooks"), labextensions=(REPO / "necto_nb" / "labextension",))
    yield server
    server.close()


@pytest.fixture(scope="module")
def browser_context():
    with chromium() as context:
        yield context


@pytest.fixture
def page(lab, browser_context):
    page = browser_context.new_page()
    watch(page)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.dialogs = dialogs
    yield page
    page.close()
    lab.shutdown_kernels()


def show(page, lab, name: str, cells: list[str]):
    """Write a notebook, open it, run all cells; a client of its kernel."""
    lab.notebook(name, cells)
    open_notebook(page, lab, name)
    run_all(page, lab)
    assert not errors_in_outputs(page), errors_in_outputs(page)
    page.wait_for_selector(".necto-table")
    return lab.kernel(name)


def upload(page, *files: Path) -> None:
    """Press Import HAR and pick `files` in the browser's file chooser."""
    with page.expect_file_chooser() as chooser:
        page.locator(".widget-upload").click()
    chooser.value.set_files([str(f) for f in files])


def row(page, entry_id: int):
    return page.locator(f"{ROWS}[data-id='{entry_id}']")


def drawn_selection(page) -> list[int]:
    return [int(i) for i in page.locator(f"{ROWS}.selected").evaluate_all("rs => rs.map(r => r.dataset.id)")]


def test_click_shift_click_select_in_python_and_export_exactly_those(page, lab):
    entries = [entry(f"https://shop.example/item/{i}", 500 if i in (3, 7) else 200) for i in range(40)]
    (lab.root / "shop.har").write_bytes(orjson.dumps(har(*entries)))
    kernel = show(page, lab, "select.ipynb", [
        "import necto_nb as nn\ns = nn.read_har('shop.har')\ngrid = s.grid()\ngrid"])
    page.wait_for_selector(f"{ROWS}[data-id='0']")
    assert "/item/0" in row(page, 0).inner_text()
    assert "40 of 40" in page.locator(".widget-html", has_text="of 40").first.inner_text()

    row(page, 2).click()
    row(page, 5).click(modifiers=["Shift"])
    row(page, 9).click(modifiers=["Control"])
    expected = "[2, 3, 4, 5, 9] [2, 3, 4, 5, 9]"
    assert wait_py(kernel, "print(grid.selected.index.tolist(), s.selection.index.tolist())", expected) == expected
    page.wait_for_function("document.querySelectorAll('.necto-tr.selected').length === 5")
    assert drawn_selection(page) == [2, 3, 4, 5, 9]
    assert "/item/9" in page.locator(".necto-detail").inner_text()  # the row clicked last

    page.get_by_role("checkbox", name="Redact secrets").uncheck()
    page.get_by_role("button", name="Export selected").click()
    message = page.locator(".necto-status", has_text="Wrote")
    message.wait_for()
    name = re.search(r"Wrote (\S+\.har)", message.inner_text()).group(1)
    written = json.loads((lab.root / name).read_text())["log"]["entries"]
    assert written == [entries[i] for i in (2, 3, 4, 5, 9)]
    with page.expect_download() as download:
        page.get_by_role("link", name=f"Download {name}").click()
    assert download.value.suggested_filename == name
    assert Path(download.value.path()).read_bytes() == (lab.root / name).read_bytes()

    py(kernel, "grid.select(s.df.status >= 500)")  # Python -> browser
    page.wait_for_function("document.querySelectorAll('.necto-tr.selected').length === 2")
    assert drawn_selection(page) == [3, 7]
    assert page.get_by_role("button", name="Export selected").is_enabled()
    py(kernel, "s.select([])")
    page.wait_for_function("document.querySelectorAll('.necto-tr.selected').length === 0")
    assert page.get_by_role("button", name="Export selected").is_disabled()
    kernel.stop_channels()


def test_scrolling_far_and_shift_clicking_across_rows_never_drawn(page, lab):
    (lab.root / "many.har").write_bytes(orjson.dumps(har(*[entry(f"https://big.example/{i}") for i in range(3000)])))
    kernel = show(page, lab, "scroll.ipynb", ["import necto_nb as nn\ns = nn.read_har('many.har')\ngrid = s.grid()\ngrid"])
    row(page, 10).click()
    page.locator(".necto-scroll").evaluate("el => el.scrollTop = 22 * 2500")
    page.wait_for_selector(f"{ROWS}[data-id='2510']")
    row(page, 2510).click(modifiers=["Shift"])
    expected = "2501 10 2510"
    code = "sel = grid.selected.index; print(len(sel), sel.min(), sel.max())"
    assert wait_py(kernel, code, expected) == expected
    page.keyboard.press("ArrowDown")  # keys move the table's selection, not the notebook's cells
    page.keyboard.press("Shift+ArrowDown")
    assert wait_py(kernel, "print(grid.selected.index.tolist())", "[2511, 2512]") == "[2511, 2512]"
    page.keyboard.press("Control+a")
    assert wait_py(kernel, "print(len(grid.selected))", "3000") == "3000"
    assert page.locator(".jp-Notebook .jp-Cell").count() == 1  # 'a' did not insert a cell
    page.locator(".necto-th", has_text="#").click()  # sort descending by #
    page.wait_for_function("document.querySelector('.necto-th').textContent.includes('\u25BC')")
    kernel.stop_channels()


def test_upload_several_files_shows_rows_and_warnings_and_a_bad_file_changes_nothing(page, lab, tmp_path):
    odd = tmp_path / "odd.har"
    odd.write_bytes(orjson.dumps(har(entry("https://up.example/a b"), entry("https://up.example/c"))))
    plain = tmp_path / "plain.har"
    plain.write_bytes(orjson.dumps(har(entry("https://up.example/d"))))
    broken = tmp_path / "broken.har"
    broken.write_bytes(b'{"log": {"entries": [')
    kernel = show(page, lab, "upload.ipynb", ["import necto_nb as nn\ns = nn.Session('uploads')\ngrid = s.grid()\ngrid"])
    assert page.locator(".necto-empty").inner_text() == "No traffic."

    upload(page, odd, plain)
    page.wait_for_selector(f"{ROWS}[data-id='2']")
    status = page.locator(".necto-status")
    status.get_by_text("Imported plain.har").wait_for()
    text = status.inner_text()
    assert "Imported odd.har: 2 entries, 0 error(s), 1 warning(s)" in text
    assert "log.entries[0].request.url" in text
    assert wait_py(kernel, "print(len(s))", "3") == "3"

    upload(page, broken)
    status.get_by_text("Nothing imported").wait_for()
    assert "broken.har" in status.inner_text()
    assert py(kernel, "print(len(s))").strip() == "3"
    assert page.locator(ROWS).count() == 3
    kernel.stop_channels()


HOSTILE = [
    '<img src=x onerror="window.__pwned=(window.__pwned||0)+1;alert(1)">',
    "<script>window.__pwned=99;alert(2)</script>",
    '"><svg onload="window.__pwned=7;alert(3)">',
]


def hostile_har() -> dict:
    e = entry("https://evil.example/p?q=<script>window.__pwned=5</script>#<img src=x onerror=alert(4)>")
    e["_resourceType"] = HOSTILE[0]
    e["request"]["method"] = "POST"
    e["request"]["headers"] = [{"name": HOSTILE[1], "value": HOSTILE[2]}]
    e["request"]["queryString"] = [{"name": "q", "value": HOSTILE[1]}]
    e["request"]["cookies"] = [{"name": "c", "value": HOSTILE[0]}]
    e["request"]["postData"] = {"mimeType": "text/html", "text": HOSTILE[2]}
    e["response"]["statusText"] = HOSTILE[1]
    e["response"]["headers"] = [{"name": "X-Evil", "value": HOSTILE[0]}]
    e["response"]["content"] = {"size": 200, "mimeType": 'text/html"><script>alert(5)</script>',
                                "text": "".join(HOSTILE)}
    e["comment"] = HOSTILE[1]
    return har(e, entry("https://evil.example/fine"))


def assert_nothing_ran(page) -> None:
    time.sleep(0.5)  # give any injected handler its chance to run
    assert page.dialogs == []
    assert page.evaluate("window.__pwned") is None
    assert page.locator(".jp-OutputArea img[src='x'], .jp-OutputArea svg[onload]").count() == 0
    assert page.locator(".jp-OutputArea script").count() == 0


def test_markup_in_url_headers_and_body_shows_as_text_and_never_runs(page, lab, tmp_path):
    (lab.root / "hostile.har").write_bytes(orjson.dumps(hostile_har()))
    kernel = show(page, lab, "hostile.ipynb", [
        "import necto_nb as nn\ns = nn.read_har('hostile.har', name='<b>hostile</b>')\ngrid = s.grid()\ngrid"])
    row(page, 0).click()
    detail = page.locator(".necto-detail")
    detail.get_by_text("Response headers").wait_for()
    page.get_by_text("Query string").click()
    page.get_by_text("Cookies").click()
    assert_nothing_ran(page)

    assert row(page, 0).locator(".necto-td").nth(5).inner_text() == HOSTILE[0]  # the Type cell
    text = detail.inner_text()
    for markup in HOSTILE:
        assert markup in text
    assert "evil.example/p?q=" in text

    # upload the same file: the import path and its messages are escaped too
    hostile_file = tmp_path / "<img src=x onerror=alert(6)>.har"
    hostile_file.write_bytes(orjson.dumps(hostile_har()))
    upload(page, hostile_file)
    page.locator(".necto-status", has_text="Imported").wait_for()
    assert "<img src=x onerror=alert(6)>.har" in page.locator(".necto-status").inner_text()

    assert_nothing_ran(page)
    kernel.stop_channels()


def test_live_capture_rows_appear_without_rerunning_the_cell(page, lab, tmp_path):
    kernel = show(page, lab, "live.ipynb", [
        "import necto_nb as nn\nfrom necto_nb.demo import serve\nsite = serve()\ns = nn.Session('live')\n"
        f"proxy = s.capture(port=0, confdir={str(tmp_path / 'mitm')!r})\ngrid = s.grid()\ngrid"])
    assert page.locator(".necto-empty").inner_text() == "No traffic."
    py(kernel, "import httpx, threading\n"
               "def traffic():\n"
               "    with httpx.Client(proxy=proxy.url, timeout=10) as c:\n"
               "        for i in range(25):\n"
               "            c.get(f'{site.url}/api/items/{i % 3 + 1}')\n"
               "worker = threading.Thread(target=traffic); worker.start()")
    page.wait_for_function("document.querySelectorAll('.necto-tr').length >= 1")
    page.locator(".widget-html", has_text="25 of 25").wait_for()
    assert "/api/items/" in row(page, 24).inner_text()
    prompts = page.locator(".jp-InputPrompt").all_inner_texts()
    assert prompts[0].strip() == "[1]:"  # the cell ran once
    py(kernel, "worker.join(); proxy.stop(); site.stop()")
    kernel.stop_channels()
