"""Comparisons of captures: timings, change points, request and response changes, replays."""

from necto_nb.analysis.compare import TimingComparison, compare_timings
from necto_nb.analysis.diff import VOLATILE_HEADERS, diff
from necto_nb.analysis.replay import replay

__all__ = ["VOLATILE_HEADERS", "TimingComparison", "compare_timings", "diff", "replay"]
