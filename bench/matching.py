"""Request matching and regression finding across deploys, side by side with two peers.

The peers' pairing rules are re-implemented here in Python from their sources, as read:

- Lighthouse CI, `packages/utils/src/audit-diff-finder.js` (`replaceNondeterministicStrings`
  and `zipBaseAndCompareItems`): an http URL loses its whole query; UUIDs, the first
  `:port/`, the first `.` or `-` + 6-8 hex characters before a known extension and two
  YouTube embed names are masked; items whose keys are equal pair, a key held by more than
  one item on either side pairs nothing.
- sitespeed.io compare, `public/js/compare/har.js` (`getURLs`, `getUniqueRequests`): a
  request is its URL exactly as recorded (a repeat overwrites the earlier one); URLs on
  both sides pair.

Run: python3 bench/matching.py   (figures go to docs/benchmarks.md)
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import necto_nb as nn  # noqa: E402
from bench.report import best, table, write_docs  # noqa: E402
from necto_nb import match  # noqa: E402
from necto_nb.demo import deploys  # noqa: E402

SEEDS = range(10)
# Slowed requests, one of each kind the generator makes (asset, image, id in a path, volatile query, ...).
SLOWED = (3, 14, 25, 36, 47, 58, 69, 80, 91, 102)


# -- the peers' rules, as their sources have them ----------------------------------------


def lighthouse_ci_key(url: str) -> str:
    """Lighthouse CI's `replaceNondeterministicStrings` of a URL."""
    if url.startswith("http") and "?" in url:
        try:
            parts = urlsplit(url)
            url = urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", parts.fragment))
        except ValueError:
            pass
    url = re.sub(r"www-embed-player-[0-9a-z]+", "www-embed-player", url, count=1, flags=re.I)
    url = re.sub(r"player_ias-[0-9a-z]+", "player_ias", url, count=1, flags=re.I)
    url = re.sub(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "UUID", url, flags=re.I)
    url = re.sub(r":[0-9]{3,5}/", ":PORT/", url, count=1)
    return re.sub(r"(\.|-)[0-9a-f]{6,8}\.(js|css|woff|html|png|jpeg|jpg|svg)", r"\1HASH.\2", url, count=1, flags=re.I)


def lighthouse_ci_pairs(a: list[str], b: list[str]) -> set[tuple[int, int]]:
    """`zipBaseAndCompareItems`: equal keys pair, unless a key is not unique on a side."""
    groups: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    for i, url in enumerate(a):
        groups[lighthouse_ci_key(url)][0].append(i)
    for j, url in enumerate(b):
        groups[lighthouse_ci_key(url)][1].append(j)
    return {(xs[0], ys[0]) for xs, ys in groups.values() if len(xs) == 1 and len(ys) == 1}


def sitespeed_pairs(a: list[str], b: list[str]) -> set[tuple[int, int]]:
    """`getURLs` + `getUniqueRequests`: exact URLs, the last of repeats kept."""
    first, second = {url: i for i, url in enumerate(a)}, {url: j for j, url in enumerate(b)}
    return {(i, second[url]) for url, i in first.items() if url in second}


def ours(a: nn.Session, b: nn.Session) -> set[tuple[int, int]]:
    m = nn.match_requests(a, b)
    return {(int(i), int(j)) for i, j in m.loc[m["change"] == "matched", ["entry_a", "entry_b"]].itertuples(index=False)}


# -- measurements ---------------------------------------------------------------------------


def matching_quality() -> list[tuple[str, str, str]]:
    scores: dict[str, list[tuple[int, int, int, int]]] = defaultdict(list)
    for seed in SEEDS:
        (a,), (b,) = deploys.deploy_pair(200, seed=seed)
        truth = deploys.truth(a, b)
        urls_a, urls_b = a.df["url"].tolist(), b.df["url"].tolist()
        for name, got in (("necto_nb match_requests", ours(a, b)),
                          ("Lighthouse CI's masking (re-implemented)", lighthouse_ci_pairs(urls_a, urls_b)),
                          ("sitespeed.io compare's exact URLs (re-implemented)", sitespeed_pairs(urls_a, urls_b))):
            right, crossed = len(got & truth), len(got - truth)
            scores[name].append((right, len(truth), crossed, len(truth) - right))
    rows = []
    for name, results in scores.items():
        right = sum(r[0] for r in results)
        total = sum(r[1] for r in results)
        crossed = sum(r[2] for r in results)
        missed = sum(r[3] for r in results)
        rows.append((name, f"**{100 * right / total:.1f} %** of pairs right",
                     f"{crossed} crossed, {missed} pairs left as a false removed + added ({len(SEEDS)} deploys of "
                     "200 requests + 5 removed, 5 added)"))
    return rows


