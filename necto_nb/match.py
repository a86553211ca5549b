"""Which request in one capture is which request in another.

Two runs of the same page rarely request the same URLs byte for byte: cache-busters and
session values change on every load, bundlers rename assets on every deploy
(`chunk-7.3f2a1b.js` becomes `chunk-7.8c9d0e.js`), build folders move, ids appear in
paths and staging runs on another host. `match_requests` pairs requests the way an
engineer reading both waterfalls would, in stages; each stage sees only what the earlier
ones left unpaired, and `matched_by` names the stage that made a pair:

- ``exact``: method and normalised URL (`normalise_url`), the n-th repeat with the n-th.
- your rules (`Rule`), in the order given.
- ``query``: the same method, origin and path, with the values of query parameters that
  vary between the two captures masked. A parameter varies when no value of it is seen on
  both sides (learnt from the data, per path template, so names no list knows are found).
- ``template``: the same path template (hashes of 6 or more hex, base32 or base64url
  characters, build and version folders, UUIDs and long numeric ids masked) and the same
  query, varying values masked, where exactly one request on each side has it.
- ``host``: the same again with hosts aliased: those given in `hosts`, and a host seen only
  in `a` with the host seen only in `b` that serves most of the same templates.
- ``order``: what is left of a template with the same query names (hosts aliased), in
  order of start.

Two requests whose templates differ are never paired (`/api/legacy/3` is not
`/api/fresh/3`), and requests that match exactly keep their partner. This module reads
frames only (`method`, `url`, `started`), so the analyses and the capture rules that
replay a recording can all pair requests through it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import unquote_plus, urlsplit, urlunsplit

import numpy as np
import pandas as pd

from necto_nb.errors import ArgumentError, ArgumentTypeError
from necto_nb.har.conventions import DEFAULT_PORTS

if TYPE_CHECKING:
    from necto_nb.session import Session

#: Query parameters that only defeat caches; ignored when matching by default.
CACHE_BUSTERS: frozenset[str] = frozenset({
    "_", "_t", "_ts", "bust", "cachebust", "cachebuster", "cache_bust", "cache_buster", "cb",
    "nocache", "no_cache", "rand", "random", "rnd", "t", "ts", "timestamp", "_dc", "__cb",
})
#: The built-in stages, in the order they run (your rules run after "exact").
STAGES: tuple[str, ...] = ("exact", "query", "template", "host", "order")
#: `match_requests`' columns.
COLUMNS = ["entry_a", "entry_b", "change", "matched_by", "method", "url_a", "url_b", "key", "occurrence"]

IgnoreQuery = bool | Iterable[str]
# scheme://host[:port]/path with a plain host name (no user, no IPv6, no odd characters).
_SIMPLE_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([A-Za-z0-9.-]+)(:[0-9]{1,5})?(/[^#?\\]*)?")


@dataclass(frozen=True)
class Rule:
    """A matching rule of your own: `key(method, url)` gives a key, or None for "no opinion".

    Requests left unpaired by the exact stage whose keys are equal (and not None) are
    paired in order of start; `name` is what `matched_by` says for them. A rule sees the
    request's URL as recorded.

        strip_locale = nn.Rule("locale", lambda method, url: re.sub(r"/(en|de|fr)/", "/*/", url))
        nn.match_requests(before, after, rules=[strip_locale])
    """

    name: str
    key: Callable[[str, str], Hashable | None]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or self.name in STAGES:
            raise ArgumentError(f"Rule name {self.name!r}: give a non-empty name that is not one of {', '.join(STAGES)}")
        if not callable(self.key):
            raise ArgumentTypeError(f"Rule {self.name!r}: key must be a function (method, url) -> key, "
                            f"not {type(self.key).__name__}")


def normalise_url(url: str, ignore_query: IgnoreQuery = CACHE_BUSTERS) -> str:
    """`url` with a lower-case scheme and host, no default port, no fragment, and its query
    parameters sorted, without those named in `ignore_query` (True: the whole query; False:
    none; names compare case-insensitively). Kept parameters keep their encoding. A URL
    that does not parse is its own key.
    """
    return _parse(url, _ignored(ignore_query)).exact


def match_requests(
    a: Session | pd.DataFrame,
    b: Session | pd.DataFrame,
    *,
    hosts: Mapping[str, str] | None = None,
    ignore_query: IgnoreQuery = CACHE_BUSTERS,
    rules: Sequence[Rule] = (),
    stages: Iterable[str] = STAGES,
) -> pd.DataFrame:
    """Requests of `a` paired with those of `b` (each a Session or a traffic frame).

    One row per pair or unpaired request, `a`'s requests in order of start and then those
    only in `b`: `entry_a` and `entry_b` (the frames' index labels, missing on one side),
    `change` ("matched", "removed": only in `a`, "added": only in `b`), `matched_by` (the
    stage or rule that paired them, missing when unpaired), `method`, `url_a`, `url_b`,
    `key` (the normalised URL, `a`'s where there is one) and `occurrence` (0 for the first
    row with that method and key).

    `hosts` maps hosts of `a` to hosts of `b` ({"www.example.com": "staging.example.com"});
    `ignore_query` names query parameters never compared (True: the whole query, False:
    none; by default the usual cache-busters); `rules` adds your own `Rule`s; `stages`
    picks built-in stages (`STAGES`; "exact" alone is matching by URL only).
    """
    fa, fb = _frame(a, "a"), _frame(b, "b")
    requests_a, requests_b = _requests(fa, ignore_query), _requests(fb, ignore_query)
    pairs = pair(requests_a, requests_b, hosts=hosts, rules=rules, stages=stages)
    return _table(fa, fb, requests_a, requests_b, pairs)


class Request(NamedTuple):
    """One request as matching sees it: its method and its parsed URL."""

    method: str
    url: str
    parts: _Url


def requests(methods: Iterable[str], urls: Iterable[str], ignore_query: IgnoreQuery = CACHE_BUSTERS) -> list[Request]:
    """`Request`s for `pair`, from methods and URLs in order of start."""
    ignored = _ignored(ignore_query)
    return [Request(m.upper(), u, _parse(u, ignored)) for m, u in zip(methods, urls)]


def pair(a: Sequence[Request], b: Sequence[Request], *, hosts: Mapping[str, str] | None = None,
         rules: Sequence[Rule] = (), stages: Iterable[str] = STAGES) -> list[tuple[int, int, str]]:
    """The pairs (position in `a`, position in `b`, stage) of requests in order of start:
    the stages of `match_requests` on plain lists, for callers that hold no frame (a replay
    looking one request up in a recording)."""
    stages = list(stages)
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ArgumentError(f"stages: {', '.join(map(repr, unknown))} unknown; the stages are {', '.join(STAGES)}")
    for rule in rules:
        if not isinstance(rule, Rule):
            raise ArgumentTypeError(f"rules: expected nn.Rule(name, key), not {type(rule).__name__}")
    matcher = _Matcher(a, b)
    if "exact" in stages:
        matcher.by("exact", lambda r, _: (r.method, r.parts.exact))
    for rule in rules:
        matcher.by(rule.name, _rule_key(rule))
    masked: Callable[[Any], Any] = _Masks(a, b) if {"query", "template", "host"} & set(stages) else lambda r: None
    if "query" in stages:
        matcher.by("query", lambda r, _: (r.method, r.parts.origin, r.parts.path, masked(r)))
    if "template" in stages:
        matcher.by("template", lambda r, _: (r.method, r.parts.origin, r.parts.template, masked(r)), unique=True)
    aliases: dict[str, str] = {}
    if "host" in stages:
        aliases = {**_learnt_aliases(matcher), **{k.lower(): v.lower() for k, v in (hosts or {}).items()}}
        if aliases:
            matcher.by("host", lambda r, side: (r.method, _alias(r, side, aliases) + r.parts.path_query))
            matcher.by("host", lambda r, side: (r.method, _alias(r, side, aliases), r.parts.template, masked(r)),
                       unique=True)
    if "order" in stages:
        matcher.by("order", lambda r, side: (r.method, _alias(r, side, aliases), r.parts.template, r.parts.names))
    return matcher.pairs


# -- stages ---------------------------------------------------------------------------


class _Matcher:
    """The requests still unpaired on each side, and the pairs made so far."""

    def __init__(self, a: Sequence[Request], b: Sequence[Request]) -> None:
        self.a, self.b = a, b
        self.left_a, self.left_b = list(range(len(a))), list(range(len(b)))
        self.pairs: list[tuple[int, int, str]] = []

    def by(self, name: str, key: Callable[[Request, str], Hashable | None], *, unique: bool = False) -> None:
        """Pair unpaired requests with equal keys, in order of start (`unique`: only where
        exactly one request on each side has the key)."""
        if not self.left_a or not self.left_b:
            return
        groups: dict[Hashable, tuple[list[int], list[int]]] = {}
        for i in self.left_a:
            k = key(self.a[i], "a")
            if k is not None:
                groups.setdefault(k, ([], []))[0].append(i)
        for j in self.left_b:
            k = key(self.b[j], "b")
            if k is not None and k in groups:
                groups[k][1].append(j)
        paired_a, paired_b = set(), set()
        for xs, ys in groups.values():
            if ys and (not unique or len(xs) == len(ys) == 1):
                for i, j in zip(xs, ys):
                    self.pairs.append((i, j, name))
                    paired_a.add(i)
                    paired_b.add(j)
        if paired_a:
            self.left_a = [i for i in self.left_a if i not in paired_a]
            self.left_b = [j for j in self.left_b if j not in paired_b]


def _rule_key(rule: Rule) -> Callable[[Request, str], Hashable | None]:
    def key(r: Request, side: str) -> Hashable | None:
        try:
            k = rule.key(r.method, r.url)
        except Exception as e:  # a user's function: say which rule and which URL
            raise ArgumentError(f"rule {rule.name!r} failed on {r.method} {r.url}: {type(e).__name__}: {e}") from e
        return None if k is None else (r.method, k)
    return key


class _Masks:
    """Each request's query with the values of varying parameters masked (`name=*`).

    A parameter varies when, for a method and path template, no value of it is seen on
    both sides: a session token, a signature, a build number. Learnt per template, not per
    host, so a renamed host's parameters are learnt as well.
    """

    def __init__(self, a: Sequence[Request], b: Sequence[Request]) -> None:
        values: dict[tuple, tuple[set[str], set[str]]] = {}
        for side, rs in enumerate((a, b)):
            for r in rs:
                for name, param in r.parts.params:
                    values.setdefault((r.method, r.parts.template, name), (set(), set()))[side].add(param)
        self.varying = {k for k, (va, vb) in values.items() if va and vb and va.isdisjoint(vb)}
        self.templates = {(method, template) for method, template, _ in self.varying}
        self.memo: dict[tuple[str, int], tuple[str, ...]] = {}

    def __call__(self, r: Request) -> tuple[str, ...]:
        key = (r.method, id(r.parts))
        found = self.memo.get(key)
        if found is None:
            parts = r.parts
            if (r.method, parts.template) not in self.templates:
                found = tuple(param for _, param in parts.params)
            else:
                found = tuple(name + "=" + MASK if (r.method, parts.template, name) in self.varying else param
                              for name, param in parts.params)
            self.memo[key] = found
        return found


def _learnt_aliases(matcher: _Matcher) -> dict[str, str]:
    """Each host seen only in `a` -> the host seen only in `b` serving most of its unpaired templates."""
    hosts_a = {r.parts.host for r in matcher.a}
    hosts_b = {r.parts.host for r in matcher.b}
    templates_b: dict[str, set[tuple]] = {}
    for j in matcher.left_b:
        r = matcher.b[j]
        if r.parts.host not in hosts_a:
            templates_b.setdefault(r.parts.host, set()).add((r.method, r.parts.scheme, r.parts.template))
    counts: dict[tuple[str, str], int] = {}
    for i in matcher.left_a:
        r = matcher.a[i]
        if r.parts.host in hosts_b:
            continue
        for host_b, templates in templates_b.items():
            if (r.method, r.parts.scheme, r.parts.template) in templates:
                counts[(r.parts.host, host_b)] = counts.get((r.parts.host, host_b), 0) + 1
    aliases: dict[str, str] = {}
    taken: set[str] = set()
    for (host_a, host_b), _ in sorted(counts.items(), key=lambda kv: -kv[1]):
        if host_a not in aliases and host_b not in taken:
            aliases[host_a] = host_b
            taken.add(host_b)
    return aliases


def _alias(r: Request, side: str, aliases: Mapping[str, str]) -> str:
    """The request's origin, with an `a` host replaced by its alias in `b`."""
    if side == "a" and r.parts.host in aliases:
        return r.parts.origin_on(aliases[r.parts.host])
    return r.parts.origin


# -- URLs -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class _Url:
    """A URL taken apart once for every stage."""

    origin: str  # scheme://host[:port], normalised
    scheme: str
    host: str
    port: str  # ":port" when not the default
    path: str
    params: tuple[tuple[str, str], ...]  # (lower-case name, "name=value"), sorted, ignored ones dropped
    template: str  # the path template (`template_path`)
    path_query: str  # the path and the kept parameters, sorted
    exact: str  # the normalised URL (`normalise_url`)
    names: tuple[str, ...]  # the kept parameters' names

    def origin_on(self, host: str) -> str:
        return f"{self.scheme}://{host}{self.port}"


@lru_cache(maxsize=1 << 16)
def _parse(url: str, ignored: bool | frozenset[str]) -> _Url:
    head, _, query = url.partition("#")[0].partition("?")
    origin, scheme, host, port, path = _origin_and_path(head)
    params = _params(query, ignored)
    path_query = path + _query(params)
    return _Url(origin, scheme, host, port, path, params, template_path(path), path_query, origin + path_query,
                tuple(name for name, _ in params))


@lru_cache(maxsize=1 << 16)
def _origin_and_path(head: str) -> tuple[str, str, str, str, str]:
    """(origin, scheme, host, ":port" or "", path) of a URL without its query: the scheme
    and host lower-cased, a default port dropped. A URL that does not parse is its own path."""
    fast = _SIMPLE_URL.fullmatch(head)
    if fast and (not fast.group(3) or int(fast.group(3)[1:]) <= 65535):
        # scheme://host[:port]/path, most URLs: no need for urlsplit's generality
        scheme, host, port_text, path = fast.groups()
        scheme, host = scheme.lower(), host.lower()
        number = int(port_text[1:]) if port_text else None
        shown_port = f":{number}" if number is not None and number != DEFAULT_PORTS.get(scheme) else ""
        return f"{scheme}://{host}{shown_port}", scheme, host, shown_port, path or "/"
    try:
        parts = urlsplit(head)
        port = parts.port
    except ValueError:
        return "", "", "", "", head
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    netloc = f"[{host}]" if ":" in host else host
    shown_port = f":{port}" if port is not None and port != DEFAULT_PORTS.get(scheme) else ""
    netloc += shown_port
    if parts.username is not None:
        netloc = f"{parts.username}@{netloc}"
    path = parts.path or "/"
    if not scheme and not netloc:
        return "", "", "", "", urlunsplit(("", "", path, "", ""))
    return f"{scheme}://{netloc}", scheme, host, shown_port, path


def _ignored(ignore_query: IgnoreQuery) -> bool | frozenset[str]:
    """`ignore_query` as `_parse` takes it: a bool, or lower-case names (hashable, for its cache)."""
    return ignore_query if isinstance(ignore_query, bool) else frozenset(n.lower() for n in ignore_query)


def _params(query: str, ignored: bool | frozenset[str]) -> tuple[tuple[str, str], ...]:
    """The query's parameters, sorted, without ignored names: split by hand, since
    cache-busting values make every URL new and urllib's parse-and-re-encode would be
    most of the matching time."""
    if ignored is True or not query:
        return ()
    params = [(_name(p), p) for p in query.split("&") if p]
    if ignored is not False:
        params = [p for p in params if p[0] not in ignored]
    return tuple(sorted(params, key=lambda p: p[1]))


def _query(params: tuple[tuple[str, str], ...]) -> str:
    return "?" + "&".join(p for _, p in params) if params else ""


def _name(param: str) -> str:
    name = param.partition("=")[0]
    return (unquote_plus(name) if "%" in name or "+" in name else name).lower()


# -- path templates -------------------------------------------------------------------

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# A build or version folder: build-1041, v1.2.3, 2024.11.1, release_88 (3 digits or a dotted version).
_FOLDER = re.compile(r"[A-Za-z]*[-_.]?v?(?:\d+(?:[._-]\d+)+|\d{3,})")
_LONG_NUMBER = re.compile(r"\d{5,}")
_NUMBERS = re.compile(r"\d+(?:[._-]\d+)*")
_HEX = re.compile(r"[0-9a-f]{6,}|[0-9A-F]{6,}")
_HUMP = re.compile(r"[A-Z]?[a-z]+")
_VOWEL = re.compile(r"[aeiouyAEIOUY]")
_DIGIT = re.compile(r"\d")
_WORD_AND_NUMBER = re.compile(r"(?:[a-z]+|[A-Z][a-z]+)\d{1,4}|\d{1,4}(?:[a-z]+|[A-Z][a-z]+)")
_SEPARATORS = re.compile(r"([-_~])")
MASK = "*"


@lru_cache(maxsize=1 << 14)
def template_path(path: str) -> str:
    """`path` with what changes from deploy to deploy masked as `*`: UUIDs, build and
    version folders, long numeric ids, and hashes of 6 or more hex, base32 or base64url
    characters in a segment or a file name (`/build-1041/chunk-7.3f2a1b.js` is
    `/build-*/chunk-7.*.js`)."""
    segments = (_UUID.sub(MASK, path) if "-" in path else path).split("/")
    last = len(segments) - 1
    out = []
    for i, segment in enumerate(segments):
        if len(segment) < 6 and not (i < last and segment[-1:].isdigit()) or segment.isalpha() and segment.islower():
            out.append(segment)  # too short for a hash, or a word
        elif i < last and _FOLDER.fullmatch(segment):
            out.append(_NUMBERS.sub(MASK, segment))
        else:
            parts = segment.split(".")
            out.append(".".join(_mask_part(part, between_dots=0 < j < len(parts) - 1) for j, part in enumerate(parts)))
    return "/".join(out)


def _mask_part(part: str, *, between_dots: bool = False) -> str:
    """A dot-separated part of a segment, its hash or long number masked: the whole part,
    or what follows its name (`index-BXk3_a9Q` is `index-*`, `my-page-Cd3fG1` is
    `my-page-*`). `between_dots`: webpack's `name.HASH.js`, where 6 hex letters are a hash
    even without a digit."""
    if len(part) < 6 or part == MASK:
        return part
    pieces = _SEPARATORS.split(part)  # name, separator, name, separator, ...
    for k in range(2, len(pieces), 2):
        piece = pieces[k - 2]
        if not (piece.isdigit() or _WORD_AND_NUMBER.fullmatch(piece) or _wordy(piece)):
            break
        if pieces[k].isalpha() and pieces[k].islower() and len(pieces[k]) >= 3:
            continue  # a word: still the name
        rest = "".join(pieces[k:])
        if _LONG_NUMBER.fullmatch(rest) or _hashlike(rest):
            return "".join(pieces[:k]) + MASK
    if len(pieces) > 1 and (_WORD_AND_NUMBER.fullmatch(pieces[0]) or _wordy(pieces[0])):
        return part  # a name with no hash found after it: masking it whole would lose the name
    if _LONG_NUMBER.fullmatch(part) or _hashlike(part) or (between_dots and _HEX.fullmatch(part)):
        return MASK
    return part


def _hashlike(token: str) -> bool:
    """Could `token` be a content hash? 6+ characters of hex, base32 or base64url that are
    not a word, a word and a small number, or a name made of words."""
    core = token.replace("-", "").replace("_", "")
    if len(core) < 6 or not core.isascii() or not core.isalnum() or core.isdigit():
        return False
    if _HEX.fullmatch(core):
        return not core.isalpha()
    if _DIGIT.search(core):
        return not _WORD_AND_NUMBER.fullmatch(core)
    if core.isupper():
        return len(core) >= 8  # esbuild's base32 hashes; shorter capitals are words (README)
    return not all(_wordy(p) for p in _SEPARATORS.split(token)[::2] if p)


def _wordy(letters: str) -> bool:
    """A name made of words: lower case, Capitalised, or camelCase whose later humps are
    3 letters or more with a vowel (`MyComponent`; base64 like `CujissSi` is not)."""
    if not letters.isalpha() or not letters.isascii():
        return False
    if letters.islower() or (letters[0].isupper() and letters[1:].islower()):
        return True
    humps = _HUMP.findall(letters)
    return "".join(humps) == letters and all(len(h) >= 3 and _VOWEL.search(h) for h in humps[1:])


# -- frames ---------------------------------------------------------------------------


def _frame(value: Any, side: str) -> pd.DataFrame:
    frame = value.df if hasattr(value, "df") else value
    if not isinstance(frame, pd.DataFrame):
        raise ArgumentTypeError(f"{side}: a Session or a traffic frame, not {type(value).__name__}")
    missing = {"method", "url", "started"} - set(frame.columns)
    if missing:
        raise ArgumentError(f"{side}: not a traffic frame (no {', '.join(sorted(missing))} column)")
    return frame.sort_values("started", kind="stable")


def _requests(frame: pd.DataFrame, ignore_query: IgnoreQuery) -> list[Request]:
    return requests(frame["method"].astype("object").fillna("").tolist(),
                    frame["url"].astype("object").fillna("").tolist(), ignore_query)


def _table(fa: pd.DataFrame, fb: pd.DataFrame, ra: list[Request], rb: list[Request],
           pairs: list[tuple[int, int, str]]) -> pd.DataFrame:
    partner = {i: (j, stage) for i, j, stage in pairs}
    paired_b = {j for _, j, _ in pairs}
    rows_a = [(i, *partner.get(i, (None, None))) for i in range(len(ra))]
    rows = rows_a + [(None, j, None) for j in range(len(rb)) if j not in paired_b]
    labels_a, labels_b = fa.index.to_numpy(), fb.index.to_numpy()
    out = pd.DataFrame({
        "entry_a": pd.array([None if i is None else labels_a[i] for i, _, _ in rows], dtype="Int64"),
        "entry_b": pd.array([None if j is None else labels_b[j] for _, j, _ in rows], dtype="Int64"),
        "change": ["removed" if j is None else "added" if i is None else "matched" for i, j, _ in rows],
        "matched_by": pd.array([s for _, _, s in rows], dtype=object),
        "method": [(ra[i] if i is not None else rb[j]).method for i, j, _ in rows],
        "url_a": pd.array([None if i is None else ra[i].url for i, _, _ in rows], dtype=object),
        "url_b": pd.array([None if j is None else rb[j].url for _, j, _ in rows], dtype=object),
        "key": [(ra[i] if i is not None else rb[j]).parts.exact for i, j, _ in rows],
    })
    out["occurrence"] = out.groupby(["method", "key"], sort=False).cumcount().astype("int64")
    return out


class Catalogue:
    """The requests of a series of runs, each known by a number that is the same in every
    run: run after run, each request is matched (`match_requests`' stages) against the
    newest form of every request seen so far, or becomes a new one.

    Matching against the newest form lets a series follow a request through several
    deploys, each renaming it a little; `compare_timings` and `trend` number requests so.
    """

    def __init__(self, *, hosts: Mapping[str, str] | None = None, ignore_query: IgnoreQuery = CACHE_BUSTERS,
                 rules: Sequence[Rule] = (), stages: Iterable[str] = STAGES) -> None:
        self.ignored = _ignored(ignore_query)
        self.hosts, self.rules, self.stages = hosts, rules, tuple(stages)
        self.newest: list[Request] = []  # per number: the request as last seen
        self.offsets: list[float] = []  # per number: ms from its run's start, as last seen
        self.first: list[Request] = []  # per number: the request as first seen

    def __len__(self) -> int:
        return len(self.newest)

    def add(self, methods: Sequence[str], urls: Sequence[str], offsets: np.ndarray) -> tuple[np.ndarray, list]:
        """A run's requests (with their start, ms from the run's start) -> each one's number,
        and the stage that matched it to an earlier run (None: first seen here)."""
        order = np.argsort(offsets, kind="stable")
        run = requests([methods[j] for j in order], [urls[j] for j in order], self.ignored)
        known = sorted(range(len(self.newest)), key=self.offsets.__getitem__)
        pairs = pair([self.newest[k] for k in known], run, hosts=self.hosts, rules=self.rules, stages=self.stages)
        numbers = np.full(len(run), -1, dtype="int64")
        stage: list[str | None] = [None] * len(run)
        for i, j, name in pairs:
            numbers[j], stage[j] = known[i], name
        for j, r in enumerate(run):
            if numbers[j] < 0:
                numbers[j] = len(self.newest)
                self.newest.append(r)
                self.offsets.append(0.0)
                self.first.append(r)
            self.newest[numbers[j]] = r
            self.offsets[numbers[j]] = float(offsets[order[j]])
        out_numbers = np.empty_like(numbers)
        out_stage: list[str | None] = [None] * len(run)
        out_numbers[order] = numbers
        for j, o in enumerate(order):
            out_stage[o] = stage[j]
        return out_numbers, out_stage

    def add_runs(self, methods: Sequence[str], urls: Sequence[str], offsets: np.ndarray,
                 sizes: Sequence[int], keys: Sequence[str] | None = None) -> tuple[np.ndarray, list]:
        """`add` for many runs at once (their rows one run after another, `sizes` rows each):
        the same numbers and stages, found faster.

        Each request's exact key is computed once for all runs (or given in `keys`, each
        `key(url)`, as Dask workers compute them). A run whose every request
        finds a partner by the exact stage (as most runs of a history do) is numbered by
        (key, position among its key's requests in order of start) with numpy; only the
        other runs go through `add`'s stages, seeing the same catalogue they would have
        seen run by run.
        """
        methods = [m.upper() for m in methods]
        keys = self.keys(urls) if keys is None else list(keys)
        # (method, exact key) codes for the catalogue's requests, then this call's rows
        known_methods = [r.method for r in self.newest] + methods
        known_exact = [r.parts.exact for r in self.newest] + keys
        method_codes, _ = pd.factorize(np.asarray(known_methods, dtype=object))
        exact_codes, exact_values = pd.factorize(np.asarray(known_exact, dtype=object))
        codes = pd.factorize(method_codes.astype("int64") * max(len(exact_values), 1) + exact_codes)[0]
        codes_known, codes_rows = codes[:len(self.newest)], codes[len(self.newest):]
        offsets = np.asarray(offsets, dtype="float64")

        # the catalogue as arrays: each number's key code and start offset, and how many numbers have each code
        numbers_codes = codes_known.astype("int64")
        numbers_offsets = np.asarray(self.offsets, dtype="float64")
        count = np.bincount(numbers_codes, minlength=codes.max(initial=-1) + 1)
        stale = np.full(len(self.newest), -1, dtype="int64")  # a row newer than self.newest[number], or -1
        numbers = np.full(len(methods), -1, dtype="int64")
        stages: list[str | None] = ["exact"] * len(methods)
        by_key = "exact" in self.stages  # the exact stage runs first whenever it runs
        start = 0
        for size in sizes:
            rows = np.arange(start, start + size)
            start += size
            if not size:
                continue
            run_codes, starts = codes_rows[rows], offsets[rows]
            found = _exact_only(run_codes, starts, numbers_codes, numbers_offsets, count) \
                if by_key and len(numbers_codes) else None
            if found is not None:
                numbers[rows] = found
                numbers_offsets[found] = starts
                stale[found] = rows
                continue
            for number in np.flatnonzero(stale >= 0):  # bring the catalogue up to date for the stages
                row = int(stale[number])
                self.newest[number] = Request(methods[row], urls[row], _parse(urls[row], self.ignored))
            stale[:] = -1
            self.offsets = numbers_offsets.tolist()
            listed = rows.tolist()
            got, got_stages = self.add([methods[i] for i in listed], [urls[i] for i in listed], starts)
            numbers[rows] = got
            stages[rows[0]:rows[-1] + 1] = got_stages
            grown = len(self.newest) - len(numbers_codes)
            numbers_codes = np.concatenate([numbers_codes, np.full(grown, -1, dtype="int64")])
            stale = np.concatenate([stale, np.full(grown, -1, dtype="int64")])
            numbers_offsets = np.asarray(self.offsets, dtype="float64")
            old = numbers_codes[got]
            np.subtract.at(count, old[old >= 0], 1)
            np.add.at(count, run_codes, 1)
            numbers_codes[got] = run_codes
        for number in np.flatnonzero(stale >= 0):
            row = stale[number]
            self.newest[number] = Request(methods[row], urls[row], _parse(urls[row], self.ignored))
        self.offsets = numbers_offsets.tolist()
        return numbers, stages

    def add_frames(self, frames: Sequence[pd.DataFrame]) -> tuple[np.ndarray, list]:
        """`add_frame` for each frame (a run) in turn, through `add_runs`: numbers and stages of
        all their rows, frame after frame. Frames that carry `KEY` and `OFFSET` columns (Dask
        workers computed them) are not parsed again."""
        if not frames:
            return np.empty(0, dtype="int64"), []
        keyed = all(KEY in frame.columns and OFFSET in frame.columns for frame in frames)
        columns = ("method", "url", "started", *((KEY, OFFSET) if keyed else ()))
        every = {column: pd.concat([frame[column] for frame in frames], ignore_index=True) for column in columns}
        sizes = [len(frame) for frame in frames]
        offsets = every[OFFSET].to_numpy("float64") if keyed else run_offsets(
            every["started"], np.repeat(np.arange(len(sizes)), sizes))
        return self.add_runs(every["method"].astype("object").fillna("").tolist(),
                             every["url"].astype("object").fillna("").tolist(), offsets, sizes,
                             every[KEY].tolist() if keyed else None)

    def key(self, url: str) -> str:
        """`url` normalised as the exact stage compares it (`normalise_url`)."""
        return _parse(url, self.ignored).exact

    def keys(self, urls: Sequence[str]) -> list[str]:
        """`key` of each URL, each distinct URL normalised once."""
        codes, unique_urls = pd.factorize(np.asarray(urls, dtype=object))
        exact = np.array([_parse(u, self.ignored).exact for u in unique_urls], dtype=object)
        return exact[codes].tolist()

    def add_frame(self, frame: pd.DataFrame) -> tuple[np.ndarray, list]:
        """`add` for a traffic frame's rows, in the frame's order."""
        return self.add(frame["method"].astype("object").fillna("").tolist(),
                        frame["url"].astype("object").fillna("").tolist(),
                        run_offsets(frame["started"], np.zeros(len(frame), dtype="int64")))


#: Columns a frame of runs may carry so that `Catalogue.add_frames` need not compute them:
#: each request's exact key (`Catalogue.key`) and its start in ms from its run's first (`run_offsets`).
KEY, OFFSET = "_match_key", "_start_ms"


def run_offsets(started: pd.Series, runs: Sequence | np.ndarray) -> np.ndarray:
    """Each request's start in ms from the first of its run (`runs`: each row's run); a
    request without a start comes last."""
    started = started.reset_index(drop=True)
    first = started.groupby(np.asarray(runs)).transform("min")
    offsets = ((started - first) / pd.Timedelta(milliseconds=1)).to_numpy("float64", na_value=np.nan)
    return np.nan_to_num(offsets, nan=np.inf)


def _exact_only(run_codes: np.ndarray, starts: np.ndarray, numbers_codes: np.ndarray,
                numbers_offsets: np.ndarray, count: np.ndarray) -> np.ndarray | None:
    """Each request's number when the exact stage pairs all of a run's requests (no code
    more often in the run than among the numbers), else None: the n-th request of a key
    in order of start takes the n-th number of that key in order of its last start, as
    `_Matcher.by` pairs them."""
    codes, counts = np.unique(run_codes, return_counts=True)
    if (counts > count[codes]).any():
        return None
    order = np.lexsort((starts, run_codes))  # by key, then start; ties keep the frame's order
    candidates = np.flatnonzero(np.isin(numbers_codes, codes))
    known = candidates[np.lexsort((candidates, numbers_offsets[candidates], numbers_codes[candidates]))]
    known_codes = numbers_codes[known]
    rank = np.arange(len(known)) - np.searchsorted(known_codes, known_codes)  # position among its key's numbers
    taken = known[rank < counts[np.searchsorted(codes, known_codes)]]
    found = np.empty(len(run_codes), dtype="int64")
    found[order] = taken
    return found
