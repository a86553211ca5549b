"""Did a change make it slower? Per request and phase, baseline against candidate.

With one capture on each side the answer is a delta per request; with several runs on
each side it is a delta of medians, the spread of each side, a Mann-Whitney U test per
request (scipy), and per request and phase the Hodges-Lehmann shift with its confidence
interval and Cliff's delta: timings are skewed and heavy-tailed, so rank statistics, not
a t-test and a difference of means.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from necto_nb.analysis.on_dask import per_request
from necto_nb.errors import ArgumentError, ArgumentTypeError
from necto_nb.frame import PHASES
from necto_nb.match import CACHE_BUSTERS, KEY, OFFSET, STAGES, Catalogue, IgnoreQuery, Rule, run_offsets
from necto_nb.runs import Runs

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from necto_nb.session import Session

#: Compared per request: the total and every HAR phase (`connect` includes `ssl`, as in HAR).
METRICS = ["time", *PHASES]
_SIDES = ("baseline", "candidate")
_UNITS = {"requests": "requests", "transfer_size": "bytes"}
_EXACT_UP_TO = 50  # runs in all up to which a U test's p-value is exact (scipy's exact method is fast to here)
_PAIRS_UP_TO = 40_000  # pairwise differences per Hodges-Lehmann estimate; beyond, an even sample of them


class TimingComparison(pd.DataFrame):
    """`compare_timings`' answer: one row per request, a DataFrame (`.plot` is pandas' own)
    whose `.figure()` draws the per-phase deltas.

    Columns: `method`, `url` (the normalised URL, the baseline's where it has the request),
    `occurrence`, `change` ("matched", "added", "removed"), `matched_by` (the matching stage
    that paired the candidate's request with the baseline's, see `nn.match_requests`),
    `status_baseline`/`status_candidate`, then for each of time, blocked, dns, connect, ssl,
    send, wait and receive: `<m>_baseline`, `<m>_candidate` (medians over runs), `<m>_delta`
    (candidate - baseline, ms) and `<m>_ratio` (candidate / baseline). With one run a side,
    `entry_baseline` and `entry_candidate` name the entries; with several,
    `runs_baseline`/`runs_candidate` count the runs with the request, `time_spread_*` is the
    interquartile range of its time, and for each metric `<m>_shift` is the Hodges-Lehmann
    shift (the median of all candidate - baseline differences, ms), `<m>_shift_low` and
    `<m>_shift_high` its confidence interval (1 - `alpha`; NaN with too few runs to bound
    it) and `<m>_cliffs_delta` Cliff's delta (-1 all faster .. 1 all slower). `p_value` is
    the two-sided Mann-Whitney U p-value of its time and `q_value` that p-value adjusted for
    testing every request at once. `regression` flags a request whose time grew by more
    than `threshold` (a fraction) and `min_delta` ms and, with runs, whose q-value (p-value
    with `fdr=False`) is under `alpha`.

    `attrs["pages"]` (also `.pages`) holds the page and session totals the same way
    (requests, bytes, summed request time, span from first start to last end, and each
    numeric pageTimings value by page position); `attrs["settings"]` (`.settings`) the
    thresholds used. pandas carries `attrs` through filtering, sorting and copying.
    """

    @property
    def _constructor(self):
        return TimingComparison

    @property
    def pages(self) -> pd.DataFrame:
        return self.attrs["pages"]

    @property
    def settings(self) -> dict[str, Any]:
        return self.attrs["settings"]

    def figure(self, top: int = 30) -> go.Figure:
        """The per-phase deltas of the `top` requests that changed most, as a plotly Figure."""
        from necto_nb.plots.comparison import comparison_figure

        return comparison_figure(self, top=top)


def compare_timings(
    baseline: Session | pd.DataFrame | Sequence[Session | pd.DataFrame],
    candidate: Session | pd.DataFrame | Sequence[Session | pd.DataFrame],
    *,
    hosts: Mapping[str, str] | None = None,
    ignore_query: IgnoreQuery = CACHE_BUSTERS,
    rules: Sequence[Rule] = (),
    stages: Iterable[str] = STAGES,
    threshold: float = 0.10,
    min_delta: float = 5.0,
    alpha: float = 0.05,
    fdr: bool = True,
) -> TimingComparison:
    """Timings of `candidate` against `baseline`, per request, phase and page.

    Each side is a Session, a traffic frame (`s.df`, filtered or not), a frame of several
    runs with a `run` column (per-run frames concatenated, each run's rows labelled), or a
    list of Sessions and frames (runs). Requests are paired as `nn.match_requests` pairs
    them (`hosts`, `ignore_query`, `rules` and `stages` are its options): run after run,
    each request is matched with the newest form of the requests seen before, so renamed
    assets, moved build folders and varying query values still line up. Phases that do not
    apply count as 0 ms. With runs, `fdr` adjusts the p-values of all requests together
    (Benjamini-Hochberg, into `q_value`) before they are held against `alpha`: among 200
    requests, about 10 have p < 0.05 by chance alone. See `TimingComparison` for the columns.
    """
    if threshold < 0 or min_delta < 0 or not 0 < alpha <= 1:
        raise ArgumentError(f"threshold={threshold}, min_delta={min_delta}, alpha={alpha}: "
                         "thresholds must be >= 0 and alpha in (0, 1]")
    sides = {side: _runs(per_request(value, ignore_query), side) for side, value in zip(_SIDES, (baseline, candidate))}
    several = any(len(runs.sizes) > 1 for runs in sides.values())
    catalogue = Catalogue(hosts=hosts, ignore_query=ignore_query, rules=rules, stages=stages)
    long = _long(sides, catalogue)
    keys = ["request"]

    grouped = long.groupby([*keys, "side"], sort=False)
    medians = grouped[METRICS].median().unstack("side")
    order = pd.Index(long["request"].drop_duplicates(), name="request")  # first appearance: baseline runs first
    counts = _sides(grouped.size().unstack("side"), order).fillna(0).astype("int64")
    out = pd.DataFrame(index=order)
    out["method"] = [catalogue.first[k].method for k in order]
    first_baseline = long[long["side"] == "baseline"].drop_duplicates("request").set_index("request")["key"]
    first_any = long.drop_duplicates("request").set_index("request")["key"]
    out["url"] = first_baseline.reindex(order).fillna(first_any.reindex(order)).to_numpy()
    out["occurrence"] = out.groupby(["method", "url"], sort=False).cumcount().astype("int64")
    out["change"] = np.select([(counts["baseline"] > 0) & (counts["candidate"] > 0), counts["baseline"] > 0],
                              ["matched", "removed"], "added")
    linked = long[(long["side"] == "candidate")].drop_duplicates("request").set_index("request")["matched_by"]
    out["matched_by"] = linked.reindex(order).astype(object).to_numpy()
    out.loc[out["change"] != "matched", "matched_by"] = None  # an added request was linked to nothing before
    status = _sides(grouped["status"].first().unstack("side"), out.index)
    for side in _SIDES:
        out[f"status_{side}"] = status[side].astype("Int64")
    if several:
        for side in _SIDES:
            out[f"runs_{side}"] = counts[side]
    else:
        entries = _sides(grouped["entry"].first().unstack("side"), out.index)
        for side in _SIDES:
            out[f"entry_{side}"] = entries[side].astype("Int64")
    for metric in METRICS:
        b = _column(medians, metric, "baseline", out.index)
        c = _column(medians, metric, "candidate", out.index)
        out[f"{metric}_baseline"], out[f"{metric}_candidate"] = b, c
        out[f"{metric}_delta"] = c - b
        out[f"{metric}_ratio"] = _ratio(c, b)
    if several:
        spread = _sides((grouped["time"].quantile(0.75) - grouped["time"].quantile(0.25)).unstack("side"), out.index)
        for side in _SIDES:
            out[f"time_spread_{side}"] = spread[side]
        samples = _samples(long, METRICS, out.index)
        for metric, (shift, low, high, cliffs) in zip(METRICS, _shift_statistics(samples, alpha)):
            out[f"{metric}_shift"], out[f"{metric}_shift_low"], out[f"{metric}_shift_high"] = shift, low, high
            out[f"{metric}_cliffs_delta"] = cliffs
            if metric == "time":
                out["p_value"] = _test(*samples[METRICS.index("time")])
        if fdr:
            out["q_value"] = _adjust(out["p_value"])
    significance = (out["q_value"] if fdr else out["p_value"]) if several else None
    out["regression"] = _flag(out["time_delta"], out["time_ratio"], significance, threshold, min_delta, alpha)
    result = TimingComparison(out.reset_index(drop=True))
    result.attrs["pages"] = _page_totals(long, sides, several, threshold, min_delta, alpha)
    result.attrs["settings"] = {"hosts": dict(hosts or {}), "ignore_query": ignore_query, "threshold": threshold,
                                "min_delta": min_delta, "alpha": alpha, "fdr": fdr,
                                "runs": {side: len(runs.sizes) for side, runs in sides.items()}}
    return result


class _Side(NamedTuple):
    """A side's runs: their rows one run after another (the columns compared), each run's
    number of rows and its pages."""

    frame: pd.DataFrame
    sizes: list[int]
    pages: list[list[dict]]


_READ = ["method", "url", "started", "status", "transfer_size", *METRICS]  # what a comparison reads of a request


def _runs(value: Any, side: str) -> _Side:
    """A side's runs, from whatever form they were given in."""
    if isinstance(value, Runs):  # the runs' rows are in order already: no frame per run
        if not len(value):
            raise ArgumentError(f"{side}: no runs given")
        parts = value.split()
        return _Side(value.df[_READ], [len(frame) for frame, _ in parts], [pages for _, pages in parts])
    items = [value] if hasattr(value, "df") or isinstance(value, pd.DataFrame) else list(value)
    if not items:
        raise ArgumentError(f"{side}: no runs given")
    runs: list[tuple[pd.DataFrame, list[dict]]] = []
    for i, item in enumerate(items):
        if isinstance(item, pd.DataFrame):
            frame, pages = item, []
        elif hasattr(item, "df"):
            frame, pages = item.df, list(item.pages)
        else:
            raise ArgumentTypeError(f"{side}[{i}]: a Session or a traffic frame, not {type(item).__name__}")
        missing = {"method", "url", "started", "status", *METRICS} - set(frame.columns)
        if missing:
            raise ArgumentError(f"{side}[{i}]: not a traffic frame (no {', '.join(sorted(missing))} column)")
        runs += [(part, pages) for part in runs_of(frame)]
    frames = [frame for frame, _ in runs]
    keyed = all(KEY in f.columns and OFFSET in f.columns for f in frames)  # keys made on Dask's workers
    # column by column: concatenating many runs' Series is much cheaper than their frames
    rows = pd.DataFrame({column: pd.concat([f[column] for f in frames])
                         for column in _READ + ([KEY, OFFSET] if keyed else [])})
    return _Side(rows, [len(f) for f in frames], [pages for _, pages in runs])


def runs_of(frame: pd.DataFrame) -> list[pd.DataFrame]:
    """A frame's runs: split by its `run` column (in order of first appearance) where it
    has one, else the frame as one run."""
    if "run" not in frame.columns:
        return [frame]
    return [part for _, part in frame.groupby("run", sort=False, observed=True)]


def _long(sides: dict[str, _Side], catalogue: Catalogue) -> pd.DataFrame:
    """Every request of every run in one table: side, run, request number (the same in
    every run), the key and stage that matched it, entry, status and metrics."""
    keyed = all(KEY in runs.frame.columns for runs in sides.values())  # keys made on Dask's workers
    every = pd.concat([runs.frame if keyed else runs.frame[_READ] for runs in sides.values()])
    entries = every.index.to_numpy()
    every = every.reset_index(drop=True)
    every[PHASES] = every[PHASES].fillna(0.0)
    sizes = [size for runs in sides.values() for size in runs.sizes]
    every["side"] = np.repeat([side for side, runs in sides.items() for _ in runs.sizes], sizes)
    every["run"] = np.repeat([run for runs in sides.values() for run in range(len(runs.sizes))], sizes)
    every["entry"] = entries
    urls = every["url"].astype("object").fillna("").tolist()
    keys = every.pop(KEY).tolist() if keyed else catalogue.keys(urls)
    offsets = every.pop(OFFSET).to_numpy("float64") if keyed else run_offsets(
        every["started"], np.repeat(np.arange(len(sizes)), sizes))
    numbers, stages = catalogue.add_runs(every["method"].astype("object").fillna("").tolist(), urls, offsets, sizes,
                                         keys)
    every["request"] = numbers
    every["matched_by"] = pd.array(stages, dtype=object)
    every["key"] = keys
    return every


def _sides(table: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    """`table` (a column per side) on `index`, with a column for a side that had no rows."""
    return table.reindex(index=index, columns=list(_SIDES))


def _column(table: pd.DataFrame, metric: str, side: str, index: pd.Index) -> pd.Series:
    if (metric, side) in table.columns:
        return table[(metric, side)].reindex(index).astype("float64")
    return pd.Series(np.nan, index=index)


def _ratio(c: pd.Series, b: pd.Series) -> pd.Series:
    with np.errstate(divide="ignore", invalid="ignore"):
        return c / b


def _flag(delta: pd.Series, ratio: pd.Series, p: pd.Series | None, threshold: float, min_delta: float,
          alpha: float) -> pd.Series:
    flag = (delta > min_delta) & (ratio > 1 + threshold)
    if p is not None:
        flag &= p < alpha
    return flag.fillna(False).astype(bool)


def _test(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Two-sided Mann-Whitney U p-values row by row; NaN pads runs without the request.

    Rows without ties and up to `_EXACT_UP_TO` runs in all get the exact p-value: the
    normal approximation's is several times larger in the tail where a handful of runs
    shows a change (7 runs a side, all slower: 0.0006 exact, 0.0018 approximated).
    """
    from scipy.stats import mannwhitneyu  # scipy.stats costs a second to import: on first use

    p = np.full(len(a), np.nan)
    whole = ~np.isnan(a).any(axis=1) & ~np.isnan(b).any(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant rows: scipy warns, the p-value is right
        if whole.any() and a.shape[1] and b.shape[1]:
            both = np.sort(np.concatenate([a, b], axis=1), axis=1)
            exact = whole & (both.shape[1] <= _EXACT_UP_TO) & (np.diff(both, axis=1) != 0).all(axis=1)
            for rows, method in ((exact, "exact"), (whole & ~exact, "asymptotic")):
                if rows.any():
                    p[rows] = mannwhitneyu(a[rows], b[rows], axis=1, alternative="two-sided", method=method).pvalue
        for i in np.flatnonzero(~whole):
            x, y = a[i][~np.isnan(a[i])], b[i][~np.isnan(b[i])]
            if len(x) and len(y):
                p[i] = mannwhitneyu(x, y, alternative="two-sided").pvalue
    return p


def _adjust(p: pd.Series) -> pd.Series:
    """Benjamini-Hochberg q-values of the p-values that exist."""
    from scipy.stats import false_discovery_control  # scipy.stats costs a second to import: on first use

    q = pd.Series(np.nan, index=p.index)
    known = p.notna()
    if known.any():
        q[known] = false_discovery_control(p[known].to_numpy(), method="bh")
    return q


def _samples(long: pd.DataFrame, metrics: list[str], index: pd.Index) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per metric, its value per request (rows, on `index`) and run (columns, in order) for
    each side; NaN where a run lacks the request. A run with no value of the metric has no
    column, as in a pivot table."""
    rows = index.get_indexer(long["request"])
    sides = []
    for side in _SIDES:
        mine = (long["side"] == side).to_numpy()
        runs = long["run"].to_numpy()[mine]
        values = np.full((len(metrics), len(index), runs.max() + 1 if len(runs) else 0), np.nan)
        values[:, rows[mine], runs] = long.loc[mine, metrics].to_numpy("float64", na_value=np.nan).T
        sides.append([m[:, ~np.isnan(m).all(axis=0)] for m in values])
    return list(zip(*sides))


def shift_statistics(a: np.ndarray, b: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, ...]:
    """Row by row, samples `a` (baseline) and `b` (candidate), NaN padded: the
    Hodges-Lehmann shift (median of all b - a differences), its distribution-free
    confidence interval (1 - `alpha`, from the Mann-Whitney null distribution's normal
    approximation; NaN when the samples are too small to bound it) and Cliff's delta
    (P(b > a) - P(b < a), so ties count as neither)."""
    return _shift_statistics([(a, b)], alpha)[0]


def _shift_statistics(samples: list[tuple[np.ndarray, np.ndarray]], alpha: float) -> list[tuple[np.ndarray, ...]]:
    """`shift_statistics` of several metrics' (a, b), request by request: where there are
    too many pairs to take them all, each request's sample of pairs is drawn once for
    every metric."""
    from scipy.stats import norm  # scipy.stats costs a second to import: on first use

    rows = len(samples[0][0]) if samples else 0
    out = [tuple(np.full(rows, np.nan) for _ in range(4)) for _ in samples]
    z = norm.ppf(1 - alpha / 2)
    for i in range(rows):
        picks: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        for (a, b), (shift, low, high, cliffs) in zip(samples, out):
            x, y = a[i][~np.isnan(a[i])], b[i][~np.isnan(b[i])]
            n = len(x) * len(y)
            if not n:
                continue
            if n > _PAIRS_UP_TO:  # an even sample of the pairs: the estimate moves by less than their spread
                if (len(x), len(y)) not in picks:
                    pick = np.random.default_rng(i).integers(0, n, _PAIRS_UP_TO)
                    picks[len(x), len(y)] = pick // len(y), pick % len(y)
                at_x, at_y = picks[len(x), len(y)]
                d = y[at_y] - x[at_x]
            else:
                d = (y[None, :] - x[:, None]).ravel()
            m = len(d)
            k = int(np.floor(n / 2 - z * np.sqrt(n * (len(x) + len(y) + 1) / 12)))  # 1-based rank of the bound
            k = min(m, max(1, round(k * m / n))) if k >= 1 else 0
            if x.min() < x.max() or y.min() < y.max():  # else every difference is the same: d is in order
                # the order statistics needed, not a sort: the middle one(s) and the bounds'
                ranks = sorted({(m - 1) // 2, m // 2, *((k - 1, m - k) if k else ())})
                d = np.partition(d, ranks)
            shift[i] = (d[(m - 1) // 2] + d[m // 2]) / 2
            cliffs[i] = (np.count_nonzero(d > 0) - np.count_nonzero(d < 0)) / m
            if k:
                low[i], high[i] = d[k - 1], d[m - k]
    return out


def _totals(long: pd.DataFrame, sides: dict[str, _Side]) -> dict[str, dict[str, list[float]]]:
    """Per side, total name -> one value per run (unit in `_UNITS` or "ms")."""
    end = long["started"] + pd.to_timedelta(long["time"].fillna(0), unit="ms")
    runs = long.assign(end=end).groupby(["side", "run"], sort=False)
    table = pd.DataFrame({
        "requests": runs.size(),
        "transfer_size": runs["transfer_size"].sum(min_count=1),
        "time (sum)": runs["time"].sum(),
        "span": (runs["end"].max() - runs["started"].min()) / pd.Timedelta(milliseconds=1),
    })
    values: dict[str, dict[str, list[float]]] = {}
    for side, runs in sides.items():
        mine = values.setdefault(side, {})
        for run, pages in enumerate(runs.pages):
            # A run without requests made none and spent no time; its bytes and span are unknown.
            row = table.loc[(side, run)] if (side, run) in table.index else {"requests": 0.0, "time (sum)": 0.0}
            for name in table.columns:
                mine.setdefault(name, []).append(float(row.get(name, np.nan)))
            for i, page in enumerate(pages, start=1):
                where = f" (page {i})" if len(pages) > 1 else ""
                for name, value in (page.get("pageTimings") or {}).items():
                    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
                        mine.setdefault(f"{name}{where}", []).append(float(value))
    return values


def _page_totals(long: pd.DataFrame, sides: dict[str, _Side], several: bool, threshold: float,
                 min_delta: float, alpha: float) -> pd.DataFrame:
    """Session and page totals, one row each: unit, medians per side, delta, ratio (p, flag)."""
    values = _totals(long, sides)
    names = list(dict.fromkeys(n for side in _SIDES for n in values[side]))
    table = pd.DataFrame({"unit": [_UNITS.get(n, "ms") for n in names]}, index=pd.Index(names, name="total"))
    width = max((len(v) for side in values.values() for v in side.values()), default=0)
    samples = {side: np.array([values[side].get(n, []) + [np.nan] * (width - len(values[side].get(n, [])))
                               for n in names], dtype="float64").reshape(len(names), width) for side in _SIDES}
    for side in _SIDES:
        table[side] = pd.DataFrame(samples[side], index=table.index).median(axis=1)
    table["delta"] = table["candidate"] - table["baseline"]
    table["ratio"] = _ratio(table["candidate"], table["baseline"])
    p = None
    if several:
        table["p_value"] = p = pd.Series(_test(samples["baseline"], samples["candidate"]), index=table.index)
    flag = _flag(table["delta"], table["ratio"], p, threshold, min_delta, alpha)
    table["regression"] = flag & (table["unit"] == "ms")  # more requests or bytes is not "slower"
    return table
