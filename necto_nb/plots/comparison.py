"""A timing comparison drawn: where each changed request gained or lost its time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from necto_nb.har.conventions import PHASES
from necto_nb.plots.style import PHASE_COLORS, PHASE_LABELS, escape


def comparison_figure(table: pd.DataFrame, *, top: int = 30) -> go.Figure:
    """Per-phase deltas (candidate - baseline, ms) of the `top` matched requests whose total
    changed most, stacked per request, with the total as a diamond; regressions are
    marked ▲ and drawn first. `table` is what `compare_timings` returns."""
    matched = table[table["change"] == "matched"]
    order = matched["time_delta"].abs().sort_values(ascending=False, kind="stable").index
    flagged = matched.index[matched["regression"]]
    shown = matched.loc[list(dict.fromkeys([*flagged, *order]))[:top]]
    labels = _labels(shown)

    deltas = {phase: shown[f"{phase}_delta"].to_numpy("float64", na_value=np.nan) for phase in PHASES}
    # HAR's connect includes ssl: the connect bar is its delta without the ssl delta.
    deltas["connect"] = deltas["connect"] - np.nan_to_num(deltas["ssl"])
    fig = go.Figure()
    for phase in PHASES:
        before = _exclusive(shown, phase, "baseline")
        after = _exclusive(shown, phase, "candidate")
        fig.add_trace(go.Bar(
            orientation="h", x=deltas[phase], y=labels, name=PHASE_LABELS[phase], legendgroup=phase,
            marker={"color": PHASE_COLORS[phase], "line": {"width": 0}},
            customdata=np.column_stack([before, after]),
            hovertemplate=f"{PHASE_LABELS[phase]}: %{{x:+.1f}} ms"
                          " (%{customdata[0]:.1f} → %{customdata[1]:.1f})<extra></extra>",
        ))
    fig.add_trace(go.Scatter(
        x=shown["time_delta"], y=labels, mode="markers", name="total",
        marker={"symbol": "diamond", "color": "#000000", "size": 9},
        customdata=np.column_stack([shown["time_baseline"], shown["time_candidate"], shown["time_ratio"]]),
        hovertemplate="total: %{x:+.1f} ms (%{customdata[0]:.1f} → %{customdata[1]:.1f},"
                      " ×%{customdata[2]:.2f})<extra></extra>",
    ))
    counts = table["change"].value_counts()
    runs = getattr(table, "settings", {}).get("runs", {})
    several = max(runs.values(), default=1) > 1
    what = "medians of {baseline} vs {candidate} runs".format(**runs) if several else "one run each"
    title = (f"Timing deltas, candidate − baseline ({what}): {len(flagged)} regression(s) among "
             f"{counts.get('matched', 0)} matched requests, {counts.get('added', 0)} added, "
             f"{counts.get('removed', 0)} removed")
    fig.update_layout(
        barmode="relative",
        title={"text": title, "font": {"size": 13}},
        xaxis={"title": {"text": "Δ ms (candidate − baseline)"}, "zeroline": True, "zerolinecolor": "#333333"},
        yaxis={"autorange": "reversed", "tickfont": {"size": 10}, "type": "category"},
        height=int(max(320, 140 + 22 * len(shown))),
        template="plotly_white",
    )
    return fig


def _exclusive(table: pd.DataFrame, phase: str, side: str) -> np.ndarray:
    values = table[f"{phase}_{side}"].to_numpy("float64", na_value=np.nan)
    if phase == "connect":
        values = values - np.nan_to_num(table[f"ssl_{side}"].to_numpy("float64", na_value=np.nan))
    return values


def _labels(table: pd.DataFrame) -> list[str]:
    """A unique, escaped label per request: method, the end of its URL, its repeat number."""
    labels, seen = [], set()
    rows = zip(table.index, table["method"], table["url"], table["occurrence"], table["regression"])
    for row, method, url, occurrence, flagged in rows:
        tail = url if len(url) <= 60 else "…" + url[-59:]
        label = ("▲ " if flagged else "") + escape(f"{method} {tail}" + (f" #{occurrence + 1}" if occurrence else ""))
        if label in seen:  # two long URLs with the same ending: the category axis would merge them
            label += f" (row {row})"
        seen.add(label)
        labels.append(label)
    return labels
