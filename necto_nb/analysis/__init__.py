"""Comparisons of captures: timings, request and response changes, replays."""

from necto_nb.analysis.compare import TimingComparison, compare_timings
from necto_nb.analysis.diff import VOLATILE_HEADERS, diff
from necto_nb.analysis.match import CACHE_BUSTERS, normalise_url
from necto_nb.analysis.replay import replay

__all__ = ["CACHE_BUSTERS", "VOLATILE_HEADERS", "TimingComparison", "compare_timings", "diff", "normalise_url",
           "replay"]
