"""The timing waterfall: one lane per request, one bar per phase, one panel per session.

Few traces, many points: a panel has one trace per phase (horizontal `go.Bar`s, each
starting at its phase's `base`), one invisible point per request that carries the hover
text, and one marker trace per status class. A trace per request makes plotly.js slow
long before 10,000 requests. Bars are SVG elements, though, and plotly.js takes about
0.1 ms to draw each: beyond `BARS_UP_TO` requests the phases are WebGL line segments
(`go.Scattergl`) instead, still one trace per phase (docs/benchmarks.md has the costs).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from necto_nb.errors import ArgumentError
from necto_nb.har.conventions import NO_RESPONSE
from necto_nb.har.conventions import PHASES as COLUMNS
from necto_nb.plots.style import PHASE_COLORS, PHASE_LABELS, escape, escape_all, wrap
from necto_nb.runs import Runs
from necto_nb.session import Session

#: Status classes marked at the end of a request's bar: name -> (marker symbol, colour).
STATUS_MARKS: dict[str, tuple[str, str]] = {
    "failed": ("x-thin-open", "#000000"),
    "3xx": ("circle-open", "#0072B2"),
    "4xx": ("triangle-up", "#E69F00"),
    "5xx": ("square", "#D55E00"),
}
# Page timing lines: the two that every tool writes get their own dash, the others dots.
_DASH = {"onContentLoad": "dash", "onLoad": "solid"}
#: Up to this many requests in a figure the phases are SVG bars; beyond, WebGL lines.
BARS_UP_TO = 1000
_LANE_LABELS_UP_TO = 150  # more lanes than this and their tick labels only overlap
# Hover: frame columns sent to plotly.js per request, and how its template shows each.
_NUMBERS = ["response_size", "transfer_size", "time", *COLUMNS]
_HOVER = ("%{{hovertext}}<br>size {response_size} ({transfer_size} transferred) · total {time}"
          "<br>blocked {blocked} · dns {dns} · connect {connect} (ssl {ssl})"
          "<br>send {send} · wait {wait} · receive {receive}<extra></extra>")
_UNTIMED_MS = 1.0  # entry.time beyond the sum of its phases by less than this is rounding


def waterfall(
    sessions: Session | Sequence[Session] | Runs,
    *,
    page: str | int | None = None,
    rows: Any = None,
    title: str | None = None,
    align: bool | Mapping[str, Any] = False,
) -> go.Figure:
    """A timing waterfall of one or several sessions, as a plotly Figure.

    x is milliseconds since the start of `page` (a page id, or its position in
    `session.pages`), else since the session's start; each session is measured from its
    own start, so runs line up in panels that share the x axis. `rows` picks requests as
    `Session.select` does (index labels, a boolean mask or a filtered frame); with several
    sessions (or Runs: a panel per run) give a list with one selection (or None) per session. Page timings
    (onContentLoad, onLoad, _firstPaint, ...) are labelled vertical lines; failed, 3xx,
    4xx and 5xx requests are marked at the end of their bar.

    `align=True` puts each request on the lane of its match in the first session
    (`nn.match_requests`; a dict of its options, such as `{"hosts": {...}}`, aligns with
    those): a request only the first has leaves its lane empty below, one the first lacks
    gets a lane at the end.
    """
    # Runs: a Session per run
    group: list[Session] = [sessions] if isinstance(sessions, Session) else list(sessions)
    if not group:
        raise ArgumentError("waterfall() needs at least one session")
    if rows is None:
        picks = [None] * len(group)
    elif isinstance(sessions, Session):
        picks = [rows]
    else:
        picks = list(rows)
        if len(picks) != len(group):
            raise ArgumentError(f"rows: {len(picks)} selections for {len(group)} sessions; "
                                "give one per session (None for all of it)")
    panels = [_place(s, page, r) for s, r in zip(group, picks)]
    if align is not False and len(panels) > 1:
        _align(panels, {} if align is True else dict(align))

    heights = np.array([max(p.height, 3) for p in panels], dtype=float)
    layout = _panels([p.name for p in panels], heights / heights.sum())
    data: list[dict] = []
    shapes: list[dict] = []
    annotations = list(layout.get("annotations", []))
    legend: set[str] = set()
    height = int(min(1600, max(360, 160 + heights.sum() * 16)))
    lanes = int(sum(p.height for p in panels))
    # Beyond BARS_UP_TO requests the phases are WebGL lines, about as thick as a lane (at
    # least a pixel): SVG bars cost plotly.js about 0.1 ms each, on every redraw.
    line = None if lanes <= BARS_UP_TO else float(np.clip(0.8 * (height - 200) / lanes, 1, 8))
    for i, panel in enumerate(panels, start=1):
        axis = "" if i == 1 else str(i)
        data += panel.traces(legend, f"x{axis}", f"y{axis}", line)
        lines, labels = panel.page_marks(f"x{axis}", f"y{axis} domain")
        shapes += lines
        annotations += labels
        yaxis = layout[f"yaxis{axis}"]
        yaxis |= {"autorange": "reversed", "zeroline": False, "showgrid": False}
        if len(panel.frame) <= _LANE_LABELS_UP_TO:
            yaxis |= {"tickmode": "array", "tickvals": panel.lanes.tolist(),
                      "ticktext": panel.lane_labels(), "tickfont": {"size": 9}}
        else:
            yaxis |= {"showticklabels": False, "title": {"text": f"{len(panel.frame):,} requests"}}
        layout[f"xaxis{axis}"]["rangemode"] = "tozero"
    layout[f"xaxis{'' if len(panels) == 1 else len(panels)}"]["title"] = {"text": panels[0].axis_title}
    layout.update(
        barmode="overlay",
        hovermode="y",
        hoverdistance=-1,
        height=height,
        shapes=shapes,
        annotations=annotations,
        margin={"l": 10, "r": 10, "t": 60 if title else 40},
        template="plotly_white",
    )
    if title:
        layout["title"] = {"text": escape(title)}
    return go.Figure(data=data, layout=layout)  # validated once, with the template set


@dataclass
class _Panel:
    """One session's requests placed in time: what one panel of the waterfall draws."""

    name: str
    frame: pd.DataFrame  # the requests drawn, in order of their start
    start: np.ndarray  # ms since the origin
    spans: dict[str, np.ndarray]  # drawn phase -> ms (0 where it does not apply)
    marks: list[tuple[float, str, str]]  # page timing lines: (x, label, dash)
    axis_title: str
    lanes: np.ndarray = None  # type: ignore[assignment]  # each request's lane; in order unless aligned

    def __post_init__(self) -> None:
        if self.lanes is None:
            self.lanes = np.arange(len(self.frame), dtype="float32")

    @property
    def height(self) -> int:
        """Lanes drawn, empty ones (a request the panel lacks, when aligned) included."""
        return int(self.lanes.max()) + 1 if len(self.lanes) else 0

    def traces(self, legend: set[str], xaxis: str, yaxis: str, line: float | None) -> list[dict]:
        """The panel's traces: hover points, one trace per phase, one per status class.

        `line` None draws phases as bars; a width in pixels draws them as WebGL lines.
        """
        # Positions go to the browser as float32 (half the bytes of the page; 0.01 ms apart
        # a minute into a session, finer than any screen); hover numbers stay float64.
        lanes = self.lanes
        axes = {"xaxis": xaxis, "yaxis": yaxis}
        points = "scatter" if line is None else "scattergl"
        total = sum(self.spans.values())
        # One invisible point per request carries its hover text; with hovermode "y" the
        # whole lane shows it, wherever its bars are. Size 0: hover finds points by data
        # distance, and a software-rendered WebGL canvas spends seconds on 10,000 markers.
        traces = [dict(type=points, x=x.astype("float32"), y=y, mode="markers", marker={"size": 0, "opacity": 0},
                       **hover, name="request", showlegend=False, **axes)
                  for x, y, hover in self.hover(self.start + total / 2, lanes)]
        offset = self.start.copy()
        for phase, span in self.spans.items():
            drawn = span > 0
            style = {"name": PHASE_LABELS[phase], "legendgroup": phase, "showlegend": phase not in legend,
                     "hoverinfo": "skip", **axes}
            if line is None:
                traces.append(dict(type="bar", orientation="h", base=_typed(offset[drawn], "f4"),
                                   x=span[drawn].astype("float32"), y=lanes[drawn],
                                   marker={"color": PHASE_COLORS[phase], "line": {"width": 0}}, **style))
            else:
                x, y = _segments(offset[drawn], span[drawn], lanes[drawn])
                traces.append(dict(type="scattergl", x=x.astype("float32"), y=y, mode="lines",
                                   line={"color": PHASE_COLORS[phase], "width": line}, **style))
            legend.add(phase)
            offset = offset + span
        status = self.frame["status"].fillna(0).to_numpy("int64")
        failed = (status == 0) | self.frame["error"].notna().to_numpy()
        classes = {"failed": failed, "3xx": ~failed & (status >= 300) & (status < 400),
                   "4xx": ~failed & (status >= 400) & (status < 500), "5xx": ~failed & (status >= 500)}
        for cls, mask in classes.items():
            if mask.any():
                symbol, colour = STATUS_MARKS[cls]
                traces.append(dict(
                    type=points, x=offset[mask].astype("float32"), y=lanes[mask], mode="markers", hoverinfo="skip",
                    marker={"symbol": symbol, "color": colour, "size": 8, "line": {"width": 1.5, "color": colour}},
                    name=cls, legendgroup=cls, showlegend=cls not in legend, **axes,
                ))
                legend.add(cls)
        return traces

    def hover(self, x: np.ndarray, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, dict[str, Any]]]:
        """Hover points at (x, y), one trace's worth per pattern of missing values: every
        piece of HAR text escaped.

        The numbers go to plotly.js as a typed array and are formatted there, on hover, by
        the trace's template; formatting them in Python would be most of the build time at
        10,000 requests. A value that does not apply reads "–", so requests missing
        different values (dns, ssl...) get different templates: a handful per session.
        """
        f = self.frame
        numbers = np.column_stack([f[c].to_numpy("float64", na_value=np.nan) for c in _NUMBERS]) \
            if len(f) else np.empty((0, len(_NUMBERS)))
        status = f["status"].fillna(0).astype("int64").tolist()
        answers = [NO_RESPONSE if not code else f"{code} {reason}".rstrip()
                   for code, reason in zip(status, escape_all(f["status_text"].fillna("").tolist()))]
        urls = [(u.replace("&", "&amp;") if "<" not in u and ">" not in u else escape(u)) if len(u) <= 100
                else wrap(u) for u in f["url"].fillna("").tolist()]  # most URLs have an & and nothing else
        errors = ["" if not isinstance(e, str) or e == NO_RESPONSE else "<br>error: " + escape(e, 200)
                  for e in f["error"].tolist()]  # NO_RESPONSE is what status 0 already says
        texts = np.asarray([f"<b>{m}</b> {u}<br>status {a}{e}" for m, u, a, e in
                            zip(escape_all(f["method"].astype(str).tolist()), urls, answers, errors)], dtype=str)
        missing = np.isnan(numbers) @ (1 << np.arange(len(_NUMBERS)))
        groups = []
        for pattern in np.unique(missing):
            mine = missing == pattern
            groups.append((x[mine], y[mine], {"hovertext": texts[mine], "customdata": _typed(numbers[mine]),
                                             "hovertemplate": _template(int(pattern))}))
        return groups or [(x, y, {"hovertext": texts})]

    def lane_labels(self) -> list[str]:
        paths = self.frame["path"].fillna("").str.split("?", n=1).str[0]
        return [escape(f"{m} {p if len(p) <= 40 else '…' + p[-39:]}")
                for m, p in zip(self.frame["method"].astype(str), paths)]

    def page_marks(self, xref: str, yref: str) -> tuple[list[dict], list[dict]]:
        lines, labels = [], []
        for x, label, dash in self.marks:
            lines.append({"type": "line", "xref": xref, "yref": yref, "x0": x, "x1": x, "y0": 0, "y1": 1,
                          "line": {"color": "#333333", "width": 1, "dash": dash}})
            labels.append({"xref": xref, "yref": yref, "x": x, "y": 1, "text": escape(label, 60),
                           "showarrow": False, "textangle": -90, "xanchor": "right", "yanchor": "top",
                           "font": {"size": 9, "color": "#333333"}})
        return lines, labels


