"""Traffic grid in a real JupyterLab and Chromium, with itables' ITable as the peer.

For a session of `--entries` generated entries (bench/generate.py, Chrome-like) it measures:
- visible: from Shift+Enter on the cell until the first row is drawn (cold: first widget of
  the page; warm: the cell run again);
- click -> Python: from the browser's click event until the Session's observer runs in the
  kernel (plain, shift and ctrl clicks; and one shift-click spanning most of the session);
- search: typing in the toolbar's filter until the filtered rows are drawn;
and the same "visible" and "click -> Python" for itables' ITable showing the same columns as
a user would (`ITable(df, maxBytes=0, select={"style": "os"})`: every row selectable).
It also takes docs/images/grid.png from a real page-load HAR of the corpus.

    python3 bench/grid.py [--entries 50000] [--clicks 7] [--no-peer] [--screenshot PATH]

Measured on a shared 2-core machine: other engineers' jobs run at the same time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import generate  # noqa: E402  (bench/generate.py)
from tests.widgets.lab import JupyterLab, chromium, open_notebook, py  # noqa: E402

CORPUS = ROOT.parent / "shared" / "har-corpus" / "chrome-har__sitespeed-greenweb-0.11.4.har"
CLICK_CLOCK = "document.addEventListener('click', () => { window.__clickAt = Date.now(); }, true)"


def run_cell(page, index: int) -> None:
    """Select code cell `index` of the open notebook and press Shift+Enter."""
    page.locator(".jp-Notebook .jp-CodeCell").nth(index).locator(".jp-InputPrompt").click()
    page.keyboard.press("Shift+Enter")


def wait_executed(page, index: int, timeout: float = 300_000) -> None:
    page.wait_for_function(
        f"""() => /\\[\\d+\\]/.test(document.querySelectorAll('.jp-Notebook .jp-CodeCell')[{index}]
                 .querySelector('.jp-InputPrompt').textContent)""", timeout=timeout)
    page.wait_for_selector("text=Python 3 (ipykernel) | Idle", timeout=timeout)


def time_visible(page, index: int, rows: str) -> float:
    """Seconds from running cell `index` until a row matching `rows` is drawn in its output."""
    page.evaluate("document.querySelectorAll('.jp-OutputArea *').forEach(e => e.dataset.old = '1')")
    started = time.perf_counter()
    run_cell(page, index)
    page.wait_for_selector(f"{rows}:not([data-old])", state="visible", timeout=120_000)
    seconds = time.perf_counter() - started
    wait_executed(page, index)
    return seconds


def click_latency(page, kernel, target, hits: str, modifiers=()) -> float:
    """ms from the browser's click event until the kernel's observer appended to `hits`."""
    before = int(py(kernel, f"print(len({hits}))"))
    target.click(modifiers=list(modifiers))
    clicked = page.evaluate("window.__clickAt")
    end = time.monotonic() + 30
    while time.monotonic() < end:
        out = py(kernel, f"print(len({hits}), {hits}[-1] if {hits} else 0)").split()
        if int(out[0]) > before:
            return float(out[1]) * 1000 - clicked
        time.sleep(0.02)
    raise RuntimeError("the click never reached Python")


def bench(entries: int, clicks: int, peer: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="necto-bench-grid-") as tmp:
        return _bench(Path(tmp), entries, clicks, peer)


def _bench(folder: Path, entries: int, clicks: int, peer: bool) -> dict:
    (folder / "big.har").write_bytes(orjson.dumps(generate.generate(entries)))
    lab = JupyterLab(folder)
    results: dict = {}
    try:
        lab.notebook("bench.ipynb", [
            "import necto_nb as nn, time\ns = nn.read_har('big.har')\nhits = []\n"
            "s.observe(lambda _s: hits.append(time.time()))\nlen(s)",
            "grid = s.grid()\ngrid",
            "from itables.widget import ITable\npeer_hits = []\n"
            "cols = ['method', 'status', 'host', 'path', 'resource_type', 'transfer_size', 'time']\n"
            "t = ITable(s.df[cols], maxBytes=0, select={'style': 'os'})\n"
            "t.observe(lambda change: peer_hits.append(time.time()), 'selected_rows')\nt",
        ])
        with chromium() as context:
            page = context.new_page()
            page.add_init_script(CLICK_CLOCK)
            open_notebook(page, lab, "bench.ipynb")
            run_cell(page, 0)
            wait_executed(page, 0)
            kernel = lab.kernel("bench.ipynb")

            results["visible_cold"] = time_visible(page, 1, ".necto-tr")
            results["visible_warm"] = statistics.median(time_visible(page, 1, ".necto-tr") for _ in range(2))
            rows = page.locator(".necto-tr")
            plain = [click_latency(page, kernel, rows.nth(2 + 2 * i), "hits") for i in range(clicks)]
            shift = click_latency(page, kernel, rows.nth(12), "hits", ["Shift"])
            ctrl = click_latency(page, kernel, rows.nth(15), "hits", ["Control"])
            results["click_ms"] = plain + [shift, ctrl]
            page.locator(".necto-scroll").evaluate(f"el => el.scrollTop = 22 * {int(entries * 0.8)}")
            far = page.locator(f".necto-tr[data-id='{int(entries * 0.8) + 5}']")
            far.wait_for()
            results["far_shift_ms"] = click_latency(page, kernel, far, "hits", ["Shift"])
            results["far_selected"] = int(py(kernel, "print(len(grid.selected))"))

            search = page.get_by_placeholder("Filter URL, host, method")
            started = time.perf_counter()
            search.fill("cdn3.example.com/assets/image")
            page.wait_for_function("""() => { const r = document.querySelectorAll('.necto-tr');
                return r.length && [...r].every(x => x.textContent.includes('cdn3.example.com/assets/image')); }""")
            results["search_s"] = time.perf_counter() - started

            if peer:
                results["peer_visible"] = time_visible(page, 2, ".itables_anywidget tbody tr td")
                peer_rows = page.locator(".itables_anywidget tbody tr")
                results["peer_click_ms"] = [click_latency(page, kernel, peer_rows.nth(1 + i), "peer_hits")
                                            for i in range(clicks)]
            kernel.stop_channels()
    finally:
        lab.close()
    return results


def screenshot(path: Path) -> None:
    """The grid on a real page load (the corpus' sitespeed.io HAR), one row selected."""
    with tempfile.TemporaryDirectory(prefix="necto-shot-") as tmp:
        (Path(tmp) / "page.har").write_bytes(CORPUS.read_bytes())
        lab = JupyterLab(Path(tmp))
        try:
            lab.notebook("shot.ipynb", ["import necto_nb as nn\ns = nn.read_har('page.har', name='greenweb')\n"
                                        "grid = s.grid(height='300px')\ngrid"])
            with chromium(device_scale_factor=1) as context:
                page = context.new_page()
                page.set_viewport_size({"width": 1280, "height": 1200})
                open_notebook(page, lab, "shot.ipynb")
                run_cell(page, 0)
                page.wait_for_selector(".necto-tr")
                page.locator(".necto-tr[data-id='0']").click()
                page.locator(".necto-tr[data-id='3']").click(modifiers=["Shift"])
                page.locator(".necto-detail", has_text="Response headers").wait_for()
                grid = page.locator(".necto-grid")
                box = grid.bounding_box()
                page.screenshot(path=str(path), clip={"x": box["x"], "y": box["y"], "width": box["width"],
                                                      "height": min(box["height"], 640)})
        finally:
            lab.close()


def _ms(values: list[float]) -> str:
    return f"median {statistics.median(values):.0f} ms, max {max(values):.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--clicks", type=int, default=7)
    parser.add_argument("--no-peer", action="store_true", help="skip itables' ITable")
    parser.add_argument("--screenshot", type=Path, default=None, help="also write the README's screenshot here")
    args = parser.parse_args()
    r = bench(args.entries, args.clicks, not args.no_peer)
    n = f"{args.entries:,}"
    print(f"| {n}-row session | necto_nb TrafficGrid | itables ITable (maxBytes=0) |")
    print("|---|---|---|")
    peer_visible = f"{r['peer_visible']:.2f} s" if "peer_visible" in r else "not run"
    peer_click = _ms(r["peer_click_ms"]) if "peer_click_ms" in r else "not run"
    print(f"| visible after running the cell (cold) | {r['visible_cold']:.2f} s | {peer_visible} |")
    print(f"| visible, cell run again | {r['visible_warm']:.2f} s | |")
    print(f"| click -> Python (plain, shift, ctrl) | {_ms(r['click_ms'])} | {peer_click} |")
    print(f"| shift-click over {r['far_selected']:,} rows -> Python | {r['far_shift_ms']:.0f} ms | |")
    print(f"| filter typed -> filtered rows drawn | {r['search_s']:.2f} s | |")
    if "peer_visible" in r:
        print(f"\nratio, time to visible (cold): ITable / TrafficGrid = {r['peer_visible'] / r['visible_cold']:.1f}x")
    if args.screenshot:
        screenshot(args.screenshot)
        print(f"screenshot: {args.screenshot} ({args.screenshot.stat().st_size / 1000:.0f} kB)")


if __name__ == "__main__":
    main()
