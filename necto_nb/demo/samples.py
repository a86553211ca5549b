"""Real HAR files from real tools, recorded offline against the demo site.

For the import notebook where no HAR files are at hand: mitmproxy's own HAR writer
(`mitmdump --set hardump=...`), Chromium's through Playwright (`record_har_path`) when
Debian's Chromium is installed, and necto_nb's capture.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from necto_nb.chromium import QUIET_ARGS
from necto_nb.demo.server import DemoServer
from necto_nb.demo.visit import visit

CHROMIUM = "/usr/bin/chromium"


def record_samples(folder: str | Path, site: DemoServer) -> list[Path]:
    """Record one page load of `site` with each HAR writer available; returns the files."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = [_mitmdump(folder / "mitmdump-hardump.har", site), _necto(folder / "necto-capture.har", site)]
    if Path(CHROMIUM).exists():
        written.append(_chromium(folder / "chromium-playwright.har", site))
    return written


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mitmdump(path: Path, site: DemoServer) -> Path:
    port = _free_port()
    command = [sys.executable, "-c", "from mitmproxy.tools.main import mitmdump; mitmdump()",
               "--listen-host", "127.0.0.1", "-p", str(port), "-q", "--set", f"hardump={path}"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    said = process.stderr.read().decode()[-500:] if process.stderr else ""
                    raise RuntimeError(f"mitmdump did not start: {said}") from None
                time.sleep(0.1)
        visit(site.url, proxy=f"http://127.0.0.1:{port}", websocket=False)
    finally:
        process.send_signal(signal.SIGINT)  # mitmdump writes the HAR as it shuts down
        process.wait(timeout=30)
    return path


def _necto(path: Path, site: DemoServer) -> Path:
    from necto_nb.session import Session

    session = Session("necto capture")
    with session.capture(port=0) as proxy:
        visit(site.url, proxy=proxy.url)
    session.to_har(path)
    return path


def _chromium(path: Path, site: DemoServer) -> Path:
    # Playwright's sync API refuses to run on a thread with an event loop, as in a kernel.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(_chromium_here, path, site).result()


def _chromium_here(path: Path, site: DemoServer) -> Path:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET_ARGS)
        context = browser.new_context(record_har_path=str(path))
        page = context.new_page()
        page.goto(site.url)
        page.wait_for_function("document.getElementById('status').textContent === 'ready'")
        context.close()  # the HAR is written here
        browser.close()
    return path

