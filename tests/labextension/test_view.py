"""HAR files opened from JupyterLab's file browser with the necto_nb extension, in a real
JupyterLab and Debian's Chromium: a DevTools HAR shows its rows, report and waterfall; a
broken file shows its error; hostile text stays text; "Open as notebook" writes cells that
reproduce the view; "Open With > Editor" still shows the raw JSON."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import time

import nbformat
import orjson
import pytest

import necto_nb as nn
from tests.conftest import REPO
from tests.kernel import execute
from tests.widgets.lab import WAIT_S, JupyterLab, chromium, needs_chromium, wait_page
from tests.widgets.test_browser import HOSTILE, hostile_har, page  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.browser,
    pytest.mark.jupyterlab,
    needs_chromium,
]

BUILD = REPO / "necto_nb" / "labextension"
DEVTOOLS = "chrome-devtools__mitmproxy-chrome110.har"
ROWS = ".necto-tr"
ERRORS = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
WARM = "necto_nb kernel kept warm for HAR files"  # the session's name (labextension/src/warm.ts)
SETTINGS = "necto-nb/har-view.jupyterlab-settings"


# Each test has a JupyterLab and a Chromium of its own, as if it ran alone. With the kernel kept
# warm, a page leaves the server kernels that outlive it (its view's, as a notebook's do; one still
# starting when it closed), and one module-wide server and browser made the tests depend on their
# order: twice a later view never showed its rows, each test passing alone. What one tab's kernels do to
# another's is tested on purpose, in one server and browser (the two-tab tests below).
@pytest.fixture
def lab(tmp_path):
    server = JupyterLab(tmp_path, labextensions=(BUILD,))
    yield server
    server.close()


@pytest.fixture
def browser_context():
    with chromium() as context:
        yield context


def file_item(page, name: str):
    text = page.locator(".jp-DirListing-itemText", has_text=re.compile(f"^{re.escape(name)}$"))
    return page.locator(".jp-DirListing-item", has=text)


def browse(page, lab, workspace: str) -> None:
    """The file browser at the root, in a fresh workspace (nothing restored beside it)."""
    page.goto(f"{lab.url}/lab/workspaces/{workspace}?reset&token={lab.token}")
    page.wait_for_selector(".jp-DirListing-content .jp-DirListing-item")


def double_click(page, lab, name: str):
    """Double-click `name` in the file browser; the panel that opens."""
    browse(page, lab, re.sub(r"[^A-Za-z0-9-]", "-", name)[:40])
    file_item(page, name).dblclick()
    return page.locator(".jp-NotebookPanel:visible")


def wait_rows(page, lab, n: int) -> None:
    wait_page(page, lab, f"the view's {n} rows", "n => document.querySelectorAll('.necto-tr').length === n", arg=n)


def wait_until(condition, what: str) -> None:
    end = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < end, f"not within {WAIT_S} s: {what}"
        time.sleep(0.1)


def kernel_of(lab, path: str) -> str:
    return next(s["kernel"]["id"] for s in lab.api("sessions") if s["path"] == path)


def test_devtools_har_shows_its_rows_report_and_waterfall(page, lab, corpus):
    path = lab.root / DEVTOOLS
    shutil.copy(corpus / DEVTOOLS, path)
    before = path.read_bytes()
    session = nn.read_har(path)
    panel = double_click(page, lab, DEVTOOLS)
    wait_rows(page, lab, len(session))
    hosts = page.locator(ROWS).evaluate_all("rows => rows.map(r => r.innerText)")
    assert all(host in "".join(hosts) for host in session.df["host"].astype(str))
    for issue in session.report:
        panel.get_by_text(issue.message).first.wait_for()  # the import report
    panel.get_by_role("button", name="Export session").wait_for()
    panel.locator(".js-plotly-plot").wait_for()  # the waterfall
    assert page.locator(".lm-TabBar-tab.jp-mod-current[data-type=document-title]").inner_text() == DEVTOOLS
    assert panel.locator(ERRORS).count() == 0
    # the view never writes the file, not even when asked to save
    panel.locator(".jp-InputPrompt").first.click()
    page.keyboard.press("Control+s")
    page.get_by_text(f"{DEVTOOLS} is read-only").wait_for()
    assert path.read_bytes() == before


def test_gzipped_har_opens_the_same_way(page, lab, corpus):
    raw = (corpus / DEVTOOLS).read_bytes()
    (lab.root / "devtools.har.gz").write_bytes(gzip.compress(raw))
    double_click(page, lab, "devtools.har.gz")
    wait_rows(page, lab, len(orjson.loads(raw)["log"]["entries"]))


def test_broken_file_shows_its_error_not_a_blank_panel(page, lab, corpus):
    name = "broken__harviewer-not-json.har"
    shutil.copy(corpus / name, lab.root / name)
    with pytest.raises(nn.HarError) as expected:
        nn.read_har(lab.root / name)
    panel = double_click(page, lab, name)
    error = panel.locator(ERRORS).first
    error.wait_for()
    assert "HarError" in error.inner_text()
    assert str(expected.value).split(":")[-1].strip() in error.inner_text()
    assert panel.locator(".necto-grid").count() == 0


def test_hostile_text_and_file_name_stay_text(page, lab):
    # a file name that would end the string literal of read_har(...) if it were pasted in
    name = 'evil"); open("pwned", "w"); ("<img src=x onerror=alert(9)>.har'
    (lab.root / name).write_bytes(orjson.dumps(hostile_har()))
    panel = double_click(page, lab, name)
    wait_rows(page, lab, 2)
    page.locator(f"{ROWS}[data-id='0']").click()
    panel.locator(".necto-detail").get_by_text("Response headers").wait_for()
    panel.locator(".js-plotly-plot").wait_for()
    assert page.locator(f"{ROWS}[data-id='0'] .necto-td").nth(5).inner_text() == HOSTILE[0]
    assert HOSTILE[2] in panel.locator(".necto-detail").inner_text()
    assert panel.locator(ERRORS).count() == 0
    assert page.dialogs == []
    assert page.evaluate("window.__pwned") is None
    assert panel.locator(".jp-OutputArea img[src='x'], .jp-OutputArea svg[onload], .jp-OutputArea script").count() == 0
    assert not (lab.root / "pwned").exists()


def test_open_as_notebook_writes_the_cells_of_the_view_beside_the_file(page, lab, corpus):
    name = "checkout.har"
    shutil.copy(corpus / DEVTOOLS, lab.root / name)
    (lab.root / "checkout.ipynb").write_text("not to be overwritten")
    panel = double_click(page, lab, name)
    wait_rows(page, lab, len(nn.read_har(lab.root / name)))
    panel.get_by_role("button", name="Open as notebook").click()
    page.locator(".lm-TabBar-tab.jp-mod-current[data-type=document-title]", has_text="checkout-1.ipynb").wait_for()
    assert (lab.root / "checkout.ipynb").read_text() == "not to be overwritten"
    page.wait_for_function("() => document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell')"
                           ".length === 3")  # the notebook opened with its cells
    written = nbformat.read(lab.root / "checkout-1.ipynb", as_version=4)
    assert [c.source for c in written.cells] == [
        'import necto_nb as nn\n\ns = nn.read_har("checkout.har")\ns.grid()', "s.report",
        "nn.waterfall(s, rows=s.df.head(1000))  # nn.waterfall(s): every request"]

    execute(written, lab.root, timeout=WAIT_S)
    outputs = [o for c in written.cells for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)  # the grid
    assert any("application/vnd.plotly.v1+json" in o.get("data", {}) for o in outputs)  # the waterfall


def test_open_with_editor_still_shows_the_raw_json(page, lab, corpus):
    shutil.copy(corpus / DEVTOOLS, lab.root / "raw.har")
    browse(page, lab, "raw")
    assert file_item(page, "raw.har").locator("svg[data-icon='necto-nb:har']").count() == 1  # our icon
    file_item(page, "raw.har").click(button="right")
    page.locator(".lm-Menu-itemLabel", has_text="Open With").click()
    submenu = page.locator(".lm-Menu").last
    assert {"necto_nb", "Editor"} <= set(submenu.locator(".lm-Menu-itemLabel").all_inner_texts())
    submenu.locator(".lm-Menu-itemLabel", has_text="Editor").click()
    editor = page.locator(".jp-FileEditor:visible .cm-content")
    editor.get_by_text('"entries"').first.wait_for()
    assert json.loads((lab.root / "raw.har").read_text())["log"]["entries"]


def test_a_kernel_kept_warm_is_taken_by_the_view_in_the_files_folder(page, lab, corpus):
    folder = lab.root / "sub dir"
    folder.mkdir()
    shutil.copy(corpus / DEVTOOLS, folder / "warm.har")
    browse(page, lab, "warm")
    page.locator(".jp-DirListing-item", has=page.get_by_text("sub dir", exact=True)).dblclick()
    warm = lab.settled_kernel(WARM)  # the listing shows a HAR file: one kernel is warmed
    client = lab.client(warm)
    try:
        reply = client.execute_interactive(
            "", silent=True, store_history=False, timeout=WAIT_S,
            user_expressions={"imported": "sorted(m for m in ('necto_nb', 'necto_nb.widgets', 'anywidget')"
                                          " if m in __import__('sys').modules)"})
    finally:
        client.stop_channels()
    imported = reply["content"]["user_expressions"]["imported"]["data"]["text/plain"]
    assert imported == "['anywidget', 'necto_nb', 'necto_nb.widgets']"
    sidebar = page.locator(".jp-SideBar .lm-TabBar-tab")
    sidebar.and_(page.locator("[data-id='jp-running-sessions']")).click()
    page.locator("#jp-running-sessions").get_by_text(WARM).first.wait_for()  # the user can see it
    sidebar.and_(page.locator("[data-id='filebrowser']")).click()

    file_item(page, "warm.har").dblclick()
    wait_rows(page, lab, len(nn.read_har(folder / "warm.har")))  # read from its folder, by its plain name
    assert kernel_of(lab, "sub dir/warm.har") == warm
    assert page.locator(".jp-NotebookPanel:visible .jp-InputPrompt").first.inner_text() == "[1]:"  # silent warm-up
    # the next kernel is warmed once the view has run its cells, and the page holds it
    wait_until(lambda: [s for s in lab.sessions_named(WARM) if s["kernel"]["connections"]], "the next kernel warmed")
    page.goto("about:blank")  # the page goes: the kernel kept warm goes with it, the view's stays
    wait_until(lambda: not lab.sessions_named(WARM), "the waiting kernel shut down with the page")
    assert kernel_of(lab, "sub dir/warm.har") == warm


def test_a_warm_kernel_that_does_not_answer_leaves_the_view_a_kernel_of_its_own(page, lab, corpus):
    shutil.copy(corpus / DEVTOOLS, lab.root / "busy.har")
    browse(page, lab, "busy")
    warm = lab.settled_kernel(WARM)
    client = lab.client(warm)
    try:
        client.execute("import time; time.sleep(600)")  # it answers nothing for longer than a view waits
        file_item(page, "busy.har").dblclick()
        wait_rows(page, lab, len(nn.read_har(lab.root / "busy.har")))
        assert kernel_of(lab, "busy.har") != warm
        wait_until(lambda: warm not in {k["id"] for k in lab.api("kernels")},
                   "the kernel that did not answer shut down")
    finally:
        client.stop_channels()


def test_a_warm_kernel_no_page_holds_is_shut_down_by_the_next_page(page, lab, corpus):
    # what a page leaves when it closes while its warm kernel starts: a session nobody is connected to
    left = lab.api("sessions", method="POST", body={"path": "necto-nb-warm-left", "type": "", "name": WARM,
                                                   "kernel": {"name": "python3"}})
    shutil.copy(corpus / DEVTOOLS, lab.root / "sweep.har")
    browse(page, lab, "sweep")
    wait_until(lambda: left["id"] not in {s["id"] for s in lab.api("sessions")}, "the left kernel shut down")
    assert lab.settled_kernel(WARM) != left["kernel"]["id"]  # the page's own


def test_a_page_leaves_alone_the_warm_kernel_another_live_page_is_starting(page, lab, corpus, browser_context):
    # Two tabs of one browser: the first tab's warm kernel is starting, its WebSocket not yet
    # connected, when the second warms its own and cleans up. Shut down then, the server would
    # hold the first tab's handshake for a minute, and Chromium every kernel connection of the
    # browser behind it. Playwright holds the first tab's kernel connections back (they never
    # reach the server), so its kernel stays in that state for as long as the test looks.
    shutil.copy(corpus / DEVTOOLS, lab.root / "two.har")
    first = browser_context.new_page()
    first.route_web_socket(re.compile(r"/api/kernels/[^/]+/channels"), lambda ws: None)
    browse(first, lab, "first")
    wait_until(lambda: lab.sessions_named(WARM), "the first tab's warm kernel")
    [starting] = lab.sessions_named(WARM)
    browse(page, lab, "second")  # its clean-up comes before its own kernel starts
    wait_until(lambda: [s for s in lab.sessions_named(WARM) if s["kernel"]["connections"]], "the second tab's warm kernel")
    assert starting["id"] in {s["id"] for s in lab.sessions_named(WARM)}
    first.close()


def test_a_tab_closed_while_its_warm_kernel_starts_holds_up_no_other_tab(page, lab, corpus, browser_context):
    # A user closes a JupyterLab tab just as it starts its warm kernel (the kernel's WebSocket still
    # opening: the server answers it once the kernel is up) and opens the HAR in another tab of the
    # same browser. Chromium opens one WebSocket to a host at a time, so a handshake the closed tab
    # left open would hold up every other tab's kernel connection.
    shutil.copy(corpus / DEVTOOLS, lab.root / "again.har")
    first = browser_context.new_page()
    with first.expect_websocket(lambda ws: "/channels" in ws.url):  # the warm kernel's
        browse(first, lab, "first")
    first.close()
    double_click(page, lab, "again.har")
    wait_rows(page, lab, len(nn.read_har(lab.root / "again.har")))
    # the closed tab's kernel is gone; the one warm kernel is the open tab's next
    wait_until(lambda: [s["kernel"]["connections"] for s in lab.sessions_named(WARM)] == [1],
               "only the open tab's next warm kernel")


def test_the_warm_kernel_setting_off_starts_none(page, lab, corpus):
    settings = lab.home / "settings" / SETTINGS
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"warmKernel": False}))
    shutil.copy(corpus / DEVTOOLS, lab.root / "cold.har")
    double_click(page, lab, "cold.har")
    wait_rows(page, lab, len(nn.read_har(lab.root / "cold.har")))
    assert lab.sessions_named(WARM) == []
    assert "cold.har" in {s["path"] for s in lab.api("sessions")}
