"""A value of the wrong type anywhere in a HAR is repaired, reported at its path, and never
reaches an export: `null`, `{}`, `[]`, a number, a string and a boolean at every path of a
HAR that has every field HAR 1.2 defines (lists of two)."""

from __future__ import annotations

import copy
import re

import msgspec
import pytest

import necto_nb as nn
from necto_nb.har import admit, schema
from necto_nb.har.schema import Field
from tests.factory import maximal

VALUES = [None, {}, [], 7, "x", True]
_STEP = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")


def steps(path: str) -> list[str | int]:
    return [int(i) if i else key for key, i in _STEP.findall(path)]


def paths(value, path: str = ""):
    """Every path in a JSON value, parents before children."""
    if path:
        yield path
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from paths(inner, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from paths(inner, f"{path}[{i}]")


def put(doc, path: str, value):
    """`doc` with `value` at `path` (in place; `value` itself where the path is empty)."""
    if not path:
        return value
    *parents, last = steps(path)
    node = doc
    for step in parents:
        node = node[step]
    node[last] = value
    return doc


def field_at(path: str, kind: str = "har") -> Field:
    """The schema's field at `path` (an item of a list is an object of the list's kind)."""
    field = Field(("object",), True, kind)
    for step in steps(path):
        field = Field(("object",), True, field.of) if isinstance(step, int) else (
            Field(("object",), True, "log") if step == "log" else schema.OBJECTS[field.of][step])
    return field


def wrong(value, field: Field) -> bool:
    """Whether HAR 1.2 rejects `value` as `field` (by the table; formats of strings count)."""
    kinds = {type(None): "null", dict: "object", list: "array", str: "string", bool: "boolean", int: "integer"}
    kind = kinds[type(value)]
    fits = kind in field.types or (kind == "integer" and "number" in field.types)
    if not fits:
        return True
    if kind == "object":
        return any(f.required for f in schema.OBJECTS[field.of].values())
    return kind == "string" and bool(field.formats or field.pattern)


def named(report, path: str) -> bool:
    """An issue at `path` or inside it, or at an object set aside whole whose message starts
    with the rest of the path."""
    return any(i.path == path or i.path.startswith((f"{path}.", f"{path}["))
               or (path.startswith(f"{i.path}.") and i.message.startswith(f"{path[len(i.path) + 1:]}:"))
               for i in report)


MAXIMAL = maximal()
ENTRY = MAXIMAL["log"]["entries"][0]
ENTRY_PATHS = ["", *paths(ENTRY)]  # "": the entry itself
LOG_PATHS = [p for p in paths(MAXIMAL) if not p.startswith("log.entries[")]


def test_the_maximal_har_has_every_field_and_imports_unrepaired(har_schema):
    for name, fields in schema.OBJECTS.items():
        holders = [p for p in paths(MAXIMAL) if isinstance(value_at(MAXIMAL, p), dict) and field_at(p).of == name]
        assert holders, f"no {name} in the maximal HAR"
        for holder in holders:
            assert set(fields) <= set(value_at(MAXIMAL, holder)), f"{holder} lacks a field of {name}"
    lists = [p for p in paths(MAXIMAL) if isinstance(value_at(MAXIMAL, p), list)]
    assert lists and all(len(value_at(MAXIMAL, p)) == 2 for p in lists)
    assert list(har_schema.iter_errors(MAXIMAL)) == []
    session = nn.read_har(copy.deepcopy(MAXIMAL))
    assert session.report.ok, session.report
    assert session.to_har()["log"]["entries"] == MAXIMAL["log"]["entries"]


def value_at(doc, path: str):
    for step in steps(path):
        doc = doc[step]
    return doc


def assert_each_entry_repaired(session: nn.Session, value, har_schema) -> None:
    """Entry i has `value` at ENTRY_PATHS[i]: the export is valid, the report names each path
    where `value` is wrong, and every entry is exported or kept in log._invalidEntries."""
    exported = session.to_har()
    assert [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:100]}" for e in har_schema.iter_errors(exported)] == []
    unnamed = [path for i, path in enumerate(ENTRY_PATHS)
               if wrong(value, field_at(path, "entry")) and not named(session.report, f"log.entries[{i}]{path and '.'}{path}")]
    assert unnamed == [], session.report
    assert len(session) + len(exported["log"].get("_invalidEntries", [])) == len(ENTRY_PATHS)


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_a_wrong_value_in_any_field_of_an_entry(value, har_schema):
    """One file, one entry per path of the maximal entry with `value` put there: read through
    the frame's check, the deferred check (`Rest.check`) and the repair, like any import."""
    entries = []
    for path in ENTRY_PATHS:
        entries.append(put(copy.deepcopy(ENTRY), path, copy.deepcopy(value)))
    doc = copy.deepcopy(MAXIMAL)
    doc["log"]["entries"] = entries
    assert_each_entry_repaired(nn.read_har(doc), value, har_schema)


@pytest.mark.parametrize("value", [None, {}], ids=repr)
def test_entries_given_to_extend_are_repaired_alike(value, har_schema):
    """`Session.extend` (a capture, or the user's own entries) checks and repairs as an import does."""
    entries = [put(copy.deepcopy(ENTRY), path, copy.deepcopy(value)) for path in ENTRY_PATHS]
    session = nn.Session("extended")
    session.extend(entries)
    assert_each_entry_repaired(session, value, har_schema)


@pytest.mark.parametrize("path", LOG_PATHS)
def test_a_wrong_value_anywhere_else_in_the_log(path, har_schema):
    for value in VALUES:
        doc = copy.deepcopy(MAXIMAL)
        put(doc, path, copy.deepcopy(value))
        try:
            session = nn.read_har(doc)
        except nn.HarError as error:  # no log, or no list of entries: said, not raised as something else
            assert path in str(error) or path.startswith("log.entries"), f"{value!r}: {error}"
            continue
        exported = session.to_har()
        assert [e.message[:100] for e in har_schema.iter_errors(exported)] == [], value
        if wrong(value, field_at(path)):
            assert named(session.report, path), f"{value!r}: {session.report!r}"


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_the_typed_check_rejects_a_wrong_type_in_every_field(value):
    """The fast check (`model.Entry`, which `Rest.check` and `Session.extend` run) sends each
    entry with a value of the wrong type, in any field, to the repair."""
    missed = []
    for path in ENTRY_PATHS:
        field = field_at(path, "entry")
        if not wrong(value, field) or (isinstance(value, str) and field.formats):  # formats: `on_pattern`'s
            continue
        entry = put(copy.deepcopy(ENTRY), path, copy.deepcopy(value))
        if admit.valid_view(msgspec.json.encode(entry)) is not None:
            missed.append(path)
    assert missed == []


@pytest.mark.parametrize("date", ["2023-02-30T00:00:00Z", "2023-13-01T00:00:00Z", "2023-01-01T25:00:00Z"])
def test_a_date_on_no_calendar_is_kept_aside_where_only_the_typed_check_looks(date, har_schema):
    doc = copy.deepcopy(MAXIMAL)
    doc["log"]["entries"][1]["response"]["cookies"][1]["expires"] = date
    session = nn.read_har(doc)
    assert named(session.report, "log.entries[1].response.cookies[1].expires")
    assert session.entries[1]["response"]["cookies"][1]["_expires"] == date
    assert list(har_schema.iter_errors(session.to_har())) == []
