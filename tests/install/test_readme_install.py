"""The README's first command on a new virtual environment, as a new user runs it.

It alone (no test extras) must install everything the example notebooks and the command line
use: every notebook runs top to bottom in that environment's kernel, and every `necto-nb`
command the README shows runs there. What to run is read from the README and the notebooks
folder, so a new notebook or a new documented command is checked without editing this file.
One environment per Python per test run (the module's fixture); the install and each
notebook print their time (`pytest -rP` shows it).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import nbformat
import pytest

from tests.kernel import execute
from tests.widgets.lab import served_url

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
COMMAND = ("necto-nb",)
MODULE = ("python3", "-m", "necto_nb")
HAR_SUFFIXES = (".har", ".har.gz", ".zhar")
# Settings of the test run that would reach into the checkout under test, not the new environment.
NOT_PASSED_ON = ("PYTHONPATH", "PYENV_VERSION", "VIRTUAL_ENV", "NECTO_HARS", "JUPYTER_PATH")



def in_fresh_env(test):
    """Installs from the package index, runs proxies and kernels: CI runs these on each Python."""
    for mark in (pytest.mark.integration, pytest.mark.network, pytest.mark.proxy):
        test = mark(test)
    return test


def _bash_lines(markdown: str) -> list[str]:
    """Each command of the README's bash blocks, comments cut off, `a && b` as two."""
    blocks = re.findall(r"^```bash\n(.*?)^```", markdown, flags=re.M | re.S)
    lines = [line.split(" #", 1)[0].strip() for block in blocks for line in block.splitlines()]
    return [part.strip() for line in lines if line for part in line.split("&&")]


def install_command() -> str:
    """The install of the README's first command (it then starts JupyterLab: checked with `lab`)."""
    first = _bash_lines((ROOT / "README.md").read_text())[0]
    assert "pip install" in first, f"the README's first command should install necto_nb, not {first!r}"
    return first


def cli_commands() -> list[list[str]]:
    """Every necto-nb command line the README shows (as `necto-nb ...` or `python3 -m necto_nb ...`)."""
    found = []
    for line in _bash_lines((ROOT / "README.md").read_text()):
        words = shlex.split(line)
        if any(tuple(words[:len(prefix)]) == prefix for prefix in (COMMAND, MODULE)) and words not in found:
            found.append(words)
    return found


def _subcommand(words: list[str]) -> str:
    return words[len(COMMAND if words[0] == COMMAND[0] else MODULE)]


def test_the_readme_shows_an_install_and_commands():
    """Fast: the parsing above finds what the rest of this module runs."""
    assert "-m pip install" in install_command() and "[" not in install_command()  # no extras
    subcommands = {_subcommand(words) for words in cli_commands()}
    assert {"lab", "validate", "convert", "diff", "capture"} <= subcommands, subcommands
    assert NOTEBOOKS


