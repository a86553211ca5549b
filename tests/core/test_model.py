"""The typed entry model's date pattern says exactly what the frame can read."""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from necto_nb.har import model
from necto_nb.har.repair import frame_date

ENTRY_DATE = re.compile(model.ENTRY_DATE_TIME)
DATE = re.compile(model.DATE_TIME)

dates = st.builds(
    "{}-{:02d}-{:02d}{}{:02d}:{:02d}:{:02d}{}{}".format,
    st.integers(1, 9999).map("{:04d}".format), st.integers(0, 14), st.integers(0, 33), st.sampled_from(["T", "t", " "]),
    st.integers(0, 25), st.integers(0, 61), st.integers(0, 61),
    st.sampled_from(["", ".1", ".123", ".1234567", ".123456789", ".1234567890"]),
    st.sampled_from(["Z", "z", "+02:00", "-07:30", "+24:00", "+02:60", ""]),
)


@settings(max_examples=1000)
@given(dates)
@example("2024-02-29T00:00:00Z")
@example("2100-02-29T00:00:00Z")
@example("2000-02-29T00:00:00Z")
@example("1677-12-31T23:59:59Z")
@example("2262-01-01T00:00:00Z")
@example("2023-04-31T00:00:00Z")
def test_the_entry_date_pattern_is_the_frames_rule(value):
    assert bool(ENTRY_DATE.match(value)) == bool(DATE.match(value) and frame_date(value))
