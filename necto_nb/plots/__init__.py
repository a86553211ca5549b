"""Figures of traffic: the timing waterfall and the drawing of a timing comparison."""

from necto_nb.plots.style import PHASE_COLORS
from necto_nb.plots.waterfall import waterfall

__all__ = ["PHASE_COLORS", "waterfall"]
