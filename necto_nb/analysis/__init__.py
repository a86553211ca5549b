"""Comparisons of captures: timings, request and response changes, replays."""

from necto_nb.analysis.compare import TimingComparison, compare_timings
from necto_nb.analysis.match import CACHE_BUSTERS, normalise_url

__all__ = ["CACHE_BUSTERS", "TimingComparison", "compare_timings", "normalise_url"]
