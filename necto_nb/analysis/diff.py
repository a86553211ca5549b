"""What changed between two captures of the same API calls: status, headers and bodies.

Requests are paired by `nn.match_requests`, as `compare_timings` pairs them. Runs (`nn.Runs`
or lists of Sessions) are paired run with run, by name or by position, and each pair is
diffed; a single Session is diffed against each run of the other side.
What changes on every response or connection is ignored by default: volatile and
per-connection headers (Date, request ids, Sec-WebSocket-Key/Accept, ...) and cookie
values (cookie names and Set-Cookie attributes are still compared). JSON bodies are
compared value by value and each change is named by its path.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
import pandas as pd

from necto_nb.errors import ArgumentError, ArgumentTypeError, HarError
from necto_nb.match import CACHE_BUSTERS, STAGES, IgnoreQuery, Rule, match_requests
from necto_nb.runs import Runs
from necto_nb.session import Session

#: Headers `diff` ignores by default: they differ on every response (Date, Age, request
#: ids, tracing, cache and CDN bookkeeping) or connection (a WebSocket handshake's key and
#: its answer), or describe the connection, not the message (Host, Connection,
#: Content-Length: a body change is reported as such).
VOLATILE_HEADERS: frozenset[str] = frozenset({
    "date", "age", "expires", "last-modified", "etag", "server-timing", "x-response-time", "x-runtime",
    "x-request-id", "request-id", "x-correlation-id", "x-amzn-requestid", "x-amz-request-id", "x-amz-id-2",
    "x-amz-cf-id", "x-amzn-trace-id", "cf-ray", "x-served-by", "x-cache", "x-cache-hits", "x-timer",
    "traceparent", "tracestate", "x-trace-id", "nel", "report-to",
    "host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
    "upgrade", "content-length", "sec-websocket-key", "sec-websocket-accept",
})
COLUMNS = ["entry_a", "entry_b", "method", "url", "occurrence", "matched_by", "part", "name", "change", "a", "b"]
#: `diff`'s columns in front of `COLUMNS` when runs are diffed: the two runs of the pair.
RUN_COLUMNS = ["run_a", "run_b"]
PAIR_BY = ("name", "position")
_COOKIE_EXPIRY = re.compile(r";\s*(expires|max-age)=[^;]*", re.I)
_COOKIE_VALUE = re.compile(r"=[^;]*")  # the first: a cookie's value, before its attributes
_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_SHOWN = 1000  # characters of a value shown in a diff row; the sessions keep the rest


def diff(
    a: Session | Runs | Sequence[Session],
    b: Session | Runs | Sequence[Session],
    *,
    pair_by: str = "name",
    ignore_headers: Iterable[str] = VOLATILE_HEADERS,
    ignore_paths: Iterable[str] = (),
    ignore_query: IgnoreQuery = CACHE_BUSTERS,
    hosts: Mapping[str, str] | None = None,
    rules: Sequence[Rule] = (),
    stages: Iterable[str] = STAGES,
    bodies: bool = True,
    cookie_values: bool = False,
) -> pd.DataFrame:
    """Per-request changes from `a` to `b`, one row per change.

    `part` is "request" (`change` "added" or "removed": a request only in `b` or only in
    `a`), "status", "request header", "response header", "request body" or "response
    body" (`change` "unreadable" when a body cannot be decoded, with the reason); `name`
    is the header name or the JSON path ("$.items[2].price") that changed;
    `a` and `b` are the values (JSON as compact text). Headers named in `ignore_headers`
    are skipped (case-insensitive; `VOLATILE_HEADERS` by default, pass `()` to compare
    all). Cookies are compared by name, Set-Cookie also by its attributes but Expires and
    Max-Age: their values are new in every session; `cookie_values=True` compares them
    too. `ignore_paths` skips JSON
    paths and everything under them; `*` stands for any one key or index
    ("$.items[*].updated_at"). Bodies that are not both JSON are compared as bytes.
    Requests are paired by `nn.match_requests` (`ignore_query`, `hosts`, `rules`, `stages`:
    its options);
    `matched_by` says which of its stages paired them.

    Either side may be runs (`nn.Runs`, or a list of Sessions): each run of `a` is diffed
    with the run of `b` of the same name (`pair_by="name"`), or the n-th with the n-th
    (`pair_by="position"`), and a Session on one side is diffed with every run of the other.
    The rows then start with `run_a` and `run_b`, the pair's names; a run with no partner
    is one row, `part` "run", `change` "removed" or "added", its name in `a` or `b`.
    """
    if pair_by not in PAIR_BY:
        raise ArgumentError(f"pair_by={pair_by!r}: one of {', '.join(map(repr, PAIR_BY))}")
    compare = functools.partial(_diff, ignore_headers=ignore_headers, ignore_paths=ignore_paths,
                                ignore_query=ignore_query, hosts=hosts, rules=rules, stages=stages, bodies=bodies,
                                cookie_values=cookie_values)
    runs_a, runs_b = _runs(a, "a"), _runs(b, "b")
    if isinstance(a, Session) and isinstance(b, Session):
        return compare(a, b)
    parts = []
    for name_a, run_a, name_b, run_b in _pairs(runs_a, runs_b, pair_by,
                                               single=isinstance(a, Session) or isinstance(b, Session)):
        if run_a is None or run_b is None:
            change, value = ("added", {"b": name_b}) if run_a is None else ("removed", {"a": name_a})
            part = _frame([{"method": "", "url": "", "occurrence": 0, "part": "run", "name": "", "change": change,
                            **value}])
        else:
            part = compare(run_a, run_b)
        parts.append(part.assign(run_a=name_a, run_b=name_b)[RUN_COLUMNS + COLUMNS])
    return pd.concat(parts, ignore_index=True).astype({"run_a": object, "run_b": object})


def _runs(value: Any, side: str) -> list[tuple[str, Session]]:
    """A side's runs as (name, Session); a single Session is one."""
    if isinstance(value, Runs):
        return list(zip(value.names, value))
    if isinstance(value, Session):
        return [(value.name, value)]
    if isinstance(value, str | bytes | pd.DataFrame) or not isinstance(value, Iterable):
        raise ArgumentTypeError(f"{side}: a Session, nn.Runs or a list of Sessions, not {type(value).__name__} "
                                "(diff reads bodies and headers, which a frame does not hold)")
    runs = list(value)
    for i, run in enumerate(runs):
        if not isinstance(run, Session):
            raise ArgumentTypeError(f"{side}[{i}]: a Session, not {type(run).__name__}")
    if not runs:
        raise ArgumentError(f"{side}: no runs given")
    return [(run.name, run) for run in runs]