def _align(panels: list[_Panel], options: dict[str, Any]) -> None:
    """Lanes by matched request: each panel's requests on the lanes of their match in the
    first panel, requests the first lacks on new lanes after its last."""
    from necto_nb.match import match_requests

    first = panels[0]
    lane_of = dict(zip(first.frame.index, first.lanes.tolist()))
    for panel in panels[1:]:
        pairs = match_requests(first.frame, panel.frame, **options)
        matched = pairs[pairs["change"] == "matched"]
        lanes = {b: lane_of[a] for a, b in zip(matched["entry_a"].tolist(), matched["entry_b"].tolist())}
        added = pairs.loc[pairs["change"] == "added", "entry_b"].tolist()
        lanes.update({e: float(first.height + i) for i, e in enumerate(added)})
        panel.lanes = np.array([lanes[e] for e in panel.frame.index], dtype="float32")


def _typed(values: np.ndarray, dtype: str = "f8") -> dict:
    """A float array (1-D or 2-D) as a plotly.js typed-array spec ("f8" or "f4").

    plotly.py keeps `base` and `customdata` as object arrays that it deep-copies value by
    value; the spec (the form plotly.py itself writes arrays to JSON in) passes through.
    """
    spec = {"dtype": dtype, "bdata": base64.b64encode(np.ascontiguousarray(values, dtype=f"<{dtype}").tobytes()).decode("ascii")}
    if values.ndim == 2:
        spec["shape"] = f"{values.shape[0]},{values.shape[1]}"
    return spec


