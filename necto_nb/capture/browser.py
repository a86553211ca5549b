"""`proxy.browser()`: Debian's Chromium through the proxy, its pages recorded.

Playwright drives the system Chromium (`executable_path`; Playwright's own download is not
needed). Chromium trusts the proxy's CA by its key pin (`--ignore-certificate-errors-spki-list`,
honoured with a fresh user-data-dir, which Playwright gives it), not by ignoring certificate errors: a
certificate not made by this proxy still fails. Its own background traffic (updates,
safe browsing, sync, sign-in) is kept off (`necto_nb.chromium`), so the capture holds only what the pages loaded.
Each top-level navigation becomes a HAR page (see `origin.py`); when the page has
loaded, its title and the browser's navigation timing (`domContentLoadedEventStart`,
`loadEventStart`) complete it.

Playwright runs in a thread of its own (`browser_thread.py`), so the sync API works in a
notebook cell, whose thread runs an asyncio loop, as in a script.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from necto_nb.capture.browser_thread import BrowserThread
from necto_nb.capture.trust import spki_pin
from necto_nb.chromium import QUIET_ARGS, find_chromium

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, Playwright

    from necto_nb.capture.proxy import Proxy

_TIMING = """() => {
    const nav = performance.getEntriesByType('navigation')[0];
    return {url: nav ? nav.name : location.href, title: document.title, origin: performance.timeOrigin,
            contentLoad: nav ? nav.domContentLoadedEventStart : null, load: nav ? nav.loadEventStart : null};
}"""


def launch(proxy: Proxy, *, headless: bool = True, executable_path: str | Path | None = None,
           args: Iterable[str] = (), **context_options: Any) -> BrowserContext:
    """A Playwright sync `BrowserContext` (a `Remote` of it, usable from any thread, a notebook
    cell included) of a new Chromium through `proxy`; closing it ends Chromium and Playwright."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        raise RuntimeError("proxy.browser() needs Playwright: pip install playwright "
                           "(no browser download needed: it drives the system's Chromium)") from None
    chromium = find_chromium(executable_path)
    flags = [*QUIET_ARGS, f"--ignore-certificate-errors-spki-list={spki_pin(proxy)}", *args]

    def start(playwright: Playwright) -> BrowserContext:  # in the browser's own thread
        # launch() gives Chromium a fresh user-data-dir of its own, which the key pin needs;
        # a persistent profile would also wake its component updater.
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=headless,
                                             proxy={"server": proxy.url}, args=flags)
        context = browser.new_context(**context_options)
        proxy.origin.track_pages = True
        context.on("page", lambda page: page.on("load", lambda loaded: _loaded(proxy, loaded)))
        close = context.close

        def close_all(**kw: Any) -> None:
            try:
                close(**kw)
                browser.close()
            finally:
                playwright.stop()  # which ends the browser's thread
                proxy.origin.close_pages()

        context.close = close_all  # type: ignore[method-assign]  # closing the context ends its browser and Playwright too
        return context

    return BrowserThread(start).root  # type: ignore[return-value]  # a Remote stands in for the context


def _loaded(proxy: Proxy, page: Page) -> None:
    try:
        timing = page.evaluate(_TIMING)
    except Exception:  # closed or navigated away meanwhile: the page keeps what it has
        return
    proxy.origin.page_loaded(timing["url"], title=timing["title"], started=timing["origin"] / 1000,
                             on_content_load=timing["contentLoad"], on_load=timing["load"])
