"""A real JupyterLab on a temporary folder, driven by Playwright with Debian's Chromium.

Used by the browser tests and by bench/grid.py. JupyterLab runs with a known token on a
free loopback port, with its settings, runtime and config folders inside the temporary
folder and cell windowing off (JupyterLab 4.2+ would otherwise skip drawing cells out of
sight). Python state is read through a second client of the notebook's own kernel.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from necto_nb.chromium import QUIET_ARGS

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
}


# How long a browser test waits for a condition (a page drawn, a kernel idle, a value synced)
# before it fails: one that comes at all comes well within this even on a loaded machine;
# pytest's own timeout bounds the whole test. A wait on the kernel that took over SLOW_S says so
# in a warning with what the page, the server and the kernel showed (`what_is_there`: the report
# that found ipykernel 7.3 leaving requests unread, see pyproject.toml).
WAIT_S = 240


# Run by each kernel of a test's JupyterLab (an IPython startup file): SIGUSR1 writes where each
# of its threads is, for `JupyterLab.kernel_threads`.
_THREADS_ON_SIGUSR1 = """\
import faulthandler, os, signal
path = os.path.join(os.environ["IPYTHONDIR"], f"threads-{os.getpid()}.txt")
faulthandler.register(signal.SIGUSR1, all_threads=True, file=open(path + ".new", "w"))
os.rename(path + ".new", path)  # named so once the handler is there: only then is the kernel signalled
"""


def served_url(runtime: Path) -> str:
    """The address in the information file a Jupyter server started with port 0 wrote into
    `runtime` (its JUPYTER_RUNTIME_DIR). The OS picks a free port as the server binds, where a
    port chosen here and released could be taken by another connection before the server bound it."""
    written = sorted(runtime.glob("jpserver-*.json"))
    if not written:
        raise FileNotFoundError(f"no server has written its information file in {runtime} yet")
    return f"http://127.0.0.1:{json.loads(written[0].read_text())['port']}"


def have_chromium() -> bool:
    return Path(CHROMIUM).is_file()


needs_chromium = pytest.mark.skipif(not have_chromium(),
                                    reason=f"no Chromium at {CHROMIUM} (as root: apt-get install chromium)")


class JupyterLab:
    """`jupyter lab` serving `root` on 127.0.0.1; stop with `close()`.

    `labextensions`: prebuilt extensions (folders with a built package.json) that this
    JupyterLab loads before any installed one of the same name.
    """

    def __init__(self, root: Path, timeout: float = WAIT_S, labextensions: tuple[Path, ...] = ()) -> None:
        self.root = root
        self.token = "necto-test-token"
        self.home = Path(tempfile.mkdtemp(prefix="necto-lab-"))
        startup = self.home / "ipython" / "profile_default" / "startup" / "00-threads-on-sigusr1.py"
        startup.parent.mkdir(parents=True)
        startup.write_text(_THREADS_ON_SIGUSR1)
        for name, values in _SETTINGS.items():
            path = self.home / "settings" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        extra = {}
        if labextensions:
            for build in labextensions:
                name = json.loads((build / "package.json").read_text())["name"]
                link = self.home / "jupyter" / "labextensions" / name
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(build.resolve(), target_is_directory=True)
            extra["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(self.home / "jupyter"),
                                                                  os.environ.get("JUPYTER_PATH")]))
        env = dict(os.environ, **extra, JUPYTERLAB_SETTINGS_DIR=str(self.home / "settings"),
                   JUPYTERLAB_WORKSPACES_DIR=str(self.home / "workspaces"),
                   JUPYTER_RUNTIME_DIR=str(self.home / "runtime"), JUPYTER_CONFIG_DIR=str(self.home / "config"),
                   IPYTHONDIR=str(self.home / "ipython"))
        self.url = ""  # known once the server has bound its port
        self.log = self.home / "lab.log"
        self._log_file = self.log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
             "--ServerApp.port=0", f"--ServerApp.root_dir={root}",
             f"--IdentityProvider.token={self.token}", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
             "jupyterlab.NeverCheckForUpdate", "--LabApp.expose_app_in_browser=True"],  # for `watch`
            cwd=root, env=env, stdout=self._log_file, stderr=subprocess.STDOUT)
        end = time.monotonic() + timeout
        while True:
            try:
                self.url = self.url or served_url(self.home / "runtime")
                self.api("status")
                return
            except (OSError, ValueError):  # not written yet, or written in part
                if self.process.poll() is not None or time.monotonic() > end:
                    self.close()
                    raise RuntimeError(f"jupyter lab did not start:\n{self.log.read_text()[-3000:]}") from None
                time.sleep(0.2)

    def api(self, path: str, method: str = "GET", body: dict | None = None):
        request = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def notebook(self, name: str, cells: list[str]) -> str:
        import nbformat

        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, self.root / name)
        return name

    def kernel(self, notebook: str):
        """A second client of the kernel running `notebook` (same process, same variables)."""
        sessions = [s for s in self.api("sessions") if s["path"] == notebook]
        if not sessions:
            raise RuntimeError(f"no kernel is running {notebook}")
        return self.client(sessions[0]["kernel"]["id"])

    def client(self, kernel_id: str):
        """A client of the kernel `kernel_id`, ready."""
        from jupyter_client import BlockingKernelClient

        client = BlockingKernelClient(connection_file=str(self.home / "runtime" / f"kernel-{kernel_id}.json"))
        client.load_connection_file()
        client.start_channels()
        client.wait_for_ready(timeout=WAIT_S)
        return client

    def sessions_named(self, name: str) -> list[dict]:
        return [s for s in self.api("sessions") if s["name"] == name]

    def settled_kernel(self, session_name: str, timeout: float = WAIT_S) -> str:
        """The id of the kernel of the session called `session_name`, once the session exists
        and its kernel has run what it was sent before (a silent empty execution queues
        behind it, and leaves no trace in the kernel's history)."""
        end = time.monotonic() + timeout
        while not (sessions := self.sessions_named(session_name)):
            if time.monotonic() > end:
                raise RuntimeError(f"no session {session_name!r} within {timeout} s")
            time.sleep(0.1)
        kernel_id = sessions[0]["kernel"]["id"]
        client = self.client(kernel_id)
        try:
            client.execute_interactive("", silent=True, store_history=False, timeout=timeout)
        finally:
            client.stop_channels()
        return kernel_id

    def shutdown_kernels(self) -> None:
        for session in self.api("sessions"):
            try:
                self.api(f"sessions/{session['id']}", method="DELETE")
            except urllib.error.HTTPError as error:
                if error.code != 404:  # 404: gone meanwhile (a closed page's warm kernel)
                    raise

    def kernel_threads(self) -> list[str]:
        """Where each thread of each running kernel of this server is (see _THREADS_ON_SIGUSR1).
        A kernel still starting, whose handler is not there yet, is left alone: SIGUSR1 would end it."""
        dumps = {}
        for process in Path("/proc").iterdir():
            try:
                command = (process / "cmdline").read_bytes().decode(errors="replace")
                if process.name.isdigit() and "ipykernel" in command and str(self.home) in command:
                    dumps[process.name] = dump = self.home / "ipython" / f"threads-{process.name}.txt"
                    if dump.exists():
                        os.kill(int(process.name), signal.SIGUSR1)
            except OSError:  # not a process, or one gone meanwhile
                continue
        time.sleep(1)  # faulthandler writes from the kernel's signal handler
        return [f"kernel process {pid}:\n{dump.read_text() if dump.exists() else '(still starting)'}"
                for pid, dump in dumps.items()]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log_file.close()
        shutil.rmtree(self.home, ignore_errors=True)


def py(kernel, code: str, timeout: float = WAIT_S) -> str:
    """Run `code` in the kernel; its printed output, or RuntimeError with the traceback."""
    out: list[str] = []
    errors: list[str] = []

    def hook(msg):
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            errors.append("\n".join(msg["content"]["traceback"]))

    kernel.execute_interactive(code, output_hook=hook, timeout=timeout)
    if errors:
        raise RuntimeError(f"kernel error running {code!r}:\n" + "\n".join(errors))
    return "".join(out)


def wait_py(kernel, code: str, expected: str, timeout: float = WAIT_S) -> str:
    """Poll `code` until it prints `expected` (stripped); the last output either way."""
    end = time.monotonic() + timeout
    while True:
        got = py(kernel, code).strip()
        if got == expected or time.monotonic() > end:
            return got
        time.sleep(0.1)


def open_notebook(page, lab: JupyterLab, name: str) -> None:
    """Open `name` in a workspace of its own, so no notebook opened before is restored beside it."""
    workspace = re.sub(r"[^A-Za-z0-9-]", "-", name)
    page.goto(f"{lab.url}/lab/workspaces/{workspace}/tree/{name}?reset&token={lab.token}")
    page.wait_for_selector(".jp-Notebook .jp-CodeCell")
    page.wait_for_selector("text=Python 3 (ipykernel) | Idle")


# See WAIT_S.
SLOW_S = 60


class SlowPage(UserWarning):
    """A page took over SLOW_S to get where a test waited."""


def wait_page(page, lab: JupyterLab, what: str, expression: str, arg: object = None) -> None:
    """Wait until `expression` holds in the page; fail after WAIT_S, and warn after SLOW_S,
    with `what_is_there`."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    started = time.monotonic()
    try:
        page.wait_for_function(expression, arg=arg)
    except PlaywrightTimeoutError:
        pytest.fail(f"{what}: not within {WAIT_S} s\n{what_is_there(page, lab)}")
    took = time.monotonic() - started
    if took > SLOW_S:
        warnings.warn(SlowPage(f"{what} took {took:.0f} s\n{what_is_there(page, lab)}"), stacklevel=2)


def run_all(page, lab: JupyterLab) -> None:
    """Run > Run All Cells, then wait until every code cell has an execution count."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    wait_page(page, lab, "every cell run",
              """() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
                       .every(p => /\\[\\d+\\]/.test(p.textContent))""")


