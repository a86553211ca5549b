"""A timing comparison as one self-contained HTML page, for a CI artefact or an e-mail.

Everything that comes from a HAR (URLs, methods, file names) is escaped before it reaches
the page; the figure's data goes in as JSON that plotly.io writes with `<` escaped, so a
URL cannot close the script it sits in.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime, timezone

import pandas as pd
import plotly.io as pio

from necto_nb.plots.comparison import comparison_figure

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: right; }
th:first-child, td:first-child, td.url { text-align: left; }
td.url { max-width: 60em; overflow-wrap: anywhere; }
tr.regression td { background: #fdecea; }
"""
_SHOWN = {"method": "method", "url": "URL", "matched_by": "matched by", "time_baseline": "before (ms)",
          "time_candidate": "after (ms)", "time_delta": "delta (ms)", "time_shift": "shift (ms)",
          "time_shift_low": "CI low", "time_shift_high": "CI high", "time_cliffs_delta": "Cliff's delta",
          "q_value": "q-value"}


def comparison_html(table: pd.DataFrame, before: Sequence[str], after: Sequence[str], *, top: int = 30) -> str:
    """The page: what was compared, the requests that got slower, the figure of the
    largest changes, the requests only on one side."""
    flagged = table[table["regression"]].sort_values("time_delta", ascending=False)
    matched = table[table["change"] == "matched"]
    changed = matched.reindex(matched["time_delta"].abs().sort_values(ascending=False).index)[:top]
    figure = pio.to_html(comparison_figure(table, top=top), full_html=False, include_plotlyjs=True)
    counts = table["change"].value_counts()
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        "<title>necto-nb: timing comparison</title>", f"<style>{_STYLE}</style></head><body>",
        "<h1>Timing comparison</h1>",
        f"<p>{len(before)} run(s) before, {len(after)} run(s) after; {counts.get('matched', 0)} requests matched, "
        f"{counts.get('removed', 0)} only before, {counts.get('added', 0)} only after. "
        f"Written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.</p>",
        _files("Before", before), _files("After", after),
        f"<h2>{len(flagged)} request(s) got slower</h2>", _rows(flagged, regression=True) if len(flagged) else "",
        f"<h2>The {len(changed)} largest changes</h2>", figure, _rows(changed),
        _unmatched(table, "removed", "Only before"), _unmatched(table, "added", "Only after"),
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p)


def _files(title: str, files: Sequence[str]) -> str:
    items = "".join(f"<li>{html.escape(str(f))}</li>" for f in files)
    return f"<details><summary>{title}: {len(files)} file(s)</summary><ul>{items}</ul></details>"


def _rows(rows: pd.DataFrame, *, regression: bool = False) -> str:
    columns = [c for c in _SHOWN if c in rows.columns]
    head = "".join(f"<th>{_SHOWN[c]}</th>" for c in columns)
    body = []
    for _, row in rows.iterrows():
        cells = []
        for c in columns:
            value = row[c]
            if pd.isna(value):
                text = ""
            elif isinstance(value, float):
                text = f"{value:.2g}" if c == "q_value" else f"{value:+,.2f}" if c == "time_cliffs_delta" \
                    else f"{value:,.1f}"
            else:
                text = str(value)
            cells.append(f'<td class="url">{html.escape(text)}</td>' if c == "url" else f"<td>{html.escape(text)}</td>")
        marked = ' class="regression"' if regression or row.get("regression") else ""
        body.append(f"<tr{marked}>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _unmatched(table: pd.DataFrame, change: str, title: str) -> str:
    rows = table[table["change"] == change]
    if rows.empty:
        return ""
    items = "".join(f"<li>{html.escape(f'{m} {u}')}</li>" for m, u in zip(rows["method"], rows["url"]))
    return f"<h2>{title}: {len(rows)}</h2><ul>{items}</ul>"
