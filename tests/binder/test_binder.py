"""binder/: what mybinder builds. Fast checks of the files, and a real install into a fresh venv."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
BINDER = ROOT / "binder"
PY312 = {"python_version": "3.12", "python_full_version": "3.12.0"}


def _requirements() -> dict[str, str]:
    lines = (BINDER / "requirements.txt").read_text().splitlines()
    parsed = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    return {r.name.lower(): str(r.specifier) for r in parsed}


def test_runtime_is_python_312():
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.12"


def _dependencies(environment: dict[str, str] | None = None) -> dict[str, str]:
    """[project.dependencies] that apply on Python 3.12 (or in `environment`): name -> specifier."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [Requirement(d) for d in project["dependencies"]]
    environment = PY312 if environment is None else environment
    return {r.name.lower(): str(r.specifier) for r in declared if r.marker is None or r.marker.evaluate(environment)}


def test_requirements_are_the_package_dependencies_for_python_312():
    assert _requirements() == _dependencies()


def _imported_modules(source: str) -> set[str]:
    """Top-level names of the modules `source` imports, at any depth, and asks find_spec about."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) in ("find_spec", "import_module")
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            names.add(node.args[0].value.split(".")[0])
    return names


def _notebook_source(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    code = ("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    return "\n".join(line for cell in code for line in cell.splitlines() if not line.lstrip().startswith(("%", "!")))


#: HTTP clients proxy.intercept() sets up when the user has them installed; never needed
OPTIONAL_CLIENTS = {"aiohttp", "urllib3"}


def test_what_the_notebooks_and_the_package_import_is_a_dependency():
    """Each third-party module the example notebooks or necto_nb import comes from a package the
    README's install (and so Binder) installs, not one only the tests bring."""
    sources = {str(p.relative_to(ROOT)): _notebook_source(p) for p in sorted((ROOT / "notebooks").glob("*.ipynb"))}
    sources |= {str(p.relative_to(ROOT)): p.read_text() for p in sorted((ROOT / "necto_nb").rglob("*.py"))}
    assert any(name.endswith(".ipynb") for name in sources), "no example notebooks found"
    providers = importlib.metadata.packages_distributions()
    declared = {name.replace("_", "-") for name in _dependencies(_this_python())}
    missing = {}
    for where, source in sources.items():
        for module in _imported_modules(source) - set(sys.stdlib_module_names) - {"necto_nb"} - OPTIONAL_CLIENTS:
            packages = {p.lower().replace("_", "-") for p in providers.get(module, [])}
            if not packages & declared:
                missing.setdefault(module, (sorted(packages) or ["not installed here"], where))
    assert not missing, "imported but not in [project.dependencies]: " + "; ".join(
        f"{module} (from {', '.join(packages)}; imported in {where})" for module, (packages, where) in sorted(missing.items()))


def _this_python() -> dict[str, str]:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return {"python_version": version, "python_full_version": f"{version}.{sys.version_info.micro}"}


def test_post_build_is_an_executable_script():
    script = BINDER / "postBuild"
    assert os.access(script, os.X_OK)
    assert script.read_text().startswith("#!/usr/bin/env bash\n")


def _python_312() -> str | None:
    if sys.version_info[:2] == (3, 12):
        return sys.executable
    found = shutil.which("python3.12")
    if found and subprocess.run([found, "-c", ""], capture_output=True).returncode == 0:
        return found
    pyenv = Path(os.environ.get("PYENV_ROOT", "~/.pyenv")).expanduser() / "versions"
    installed = sorted(pyenv.glob("3.12.*/bin/python3.12"), reverse=True)
    return str(installed[0]) if installed else None


@pytest.mark.integration
@pytest.mark.network
def test_a_fresh_venv_with_the_binder_requirements_runs_the_package(tmp_path):
    """As repo2docker does: requirements.txt, then postBuild from the repository root."""
    python = _python_312()
    if python is None:
        pytest.skip("no Python 3.12 here")
    repo = tmp_path / "repo"  # a copy, so building the package leaves nothing in the working tree
    repo.mkdir()
    shutil.copy(ROOT / "pyproject.toml", repo)
    for optional in ["README.md", "LICENSE"]:
        if (ROOT / optional).exists():
            shutil.copy(ROOT / optional, repo)
    shutil.copytree(ROOT / "necto_nb", repo / "necto_nb", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(BINDER, repo / "binder")
    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    bin_dir = venv / "bin"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(venv),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter"), "PYTHONNOUSERSITE": "1"}
    env.pop("PYENV_VERSION", None)

    def run(*command: str, cwd: Path = repo) -> str:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
        assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout

    run(str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "-r", "binder/requirements.txt")
    run(str(repo / "binder" / "postBuild"))
    run(str(bin_dir / "python"), "-m", "pip", "check")
    elsewhere = tmp_path / "elsewhere"  # not the copy's folder, so the installed package is imported
    elsewhere.mkdir()
    smoke = (
        "import necto_nb as nn, sys, httpx\n"
        f"assert nn.__file__.startswith({str(venv)!r}), nn.__file__\n"
        "assert sys.version_info[:2] == (3, 12)\n"
        "with nn.demo.serve() as site:\n"
        "    assert httpx.get(site.url + '/api/items/1').json()['id'] == 1\n"
        "import necto_nb.capture, plotly, anywidget, jupyterlab, websockets, playwright, pyarrow\n"
        "print(len(nn.read_har({'log': {'version': '1.2', 'creator': {'name': 't', 'version': '1'}, 'entries': []}})))\n"
    )
    assert run(str(bin_dir / "python"), "-c", smoke, cwd=elsewhere).strip() == "0"
    assert run(str(bin_dir / "necto-nb"), "--version", cwd=elsewhere).startswith("necto-nb ")
    config = run(str(bin_dir / "jupyter"), "server", "--show-config", cwd=elsewhere)
    assert "default_url = '/lab/tree/notebooks'" in config
