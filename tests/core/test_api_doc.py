"""docs/api.md against the real API: every public name is there, every signature written is the real one."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import types
from pathlib import Path
from typing import Any

import pytest

import necto_nb as nn

DOC = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
# `nn.read_har(source, *, ...)`, `s.capture(*, ...)`, `.extend(entries, pages=())`: a signature is a
# call in backticks that starts a line or a table row (over line breaks too, with its return
# annotation if any); the first one of each name is its signature, later ones are examples.
CALL = re.compile(r"(?:^|^\| |, |; )`((?:nn|s)\.[\w.]+|\.\w+)\(([^`]*?)\)(?: -> [^`]*)?`", re.M)
# The section whose `.member(...)` calls are Session's.
SESSION_SECTION = re.search(r"^## Session\n(.*?)(?=^## )", DOC, re.S | re.M).group(1)


def _split(params: str) -> list[str]:
    """Top-level comma-separated parts of a parameter list."""
    parts, depth, current, quote = [], 0, "", ""
    for char in params:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        current += char
    return [p for p in [*parts, current.strip()] if p]


def _written(params: str) -> list[tuple[str, Any]]:
    """(name, kind or default text) as the doc writes them: '*' for the keyword-only mark."""
    out = []
    for part in _split(" ".join(params.split())):
        name, _, default = part.partition("=")
        out.append((name.strip(), default.strip() or None))
    return out


def _real(function: Any) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for p in inspect.signature(function).parameters.values():
        if p.kind is p.KEYWORD_ONLY and not any(n.startswith("*") for n, _ in out):
            out.append(("*", None))
        prefix = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "")
        out.append((prefix + p.name, p.default))
    return out


def _resolve(name: str, session: nn.Session) -> Any:
    if name.startswith("."):
        return getattr(session, name[1:])
    owner: Any = session if name.startswith("s.") else nn
    for part in name.split(".")[1:]:
        if isinstance(owner, types.ModuleType) and not hasattr(owner, part):
            owner = importlib.import_module(f"{owner.__name__}.{part}")  # a submodule (nn.demo.deploys)
        else:
            owner = getattr(owner, part)
    return owner


def _calls() -> list[tuple[str, str]]:
    found = [(m.group(1), m.group(2)) for m in CALL.finditer(DOC) if not m.group(1).startswith(".")]
    found += [(m.group(1), m.group(2)) for m in CALL.finditer(SESSION_SECTION) if m.group(1).startswith(".")]
    return list({name: (name, params) for name, params in reversed(found)}.values())[::-1]  # the first of each


def test_every_public_name_is_documented():
    missing = [name for name in nn.__all__ if f"`nn.{name}" not in DOC]
    assert not missing, f"docs/api.md does not mention {', '.join(f'nn.{n}' for n in missing)}"


def test_every_public_session_member_is_documented():
    members = [m for m in dir(nn.Session) if not m.startswith("_")] + ["observer_errors"]
    missing = [m for m in members if not re.search(rf"`(?:s)?\.{m}\b", SESSION_SECTION + DOC)]
    assert not missing, f"docs/api.md's Session section does not mention {', '.join('.' + m for m in missing)}"


def test_the_doc_writes_calls_it_can_check():
    names = [name for name, _ in _calls()]
    for expected in ("nn.read_har", "nn.waterfall", "nn.compare_timings", "s.capture", ".to_har", ".extend"):
        assert expected in names


@pytest.mark.parametrize("name, params", _calls(), ids=[name for name, _ in _calls()])
def test_each_written_signature_is_the_real_one(name, params):
    real = _real(_resolve(name, nn.Session("doc")))
    written = _written(params)
    if written and written[-1][0] == "...":  # "and the rest", written out in full elsewhere on the page
        written = written[:-1]
        real = real[:len(written)]
    assert [n for n, _ in written] == [n for n, _ in real], f"{name}: docs/api.md lists other parameters"
    for (param, text), (_, default) in zip(written, real):
        if text is None or text == "..." or param.startswith("*"):
            continue
        try:
            value = ast.literal_eval(text)
        except ValueError:
            continue  # an expression the doc abbreviates
        assert value == default, f"{name}: {param}={text} in docs/api.md, {default!r} in the code"