def _pairs(a: list[tuple[str, Session]], b: list[tuple[str, Session]], pair_by: str, *, single: bool) -> list[tuple]:
    """(name in a, run of a, name in b, run of b) per pair; None for a run's missing partner."""
    if single:  # one Session against every run of the other side
        return [(na, ra, nb, rb) for na, ra in a for nb, rb in b]
    if pair_by == "position":
        if len(a) != len(b):
            raise ArgumentError(f"pair_by='position': {len(a)} run(s) in a, {len(b)} in b; "
                                "give as many on each side, or pair them by name")
        return [(na, ra, nb, rb) for (na, ra), (nb, rb) in zip(a, b)]
    for side, runs in (("a", a), ("b", b)):
        names = [name for name, _ in runs]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ArgumentError(f"{side}: run name {twice[0]!r} given twice; name runs uniquely, "
                                "or pair them with pair_by='position'")
    in_b = dict(b)
    if not set(in_b) & {name for name, _ in a}:
        raise ArgumentError(f"no run names in common (a: {_some([n for n, _ in a])}; b: {_some(list(in_b))}): "
                            "pass pair_by='position' to pair the n-th run of a with the n-th of b")
    in_a = dict(a)
    return [(name, run, name if name in in_b else None, in_b.get(name)) for name, run in a] + \
        [(None, None, name, run) for name, run in b if name not in in_a]


