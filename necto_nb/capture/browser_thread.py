"""Playwright's sync API from any thread, a notebook cell included.

Playwright's sync API refuses to start in a thread whose asyncio loop is running, which a
Jupyter kernel's main thread is, and its objects belong to the thread that made them
(each call switches between greenlets of that thread). A `BrowserThread` owns Playwright
in a thread of its own. The objects it hands out are `Remote`s: reading an attribute or
calling a method runs in that thread, and a Playwright object that comes back is a
`Remote` too; a function passed in (an event handler, a route) runs there and is given
`Remote`s. So `proxy.browser().new_page().goto(url)` reads as Playwright's sync API,
from a cell or a script alike.

Between calls the thread waits inside Playwright's event loop (`_sync` of an awaitable
that a call wakes): events such as a page's `load` are handled as they happen, not at the
next call. `_sync` and `_loop` are Playwright's (1.45 and later) and the one part of it
used here that is not its public API.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import inspect
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Playwright


class BrowserThread:
    """Playwright in a thread of its own; `root` is what `start(playwright)` returned, as a `Remote`.

    The thread ends when Playwright stops (`playwright.stop()`, run there by a call).
    """

    def __init__(self, start: Callable[[Playwright], Any]) -> None:
        self._jobs: collections.deque[tuple[concurrent.futures.Future, Callable[[], Any]]] = collections.deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._handlers: dict[Callable, Callable] = {}  # the user's function -> the one Playwright got
        ready: concurrent.futures.Future = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._main, args=(start, ready), name="necto_nb-browser", daemon=True)
        self._thread.start()
        self.root: Remote = ready.result()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`fn(*args, **kwargs)` in the browser thread, with `Remote`s unwrapped and the result wrapped."""
        args, kwargs = self._unwrap(args), self._unwrap(kwargs)
        if threading.current_thread() is self._thread:  # a handler calling back, or the thread's own work
            return self._wrap(fn(*args, **kwargs))
        done: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            if self._loop is None or self._loop.is_closed() or not self._thread.is_alive():
                raise RuntimeError("this browser is closed (proxy.browser() starts a new one)")
            self._jobs.append((done, lambda: fn(*args, **kwargs)))
            self._loop.call_soon_threadsafe(self._poke)
        return done.result()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    # -- in the browser thread -----------------------------------------------------------

    def _main(self, start: Callable[[Playwright], Any], ready: concurrent.futures.Future) -> None:
        from playwright.sync_api import sync_playwright

        try:
            playwright = sync_playwright().start()
        except BaseException as e:
            ready.set_exception(e)
            return
        try:
            root = start(playwright)
        except BaseException as e:
            playwright.stop()
            ready.set_exception(e)
            return
        loop = self._loop = playwright._loop
        ready.set_result(self._wrap(root))
        try:
            while not loop.is_closed():
                if not self._jobs:
                    try:
                        playwright._sync(self._idle())  # events run meanwhile
                    except Exception:  # the driver went away (Chromium or node killed): nothing can run
                        break
                    continue
                done, job = self._jobs.popleft()
                if done.set_running_or_notify_cancel():
                    try:
                        done.set_result(self._wrap(job()))
                    except BaseException as e:
                        done.set_exception(e)
        finally:
            with self._lock:
                self._loop = None
                left, self._jobs = list(self._jobs), collections.deque()
            for done, _ in left:
                done.set_exception(RuntimeError("this browser closed before the call ran"))

    async def _idle(self) -> None:
        self._wake = asyncio.Event()
        if not self._jobs:  # a job queued before this event existed found no event to set
            await self._wake.wait()

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # -- crossing between the threads ----------------------------------------------------

    def _wrap(self, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return type(value)(map(self._wrap, value))
        if type(value).__module__.startswith("playwright.") and not isinstance(value, BaseException):
            return Remote(value, self)
        return value

    def _unwrap(self, value: Any) -> Any:
        if isinstance(value, Remote):
            return value._target
        if isinstance(value, (list, tuple)):
            return type(value)(map(self._unwrap, value))
        if isinstance(value, dict):
            return {k: self._unwrap(v) for k, v in value.items()}
        if callable(value) and not isinstance(value, type):
            handler = self._handlers.get(value)
            if handler is None:  # kept, so remove_listener(event, fn) finds the same function
                handler = self._handlers[value] = lambda *a, **k: value(*map(self._wrap, a), **k)
            return handler
        return value


class Remote:
    """A Playwright sync object that lives in a `BrowserThread`; use it as that object."""

    __slots__ = ("_target", "_owner")

    def __init__(self, target: Any, owner: BrowserThread) -> None:
        self._target = target
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        if inspect.isfunction(inspect.getattr_static(type(self._target), name, None)):
            method = getattr(self._target, name)  # binding a method runs nothing of Playwright's
            return lambda *args, **kwargs: self._owner.call(method, *args, **kwargs)
        return self._owner.call(getattr, self._target, name)  # a property may wait (EventInfo.value)

    def __enter__(self) -> Any:
        return self._owner.call(self._target.__enter__)

    def __exit__(self, *exc: Any) -> Any:
        return self._owner.call(self._target.__exit__, *exc)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Remote) and other._target is self._target

    def __hash__(self) -> int:
        return hash(id(self._target))

    def __dir__(self) -> list[str]:
        return dir(self._target)

    def __repr__(self) -> str:
        return repr(self._target)
