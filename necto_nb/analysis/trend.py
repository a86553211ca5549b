"""When did it get slower? Change points in each request's timings over a history of runs.

Performance-testing teams found that a threshold on run-to-run deltas cries wolf on every
noisy night and misses a slow creep; MongoDB's CI moved to change-point detection
(e-divisive means, each change kept only if a permutation test says it is significant)
and Apache Otava (formerly Hunter) keeps the same idea. Here each request's series is
searched by ruptures' kernel change-point detection (a maintained library; the linear
kernel is the least-squares cost, solved in C with a penalty), on values scaled by their
noise and clipped so that one outlier run cannot pull a segment. Each change it proposes
is then tested as those tools do: a Mann-Whitney U test of the runs before against the
runs after (its p-value multiplied by the number of places the change could have been,
since the detector chose the likeliest), the p-values of all proposed changes adjusted
together (Benjamini-Hochberg), and the change in medians held against `min_delta` ms and
`threshold`. A lone spike moves no median and is not a change point.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from necto_nb.analysis.compare import METRICS, runs_of
from necto_nb.analysis.on_dask import per_request
from necto_nb.errors import ArgumentError
from necto_nb.match import CACHE_BUSTERS, STAGES, Catalogue, IgnoreQuery, Rule

if TYPE_CHECKING:
    import plotly.graph_objects as go

COLUMNS = ["method", "url", "request", "run", "position", "before", "after", "change_ms", "change_pct",
           "p_value", "q_value"]
_CLIP = 4.0  # noise-scaled values beyond this are held at it: one wild run cannot make a segment


class Trend(pd.DataFrame):
    """`trend`'s answer: one row per change point, a DataFrame with `.figure()`.

    Columns: `method`, `url` (normalised, as first seen), `request` (its number in
    `.series`), `run` (the name of the first run after the change), `position` (that
    run's position in the history), `before` and `after` (medians of the metric over the
    runs between the neighbouring change points, ms), `change_ms`, `change_pct`, `p_value`
    (Mann-Whitney U, before against after, times the number of possible splits) and
    `q_value` (adjusted for every change proposed). `.series` holds the metric per request (rows) and run (columns); `.settings`
    the options used.
    """

    _metadata = ["series", "settings"]

    @property
    def _constructor(self):
        return Trend

    def figure(self, top: int = 12) -> go.Figure:
        """Each changed request's series (the `top` largest changes), with its change points
        and the medians before and after, as a plotly Figure."""
        from necto_nb.plots.trend import trend_figure

        return trend_figure(self, top=top)


def trend(
    runs: Any,
    *,
    metric: str = "time",
    hosts: Mapping[str, str] | None = None,
    ignore_query: IgnoreQuery = CACHE_BUSTERS,
    rules: Sequence[Rule] = (),
    stages: Iterable[str] = STAGES,
    min_delta: float = 5.0,
    threshold: float = 0.10,
    alpha: float = 0.05,
    min_size: int = 3,
    penalty: float | None = None,
) -> Trend:
    """Change points in each request's `metric` (time or a phase) over an ordered history.

    `runs` is a list of Sessions or traffic frames in order (oldest first), or one frame of
    several runs with a `run` column (per-run frames concatenated; runs in order of first
    appearance). Requests are numbered across runs as `nn.match_requests` pairs them
    (`hosts`, `ignore_query`, `rules`, `stages`), each run against the newest form of each
    request, so renamed assets stay one series across deploys. A change needs at least
    `min_size` runs on each side, medians that differ by `min_delta` ms and `threshold`
    (a fraction), and a q-value under `alpha`. `penalty` is the detector's cost of a change
    (default 3 ln n, on noise-scaled values). See `Trend` for the columns.
    """
    if metric not in METRICS:
        raise ArgumentError(f"metric={metric!r}: one of {', '.join(METRICS)}")
    if min_size < 2 or min_delta < 0 or threshold < 0 or not 0 < alpha <= 1:
        raise ArgumentError(f"min_size={min_size}, min_delta={min_delta}, threshold={threshold}, alpha={alpha}: "
                         "min_size must be >= 2, thresholds >= 0 and alpha in (0, 1]")
    names, frames = _history(per_request(runs, ignore_query))
    catalogue = Catalogue(hosts=hosts, ignore_query=ignore_query, rules=rules, stages=stages)
    values = _values(frames, catalogue, metric)
    series = pd.DataFrame(values, columns=pd.Index(names, name="run"))
    series.index.name = "request"
    found = _changes(values, min_size, penalty, min_delta, threshold, alpha)
    rows = []
    if found:
        request, position, before, after, p, standing = (np.array(column) for column in zip(*found))
        q = _adjust(p)  # over every change proposed, dropped ones too: they were tested
        change = after - before
        with np.errstate(divide="ignore", invalid="ignore"):
            pct = np.where(before > 0, 100 * change / before, np.nan)
        keep = standing & (q < alpha) & (np.abs(change) >= min_delta) & (np.abs(change) >= threshold * np.abs(before))
        for i in np.flatnonzero(keep):
            first = catalogue.first[request[i]]
            rows.append({"method": first.method, "url": first.parts.exact, "request": int(request[i]),
                         "run": names[position[i]], "position": int(position[i]), "before": before[i],
                         "after": after[i], "change_ms": change[i], "change_pct": pct[i], "p_value": p[i],
                         "q_value": q[i]})
    out = Trend(pd.DataFrame(rows, columns=COLUMNS).astype(
        {"request": "int64", "position": "int64", "before": "float64", "after": "float64", "change_ms": "float64",
         "change_pct": "float64", "p_value": "float64", "q_value": "float64"}))
    out.series = series
    out.series.attrs["urls"] = [r.parts.exact for r in catalogue.first]
    out.settings = {"metric": metric, "min_delta": min_delta, "threshold": threshold, "alpha": alpha,
                    "min_size": min_size, "penalty": penalty, "runs": len(names)}
    return out


def _history(runs: Any) -> tuple[list[str], list[pd.DataFrame]]:
    """Run names and frames, oldest first."""
    if isinstance(runs, pd.DataFrame) or hasattr(runs, "df") and "run" in runs.df.columns:
        frame = runs if isinstance(runs, pd.DataFrame) else runs.df
        if "run" not in frame.columns:
            raise ArgumentError("runs: one frame is one run; give a list of runs or a frame with a run column")
        parts = runs_of(frame)
        names = [str(p["run"].iloc[0]) for p in parts]
    else:
        items = list(runs) if not hasattr(runs, "df") else [runs]
        parts, names = [], []
        for i, item in enumerate(items):
            frame = item if isinstance(item, pd.DataFrame) else getattr(item, "df", None)
            if not isinstance(frame, pd.DataFrame):
                raise TypeError(f"runs[{i}]: a Session or a traffic frame, not {type(item).__name__}")
            parts.append(frame)
            names.append(str(getattr(item, "name", None) or f"run {i}"))
    for i, frame in enumerate(parts):
        missing = {"method", "url", "started", *METRICS} - set(frame.columns)
        if missing:
            raise ArgumentError(f"runs[{i}]: not a traffic frame (no {', '.join(sorted(missing))} column)")
    if len(parts) < 2:
        raise ArgumentError(f"runs: {len(parts)} run(s); a trend needs a history of several")
    if len(set(names)) < len(names):  # the run column of the result must say which run
        names = [f"{name} ({i})" for i, name in enumerate(names)]
    return names, parts


def _values(frames: list[pd.DataFrame], catalogue: Catalogue, metric: str) -> np.ndarray:
    """`metric` per request number (rows) and run (columns); NaN where a run lacks it."""
    numbers = catalogue.add_frames(frames)[0]
    measured = np.concatenate([frame[metric].to_numpy("float64", na_value=np.nan) for frame in frames])
    if metric != "time":
        measured = np.nan_to_num(measured, nan=0.0)  # a phase that does not apply took 0 ms
    values = np.full((len(catalogue), len(frames)), np.nan)
    values[numbers, np.repeat(np.arange(len(frames)), [len(frame) for frame in frames])] = measured
    return values


def _changes(values: np.ndarray, min_size: int, penalty: float | None, min_delta: float, threshold: float,
             alpha: float) -> list[tuple]:
    """Proposed changes: (request, first run after, median before, median after, p-value,
    whether it still stands).

    The detector picks the split that looks most like a change, so a test of that split
    alone would find changes in noise: each p-value is multiplied by the number of places
    a change could have been (Bonferroni over the splits), as e-divisive's permutation
    test, over every split, guards against the same selection.

    A change is tested against its neighbouring segments only, so a proposed change that
    fails (a burst of slow runs on a loaded machine makes a few) would cut a real one's
    segments short and take its significance with it. As Hunter/Otava merge weak change
    points, the weakest failing change is dropped and its segments joined, and the rest
    tested again, until every change left passes; a dropped change could not have been
    reported (its q-value is at least its p-value), so nothing that passes is lost. The
    dropped changes stay among those the q-values are adjusted for: they were tested.
    """
    import ruptures  # imports scipy.stats: on first use

    found = []
    for request, row in enumerate(values):
        where = np.flatnonzero(~np.isnan(row))
        if len(where) < 2 * min_size:
            continue
        x = row[where]
        splits = len(x) - 2 * min_size + 1
        centre = np.median(x)
        # The noise: the median step from one run to the next (a change is one step of many).
        scale = max(np.median(np.abs(np.diff(x))) / 0.954, 1e-3 * max(abs(centre), 1.0))
        z = np.clip((x - centre) / scale, -_CLIP, _CLIP).reshape(-1, 1)
        pen = penalty if penalty is not None else 3 * np.log(len(x))
        # Where each change lies is fitted again on the values held only at their own 10th and
        # 90th percentiles: in z, a run a little slow beside a step is clipped to the step's
        # level and pulls the change one run early; a wild run is still held in.
        located = np.clip(x, *np.percentile(x, [10, 90]))
        bounds = _placed(located, [0, *ruptures.KernelCPD(kernel="linear", min_size=min_size).fit(z).predict(pen=pen)],
                         min_size)
        while True:
            tested = [_test(x[bounds[k - 1]:bounds[k]], x[bounds[k]:bounds[k + 1]], splits)
                      for k in range(1, len(bounds) - 1)]
            failing = [(p, k) for k, (before, after, p) in enumerate(tested, start=1)
                       if not (p < alpha and abs(after - before) >= max(min_delta, threshold * abs(before)))]
            if not failing:
                break
            p, k = max(failing)
            found.append((request, int(where[bounds[k]]), *tested[k - 1], False))
            del bounds[k]
            bounds = _placed(located, bounds, min_size)
        found += [(request, int(where[bounds[k]]), before, after, p, True)
                  for k, (before, after, p) in enumerate(tested, start=1)]
    return found


def _placed(values: np.ndarray, bounds: list[int], min_size: int) -> list[int]:
    """`bounds` with each change moved to the best split between its neighbours (least
    squares, the detector's cost): where a dropped change was, the next one may now fit
    elsewhere."""
    bounds = list(bounds)
    for k in range(1, len(bounds) - 1):
        lo, hi = bounds[k - 1], bounds[k + 1]
        segment = values[lo:hi]
        sums = np.cumsum(segment)[min_size - 1:len(segment) - min_size]
        left = np.arange(min_size, len(segment) - min_size + 1)
        right = len(segment) - left
        # a split's gain over no split: n_l n_r / n (mean_l - mean_r)^2, maximal where the cost is least
        gain = (sums / left - (segment.sum() - sums) / right) ** 2 * left * right
        bounds[k] = lo + int(left[np.argmax(gain)])
    return bounds


def _test(before: np.ndarray, after: np.ndarray, splits: int) -> tuple[float, float, float]:
    """Medians before and after, and the Mann-Whitney U p-value times the possible splits."""
    from scipy.stats import mannwhitneyu

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # identical values: p is right
        p = mannwhitneyu(before, after, alternative="two-sided").pvalue
    return float(np.median(before)), float(np.median(after)), min(1.0, p * splits)


def _adjust(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values of the changes the detector proposed."""
    from scipy.stats import false_discovery_control

    return false_discovery_control(p, method="bh")