@dataclass
class Fresh:
    """A copy of the checkout and a virtual environment where the README's install ran."""

    repo: Path
    venv: Path
    env: dict[str, str]

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    def run(self, *command: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(command, cwd=cwd, env=self.env, capture_output=True, text=True, timeout=timeout)


def _copy_checkout(target: Path) -> None:
    """The files git knows (committed or not), as a fresh clone has them plus local edits."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Fresh:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout, to copy what a clone holds")
    base = tmp_path_factory.mktemp("fresh")
    repo = base / "checkout"  # no ../shared beside it: the notebooks find no HAR corpus, as on a clone
    repo.mkdir()
    _copy_checkout(repo)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {key: value for key, value in os.environ.items() if key not in NOT_PASSED_ON}
    env |= {"PATH": f"{venv / 'bin'}{os.pathsep}{env['PATH']}", "VIRTUAL_ENV": str(venv), "PYTHONNOUSERSITE": "1",
            "JUPYTER_CONFIG_DIR": str(base / "jupyter-config"), "JUPYTER_DATA_DIR": str(base / "jupyter-data"),
            "JUPYTER_RUNTIME_DIR": str(base / "jupyter-runtime"), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    started = time.monotonic()
    done = subprocess.run(["bash", "-c", install_command()], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=1800)
    took = time.monotonic() - started
    assert done.returncode == 0, f"{install_command()} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    print(f"README install on Python {sys.version.split()[0]}: {took:.0f} s")
    fresh = Fresh(repo, venv, env)
    check = fresh.run(fresh.python, "-m", "pip", "check", cwd=repo)
    assert check.returncode == 0, check.stdout + check.stderr
    return fresh


@in_fresh_env
def test_the_install_has_no_test_extras(fresh):
    listed = fresh.run(fresh.python, "-m", "pip", "list", "--format=json", cwd=fresh.repo)
    installed = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert "necto-nb" in installed and not {"pytest", "hypothesis"} & installed


@in_fresh_env
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_each_notebook_runs_top_to_bottom(fresh, name, tmp_path, monkeypatch):
    """In a kernel of the new environment, started in the notebooks folder as JupyterLab does."""
    for key in NOT_PASSED_ON:  # the kernel's environment is this process's, updated with its spec's
        monkeypatch.delenv(key, raising=False)
    from jupyter_client.kernelspec import KernelSpecManager

    kernels = tmp_path / "kernels"
    (kernels / "fresh").mkdir(parents=True)
    spec = {"argv": [fresh.python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "fresh venv", "language": "python", "env": fresh.env}
    (kernels / "fresh" / "kernel.json").write_text(json.dumps(spec))
    notebook = nbformat.read(fresh.repo / "notebooks" / name, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(
        "import sys, necto_nb\n"
        f"assert sys.prefix == {str(fresh.venv)!r}, sys.prefix\n"
        f"assert necto_nb.__file__.startswith({str(fresh.repo)!r}), necto_nb.__file__"))
    started = time.monotonic()
    execute(notebook, fresh.repo / "notebooks", timeout=600,
            kernel_name="fresh", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))
    print(f"{name} on Python {sys.version.split()[0]}: {time.monotonic() - started:.0f} s")


def _on_any_port(words: list[str]) -> list[str]:
    """The README's port (8080 may be taken on a shared machine) swapped for 0: the server takes
    a free one as it binds and says which (a port chosen here could be taken before it bound it)."""
    if "--port" in words:
        at = words.index("--port") + 1
        return [*words[:at], "0", *words[at + 1:]]
    return [*words, "--port", "0"]


@pytest.fixture(scope="module")
def recorded(fresh) -> Path:
    """A HAR of the demo site recorded in the new environment, for the commands that read one."""
    path = fresh.repo.parent / "recorded.har"
    script = ("import sys, necto_nb as nn\n"
              "with nn.demo.serve() as site:\n"
              "    s = nn.Session('fresh')\n"
              "    with s.capture(port=0) as proxy:\n"
              "        nn.demo.visit(site.url, proxy=proxy.url)\n"
              "    s.to_har(sys.argv[1])\n")
    done = fresh.run(fresh.python, "-c", script, str(path), cwd=fresh.repo.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    return path


def _inputs(words: list[str], folder: Path, recorded: Path) -> None:
    """The HAR files a command line names (not after -o) made from the recorded one; two
    files for a pattern ('runs/*.har')."""
    data = recorded.read_bytes()
    for before, word in zip(["", *words], words):
        if word.endswith(HAR_SUFFIXES) and before not in ("-o", "--output"):
            for name in {word.replace("*", "1"), word.replace("*", "2")}:
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (folder / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)




def _launcher(fresh: Fresh, words: list[str]) -> list[str]:
    """The command line with the new environment's console script or Python."""
    if words[0] == COMMAND[0]:
        return [str(fresh.venv / "bin" / "necto-nb"), *words[1:]]
    return [fresh.python, *words[1:]]


def _lab(fresh: Fresh, words: list[str], folder: Path) -> None:
    """JupyterLab starts and serves the example notebooks; then it is stopped."""
    words = _on_any_port([*words, "--no-browser", "--IdentityProvider.token=fresh"])
    runtime = folder / "runtime"
    process = subprocess.Popen(_launcher(fresh, words), cwd=folder, env={**fresh.env, "JUPYTER_RUNTIME_DIR": str(runtime)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        while process.poll() is None:  # until it answers or exits; pytest's timeout bounds the wait
            try:
                listing = httpx.get(f"{served_url(runtime)}/api/contents?token=fresh", timeout=10)
                break
            except (OSError, ValueError, httpx.TransportError):  # not serving yet
                time.sleep(0.2)
        else:
            pytest.fail(f"{' '.join(words)} exited with {process.returncode}:\n{process.stderr.read()[-3000:]}")
        assert listing.status_code == 200, listing.text
        assert {item["name"] for item in listing.json()["content"]} >= set(NOTEBOOKS)
    finally:
        process.terminate()
        process.wait(timeout=60)


def _capture(fresh: Fresh, words: list[str], folder: Path) -> None:
    """The proxy records the demo site's visit, and writes the HAR on Ctrl-C."""
    words = _on_any_port(words)
    process = subprocess.Popen(_launcher(fresh, words), cwd=folder, env=fresh.env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in process.stdout:  # it says where once it listens
            if line.startswith("capturing through "):
                proxy = line.split()[2]
                break
        else:
            pytest.fail(f"{' '.join(words)} exited before it said where it listens")
        visit = ("import sys, necto_nb as nn\n"
                 "with nn.demo.serve() as site:\n"
                 "    nn.demo.visit(site.url, proxy=sys.argv[1])\n")
        done = fresh.run(fresh.python, "-c", visit, proxy, cwd=folder)
        assert done.returncode == 0, done.stderr[-3000:]
    finally:
        process.send_signal(signal.SIGINT)
        output, errors = process.communicate(timeout=120)
    assert process.returncode == 0, output + errors
    written = folder / words[words.index("-o") + 1]
    assert len(json.loads(written.read_text())["log"]["entries"]) >= 10


SERVERS = {"lab": _lab, "capture": _capture}  # run until stopped; every other command ends by itself


@in_fresh_env
@pytest.mark.parametrize("words", cli_commands(), ids=" ".join)
def test_each_command_the_readme_shows(fresh, recorded, words, tmp_path):
    """Run in a folder holding the HAR files the line names; it exits 0 (or 1: warnings or
    differences), without a traceback, and writes what it is told to."""
    subcommand = _subcommand(words)
    if subcommand in SERVERS:
        SERVERS[subcommand](fresh, words, tmp_path)
        return
    _inputs(words, tmp_path, recorded)
    done = fresh.run(*_launcher(fresh, words), cwd=tmp_path)
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stdout[-3000:] + done.stderr[-3000:]
    for before, word in zip(words, words[1:]):
        if before in ("-o", "--output"):
            written = tmp_path / word  # a file, or a folder (a dataset)
            assert (written.stat().st_size > 0) if written.is_file() else any(written.iterdir()), word