def regressions_found() -> list[tuple[str, str, str]]:
    slowed = {k: 30.0 for k in SLOWED}
    rows = []
    for label, stages in (("compare_timings, every stage", match.STAGES), ("compare_timings, exact URLs only",
                                                                              ("exact",))):
        found = false = 0
        for seed in range(3):
            before, after = deploys.deploy_pair(200, seed=seed, runs=7, slow=slowed)
            t = nn.compare_timings(before, after, stages=stages)
            flagged = t[t["regression"]]
            numbers = _numbers(before[0], t)
            hits = {numbers.get(u) for u in flagged["url"]}
            found += len(hits & set(slowed))
            false += len(hits - set(slowed))
        rows.append((label, f"**{found / 3:.1f}** of 10 slowed requests flagged",
                     f"{false / 3:.1f} false (7 runs a side, 200 requests, 30 ms; mean of 3 deploys)"))
    return rows


def power() -> str:
    """How many runs a side find what shift: a markdown table for docs/timing-regression.md."""
    slowed = list(SLOWED)
    shifts = (5, 10, 20, 30, 50)
    lines = ["| runs a side | " + " | ".join(f"{s} ms" for s in shifts) + " |", "|---" * (len(shifts) + 1) + "|"]
    for n in (3, 5, 7, 10, 15):
        cells = []
        for shift in shifts:
            found = false = 0
            for seed in range(2):
                before, after = deploys.deploy_pair(200, seed=seed, runs=n, slow={k: float(shift) for k in slowed})
                t = nn.compare_timings(before, after)
                hits = {_numbers(before[0], t).get(u) for u in t.loc[t["regression"], "url"]}
                found += len(hits & set(slowed))
                false += len(hits - set(slowed))
            cells.append(f"{found / 2:g} of 10" + (f" ({false / 2:g} false)" if false else ""))
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _numbers(session: nn.Session, t) -> dict[str, int]:
    """Normalised URL of the baseline's first run -> the generator's request number."""
    return {nn.normalise_url(e["request"]["url"]): e["_request"] for e in session.entries}


def change_points() -> list[tuple[str, str, str]]:
    hist = deploys.nightly(500, 30, seed=0, step=(37, 18, 40.0), spike=(111, 9, 120.0))
    t = nn.trend(hist)
    first = _numbers(hist[0], t)
    steps = [(first.get(u), r) for u, r in zip(t["url"], t["run"])]
    false_alarms = sum(len(nn.trend(deploys.nightly(500, 30, seed=seed))) for seed in range(1, 6))
    return [("trend, 30 nights of 500 requests", f"{len(t)} change point(s): {steps}",
             "step of 40 ms on request 37 from night 18, a lone 120 ms spike on request 111 at night 9"),
            ("trend on steady histories", f"**{false_alarms}** change points", "5 histories of 30 nights x 500 "
             "requests with no change (2,500 series, a deploy every 4 nights)")]


def speed() -> list[tuple[str, str, str]]:
    (a,), (b,) = deploys.deploy_pair(10_000, seed=1)
    fa, fb = a.df, b.df
    urls_a, urls_b = fa["url"].tolist(), fb["url"].tolist()
    match.template_path.cache_clear()
    match._parse.cache_clear()
    ours_s, lhci_s, exact_s = best(lambda: nn.match_requests(fa, fb), lambda: lighthouse_ci_pairs(urls_a, urls_b),
                                   lambda: sitespeed_pairs(urls_a, urls_b), repeat=3)
    hist = deploys.nightly(500, 100, seed=2)
    (trend_s,) = best(lambda: nn.trend(hist), repeat=1)
    return [("`match_requests`, 10,000 against 10,000", f"{ours_s:.2f} s",
             f"**{ours_s / lhci_s:.2f}x** the time of Lighthouse CI's keys ({lhci_s:.2f} s: 5 regular expressions "
             f"a URL), sitespeed.io's dict {exact_s:.3f} s (target: under 1 s)"),
            ("`trend`, 100 runs of 500 requests", f"{trend_s:.2f} s", "target: under 5 s")]


def main() -> None:
    rows = matching_quality() + regressions_found() + change_points() + speed()
    text = table(rows) + (
        f"\n\nPython {sys.version.split()[0]}; deploys from `nn.demo.deploys` (6-hex, 8 base64url, 12 base32 and "
        "20-hex hashes, a moved build folder, ids in paths, unknown volatile query values, a renamed image host). "
        f"Measured on the 2-core machine at a load average of {os.getloadavg()[0]:.1f}; under load the seconds "
        "grow, the ratio against the peer's key computation in the same script is the figure that holds.\n")
    print(text)
    write_docs("## Matching and regressions", text)
    print(power())  # the table in docs/timing-regression.md


if __name__ == "__main__":
    main()
