"""Which request in one capture is which request in another.

Two captures of the same page rarely have the same URLs byte for byte: cache-busting
query parameters change on every load, and parameter order is not meaningful. A request
is known by its method and normalised URL, and the n-th request with that key in one
capture is matched to the n-th in the other (repeats in order of their start).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import unquote_plus, urlsplit, urlunsplit

import pandas as pd

#: Query parameters that only defeat caches; ignored when matching by default.
CACHE_BUSTERS: frozenset[str] = frozenset({
    "_", "_t", "_ts", "bust", "cachebust", "cachebuster", "cache_bust", "cache_buster", "cb",
    "nocache", "no_cache", "rand", "random", "rnd", "t", "ts", "timestamp", "_dc", "__cb",
})

IgnoreQuery = bool | Iterable[str]
_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}


def normalise_url(url: str, ignore_query: IgnoreQuery = CACHE_BUSTERS) -> str:
    """`url` with a lower-case scheme and host, no default port, no fragment, and its query
    parameters sorted, without those named in `ignore_query` (True: the whole query; False:
    none; names compare case-insensitively). Kept parameters keep their encoding. A URL
    that does not parse is its own key.
    """
    head, _, query = url.partition("#")[0].partition("?")
    return _origin_and_path(head) + _query(query, ignore_query)


@lru_cache(maxsize=4096)
def _origin_and_path(head: str) -> str:
    # Runs repeat the same few thousand origins and paths: parse each once.
    try:
        parts = urlsplit(head)
        port = parts.port
    except ValueError:
        return head
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and str(port) != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    if parts.username is not None:
        host = f"{parts.username}@{host}"
    return urlunsplit((scheme, host, parts.path or "/", "", ""))


def _query(query: str, ignore_query: IgnoreQuery) -> str:
    """The query, sorted, without ignored names: split by hand, since cache-busting values
    make every URL new and urllib's parse-and-re-encode is most of the matching time."""
    if ignore_query is True or not query:
        return ""
    params = [p for p in query.split("&") if p]
    if ignore_query is not False:
        ignored = ignore_query if isinstance(ignore_query, frozenset) else frozenset(n.lower() for n in ignore_query)
        params = [p for p in params if _name(p) not in ignored]
    return "?" + "&".join(sorted(params)) if params else ""


def _name(param: str) -> str:
    name = param.partition("=")[0]
    return (unquote_plus(name) if "%" in name or "+" in name else name).lower()


def keyed(frame: pd.DataFrame, ignore_query: IgnoreQuery = CACHE_BUSTERS, *, by: list[str] = (),
          cache: dict[str, str] | None = None) -> pd.DataFrame:
    """`frame`'s requests in order of start, with their match key: `method`, `key` (the
    normalised URL) and `occurrence` (0 for the first request with that method and key).

    `by` names columns of `frame` (a run, a side) within which occurrences are counted;
    they are kept, as is the frame's index. `cache` maps URLs to keys across calls.
    """
    if not isinstance(ignore_query, bool):
        ignore_query = frozenset(n.lower() for n in ignore_query)
    cache = {} if cache is None else cache
    urls = frame["url"].astype("object").fillna("").tolist()
    key = [cache[u] if u in cache else cache.setdefault(u, normalise_url(u, ignore_query)) for u in urls]
    out = pd.DataFrame({**{c: frame[c].to_numpy() for c in by},
                        "method": frame["method"].astype("object").fillna("").str.upper().to_numpy(),
                        "key": key, "started": frame["started"].to_numpy()}, index=frame.index)
    out = out.sort_values([*by, "started"], kind="stable")
    out["occurrence"] = out.groupby([*by, "method", "key"], sort=False).cumcount()
    return out.drop(columns="started")


def match(a: pd.DataFrame, b: pd.DataFrame, ignore_query: IgnoreQuery = CACHE_BUSTERS) -> pd.DataFrame:
    """Requests of frame `a` paired with those of frame `b`.

    One row per key (method, normalised URL, occurrence), in `a`'s order of start and then
    `b`'s additions: `entry_a` and `entry_b` (nullable: missing on one side) and `change`,
    one of "matched", "removed" (only in `a`) and "added" (only in `b`).
    """
    ka = keyed(a, ignore_query).rename_axis("entry_a").reset_index()
    kb = keyed(b, ignore_query).rename_axis("entry_b").reset_index()
    pairs = ka.merge(kb, on=["method", "key", "occurrence"], how="outer", sort=False, indicator=True)
    pairs["change"] = pairs.pop("_merge").map({"both": "matched", "left_only": "removed", "right_only": "added"})
    # outer merge keeps left order then right-only rows, but be explicit: a's order, then b's.
    pairs["_a"] = pairs["entry_a"].map({e: i for i, e in enumerate(ka["entry_a"])})
    pairs["_b"] = pairs["entry_b"].map({e: i for i, e in enumerate(kb["entry_b"])})
    pairs = pairs.sort_values(["_a", "_b"], na_position="last", kind="stable").drop(columns=["_a", "_b"])
    for col in ("entry_a", "entry_b"):
        pairs[col] = pairs[col].astype("Int64")
    pairs["change"] = pairs["change"].astype("object")
    return pairs[["method", "key", "occurrence", "entry_a", "entry_b", "change"]].reset_index(drop=True)
