"""The JupyterLab extension shipped in necto_nb/labextension is the build of labextension/
as it is now, and the wheel carries every file of it."""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path

from tests.conftest import REPO

SOURCE = REPO / "labextension"
BUILD = REPO / "necto_nb" / "labextension"
#: what labextension/stamp.mjs digests, in the same way
SOURCES = ["package.json", "package-lock.json", "tsconfig.json", "install.json", "schema", "src"]


def source_digest(folder: Path) -> str:
    files = []
    for name in SOURCES:
        path = folder / name
        files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for relative in sorted(p.relative_to(folder).as_posix() for p in files):
        digest.update(relative.encode() + b"\0" + (folder / relative).read_bytes() + b"\0")
    return digest.hexdigest()


def test_shipped_build_is_built_from_the_current_sources():
    recorded = (BUILD / "sources.sha256").read_text().strip()
    assert recorded == source_digest(SOURCE), (
        "necto_nb/labextension is older than labextension/: run `npm run build` in labextension/ "
        "(README, Development) and commit the build")


def test_digest_changes_with_any_source(tmp_path):
    for name in SOURCES[:-1]:
        (tmp_path / name).write_text("{}")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "index.ts").write_text("export {};\n")
    before = source_digest(tmp_path)
    (tmp_path / "src" / "index.ts").write_text("export {}; \n")
    assert source_digest(tmp_path) != before


def test_build_has_the_entry_point_jupyterlab_loads():
    meta = json.loads((BUILD / "package.json").read_text())
    assert meta["name"] == json.loads((SOURCE / "package.json").read_text())["name"]
    assert (BUILD / meta["jupyterlab"]["_build"]["load"]).is_file()


def test_wheel_shared_data_covers_every_built_file():
    """pyproject's shared-data puts each built file under share/jupyter/labextensions/<name>/."""
    name = json.loads((BUILD / "package.json").read_text())["name"]
    shared = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"][
        "shared-data"]
    shipped = set()
    for source, target in shared.items():
        path = REPO / source
        files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
        shipped |= {f"{target}/{p.relative_to(path).as_posix()}" if path.is_dir() else target for p in files}
    built = {f"share/jupyter/labextensions/{name}/{p.relative_to(BUILD).as_posix()}"
             for p in BUILD.rglob("*") if p.is_file() and p.name != "sources.sha256"}
    assert built <= shipped, f"not in the wheel: {sorted(built - shipped)}"
    assert f"share/jupyter/labextensions/{name}/install.json" in shipped