def _some(names: list[str]) -> str:
    return ", ".join(map(repr, names[:3])) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _diff(a: Session, b: Session, *, ignore_headers: Iterable[str], ignore_paths: Iterable[str],
          ignore_query: IgnoreQuery, hosts: Mapping[str, str] | None, rules: Sequence[Rule], stages: Iterable[str],
          bodies: bool, cookie_values: bool) -> pd.DataFrame:
    """`diff` of two Sessions."""
    ignored = frozenset(h.lower() for h in ignore_headers)
    skip = _path_filter(ignore_paths)
    rows: list[dict[str, Any]] = []
    for pair in match_requests(a, b, hosts=hosts, ignore_query=ignore_query, rules=rules,
                                                 stages=stages).itertuples(index=False):
        where = {"entry_a": pair.entry_a, "entry_b": pair.entry_b, "method": pair.method, "url": pair.key,
                 "occurrence": pair.occurrence, "matched_by": pair.matched_by}
        if pair.change != "matched":
            side, entry = (a, pair.entry_a) if pair.change == "removed" else (b, pair.entry_b)
            rows.append({**where, "part": "request", "name": "", "change": pair.change,
                         "a" if pair.change == "removed" else "b": str(side.df.at[entry, "url"])})
            continue
        ea, eb = a.entries[int(pair.entry_a)], b.entries[int(pair.entry_b)]
        changes: list[tuple[str, str, str, Any, Any]] = []
        status_a, status_b = ea.get("response", {}).get("status"), eb.get("response", {}).get("status")
        if status_a != status_b:
            changes.append(("status", "", "changed", status_a, status_b))
        for part, key in (("request header", "request"), ("response header", "response")):
            changes += [(part, *c) for c in _headers((ea.get(key) or {}).get("headers"),
                                                    (eb.get(key) or {}).get("headers"), ignored, cookie_values)]
        if bodies:
            for part, read in (("request body", "request_body"), ("response body", "response_body")):
                body_a, body_b = _read(a, read, int(pair.entry_a)), _read(b, read, int(pair.entry_b))
                if isinstance(body_a, HarError) or isinstance(body_b, HarError):
                    changes.append((part, "", "unreadable", _error(body_a), _error(body_b)))
                else:
                    changes += [(part, *c) for c in _body(body_a, body_b, skip)]
        rows += [{**where, "part": part, "name": name, "change": change, "a": va, "b": vb}
                 for part, name, change, va, vb in changes]
    return _frame(rows)


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    # Values stay Python objects (ints, text, None): a string dtype would turn None into NaN.
    out = pd.DataFrame({c: pd.Series([r.get(c) for r in rows], dtype=object) for c in COLUMNS})
    return out.astype({"entry_a": "Int64", "entry_b": "Int64", "occurrence": "int64", "method": "str",
                       "url": "str", "part": "str", "name": "str", "change": "str"})


def _read(session: Session, which: str, i: int) -> bytes | None | HarError:
    """A body, or the error that says why it cannot be read (bad base64, a missing side
    file): one bad body is a row of the diff, not the end of it."""
    try:
        return getattr(session, which)(i)
    except HarError as exc:
        return exc


def _error(body: bytes | None | HarError) -> str | None:
    return str(body) if isinstance(body, HarError) else _summary(body)


def _headers(a: list | None, b: list | None, ignored: frozenset[str],
             cookie_values: bool) -> list[tuple[str, str, Any, Any]]:
    """Header changes (name, change, a, b); repeated headers compare as sorted value lists."""
    va, vb = _header_values(a or [], ignored, cookie_values), _header_values(b or [], ignored, cookie_values)
    changes: list[tuple[str, str, Any, Any]] = []
    for name in dict.fromkeys([*va, *vb]):
        if name not in vb:
            changes.append((name, "removed", "\n".join(va[name]), None))
        elif name not in va:
            changes.append((name, "added", None, "\n".join(vb[name])))
        elif va[name] != vb[name]:
            changes.append((name, "changed", "\n".join(va[name]), "\n".join(vb[name])))
    return changes


