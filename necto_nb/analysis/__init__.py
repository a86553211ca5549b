"""Comparisons of captures: timings, change points, request and response changes, replays."""

from necto_nb.analysis.compare import TimingComparison, compare_timings
from necto_nb.analysis.diff import VOLATILE_HEADERS, diff
from necto_nb.analysis.replay import replay
from necto_nb.analysis.trend import Trend, trend

__all__ = ["VOLATILE_HEADERS", "TimingComparison", "Trend", "compare_timings", "diff", "replay", "trend"]