def _panels(titles: list[str], shares: np.ndarray) -> dict:
    """Layout of panels stacked top to bottom, sharing the bottom panel's x axis, each
    titled. What `make_subplots(shared_xaxes=True)` makes, without the throwaway Figure
    (and its template) it builds, a fifth of the waterfall's build time."""
    n = len(titles)
    gap = min(0.08, 0.3 / n) if n > 1 else 0.0
    layout: dict[str, Any] = {"annotations": []}
    top = 1.0
    for i, (title, share) in enumerate(zip(titles, shares)):
        axis = "" if i == 0 else str(i + 1)
        bottom = max(top - share * (1 - gap * (n - 1)), 0.0)
        layout[f"yaxis{axis}"] = {"domain": [bottom, top], "anchor": f"x{axis}"}
        layout[f"xaxis{axis}"] = {"domain": [0.0, 1.0], "anchor": f"y{axis}"}
        if i < n - 1:
            layout[f"xaxis{axis}"] |= {"matches": f"x{n}", "showticklabels": False}
        layout["annotations"].append({"text": escape(title, 120), "x": 0.5, "y": top, "xref": "paper",
                                      "yref": "paper", "xanchor": "center", "yanchor": "bottom", "showarrow": False,
                                      "font": {"size": 16}})
        top = bottom - gap
    return layout