# Installed in each watched page: once JupyterLab's app is up (exposed as window.jupyterapp), every
# kernel connection's message handler notes the message it is handling, so a page whose connection
# holds its messages (JupyterLab handles them one after another) shows which one holds them.
_NOTE_MESSAGES = """(() => {
  const timer = setInterval(() => {
    const connections = window.jupyterapp?.serviceManager?.kernels?._kernelConnections;
    if (!connections?.size) return;
    clearInterval(timer);
    const proto = Object.getPrototypeOf(connections.values().next().value);
    const handle = proto._handleMessage;
    proto._handleMessage = async function (msg) {
      const notes = this.nectoNotes ??= {handled: 0, current: null, recent: [], errors: []};
      const c = msg.content ?? {};
      const what = {type: msg.header.msg_type, channel: msg.channel, parent: msg.parent_header?.msg_type,
                    comm: c.comm_id?.slice(0, 8), target: c.target_name, method: c.data?.method,
                    model: c.data?.state?._model_name, since: performance.now()};
      notes.current = what;
      try {
        return await handle.call(this, msg);
      } catch (error) {
        notes.errors.push(`${what.type} ${what.comm ?? ''}: ${error}`);
        throw error;
      } finally {
        notes.handled += 1;
        if (notes.current === what) notes.current = null;
        notes.recent = [...notes.recent.slice(-7), what];
      }
    };
  }, 50);
})()"""

