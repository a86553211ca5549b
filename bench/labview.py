"""Opening a HAR from JupyterLab's file browser with the necto_nb extension, in a real
JupyterLab and Chromium, with JupyterLab's own way to open it as the peer.

For a file of `--entries` generated entries (bench/generate.py; 50,000 make about 113 MB) it
measures, from the double-click in the file browser:
- rows: until the traffic grid's first row is drawn (the view's kernel starts, imports
  necto_nb, reads the file with `read_har` and shows the report, then the grid);
- waterfall: until the waterfall below the grid is drawn;
the same for a file of one entry, the floor every view pays (JupyterLab starts a kernel, which
imports necto_nb and the widgets, and the browser loads the grid's code); and for the peer,
"Open With > Editor" of the large file (JupyterLab's text editor, which
downloads the whole file into the browser): until the editor shows its first line, or
`--peer-cap` seconds if it does not by then.

    python3 bench/labview.py [--entries 50000] [--runs 3] [--no-peer]

Each run opens the file in a fresh workspace of the same JupyterLab and shuts its kernel down
afterwards, so every run starts a kernel. Measured on a shared 2-core machine.
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


def open_view(page, lab: JupyterLab, name: str, run: int) -> dict:
    item = browse(page, lab, f"view-{name.replace('.', '-')}-{run}", name)
    started = time.perf_counter()
    item.dblclick()
    page.wait_for_selector(".necto-tr", state="visible", timeout=300_000)
    rows = time.perf_counter() - started
    page.wait_for_selector(".jp-NotebookPanel .js-plotly-plot", state="visible", timeout=300_000)
    return {"rows": rows, "waterfall": time.perf_counter() - started}


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


def bench(entries: int, runs: int, peer: bool, peer_cap: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="necto-bench-labview-") as tmp:
        folder = Path(tmp)
        path = folder / "big.har"
        path.write_bytes(orjson.dumps(generate.generate(entries)))
        (folder / "one.har").write_bytes(orjson.dumps(generate.generate(1)))
        lab = JupyterLab(folder, labextensions=(BUILD,))
        results: dict = {"entries": entries, "megabytes": path.stat().st_size / 1e6, "runs": [], "floor": []}
        try:
            with chromium() as context:
                for run in range(runs):  # in turns, so both see the same load
                    for name, key in (("one.har", "floor"), ("big.har", "runs")):
                        page = context.new_page()
                        results[key].append(open_view(page, lab, name, run))
                        page.close()
                        lab.shutdown_kernels()
                if peer:
                    page = context.new_page()
                    results["editor"] = open_editor(page, lab, peer_cap)
                    page.close()
        finally:
            lab.close()
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--peer-cap", type=float, default=180.0)
    args = parser.parse_args()
    r = bench(args.entries, args.runs, not args.no_peer, args.peer_cap)
    rows = [run["rows"] for run in r["runs"]]
    waterfalls = [run["waterfall"] for run in r["runs"]]
    print(f"file: {r['megabytes']:.0f} MB, {r['entries']} entries; {args.runs} runs")
    print(f"double-click -> first rows:  median {statistics.median(rows):.2f} s  "
          f"(runs: {', '.join(f'{s:.2f}' for s in rows)})")
    print(f"double-click -> waterfall:   median {statistics.median(waterfalls):.2f} s  "
          f"(runs: {', '.join(f'{s:.2f}' for s in waterfalls)})")
    floor = [run["rows"] for run in r["floor"]]
    print(f"one entry: double-click -> first rows: median {statistics.median(floor):.2f} s  "
          f"(runs: {', '.join(f'{s:.2f}' for s in floor)})")
    print(f"  the large file adds {statistics.median(rows) - statistics.median(floor):.2f} s "
          f"({statistics.median(rows) / statistics.median(floor):.2f}x the one-entry view)")
    if "editor" in r:
        editor = r["editor"]
        shown = f"{editor:.2f} s" if editor is not None else f"not shown within {args.peer_cap:.0f} s"
        print(f"Open With > Editor -> first line: {shown}")
        if editor is not None:
            print(f"  the view's first rows take {statistics.median(rows) / editor:.2f}x the editor's time")


if __name__ == "__main__":
    main()
