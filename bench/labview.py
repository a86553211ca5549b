"""Opening a HAR from JupyterLab's file browser with the necto_nb extension, in a real
JupyterLab and Chromium, with JupyterLab's own way to open it as the peer.

For a file of `--entries` generated entries (bench/generate.py; 50,000 make about 113 MB) it
measures, from the double-click in the file browser:
- rows: until the traffic grid's first row is drawn (the view's kernel reads the file with
  `read_har` and makes the grid);
- waterfall: until the waterfall below the grid is drawn (after the import report);
- the steps in between as the page shows them (panel, cell 1 running, its first output, grid);
the same for a file of one entry, the floor every view pays; each in three ways of getting
the view's kernel (WAYS): the kernel the extension keeps warm, ready before the double-click
(it starts once the file browser shows a HAR file; a user who opens a folder and looks
before double-clicking gets this), the same with the double-click as soon as the file shows
(the warm kernel still starting), and the warm kernel turned off in the extension's settings
(the view starts its own kernel, which imports necto_nb and the widgets). The peer, "Open
With > Editor" of the large file (JupyterLab's text editor, which downloads the whole file
into the browser): until the editor shows its first line, or `--peer-cap` seconds if it does
not by then.

    python3 bench/labview.py [--entries 50000] [--runs 3] [--no-peer]

Each run opens the file in a fresh workspace of the same JupyterLab and shuts its kernels
down afterwards; the ways and files take turns, so all see the same load. Measured on a
shared 2-core machine.
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
from tests.widgets.lab import JupyterLab, chromium  # noqa: E402

BUILD = ROOT / "necto_nb" / "labextension"


def browse(page, lab: JupyterLab, workspace: str, name: str):
    page.goto(f"{lab.url}/lab/workspaces/{workspace}?reset&token={lab.token}")
    item = page.locator(".jp-DirListing-item", has=page.locator(".jp-DirListing-itemText", has_text=name))
    item.wait_for(timeout=120_000)
    return item


# The steps between the double-click and the first rows, as the page shows them: each is
# stamped (performance.now(), ms) the first time its test holds, by a MutationObserver
# installed before the double-click, so watching costs no polling round trips.
_CELL1 = ".jp-NotebookPanel .jp-CodeCell:first-child"
STEPS = {
    "panel": "document.querySelector('.jp-NotebookPanel .jp-CodeCell')",
    "cell 1 runs": f"/\\*/.test(document.querySelector('{_CELL1} .jp-InputPrompt')?.textContent)",
    "cell 1 output": f"document.querySelector('{_CELL1} .jp-OutputArea-output')",  # 50,000: the progress bar
    "grid drawn": "document.querySelector('.jp-NotebookPanel .necto-grid')",
    "first row": "document.querySelector('.necto-tr')",
}
WATCH = """steps => {
    window.__steps = {};
    const tests = Object.entries(steps).map(([name, test]) => [name, new Function(`return ${test}`)]);
    const look = () => {
        for (const [name, test] of tests) {
            if (!(name in window.__steps) && test()) {
                window.__steps[name] = performance.now();
            }
        }
    };
    new MutationObserver(look).observe(document.body, {subtree: true, childList: true, attributes: true,
                                                        characterData: true});
    window.__steps.click = performance.now();
}"""


def open_editor(page, lab: JupyterLab, cap: float) -> float | None:
    item = browse(page, lab, "editor", "big.har")
    item.click(button="right")
    page.locator(".lm-Menu-itemLabel", has_text="Open With").click()
    started = time.perf_counter()
    page.locator(".lm-Menu").last.locator(".lm-Menu-itemLabel", has_text="Editor").click()
    try:
        page.locator(".jp-FileEditor .cm-content").get_by_text('"log"').first.wait_for(timeout=cap * 1000)
    except Exception:  # noqa: BLE001  (Playwright's timeout: the editor did not show the file in time)
        return None
    return time.perf_counter() - started


# How the view gets its kernel (labextension/src/warm.ts): the extension keeps one kernel
# warm, started once the file browser shows a HAR file, and the view takes it.
WAYS = {
    "warm": "kernel kept warm, ready before the double-click",
    "at once": "kernel kept warm, double-click as soon as the file shows (it is still starting)",
    "cold": "warm kernel turned off in the settings: the view starts its own",
}
WARM = "necto_nb kernel kept warm for HAR files"  # its session's name
SETTINGS = "necto-nb/har-view.jupyterlab-settings"


def open_view(page, lab: JupyterLab, name: str, way: str, run: int) -> dict:
    settings = lab.home / "settings" / SETTINGS
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(orjson.dumps({"warmKernel": way != "cold"}).decode())
    item = browse(page, lab, f"view-{name.replace('.', '-')}-{way.replace(' ', '-')}-{run}", name)
    if way == "warm":
        lab.settled_kernel(WARM)
    page.evaluate(WATCH, STEPS)
    started = time.perf_counter()
    item.dblclick()
    page.wait_for_selector(".necto-tr", state="visible", timeout=300_000)
    rows = time.perf_counter() - started
    page.wait_for_selector(".jp-NotebookPanel .js-plotly-plot", state="visible", timeout=300_000)
    waterfall = time.perf_counter() - started
    stamps = page.evaluate("window.__steps")
    steps = {step: (stamps[step] - stamps["click"]) / 1000 for step in STEPS if step in stamps}
    if way != "cold":  # the view has run its cells, and the next kernel is warming: close once the page holds it
        while not [s for s in lab.sessions_named(WARM) if s["kernel"]["connections"]]:
            time.sleep(0.1)
    return {"rows": rows, "waterfall": waterfall, "steps": steps}


def bench(entries: int, runs: int, peer: bool, peer_cap: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="necto-bench-labview-") as tmp:
        folder = Path(tmp)
        path = folder / "big.har"
        path.write_bytes(orjson.dumps(generate.generate(entries)))
        (folder / "one.har").write_bytes(orjson.dumps(generate.generate(1)))
        lab = JupyterLab(folder, labextensions=(BUILD,))
        results: dict = {"entries": entries, "megabytes": path.stat().st_size / 1e6,
                         "views": {(name, way): [] for way in WAYS for name in ("big.har", "one.har")}}
        try:
            with chromium() as context:
                for run in range(runs):  # in turns, so all see the same load
                    for way in WAYS:
                        for name in ("one.har", "big.har"):
                            page = context.new_page()
                            results["views"][name, way].append(open_view(page, lab, name, way, run))
                            page.close()
                            lab.shutdown_kernels()
                if peer:
                    page = context.new_page()
                    results["editor"] = open_editor(page, lab, peer_cap)
                    page.close()
        finally:
            lab.close()
        return results


def median(views: list[dict], key: str) -> str:
    times = [view[key] for view in views]
    return f"{statistics.median(times):5.2f} s (runs: {', '.join(f'{t:.2f}' for t in times)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--peer-cap", type=float, default=180.0)
    args = parser.parse_args()
    r = bench(args.entries, args.runs, not args.no_peer, args.peer_cap)
    views = r["views"]
    print(f"file: {r['megabytes']:.0f} MB, {r['entries']} entries; {args.runs} runs; medians")
    for way, what in WAYS.items():
        big, one = views["big.har", way], views["one.har", way]
        print(f"{way}: {what}")
        print(f"  double-click -> first rows:  {median(big, 'rows')}")
        print(f"  double-click -> waterfall:   {median(big, 'waterfall')}")
        print(f"  one entry -> first rows:     {median(one, 'rows')}")
        print(f"  the large file adds {statistics.median(v['rows'] for v in big) - statistics.median(v['rows'] for v in one):.2f} s")
        print("  steps, s after the double-click as the page shows them (large file | one entry):")
        for step in STEPS:
            got = [[v["steps"][step] for v in vs if step in v["steps"]] for vs in (big, one)]
            print(f"    {step:14} " + " | ".join(f"{statistics.median(g):5.2f}" if g else "    -" for g in got))
    if "editor" in r:
        editor = r["editor"]
        shown = f"{editor:.2f} s" if editor is not None else f"not shown within {args.peer_cap:.0f} s"
        print(f"Open With > Editor -> first line: {shown}")


if __name__ == "__main__":
    main()
