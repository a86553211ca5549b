"""match_requests: each stage, what it must never do, user rules, and deploys made to measure."""

from __future__ import annotations

import re

import pandas as pd
import pytest

import necto_nb as nn
from necto_nb.demo import deploys
from necto_nb.match import COLUMNS, template_path
from tests.factory import entry

SITE = "https://www.example.com"


def session(name: str, *urls: str, method: str = "GET") -> nn.Session:
    return nn.Session(name, [entry(u if "://" in u else SITE + u, method=method, at=i * 10.0)
                             for i, u in enumerate(urls)])


def pairs(m: pd.DataFrame) -> list[tuple]:
    return [(a if pd.notna(a) else None, b if pd.notna(b) else None, c, s)
            for a, b, c, s in m[["url_a", "url_b", "change", "matched_by"]].itertuples(index=False)]


def test_the_result_has_one_row_per_pair_or_unpaired_request():
    a = session("a", "/app.js?_=1", "/api", "/api", "/gone")
    b = session("b", "/app.js?_=2", "/api", "/new", "/api")
    m = nn.match_requests(a, b)
    assert list(m.columns) == COLUMNS
    assert m["entry_a"].dtype == "Int64" and m["entry_b"].dtype == "Int64"
    assert m[["entry_a", "entry_b", "change", "matched_by"]].astype(object).where(m.notna(), None).values.tolist() == [
        [0, 0, "matched", "exact"],
        [1, 1, "matched", "exact"],
        [2, 3, "matched", "exact"],  # the second /api with the second
        [3, None, "removed", None],
        [None, 2, "added", None],
    ]
    assert m["key"].tolist()[:3] == [SITE + "/app.js", SITE + "/api", SITE + "/api"]
    assert m["occurrence"].tolist() == [0, 0, 1, 0, 0]
    # a frame works as well as a Session, filtered or not; labels are the frame's index
    df = b.df
    assert nn.match_requests(a.df, df[df["url"].str.contains("api")])["entry_b"].dropna().tolist() == [1, 3]


def test_requests_that_match_exactly_are_never_crossed():
    a = session("a", "/search?q=shoes", "/search?q=socks", "/search?q=hats")
    b = session("b", "/search?q=socks", "/search?q=shoes", "/search?q=caps")
    assert pairs(nn.match_requests(a, b)) == [
        (SITE + "/search?q=shoes", SITE + "/search?q=shoes", "matched", "exact"),
        (SITE + "/search?q=socks", SITE + "/search?q=socks", "matched", "exact"),
        (SITE + "/search?q=hats", SITE + "/search?q=caps", "matched", "order"),  # what is left of /search
    ]


def test_query_values_that_vary_are_learnt_and_stable_ones_kept():
    a = session("a", "/feed?id=3&sig=a81f", "/feed?id=4&sig=77c0", "/feed?id=5&sig=0e19")
    b = session("b", "/feed?id=4&sig=c3d2", "/feed?id=3&sig=9bb1", "/feed?id=6&sig=5f00")
    m = nn.match_requests(a, b)
    # sig never has the same value on both sides: it varies; id does not, so 3 stays with 3
    assert pairs(m)[:2] == [(SITE + "/feed?id=3&sig=a81f", SITE + "/feed?id=3&sig=9bb1", "matched", "query"),
                            (SITE + "/feed?id=4&sig=77c0", SITE + "/feed?id=4&sig=c3d2", "matched", "query")]
    # id=5 and id=6 share their path and template, and are what is left: paired in order
    assert pairs(m)[2] == (SITE + "/feed?id=5&sig=0e19", SITE + "/feed?id=6&sig=5f00", "matched", "order")


@pytest.mark.parametrize("before, after, template", [
    ("/build-1041/static/js/chunk-7.3f2a1b.js", "/build-1042/static/js/chunk-7.8c9d0e.js",
     "/build-*/static/js/chunk-7.*.js"),
    ("/assets/index-BXk3_a9Q.js", "/assets/index-Cu-4pLmZ.js", "/assets/index-*.js"),  # Vite, base64url
    ("/main-ZTA5T2ZO.js", "/main-QW3EXJ7K.js", "/main-*.js"),  # esbuild, base32
    ("/static/js/main.0123456789abcdef0123.js", "/static/js/main.fedcba9876543210fedc.js", "/static/js/main.*.js"),
    ("/static/vendor.abcdef.js", "/static/vendor.0a1b2c.js", "/static/vendor.*.js"),
    ("/v1.2.3/app.js", "/v1.3.0/app.js", "/v*/app.js"),
    ("/api/users/1234567/cart", "/api/users/7654321/cart", "/api/users/*/cart"),
    ("/files/550e8400-e29b-41d4-a716-446655440000/a.png", "/files/6fa459ea-ee8a-3ca4-894e-db77e160355e/a.png",
     "/files/*/a.png"),
    ("/my-page-Cd3fG1.js", "/my-page-x9Kq2B.js", "/my-page-*.js"),
])
def test_path_templates_mask_what_deploys_change(before, after, template):
    assert template_path(before) == template_path(after) == template


