"""Runs go wherever lists of Sessions go: compare_timings, trend and waterfall."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import necto_nb as nn
from tests.factory import runs as make_runs


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """12 nights, request 3 three times slower from night 7 on; returns (Runs, Sessions)."""
    folder = tmp_path_factory.mktemp("nightly")
    before = make_runs(6, 8, seed=1)
    after = make_runs(6, 8, seed=2, slow={3: 3.0})
    sessions = before + after
    for night, session in enumerate(sessions, 1):
        session.to_har(folder / f"2026-11-{night:02d}.har")
    return nn.read_hars(folder, progress=False), sessions


def test_compare_timings_takes_runs_as_it_takes_lists_of_sessions(history):
    runs, sessions = history
    before = runs.where(lambda s: s.index < "2026-11-07")
    after = runs.where(lambda s: s.index >= "2026-11-07")
    from_runs = nn.compare_timings(before, after)
    from_sessions = nn.compare_timings(sessions[:6], sessions[6:])
    pd.testing.assert_frame_equal(pd.DataFrame(from_runs), pd.DataFrame(from_sessions))
    pd.testing.assert_frame_equal(from_runs.pages, from_sessions.pages)  # each run's own page timings
    assert from_runs.settings["runs"] == {"baseline": 6, "candidate": 6}
    assert from_runs[from_runs.regression].url.str.contains("/asset/3.js").tolist() == [True]


def test_trend_takes_runs_in_their_order(history):
    runs, _ = history
    changes = nn.trend(runs)
    slow = changes[changes.url.str.contains("/asset/3.js")]
    assert slow.run.tolist() == ["2026-11-07"], changes
    assert list(changes.series.columns) == runs.names


def test_waterfall_draws_a_panel_per_run(history):
    runs, sessions = history
    figure = nn.waterfall(runs.head(2))
    expected = nn.waterfall(sessions[:2])
    assert len(figure.data) == len(expected.data)
    assert [np.asarray(t.x).tolist() for t in figure.data] == [np.asarray(t.x).tolist() for t in expected.data]