def _header_values(headers: list, ignored: frozenset[str], cookie_values: bool) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for h in headers:
        name = str(h.get("name", "")).lower()
        if not name or name.startswith(":") or name in ignored:  # ":authority" etc. restate the URL
            continue
        value = str(h.get("value", ""))
        if name == "set-cookie":
            value = _COOKIE_EXPIRY.sub("", value)
            if not cookie_values:  # sid=...; Path=/; HttpOnly -> sid; Path=/; HttpOnly
                value = _COOKIE_VALUE.sub("", value, count=1)
        elif name == "cookie" and not cookie_values:  # a=1; b=2 -> a; b
            value = "; ".join(sorted(_COOKIE_VALUE.sub("", pair).strip() for pair in value.split(";")))
        values.setdefault(name, []).append(value)
    return {name: sorted(v) for name, v in values.items()}


def _body(a: bytes | None, b: bytes | None, skip: re.Pattern | None) -> list[tuple[str, str, Any, Any]]:
    if a == b:
        return []
    if a is None or b is None:
        return [("", "added" if a is None else "removed", _summary(a), _summary(b))]
    ja, jb = _json(a), _json(b)
    if ja is not _NOT_JSON and jb is not _NOT_JSON:
        return [c for c in json_changes(ja, jb) if not (skip and skip.fullmatch(c[0]))]
    return [("", "changed", _summary(a), _summary(b))]


_NOT_JSON = object()


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:  # fails at the first byte that is not JSON: cheap to try
        return _NOT_JSON


def _summary(body: bytes | None) -> str | None:
    if body is None:
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return f"<{len(body):,} bytes of binary>"
    return _short(text)


def _short(text: str) -> str:
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}… ({len(text) - _SHOWN:,} more characters)"


def _show(value: Any) -> str:
    try:
        return _short(orjson.dumps(value).decode())
    except TypeError:  # orjson writes 255 levels of nesting at most (it reads 1024)
        return "<JSON nested more than 255 levels deep>"


def json_changes(a: Any, b: Any) -> list[tuple[str, str, str | None, str | None]]:
    """Changes between two JSON values, in document order: (path, "added" | "removed" |
    "changed", a, b) with the values as compact JSON.

    Objects compare key by key, arrays index by index; a value that changes type is one
    change (1 and 1.0 are the same number; true and 1 are not). Iterative, so deeply nested
    documents do not hit Python's recursion limit.
    """
    changes: list[tuple[str, str, str | None, str | None]] = []
    stack: list[tuple] = [("$", a, b)]
    while stack:
        item = stack.pop()
        if len(item) == 4:  # a change found while expanding a parent, emitted in its place
            changes.append(item)
            continue
        path, x, y = item
        if isinstance(x, dict) and isinstance(y, dict):
            todo = []
            for key in dict.fromkeys([*x, *y]):
                child = f"{path}.{key}" if _IDENTIFIER.match(key) else f"{path}[{orjson.dumps(key).decode()}]"
                todo.append((child, "removed", _show(x[key]), None) if key not in y else
                            (child, "added", None, _show(y[key])) if key not in x else (child, x[key], y[key]))
            stack += reversed(todo)
        elif isinstance(x, list) and isinstance(y, list):
            todo = [(f"{path}[{i}]", x[i], y[i]) if i < len(y) else (f"{path}[{i}]", "removed", _show(x[i]), None)
                    for i in range(len(x))]
            todo += [(f"{path}[{i}]", "added", None, _show(y[i])) for i in range(len(x), len(y))]
            stack += reversed(todo)
        elif not _same(x, y):
            changes.append((path, "changed", _show(x), _show(y)))
    return changes


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, bool) or isinstance(y, bool) or not isinstance(x, int | float) or not isinstance(y, int | float):
        return type(x) is type(y) and x == y
    return x == y


def _path_filter(patterns: Iterable[str]) -> re.Pattern | None:
    """One regex for the ignored JSON paths and everything beneath them."""
    parts = []
    for pattern in patterns:
        if not pattern.startswith("$"):
            raise ArgumentError(f"ignore_paths: {pattern!r} is not a JSON path "
                             "(they start with '$', e.g. '$.items[*].id')")
        parts.append(re.escape(pattern).replace(r"\*", r"[^.\[\]]+"))
    return re.compile(f"(?:{'|'.join(parts)})(?:[.\\[].*)?", re.S) if parts else None