@pytest.mark.parametrize("path", ["/api/legacy/3", "/chunk7.js", "/jquery-3.7.1.min.js", "/img/MyComponent.png",
                                  "/api/v1/users", "/static/vendor.js", "/about-us/our-story", "/README.md"])
def test_words_names_and_small_numbers_stay_as_they_are(path):
    assert template_path(path) == path


def test_templates_that_differ_are_never_paired():
    a = session("a", "/api/legacy/3", "/build-1/chunk-7.3f2a1b.js")
    b = session("b", "/api/fresh/3", "/build-2/chunk-8.8c9d0e.js")
    m = nn.match_requests(a, b)
    assert m["change"].tolist() == ["removed", "removed", "added", "added"]


def test_renamed_assets_pair_by_template_and_repeats_by_order():
    a = session("a", "/build-1041/app.3f2a1b9c.js", "/api/users/123456/avatar.png", "/api/users/223456/avatar.png")
    b = session("b", "/build-1042/app.8c9d0e1f.js", "/api/users/923456/avatar.png", "/api/users/823456/avatar.png")
    m = nn.match_requests(a, b)
    assert m["matched_by"].tolist() == ["template", "order", "order"]
    assert m["entry_b"].tolist() == [0, 1, 2]


def test_hosts_are_aliased_when_given_or_learnt():
    a = session("a", "https://www.example.com/api/cart", "https://img.example.com/logo.3f2a1b.png")
    b = session("b", "https://staging.example.com/api/cart", "https://images.example.com/logo.8c9d0e.png")
    given = nn.match_requests(a, b, hosts={"www.example.com": "staging.example.com"})
    assert given["matched_by"].tolist() == ["host", "host"]  # img -> images learnt: served the same template
    assert nn.match_requests(a, b, stages=["exact", "query", "template"])["change"].tolist() == [
        "removed", "removed", "added", "added"]


def test_the_stages_can_be_chosen():
    a, b = session("a", "/x?sig=1"), session("b", "/x?sig=2")
    assert nn.match_requests(a, b, stages=["exact"])["change"].tolist() == ["removed", "added"]
    assert nn.match_requests(a, b, ignore_query=["SIG"], stages=["exact"])["matched_by"].tolist() == ["exact"]
    with pytest.raises(ValueError, match="stages: 'fuzzy' unknown; the stages are exact, query, template"):
        nn.match_requests(a, b, stages=["exact", "fuzzy"])


def test_users_add_their_own_rules():
    locale = nn.Rule("locale", lambda method, url: re.sub(r"/(en|de)/", "/*/", url))
    a = session("a", "/en/help", "/en/about")
    b = session("b", "/de/help", "/de/about")
    assert nn.match_requests(a, b)["change"].tolist() == ["removed", "removed", "added", "added"]
    m = nn.match_requests(a, b, rules=[locale])
    assert m["matched_by"].tolist() == ["locale", "locale"] and m["entry_b"].tolist() == [0, 1]
    with pytest.raises(ValueError, match="give a non-empty name that is not one of exact"):
        nn.Rule("exact", lambda m, u: u)
    with pytest.raises(TypeError, match="key must be a function"):
        nn.Rule("mine", "not callable")
    with pytest.raises(TypeError, match=r"rules: expected nn.Rule\(name, key\), not function"):
        nn.match_requests(a, b, rules=[lambda m, u: u])
    broken = nn.Rule("broken", lambda method, url: url.split("/")[9])
    with pytest.raises(ValueError, match=r"rule 'broken' failed on GET https://www.example.com/en/help: IndexError"):
        nn.match_requests(a, b, rules=[broken])


def test_bad_arguments_are_named():
    s = session("s", "/x")
    with pytest.raises(TypeError, match="b: a Session or a traffic frame, not str"):
        nn.match_requests(s, "after.har")
    with pytest.raises(ValueError, match=r"a: not a traffic frame \(no method, started column\)"):
        nn.match_requests(pd.DataFrame({"url": ["x"]}), s)


