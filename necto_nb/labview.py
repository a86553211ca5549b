"""What JupyterLab's HAR view (labextension/) runs in the kernel it keeps warm for the next
HAR file: the imports of the view's cells ahead of need, then, once a view takes the kernel,
the move into that file's folder. The extension calls these silently (nothing in history)."""

from __future__ import annotations

import os


def warm() -> None:
    """Import what the view's cells use: pandas and the reader, the grid's widgets
    (ipywidgets, anywidget), the progress bar of long reads, and plotly for the waterfall."""
    import necto_nb.plots
    import necto_nb.widgets
    import tqdm.auto  # noqa: F401


def take(folder: str) -> None:
    """Make `folder` (relative to where the kernel started: the server's root) the kernel's
    working folder, as if the kernel had started beside the HAR file."""
    os.chdir(folder or ".")
