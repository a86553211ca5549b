"""Debian's Chromium as necto_nb starts it: where it is, and the switches that keep the
browser's own traffic off the network, so a capture (or a test) holds only what pages load.

`--disable-background-networking` and friends stop most of it, but Debian's build still asks
accounts.google.com for signed-in accounts and update.googleapis.com for components, and no
switch stops either. Those two hosts skip any proxy and resolve to nothing inside the
browser, so neither a capture nor the network ever sees them. Loopback stays proxied
(`<-loopback>`; Playwright's own default, which this list replaces).
"""

from __future__ import annotations

import shutil
from pathlib import Path

_OWN_HOSTS = ("accounts.google.com", "update.googleapis.com")

QUIET_ARGS = (
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps", "--no-default-browser-check",
    "--proxy-bypass-list=" + ";".join(("<-loopback>", *_OWN_HOSTS)),
    "--host-resolver-rules=" + ", ".join(f"MAP {host} ~NOTFOUND" for host in _OWN_HOSTS),
)


def find_chromium(executable_path: str | Path | None = None) -> Path:
    """Chromium's executable, or RuntimeError saying how to install it."""
    candidates = [executable_path] if executable_path else ["/usr/bin/chromium", shutil.which("chromium"),
                                                            shutil.which("chromium-browser")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    where = f"at {executable_path}" if executable_path else "(looked for /usr/bin/chromium and chromium on PATH)"
    raise RuntimeError(f"Chromium not found {where}: install it (Debian/Ubuntu: `apt-get install chromium`) "
                       "or pass executable_path=")