def test_methods_must_agree():
    a, b = session("a", "/api/items"), session("b", "/api/items", method="POST")
    assert nn.match_requests(a, b)["change"].tolist() == ["removed", "added"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_deploy_pair_is_matched_as_it_was_made(seed):
    (a,), (b,) = deploys.deploy_pair(200, seed=seed)
    m = nn.match_requests(a, b)
    truth = deploys.truth(a, b)
    got = {(int(i), int(j)) for i, j in m.loc[m["change"] == "matched", ["entry_a", "entry_b"]].itertuples(index=False)}
    assert len(truth) == 200
    assert len(got & truth) >= 0.98 * len(truth)
    assert not got - truth  # none crossed
    removed = m.loc[m["change"] == "removed", "url_a"].tolist()
    added = m.loc[m["change"] == "added", "url_b"].tolist()
    assert sum("/api/legacy/" in u for u in removed) == 5 and sum("/api/fresh/" in u for u in added) == 5
    assert len(removed) - 5 == len(added) - 5 == len(truth) - len(got)  # no false added or removed beyond misses
    assert set(m["matched_by"].dropna()) <= {"exact", "query", "template", "host", "order"}


def _varied_history(seed: int, n_runs: int = 40) -> list[pd.DataFrame]:
    """Runs of one page as a history has them: most runs repeat the last (cache-busters
    aside), some change query values, ids in paths, assets' hashes, hosts or methods, lose
    or gain requests, repeat one, start in another order or at the same instant."""
    import numpy as np

    rng = np.random.default_rng(seed)
    page = [("GET", f"https://cdn{i % 2}.example.com/assets/chunk-{i}.{rng.integers(16**6):06x}.js") for i in range(8)]
    page += [("GET", f"{SITE}/api/items/{rng.integers(10**6, 10**7)}"), ("POST", f"{SITE}/api/cart"),
             ("GET", f"{SITE}/search?q=shoes&session=a1"), ("GET", f"{SITE}/api/feed"), ("GET", f"{SITE}/api/feed")]
    frames = []
    t0 = pd.Timestamp("2026-11-01", tz="UTC")
    for run in range(n_runs):
        change = rng.integers(8)
        current = list(page)
        if change == 1:  # a deploy: assets renamed, for good
            page[:8] = [(m, re.sub(r"\.[0-9a-f]{6}\.js", f".{rng.integers(16**6):06x}.js", u)) for m, u in page[:8]]
            current = list(page)
        elif change == 2:  # query values and ids that vary this run only
            current[8] = ("GET", f"{SITE}/api/items/{rng.integers(10**6, 10**7)}")
            current[10] = ("GET", f"{SITE}/search?q=shoes&session={rng.integers(99)}")
        elif change == 3:  # requests missing, one repeated
            del current[rng.integers(len(current))]
            current.append(current[rng.integers(len(current))])
        elif change == 4:  # an extra request and another host
            current.append(("GET", f"{SITE}/api/extra/{run}"))
            current[3] = ("GET", current[3][1].replace("cdn1.", "static."))
        elif change == 5:  # another method for one
            current[9] = ("PUT", current[9][1])
        urls = [u + (f"?_={rng.integers(10**9)}" if "?" not in u else f"&_={rng.integers(10**9)}") for _, u in current]
        at = rng.integers(0, 6, len(current)).astype(float) * 10 if change == 6 else rng.permutation(len(current)) * 10.0
        started = pd.Series(t0 + pd.Timedelta(days=run) + pd.to_timedelta(at, unit="ms"))
        if change == 7:
            started.iloc[rng.integers(len(current))] = pd.NaT
        frames.append(pd.DataFrame({"method": [m for m, _ in current], "url": urls, "started": started}))
    return frames


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("options", [{}, {"stages": ("exact", "order")}, {"ignore_query": True},
                                     {"rules": (nn.Rule("api", lambda m, u: "api" if "/api/" in u else None),)}])
def test_numbering_many_runs_at_once_equals_numbering_them_one_by_one(seed, options):
    from necto_nb.match import Catalogue

    frames = _varied_history(seed)
    one_by_one, at_once = Catalogue(**options), Catalogue(**options)
    expected = [one_by_one.add_frame(frame) for frame in frames]
    numbers, stages = at_once.add_frames(frames)
    assert numbers.tolist() == [n for got, _ in expected for n in got.tolist()]
    assert stages == [s for _, got in expected for s in got]
    assert [r.url for r in at_once.newest] == [r.url for r in one_by_one.newest]
    assert at_once.offsets == one_by_one.offsets
    assert [r.url for r in at_once.first] == [r.url for r in one_by_one.first]
    # the history has what the fast path must hand over to the stages
    assert {"exact", None} < set(stages) and len(set(stages)) >= 3
    # and adding more later still agrees
    more = _varied_history(seed + 100, n_runs=5)
    assert at_once.add_frames(more)[0].tolist() == [n for f in more for n in one_by_one.add_frame(f)[0].tolist()]