# What each kernel connection of a watched page is doing (see _NOTE_MESSAGES).
_CONNECTIONS = """async () => {
  const connections = window.jupyterapp?.serviceManager?.kernels?._kernelConnections;
  if (!connections) return ['(no window.jupyterapp)'];
  const age = what => what && `${what.type}/${what.channel} parent=${what.parent} comm=${what.comm} ` +
      `target=${what.target} method=${what.method} model=${what.model} ` +
      `${((performance.now() - what.since) / 1000).toFixed(1)} s ago`;
  return Promise.all([...connections].map(async k => {
    const chain = await Promise.race([k._msgChain.then(() => 'settled'),
                                      new Promise(r => setTimeout(() => r('HELD'), 500))]);
    const notes = k.nectoNotes ?? {recent: [], errors: []};
    return `kernel ${k.id.slice(0, 8)} client ${k.clientId.slice(0, 8)}: ${k.connectionStatus}, ${k.status}` +
      `${k.isDisposed ? ', disposed' : ''}; message chain ${chain}; ${notes.handled ?? '?'} handled; ` +
      `to send ${k._pendingMessages.length}; comms ${k._comms?.size}; waiting on ` +
      `${[...k._futures.values()].map(f => f.msg.header.msg_type + (f.msg.header.subshell_id ? ' (subshell)' : ''))}` +
      `\n      handling: ${age(notes.current) ?? '-'}` +
      notes.recent.map(r => `\n      done: ${age(r)}`).join('') +
      notes.errors.map(e => `\n      failed: ${e}`).join('');
  }));
}"""


