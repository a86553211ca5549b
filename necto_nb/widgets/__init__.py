"""Notebook widgets: `TrafficGrid`, a selectable traffic grid with Import and Export buttons.

Imported on first use (`Session.grid()`, `nn.TrafficGrid`): anywidget and ipywidgets are
not needed to read a HAR.
"""

from necto_nb.widgets.grid import TrafficGrid
from necto_nb.widgets.table import TrafficTable

__all__ = ["TrafficGrid", "TrafficTable"]
