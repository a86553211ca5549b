"""Change points drawn: each changed request's series over the runs, where it changed."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from necto_nb.plots.style import escape

_PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]


def trend_figure(changes: pd.DataFrame, *, top: int = 12) -> go.Figure:
    """One line per changed request (the `top` with the largest changes), its metric over
    the runs, each change point marked with the medians before and after as dashed steps.
    `changes` is what `nn.trend` returns."""
    series: pd.DataFrame = changes.series
    metric = changes.settings.get("metric", "time")
    runs = [str(r) for r in series.columns]
    order = changes.assign(size=changes["change_ms"].abs()).sort_values("size", ascending=False, kind="stable")
    shown = list(dict.fromkeys(order["request"]))[:top]
    fig = go.Figure()
    for n, request in enumerate(shown):
        colour = _PALETTE[n % len(_PALETTE)]
        mine = changes[changes["request"] == request].sort_values("position")
        label = escape(f"{mine['method'].iloc[0]} {_tail(mine['url'].iloc[0])}")
        fig.add_trace(go.Scatter(
            x=runs, y=series.loc[request].to_numpy("float64"), mode="lines+markers", name=label,
            legendgroup=str(request), line={"color": colour, "width": 1.5}, marker={"size": 5},
            hovertemplate=f"{label}<br>%{{x}}: %{{y:,.1f}} ms<extra></extra>",
        ))
        steps_x, steps_y = _steps(mine, runs)
        fig.add_trace(go.Scatter(
            x=steps_x, y=steps_y, mode="lines", line={"color": colour, "dash": "dash", "width": 1},
            legendgroup=str(request), showlegend=False, hoverinfo="skip",
        ))
        for row in mine.itertuples(index=False):
            fig.add_trace(go.Scatter(
                x=[row.run], y=[row.after], mode="markers", legendgroup=str(request), showlegend=False,
                marker={"symbol": "triangle-up" if row.change_ms > 0 else "triangle-down", "size": 13,
                        "color": colour, "line": {"width": 1, "color": "#333333"}},
                hovertemplate=(f"{label}<br>change at {escape(row.run)}: {row.before:,.1f} → {row.after:,.1f} ms"
                               f" ({row.change_ms:+,.1f} ms, {row.change_pct:+.0f} %)<extra></extra>"),
            ))
    noun = "change point" if len(changes) == 1 else "change points"
    fig.update_layout(
        title={"text": f"{len(changes)} {noun} in {metric} over {len(runs)} runs"
                       + (f" (the {len(shown)} largest shown)" if len(shown) < changes["request"].nunique() else ""),
               "font": {"size": 13}},
        xaxis={"title": {"text": "run"}, "type": "category", "categoryorder": "array", "categoryarray": runs},
        yaxis={"title": {"text": f"{metric} (ms)"}, "rangemode": "tozero"},
        template="plotly_white", height=460, hovermode="closest",
    )
    return fig


def _steps(changes: pd.DataFrame, runs: list[str]) -> tuple[list, list]:
    """The medians between change points, as a dashed step line (None breaks it)."""
    xs: list = []
    ys: list = []
    positions = changes["position"].tolist()
    bounds = [0, *positions, len(runs)]
    medians = [changes["before"].iloc[0], *changes["after"].tolist()]
    for (start, end), median in zip(zip(bounds, bounds[1:]), medians):
        xs += [runs[start], runs[end - 1], None]
        ys += [median, median, None]
    return xs, ys


def _tail(url: str, width: int = 60) -> str:
    return url if len(url) <= width else "…" + url[-(width - 1):]


__all__ = ["trend_figure"]