def watch(page) -> None:
    """Keep in `page.events` a timed log of the page's WebSockets (opened, closed, failed) and its
    console errors, in `page.socket_frames` the frames each sent and received so far, and in
    `page.in_flight` its HTTP requests not answered yet; note what each kernel connection handles
    (`_NOTE_MESSAGES`). All for `what_is_there`."""
    start = time.monotonic()
    page.events = []
    page.socket_frames = {}
    page.in_flight = {}

    def log(text: str) -> None:
        page.events.append(f"{time.monotonic() - start:7.1f} s  {text}")

    def websocket(ws) -> None:
        url = re.sub(r"^.*/api/kernels/([0-9a-f]{8}).*$", r"kernel \1", ws.url.split("?")[0])
        name = f"{len(page.socket_frames) + 1}: {url}"
        counts = page.socket_frames[name] = {"sent": 0, "received": 0}
        log(f"WebSocket {name} opening")
        ws.on("framesent", lambda _: counts.update(sent=counts["sent"] + 1))
        ws.on("framereceived", lambda _: counts.update(received=counts["received"] + 1))
        ws.on("socketerror", lambda error: log(f"WebSocket {name}: error {error}"))
        ws.on("close", lambda _: log(f"WebSocket {name} closed"))

    page.on("websocket", websocket)
    page.on("console", lambda m: m.type in ("error", "warning") and log(f"console {m.type}: {m.text[:300]}"))
    page.on("request", lambda r: page.in_flight.__setitem__(r, time.monotonic()))
    page.on("requestfinished", lambda r: page.in_flight.pop(r, None))
    page.on("requestfailed", lambda r: (page.in_flight.pop(r, None), log(f"request failed: {r.url[:200]} {r.failure}")))
    page.add_init_script(_NOTE_MESSAGES)


def _connections(page) -> list[str]:
    from playwright.sync_api import Error as PlaywrightError

    try:
        return page.evaluate(_CONNECTIONS)
    except PlaywrightError as error:  # a page closed or crashed says that much
        return [f"not read: {error}"]


def what_is_there(page, lab) -> str:
    """What a page that never got where a test waited left to see: the server's sessions and their
    kernels (a kernel no page is connected to: its WebSocket never opened), what the page shows,
    its WebSockets, requests and kernel connections (if `watch`ed), the end of the server's log, and
    where each thread of each kernel is."""
    try:
        sessions: object = [(s["path"], s["name"], s["kernel"]["execution_state"],
                             f"{s['kernel']['connections']} connected") for s in lab.api("sessions")]
        kernels: object = len(lab.api("kernels"))
    except (OSError, ValueError) as error:  # a server that no longer answers says that much
        sessions = kernels = f"not listed: {error}"
    shown = page.evaluate("""() => {
        const texts = selector => [...document.querySelectorAll(selector)].map(e => e.innerText.slice(0, 300));
        return {rows: document.querySelectorAll('.necto-tr').length,
                prompts: texts('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-InputPrompt'),
                outputs: texts('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output'),
                dialogs: texts('.jp-Dialog'), status: texts('#jp-main-statusbar')};
    }""")
    server = [line[:300] for line in lab.log.read_text().splitlines() if line.startswith(("[W", "[E", "[I"))][-25:]
    now = time.monotonic()
    return "\n".join([f"sessions: {sessions}", f"kernels: {kernels}",
                      *(f"{key}: {value}" for key, value in shown.items()),
                      "the page's WebSockets and console:", *getattr(page, "events", ["(not watched)"]),
                      *(f"WebSocket {name}: {n['sent']} frames sent, {n['received']} received"
                        for name, n in getattr(page, "socket_frames", {}).items()),
                      "the page's requests not answered:",
                      *(f"    {request.method} {request.url[:200]} for {now - since:.1f} s"
                        for request, since in getattr(page, "in_flight", {}).items()),
                      "the page's kernel connections:", *(f"    {c}" for c in _connections(page)),
                      "the server's log:", *server, *lab.kernel_threads()])


def errors_in_outputs(page) -> list[str]:
    return [t for t in page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            .all_inner_texts() if "Error" in t or "Traceback" in t]


@contextmanager
def chromium(**context) -> Iterator:
    """A fresh headless Chromium context (downloads accepted; `context` overrides), closed
    afterwards. Its pages wait up to WAIT_S for each condition."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=QUIET_ARGS)
        try:
            ctx = browser.new_context(**{"accept_downloads": True, "viewport": {"width": 1400, "height": 1000}} | context)
            ctx.set_default_timeout(WAIT_S * 1000)
            yield ctx
        finally:
            browser.close()
