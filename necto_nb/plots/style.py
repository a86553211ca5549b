"""How necto_nb figures look, and how HAR text is made safe to show in them.

The phase colours are the Okabe-Ito palette (safe for the common colour-vision
deficiencies), fixed per phase so every figure and every session reads the same way.
"""

from __future__ import annotations

import html

import numpy as np

#: Drawn phases in drawing order. HAR's `connect` includes `ssl`, so a waterfall draws
#: `connect` without `ssl` ("connect") and `ssl` beside it, never the ssl time twice.

PHASE_COLORS: dict[str, str] = {
    "blocked": "#999999",  # grey: queued in the client, not the network
    "dns": "#009E73",  # bluish green
    "connect": "#E69F00",  # orange
    "ssl": "#CC79A7",  # reddish purple
    "send": "#0072B2",  # blue
    "wait": "#56B4E9",  # sky blue
    "receive": "#D55E00",  # vermillion
    "untimed": "#DDDDDD",  # entry.time beyond the sum of its phases
}

PHASE_LABELS: dict[str, str] = {
    "blocked": "blocked",
    "dns": "dns",
    "connect": "connect (without ssl)",
    "ssl": "ssl",
    "send": "send",
    "wait": "wait",
    "receive": "receive",
    "untimed": "untimed",
}


def escape(text: object, limit: int = 0) -> str:
    """HAR text as plotly shows it: literally.

    plotly renders hover text, titles and tick labels as a subset of HTML (`<b>`, `<br>`,
    `<a href>`, entities), so `<`, `>` and `&` from a URL or a header must be escaped or
    they become markup. `limit` cuts the text (before escaping, never inside an entity).
    """
    text = "" if text is None else str(text)
    if limit and len(text) > limit:
        text = text[: limit - 1] + "…"
    return html.escape(text, quote=False)


def escape_all(texts: list) -> list[str]:
    """`escape` over a column; most URLs need nothing, and checking is cheaper than replacing."""
    return [t if "<" not in t and ">" not in t and "&" not in t else html.escape(t, quote=False)
            if isinstance(t, str) else escape(t) for t in texts]


def wrap(text: str, width: int = 100, lines: int = 3) -> str:
    """Escaped `text` broken into at most `lines` lines of `width` characters for a hover label."""
    if len(text) <= width:
        return escape(text)
    text = text if len(text) <= width * lines else text[: width * lines - 1] + "…"
    return "<br>".join(escape(text[i : i + width]) for i in range(0, len(text), width))


def ms(values: np.ndarray) -> list[str]:
    """Milliseconds as hover text, a dash where a phase does not apply (NaN)."""
    return ["%.1f ms" % v if v == v else "–" for v in values.tolist()]


def size(values: np.ndarray) -> list[str]:
    """Byte counts as hover text, a dash where unknown (NaN)."""
    return ["–" if v != v or v < 0 else "%.1f MB" % (v / 1e6) if v >= 1e6 else "%.1f kB" % (v / 1e3)
            if v >= 1e3 else "%d B" % v for v in values.tolist()]