def _template(missing: int) -> str:
    """The hover template for a pattern of missing values (bit i: `_NUMBERS[i]` is NaN)."""
    fields = {}
    for i, name in enumerate(_NUMBERS):
        unit = "B" if name.endswith("size") else " ms"
        number = f"%{{customdata[{i}]:.3~s}}B" if unit == "B" else f"%{{customdata[{i}]:,.1f}} ms"
        fields[name] = "–" if missing >> i & 1 else number
    return _HOVER.format(**fields)


def _segments(start: np.ndarray, span: np.ndarray, lane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal segments as one line broken by NaN gaps: x0, x1, NaN per segment."""
    x = np.column_stack([start, start + span, np.full(len(start), np.nan)]).ravel()
    y = np.column_stack([lane, lane, np.full(len(lane), np.nan)]).ravel().astype(lane.dtype)
    return x, y


def _when(page: dict) -> pd.Timestamp | None:
    try:
        return pd.Timestamp(page.get("startedDateTime")).tz_convert("UTC")
    except (TypeError, ValueError):
        return None


def _page(session: Session, page: str | int) -> dict:
    pages = session.pages
    if isinstance(page, int) and not isinstance(page, bool):
        if -len(pages) <= page < len(pages):
            return pages[page]
        raise ArgumentError(f"page={page}: session {session.name!r} has {len(pages)} pages")
    for p in pages:
        if p.get("id") == page:
            return p
    known = ", ".join(repr(p.get("id")) for p in pages[:10]) or "none"
    raise ArgumentError(f"page={page!r} is not a page id of session {session.name!r} (its pages: {known})")


def _place(session: Session, page: str | int | None, rows: Any) -> _Panel:
    df = session.df
    frame = df if rows is None else df.loc[session._positions(rows)]  # rows as Session.select reads them
    if page is not None:
        chosen = _page(session, page)
        frame = frame[frame["page"] == chosen.get("id")]
        marked, origin, axis = [chosen], _when(chosen), "ms since the start of the page"
    else:
        marked, axis = list(session.pages), "ms since the start of the session"
        starts = [t for t in (_when(p) for p in marked) if t is not None]
        if len(df):
            starts.append(df["started"].min())
        origin = min((t for t in starts if not pd.isna(t)), default=None)
    frame = frame.sort_values("started", kind="stable")
    if origin is None or pd.isna(origin):
        origin = frame["started"].min()
    start = ((frame["started"] - origin) / pd.Timedelta(milliseconds=1)).to_numpy("float64", na_value=np.nan)

    raw = {p: np.nan_to_num(frame[p].to_numpy("float64", na_value=np.nan), nan=0.0).clip(min=0)
           for p in COLUMNS}
    spans = dict(raw)
    spans["connect"] = (raw["connect"] - raw["ssl"]).clip(min=0)  # HAR: connect includes ssl
    timed = sum(spans.values())
    untimed = np.nan_to_num(frame["time"].to_numpy("float64", na_value=np.nan), nan=0.0) - timed
    if (untimed > _UNTIMED_MS).any():
        spans["untimed"] = np.where(untimed > _UNTIMED_MS, untimed, 0.0)

    marks = []
    for p in marked:
        shift = 0.0 if page is not None else ((_when(p) or origin) - origin) / pd.Timedelta(milliseconds=1)
        suffix = f" ({p.get('id')})" if len(marked) > 1 else ""
        if len(marked) > 1:
            marks.append((shift, f"page {p.get('id')}", "dot"))
        for name, value in (p.get("pageTimings") or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < float("inf"):
                marks.append((shift + float(value), name + suffix, _DASH.get(name, "dot")))
    return _Panel(session.name, frame, start, spans, marks, axis)
