"""Shared fixtures: the HAR corpus beside the repository, and its JSON Schema."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "har-corpus"


def assert_frame_matches_entries(session) -> None:
    """The frame read at import is the frame of the entries once all their fields are checked
    (and repaired): checking the rest of each entry never changes what the frame shows."""
    import pandas as pd

    from necto_nb import frame
    from necto_nb.har.admit import frame_view

    shown = session.df.copy()
    checked = [frame_view(session.entries.raw(i)) for i in range(len(session))]
    pd.testing.assert_frame_equal(frame.build(checked), shown)


NO_CORPUS = f"the HAR corpus is not at {CORPUS} (it lives in shared/, beside the repository)"


def corpus_files(pattern: str = "*.har") -> list[Path]:
    return sorted(CORPUS.glob(pattern)) if CORPUS.is_dir() else []


def each_corpus_file(files: list[Path]) -> list:
    """`files` to parametrize a test with; without the corpus, one case that skips saying why
    (pytest's own skip of an empty list says only "got empty parameter set")."""
    return files or [pytest.param(None, id="no-corpus", marks=pytest.mark.skip(reason=NO_CORPUS))]


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(NO_CORPUS)
    return CORPUS


@pytest.fixture(scope="session")
def har_schema(corpus):
    """A Draft 6 validator for the har-schema 2.0.0 files, format checking on."""
    from jsonschema import Draft6Validator, FormatChecker
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT6

    folder = corpus / "schema"
    resources = [(p.name, Resource(json.loads(p.read_text()), DRAFT6)) for p in folder.glob("*.json")]
    root = json.loads((folder / "har.json").read_text())
    return Draft6Validator(root, registry=Registry().with_resources(resources), format_checker=FormatChecker())


@contextmanager
def server_process(module: str, *args: str) -> Iterator[dict]:
    """`python -m module args` as test servers in their own process: they print one JSON
    line (their ports) when listening and stop when their standard input closes."""
    proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=REPO,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        pytest.fail(f"the test servers of {module} did not start")
    try:
        yield json.loads(line)
    finally:
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
