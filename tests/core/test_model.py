"""The typed entry model's date pattern says exactly what the frame can read."""

from __future__ import annotations

import re
from datetime import datetime

from hypothesis import example, given, settings
from hypothesis import strategies as st

import pandas as pd

from necto_nb.har import model

ENTRY_DATE = re.compile(model.ENTRY_DATE_TIME)
RFC3339 = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-5][0-9])$")


def frame_reads(value: str) -> bool:
    """The oracle: RFC 3339 in the HAR schema's form, and pandas reads it in datetime64[ns]."""
    if not RFC3339.match(value):
        return False
    try:
        pd.to_datetime([value], utc=True, format="ISO8601").as_unit("ns")
    except (ValueError, OverflowError):
        return False
    return 1678 <= int(value[:4]) <= 2261

dates = st.builds(
    "{}-{:02d}-{:02d}{}{:02d}:{:02d}:{:02d}{}{}".format,
    st.integers(1, 9999).map("{:04d}".format), st.integers(0, 14), st.integers(0, 33), st.sampled_from(["T", "t", " "]),
    st.integers(0, 25), st.integers(0, 61), st.integers(0, 61),
    st.sampled_from(["", ".1", ".123", ".1234567", ".123456789", ".1234567890"]),
    st.sampled_from(["Z", "z", "+02:00", "-07:30", "+24:00", "+02:60", ""]),
)


@settings(max_examples=1000, deadline=None)
@given(dates)
@example("2024-02-29T00:00:00Z")
@example("2100-02-29T00:00:00Z")
@example("2000-02-29T00:00:00Z")
@example("1677-12-31T23:59:59Z")
@example("2262-01-01T00:00:00Z")
@example("2023-04-31T00:00:00Z")
@example("199\uff19-01-01T00:00:00Z")  # a full-width digit
def test_the_entry_date_pattern_is_the_frames_rule(value):
    assert bool(ENTRY_DATE.match(value)) == frame_reads(value)
    assert model.on_pattern([view_started(value)]) == frame_reads(value)


def view_started(value: str) -> model.FrameEntry:
    return model.FrameEntry(value, 0.0, model.FrameRequest("GET", "https://example.com/", "HTTP/1.1", 0),
                            model.FrameResponse(200, "", "HTTP/1.1", model.FrameContent(0, ""), -1, 0),
                            model.Timings(0, 0, 0))


def test_a_chunk_is_on_pattern_when_every_start_is():
    # on_pattern checks each day of a chunk once, then every time
    def chunk(*starts):
        return model.on_pattern([view_started(s) for s in starts])

    assert chunk("2024-02-29T23:59:59.5Z", "2024-02-29T00:00:00Z", "2024-03-01T01:00:00+01:00")
    assert not chunk("2026-11-01T23:59:59Z", "2026-11-01T24:00:00Z")
    assert not chunk("2026-11-01T23:59:59Z", "2026-02-29T00:00:00Z")
    assert not chunk("2026-11-01T23:59:59Z", "2026-11-01")


def calendar_reads(value: str) -> bool:
    """The oracle: RFC 3339 with a zone (lower-case z allowed), on Python's calendar."""
    if not re.match(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|z|[+-][0-9]{2}:[0-5][0-9])\Z", value):
        return False
    try:
        datetime.fromisoformat(value.upper())
    except ValueError:
        return False
    return True


@settings(max_examples=1000, deadline=None)
@given(dates)
@example("2024-02-29T00:00:00Z")
@example("2100-02-29T00:00:00Z")
@example("2000-02-29T00:00:00z")
@example("0400-02-29T00:00:00Z")
@example("0000-01-01T00:00:00Z")
@example("9999-12-31T23:59:59+23:59")
@example("2023-02-30T00:00:00Z")
@example("2023-01-01T00:00:00Z\n")
def test_the_date_time_pattern_is_a_calendar(value):
    """A cookie's `expires` is checked by this pattern alone (the typed check): a date the
    schema's `date-time` format rejects (February 30th) must not pass it."""
    assert bool(re.match(model.DATE_TIME, value)) == calendar_reads(value)
