"""mitmproxy in a daemon thread of this process, and the `Proxy` handle the user keeps.

The thread runs its own event loop; the `Master` is built inside it because
`Master.__init__` takes the running loop. A plain `Master` with only the addons a
recording proxy needs: `DumpMaster`'s `ErrorCheck` calls `sys.exit` on a startup error,
which would end the thread silently. A failed bind shows as an empty `listen_addrs()`
and `last_exception` on the server instance; `start` turns it into `ProxyError` after
the thread has finished, so nothing is left running. `Master.shutdown()` does not close
the listening sockets: `servers.update([])` does, before the loop ends.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import html
import ipaddress
import logging
import re
import ssl
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from necto_nb.capture.origin import Origin
from necto_nb.capture.recorder import Recorder
from necto_nb.errors import ArgumentError, ArgumentTypeError, CaptureRunningError, ProxyError
from necto_nb.rules.engine import RuleEngine, RuleList

if TYPE_CHECKING:
    from mitmproxy.master import Master
    from playwright.sync_api import BrowserContext

    from necto_nb.capture.intercept import Intercept
    from necto_nb.rules import Rule
    from necto_nb.session import Session

#: mitmproxy keeps its options in a process-wide context (`mitmproxy.ctx`): one proxy at a time.
_lock = threading.Lock()
_running: Proxy | None = None


def _host_is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _size(value: int | str | None, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ArgumentTypeError(f"{name} must be a number of bytes or a size like '10m', not {value!r}")
    if isinstance(value, str):
        from mitmproxy.utils.human import parse_size

        try:
            value = parse_size(value)
        except ValueError:
            raise ArgumentError(f"{name}={value!r} is not a size: use bytes or k/m/g, e.g. '10m'") from None
    if value is None or value < 0:
        raise ArgumentError(f"{name} must be 0 or more bytes, not {value!r}")
    return value


class _LogCollector(logging.Handler):
    """mitmproxy's warnings and errors, kept on the Proxy instead of printed in the cell."""

    def __init__(self, sink: collections.deque[str]) -> None:
        super().__init__(logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.sink.append(f"{record.levelname.lower()}: {record.getMessage()}")
        except Exception:  # a bad log call must not break the proxy
            self.handleError(record)


class _OriginFirst:
    """Addon: for an HTTP/2 client over HTTPS, shake hands with the origin before the client.

    The client is then offered the protocol the origin chose (ALPN), as it would be without
    the proxy. Otherwise it talks HTTP/2 to the proxy while the origin may speak HTTP/1.1,
    and mitmproxy, which never shares an HTTP/1.1 connection between HTTP/2 streams, opens
    a new upstream connection (TCP + TLS) for every request. With this the origin keeps its
    keep-alive connections and each entry pays only the handshakes the client would have
    paid. A connection that fails here still fails the client's first request (mitmproxy
    keeps the error on the connection), so it is recorded. A client offering only HTTP/1.1
    has nothing to choose: its origin connection stays lazy, opened for its first request,
    so an origin that stalls its handshake is recorded against that request.
    """

    def tls_clienthello(self, data) -> None:
        server = data.context.server
        if server.tls and server.address and b"h2" in data.client_hello.alpn_protocols:
            data.establish_server_tls_first = True


class _Ready:
    """Addon: the `running` hook fires once the servers were set up (or failed to)."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def running(self) -> None:
        self.event.set()


class Proxy:
    """A running capture: mitmproxy listening at `url`, filling `session`.

    Stop it with `stop()` or by leaving a `with` block; the interpreter exiting stops it
    too. `pause()`/`resume()` stop and restart recording; traffic keeps flowing.
    """

    def __init__(self, session: Session, host: str, port: int, confdir: Path, recorder: Recorder,
                 options: dict[str, Any], rules: RuleList | None = None) -> None:
        self.session = session
        self.host = host
        self.port = port
        self.confdir = confdir
        self.recorder = recorder
        #: what the user should know about this capture (e.g. a non-loopback address)
        self.warnings: list[str] = []
        #: recent mitmproxy warnings and errors (upstream failures, protocol errors)
        self.log: collections.deque[str] = collections.deque(maxlen=500)
        self._options = options
        self._state = "starting"
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._master: Master | None = None
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self._stop_lock = threading.Lock()
        self._log_handler = _LogCollector(self.log)
        self._rules = RuleEngine(rules if rules is not None else RuleList())
        #: where flows came from (the notebook cell, the browser page); see intercept() and browser()
        self.origin = Origin(session)
        self._browsers: list[Any] = []

    # -- what the user reads ------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def proxies(self) -> dict[str, str]:
        """For `requests`: `requests.get(u, proxies=p.proxies, verify=p.ca_cert_path)`."""
        return {"http": self.url, "https": self.url}

    @property
    def ca_cert_path(self) -> str:
        """mitmproxy's CA certificate (PEM): trust it in the client to capture HTTPS.

        A `str`, as `verify=` of requests and httpx takes it:
        `httpx.get(url, proxy=p.url, verify=p.ca_cert_path)`.
        """
        return str(self.confdir / "mitmproxy-ca-cert.pem")

    def ssl_context(self) -> ssl.SSLContext:
        """A new client `SSLContext` trusting the system's CAs and this proxy's.

        The system's CAs too, so hosts passed through untouched (`ignore_hosts`) verify.
        """
        context = ssl.create_default_context()
        context.load_verify_locations(cafile=self.ca_cert_path)
        return context

    @property
    def state(self) -> str:
        """'starting', 'running', 'paused', 'stopped', or 'failed' (see `errors`)."""
        if self._state == "running":
            if self._thread is not None and not self._thread.is_alive():
                return "failed"
            if self.recorder.paused:
                return "paused"
        return self._state

    @property
    def flows(self) -> int:
        """Entries this capture has added to the session so far."""
        return self.recorder.recorded

    @property
    def in_flight(self) -> int:
        """Recorded requests not finished yet (open WebSockets included)."""
        return self.recorder.in_flight

    @property
    def pending(self) -> int:
        """Finished flows not yet in the session (they arrive in batches)."""
        return self.recorder.pending

    @property
    def errors(self) -> list[str]:
        """Flows that could not be converted or appended (kept, never dropped)."""
        return self.recorder.errors

    @property
    def rules(self) -> RuleList:
        """The rules applied to new flows, first match per kind wins; change it at any time:
        `proxy.rules.append(nn.rules.Delay("*/api/*", ms=300))`."""
        return self._rules.rules

    @rules.setter
    def rules(self, rules: Iterable[Rule]) -> None:
        self._rules.rules[:] = list(rules)

    @property
    def rule_errors(self) -> list[str]:
        """What rules raised (a callback, a predicate, a JSON path a body lacks), newest last."""
        return list(self._rules.errors)

    def intercept(self) -> Intercept:
        """A context manager under which this process's HTTP clients (requests, httpx,
        urllib, urllib3, aiohttp) go through this proxy and trust its CA, with no
        arguments; everything is restored on exit. See `necto_nb.capture.intercept`."""
        from necto_nb.capture.intercept import Intercept

        return Intercept(self)

    def env(self, *, no_proxy: Iterable[str] = ()) -> dict[str, str]:
        """Environment variables for a subprocess (curl, node, pytest, a shell) to go
        through this proxy and trust its CA as well as the system's: proxy variables in
        both cases, `NO_PROXY` (only `no_proxy`'s hosts bypass it), and a CA bundle for
        OpenSSL, requests, curl and Node. `subprocess.run(cmd, env={**os.environ, **proxy.env()})`."""
        from necto_nb.capture.trust import proxy_env

        return proxy_env(self, no_proxy=no_proxy)

    def browser(self, *, headless: bool = True, executable_path: str | Path | None = None,
                args: Iterable[str] = (), **context_options: Any) -> BrowserContext:
        """Debian's Chromium, driven by Playwright, through this proxy and trusting its CA by
        its key pin; each navigation becomes a HAR page. Returns a Playwright sync
        `BrowserContext`, usable from a notebook cell (Playwright runs in a thread of its
        own); closed with the proxy. See `necto_nb.capture.browser`."""
        from necto_nb.capture.browser import launch

        context = launch(self, headless=headless, executable_path=executable_path, args=args, **context_options)
        self._browsers.append(context)
        return context

    def pause(self) -> None:
        """Stop recording new requests; the proxy keeps forwarding traffic."""
        self.recorder.paused = True

    def resume(self) -> None:
        self.recorder.paused = False

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every flow finished so far is in the session; False on timeout."""
        return self.recorder.flush(timeout)

    def __enter__(self) -> Proxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (f"<Proxy {self.url} {self.state}, {self.flows} flows into {self.session.name!r}, "
                f"CA certificate {self.ca_cert_path}>")

    def _repr_html_(self) -> str:
        e = html.escape
        rows = [
            ("address", self.url), ("state", self.state), ("flows", str(self.flows)),
            ("session", self.session.name), ("CA certificate", self.ca_cert_path),
        ]
        rows += [("warning", w) for w in self.warnings]
        rows += [("error", m) for m in self.errors[-5:]]
        body = "".join(f"<tr><th style='text-align:left'>{e(k)}</th><td style='text-align:left'>{e(v)}</td></tr>"
                       for k, v in rows)
        return f"<table class='necto-proxy'><caption>necto_nb capture</caption>{body}</table>"

    # -- lifecycle ----------------------------------------------------------------

    def _start(self, timeout: float) -> None:
        logging.getLogger("mitmproxy").addHandler(self._log_handler)
        self._thread = threading.Thread(target=self._thread_main, name=f"necto_nb-proxy-{self.port}", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            self.stop()
            raise ProxyError(f"the proxy at {self.host}:{self.port} did not start within {timeout} s")
        if self._start_error is not None:
            self._thread.join()
            self._teardown()
            error = self._start_error
            if isinstance(error, ValueError):
                raise ArgumentError(f"bad capture option: {error}") from None
            if isinstance(error, OSError):
                raise ProxyError(error.errno, f"cannot listen on {self.host}:{self.port}: "
                                 f"{_reason(error)}") from error
            raise ProxyError(f"cannot start the proxy at {self.host}:{self.port}: {error}") from error
        self._state = "running"
        atexit.register(self.stop)

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as e:  # anything escaping the loop must reach start()
            if not self._started.is_set():
                self._start_error = e
                self._started.set()
            else:
                self.recorder.errors.append(f"the proxy thread ended: {e!r}")

    async def _serve(self) -> None:
        from mitmproxy import exceptions, options
        from mitmproxy.addons import (
            block, core, disable_h2c, dns_resolver, next_layer, proxyauth, proxyserver, tlsconfig,
            upstream_auth,
        )
        from mitmproxy.master import Master

        self._loop = asyncio.get_running_loop()
        # Connections cancelled at shutdown end in loop errors; keep them off the cell's stderr.
        self._loop.set_exception_handler(self._loop_error)
        master = Master(options.Options())
        ps = proxyserver.Proxyserver()
        self._rules.pacing.proxyserver = ps  # a Throttle paces the writers of ps's connection handlers
        ready = _Ready()
        master.addons.add(
            core.Core(), block.Block(), proxyauth.ProxyAuth(), ps, dns_resolver.DnsResolver(),
            next_layer.NextLayer(), tlsconfig.TlsConfig(), upstream_auth.UpstreamAuth(),
            disable_h2c.DisableH2C(), _OriginFirst(), self.origin, self._rules, self.recorder, ready,
        )
        try:
            master.options.update(**self._options)
        except (exceptions.OptionsError, KeyError) as e:
            await master.done()
            message = e.args[0] if isinstance(e, KeyError) else str(e)
            raise ValueError(message) from None
        self._master = master
        run = asyncio.ensure_future(master.run())
        waiting = asyncio.ensure_future(ready.event.wait())
        try:
            await asyncio.wait([run, waiting], return_when=asyncio.FIRST_COMPLETED)
            addrs = ps.listen_addrs()
            if not addrs:
                failure: BaseException | None = next((s.last_exception for s in ps.servers if s.last_exception), None)
                if run.done() and run.exception():
                    failure = run.exception()
                master.shutdown()
                await asyncio.gather(run, return_exceptions=True)
                raise failure or RuntimeError("mitmproxy did not open a listening socket")
            self.host, self.port = str(addrs[0][0]), int(addrs[0][1])
            self._started.set()
            if self.recorder.stopping:  # stop() came while starting (an interrupted start)
                master.shutdown()
            await run
        finally:
            waiting.cancel()
            # Master.shutdown() leaves the listening sockets open; this closes them.
            await ps.servers.update([])

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if isinstance(error, asyncio.CancelledError):
            return  # a connection cancelled by stop(): expected
        self.log.append(f"error: {context.get('message', 'event loop error')}: {error!r}")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the proxy, close its socket, join its thread and record what was in flight.

        Idempotent. Afterwards every flow is in the session (`flows` says how many).
        """
        with self._stop_lock:
            if self._state == "stopped":
                return
            for context in self._browsers:
                _close_quietly(context)
            self.recorder.stopping = True
            if self._master is not None and self._loop is not None and not self._loop.is_closed():
                try:
                    self._master.shutdown()
                except RuntimeError:  # the loop closed in between
                    pass
            if self._thread is not None and self._thread is not threading.current_thread():
                self._thread.join(timeout)
            self._teardown()

    def _teardown(self) -> None:
        global _running
        self.recorder.close()
        logging.getLogger("mitmproxy").removeHandler(self._log_handler)
        atexit.unregister(self.stop)
        self._state = "stopped"
        with _lock:
            if _running is self:
                _running = None


def running() -> Proxy | None:
    """The capture running in this process, if any."""
    return _running


def _close_quietly(context: Any) -> None:
    try:
        context.close()
    except Exception:  # closed already (by the user, or Chromium went away)
        pass


def _reason(error: OSError) -> str:
    import errno as codes

    if error.errno == codes.EADDRINUSE:
        return "the address is already in use (another program listens there; choose another port, or port=0)"
    if error.errno == codes.EADDRNOTAVAIL:
        return "no network interface has this address"
    if error.errno == codes.EACCES:
        return "permission denied (ports below 1024 need privileges)"
    original = error.__cause__ if isinstance(error.__cause__, OSError) else error
    return original.strerror or str(original)


def start(
    session: Session,
    *,
    port: int = 8080,
    host: str = "127.0.0.1",
    ignore_hosts: Iterable[str] = (),
    max_body: int | str | None = None,
    upstream: str | None = None,
    upstream_auth: str | None = None,
    ssl_insecure: bool = False,
    confdir: str | Path | None = None,
    proxyauth: str | tuple[str, str] | None = None,
    http2: bool = True,
    options: Mapping[str, Any] | None = None,
    batch_interval: float = 0.05,
    timeout: float = 30.0,
    rules: Iterable[Rule] = (),
) -> Proxy:
    """Start mitmproxy in a background thread, recording every exchange into `session`.

    Returns once the proxy listens (`port=0` picks a free port). Options:
    `ignore_hosts`: regular expressions on `host:port`, neither intercepted nor recorded
    (telemetry); `max_body`: bytes of each body to keep (int or '10m'), longer ones are
    marked `_truncated`; `upstream`: forward through another proxy, e.g.
    'http://127.0.0.1:3128' (with `upstream_auth` 'user:pass'); `ssl_insecure`: accept
    any upstream certificate; `confdir`: where mitmproxy keeps its CA (default
    ~/.mitmproxy); `proxyauth`: 'user:pass' (or a pair) clients must send; `options`: any
    other mitmproxy option by name; `batch_interval`: the shortest wait (s) before finished
    flows are appended together (longer under load, see `Recorder`); `rules`: rules from
    `nn.rules` to start with (`proxy.rules` is the live list). Binds 127.0.0.1 unless
    `host` says otherwise.

    Raises ProxyError naming host and port when it cannot listen, ArgumentError (a
    ValueError) for a bad option, CaptureRunningError (a RuntimeError) when another capture
    is running in this process.
    """
    global _running
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ArgumentError(f"port must be an integer from 0 to 65535, not {port!r}")
    if not isinstance(host, str) or not host:
        raise ArgumentError(f"host must be an address such as '127.0.0.1', not {host!r}")
    ignore = [ignore_hosts] if isinstance(ignore_hosts, str) else list(ignore_hosts)
    for pattern in ignore:
        try:
            re.compile(pattern)
        except (re.error, TypeError) as e:
            raise ArgumentError(f"ignore_hosts pattern {pattern!r} is not a regular expression: {e}") from None
    cap = _size(max_body, "max_body")
    rule_list = RuleList(rules)
    folder = Path(confdir if confdir is not None else "~/.mitmproxy").expanduser()
    if isinstance(proxyauth, tuple):
        proxyauth = ":".join(proxyauth)

    opts: dict[str, Any] = {
        "listen_host": host,
        "listen_port": port,
        "confdir": str(folder),
        "ssl_insecure": bool(ssl_insecure),
        "ignore_hosts": ignore,
        "http2": bool(http2),
        # Lazy: the upstream connection opens when the client needs it (for an HTTP/2 client
        # over HTTPS at its TLS handshake, see _OriginFirst), not at its CONNECT, so a refused
        # connection or a bad certificate fails a recorded request (status 0, _error)
        # instead of a CONNECT the client never follows up.
        "connection_strategy": "lazy",
    }
    if upstream:
        opts["mode"] = [f"upstream:{upstream}"]
    if upstream_auth:
        opts["upstream_auth"] = upstream_auth
    if proxyauth:
        opts["proxyauth"] = proxyauth
    opts.update(options or {})

    recorder = Recorder(session, ignore_hosts=ignore, max_body=cap, batch_interval=batch_interval)
    proxy = Proxy(session, host, port, folder, recorder, opts, rule_list)
    if not _host_is_loopback(host):
        proxy.warnings.append(
            f"listening on {host}, not loopback: other machines can reach this proxy"
            + ("" if proxyauth else " (set proxyauth='user:pass' to require a password)")
        )
    with _lock:
        if _running is not None:
            recorder.close()
            raise CaptureRunningError(
                f"a capture is already running at {_running.url} into {_running.session.name!r}: "
                "stop it first (mitmproxy keeps its options process-wide, so one proxy per process)"
            )
        _running = proxy
    try:
        proxy._start(timeout)
    except BaseException:
        proxy.stop()  # e.g. interrupted while waiting: leave nothing running
        raise
    return proxy
