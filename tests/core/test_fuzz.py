"""Property-based: whatever JSON or bytes arrive, the result is a Session or a HarError."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import necto_nb as nn
from tests.conftest import assert_frame_matches_entries
from tests.factory import entry, har

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def read(source) -> nn.Session | None:
    try:
        session = nn.read_har(source)
    except nn.HarError as error:
        assert str(error)
        return None
    session.to_har()
    assert_frame_matches_entries(session)
    return session


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_any_bytes(data):
    read(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_any_json(value):
    read(json.dumps(value).encode())


FIELDS = ["startedDateTime", "time", "request", "response", "cache", "timings", "pageref", "serverIPAddress"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=4), st.sampled_from(["request", "response", "timings"]),
       st.dictionaries(st.text(max_size=12), json_values, max_size=3))
def test_entries_with_fields_replaced_by_anything(top, part, inner):
    e = entry()
    e.update(top)
    if isinstance(e.get(part), dict):
        e[part].update(inner)
    session = read(har(e))
    assert session is not None  # a broken entry never makes the whole file unreadable
    assert len(session) + len(session.log.get("_invalidEntries", [])) == 1
