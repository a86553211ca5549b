"""`proxy.intercept()`: this process's HTTP clients through the proxy, trusting its CA.

Clients learn about proxies and CAs in different ways and at different moments, so an
intercept sets the variables each reads and patches the two that read none:

- requests reads `HTTPS_PROXY` and `REQUESTS_CA_BUNDLE` on every call;
- httpx reads `HTTPS_PROXY` and `SSL_CERT_FILE` when a client is made (so clients made
  inside the block, `httpx.get` included);
- urllib builds its default opener (and its proxy table) on first use: the intercept
  gives it a fresh one, and OpenSSL's default paths follow `SSL_CERT_FILE`;
- urllib3's `PoolManager` ignores the environment: its requests are sent through a
  `ProxyManager` with the same settings;
- aiohttp reads the environment only with `trust_env=True` and makes its default
  `SSLContext` at import: sessions made inside default to `trust_env=True`, and the
  default context is swapped for one trusting the bundle.

Every variable and patch is restored on exit, exceptions included. Under IPython each
entry made inside carries the cell that was running (`_cell`).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
import threading
import weakref
from typing import TYPE_CHECKING, Any

from necto_nb.capture.trust import VARIABLES, proxy_env

if TYPE_CHECKING:
    from necto_nb.capture.proxy import Proxy

_lock = threading.Lock()
_active: Intercept | None = None


class Intercept:
    """A context manager; see the module doc. One at a time: the environment is process-wide."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self._saved_env: dict[str, str | None] = {}
        self._undo: list[Any] = []  # functions restoring what was patched, run in reverse

    def __enter__(self) -> Intercept:
        global _active
        if self.proxy.state not in ("running", "paused"):
            raise RuntimeError(f"the proxy is {self.proxy.state}: intercept() needs a running capture")
        with _lock:
            if _active is not None:
                raise RuntimeError(f"an intercept through {_active.proxy.url} is active already: "
                                   "the environment is process-wide, so one at a time")
            _active = self
        try:
            env = proxy_env(self.proxy)
            self._saved_env = {k: os.environ.get(k) for k in VARIABLES}
            os.environ.update(env)
            self._patch_urllib()
            for name, patch in _OPTIONAL_CLIENTS.items():
                if importlib.util.find_spec(name) is not None:  # patched only where the user has it
                    patch(self, env["SSL_CERT_FILE"])
            self._follow_cells()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        global _active
        while self._undo:
            try:
                self._undo.pop()()
            except Exception as e:  # restore everything else regardless
                self.proxy.log.append(f"error: restoring after intercept(): {e!r}")
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self._saved_env = {}
        with _lock:
            if _active is self:
                _active = None

    # -- the clients that need more than the environment ---------------------------------

    def _patch(self, owner: Any, name: str, value: Any) -> None:
        old = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        setattr(owner, name, value)
        self._undo.append(lambda: setattr(owner, name, old))

    def _patch_urllib(self) -> None:
        import urllib.request

        self._patch(urllib.request, "_opener", None)  # the next urlopen builds one from the environment

    def _patch_urllib3(self, bundle: str) -> None:
        from urllib3 import poolmanager

        original = poolmanager.PoolManager.urlopen
        managers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        proxy_url = self.proxy.url

        @functools.wraps(original)
        def urlopen(pool, method, url, redirect=True, **kw):
            if type(pool) is not poolmanager.PoolManager:  # a ProxyManager (requests' too) already proxies
                return original(pool, method, url, redirect, **kw)
            through = managers.get(pool)
            if through is None:
                through = managers[pool] = poolmanager.ProxyManager(
                    proxy_url, num_pools=pool.pools._maxsize, headers=pool.headers, **pool.connection_pool_kw)
            return through.urlopen(method, url, redirect=redirect, **kw)

        self._patch(poolmanager.PoolManager, "urlopen", urlopen)
        self._undo.append(lambda: [m.clear() for m in managers.values()])

    def _patch_aiohttp(self, bundle: str) -> None:
        import ssl

        import aiohttp
        from aiohttp import connector

        original = aiohttp.ClientSession.__init__

        @functools.wraps(original)
        def __init__(session, *args, **kw):
            kw.setdefault("trust_env", True)
            original(session, *args, **kw)

        self._patch(aiohttp.ClientSession, "__init__", __init__)
        if hasattr(connector, "_SSL_CONTEXT_VERIFIED"):  # aiohttp 3.10+: made at import
            context = ssl.create_default_context(cafile=bundle)
            context.set_alpn_protocols(("http/1.1",))
            self._patch(connector, "_SSL_CONTEXT_VERIFIED", context)

    # -- the notebook cell ---------------------------------------------------------------

    def _follow_cells(self) -> None:
        shell = _ipython()
        if shell is None:
            return
        origin = self.proxy.origin
        parent: dict[str, Any] = getattr(getattr(shell, "kernel", None), "get_parent", lambda: {})() or {}
        origin.cell = _cell(_running_count(shell), parent.get("metadata", {}).get("cellId"))

        def pre_run_cell(info=None) -> None:
            origin.cell = _cell(_running_count(shell), getattr(info, "cell_id", None))

        def post_run_cell(result=None) -> None:
            origin.cell = None

        shell.events.register("pre_run_cell", pre_run_cell)
        shell.events.register("post_run_cell", post_run_cell)

        def forget() -> None:
            shell.events.unregister("pre_run_cell", pre_run_cell)
            shell.events.unregister("post_run_cell", post_run_cell)
            origin.cell = None

        self._undo.append(forget)


#: clients necto_nb does not depend on, patched when installed (urllib3 follows SSL_CERT_FILE by itself)
_OPTIONAL_CLIENTS = {"urllib3": Intercept._patch_urllib3, "aiohttp": Intercept._patch_aiohttp}


def _ipython() -> Any:
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython

    return get_ipython()


def _running_count(shell: Any) -> int:
    """The execution count of the cell running now: IPython 9 counts a cell before running it
    (and before `pre_run_cell`), IPython 8 after."""
    import IPython

    return shell.execution_count - (IPython.version_info[0] >= 9)


def _cell(count: int, cell_id: str | None) -> dict[str, Any]:
    return {"executionCount": count} | ({"id": cell_id} if cell_id else {})
