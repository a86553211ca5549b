"""A seeded, deterministic mutation engine for HAR imports.

Case `i` of seed `s` is built from `random.Random(f"{s}:{i}")` alone, so any case can be
rebuilt on its own (`python -m tests.hardening.runner --seed s --case i`). A case starts
from a real file of the corpus (cut down to a few entries, so thousands of cases fit in
minutes) or from a generated HAR, then applies one to three structural mutations (keys
dropped, types swapped, numbers JSON allows but floats cannot hold, nesting up to 100,000
deep, multi-megabyte strings, invalid UTF-8, lone surrogates, duplicate keys, near-valid
dates and URLs) and sometimes a byte-level one (truncation, flipped or inserted bytes,
splices, gzip, BOM, JSONP).

Some mutations cannot be expressed as Python values (duplicate keys, NaN literals, raw
invalid bytes): the document carries a placeholder string, replaced in the JSON bytes.
"""

from __future__ import annotations

import copy
import gzip
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# -- the starting points ------------------------------------------------------------------


@dataclass(frozen=True)
class Base:
    name: str
    raw: bytes
    doc: dict | None  # None: not JSON (the corpus's broken files): byte mutations only


def load_bases(corpus: Path | None) -> list[Base]:
    """Every corpus HAR (BOM and all), in name order so seeds mean the same everywhere."""
    bases = []
    for path in sorted(corpus.glob("*.har")) if corpus else ():
        raw = path.read_bytes()
        try:
            doc = json.loads(raw.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError):
            doc = None
        bases.append(Base(path.name, raw, doc if isinstance(doc, dict) else None))
    return bases


def _entries_of(doc: dict) -> tuple[dict, list] | None:
    log = doc.get("log")
    if isinstance(log, dict) and isinstance(log.get("entries"), list):
        return log, log["entries"]
    return None


def shrink(doc: dict, rng: random.Random, most: int = 3) -> dict:
    """A copy with at most `most` of its entries (and the pages they refer to)."""
    found = _entries_of(doc)
    if not found:
        return copy.deepcopy(doc)
    log, entries = found
    chosen = sorted(rng.sample(range(len(entries)), min(len(entries), rng.randint(1, most))))
    small = {k: v for k, v in log.items() if k not in ("entries", "pages")}
    small["entries"] = [entries[i] for i in chosen]
    if isinstance(log.get("pages"), list):
        refs = {e.get("pageref") for e in small["entries"] if isinstance(e, dict)}
        small["pages"] = [p for p in log["pages"] if isinstance(p, dict) and p.get("id") in refs]
    return copy.deepcopy({**{k: v for k, v in doc.items() if k != "log"}, "log": small})


# -- generated HARs -------------------------------------------------------------------------

_HOSTS = ["example.com", "api.example.com:8443", "127.0.0.1:8080", "[::1]:3000", "xn--bcher-kva.example",
          "localhost", "a.b.c.d.example.org"]
_PATHS = ["/", "/index.html", "/api/v1/items?id=7&id=8", "/s%C3%A9arch?q=caf%C3%A9", "/a/b/../c;x=1",
          "/img.png?w=100#frag", "/login?next=%2Fhome&token=abc123def456", "/%E2%9C%93", "/ws"]
_TEXT = ["", "x", "hello world", "héllo wörld ✓", "😀 emoji", "line\nbreak\r\n", 'quote " and \\ backslash',
         "<script>alert(1)</script>", "\u0000nul\u0001ctl", "\u202eRTL override", "a" * 300]
_MIMES = ["application/json", "text/html; charset=utf-8", "image/png", "text/plain", "",
          "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz", "application/octet-stream",
          "text/event-stream", "font/woff2", "application/javascript"]
_VERSIONS = ["HTTP/1.1", "HTTP/1.0", "h2", "HTTP/2.0", "http/2.0", "h3", "", "unknown"]
_STATUSES = [0, 101, 200, 204, 206, 301, 302, 304, 400, 401, 404, 500, 503, 599, 999]


def _date(rng: random.Random) -> str:
    year = rng.choice([1970, 2001, 2023, 2026, 2099])
    base = f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"
    base += f":{rng.randint(0, 59):02d}"
    base += rng.choice(["", ".1", ".123", ".1234567"])
    return base + rng.choice(["Z", "+00:00", "-07:00", "+05:30", "z"])


def _pairs(rng: random.Random, n: int) -> list[dict]:
    return [{"name": rng.choice(["Accept", "X-Custom", "Content-Type", "Authorization", "é-name", "", "a b"]),
             "value": rng.choice(_TEXT)} for _ in range(n)]


def _timings(rng: random.Random) -> dict:
    phase = lambda: rng.choice([-1, 0, 0.001, 1, 12.5, 1234.56789, 1e6])  # noqa: E731
    timings = {"send": phase(), "wait": phase(), "receive": phase()}
    for key in ("blocked", "dns", "connect", "ssl"):
        if rng.random() < 0.7:
            timings[key] = phase()
    if rng.random() < 0.3:
        timings["_blocked_queueing"] = phase()
    return timings


def generate_entry(rng: random.Random, pageref: str | None = None) -> dict:
    method = rng.choice(["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "M-SEARCH"])
    scheme = rng.choice(["http", "https", "ws", "wss"])
    request = {"method": method, "url": f"{scheme}://{rng.choice(_HOSTS)}{rng.choice(_PATHS)}",
               "httpVersion": rng.choice(_VERSIONS), "cookies": [], "headers": _pairs(rng, rng.randint(0, 4)),
               "queryString": _pairs(rng, rng.randint(0, 2)), "headersSize": rng.choice([-1, 0, 250]),
               "bodySize": rng.choice([-1, 0, 17])}
    if rng.random() < 0.3:
        request["cookies"] = [{"name": "sid", "value": rng.choice(_TEXT), "expires": rng.choice([None, _date(rng)]),
                               "httpOnly": rng.random() < 0.5, "secure": True}]
    if method in ("POST", "PUT", "PATCH") or rng.random() < 0.1:
        kind = rng.random()
        if kind < 0.4:
            request["postData"] = {"mimeType": "application/json",
                                   "text": json.dumps({"user": rng.choice(_TEXT), "password": "pw", "n": [1, 2.5]})}
        elif kind < 0.7:
            request["postData"] = {"mimeType": "application/x-www-form-urlencoded", "text": "a=1&password=x",
                                   "params": [{"name": "a", "value": "1"}, {"name": "password", "value": "x"}]}
        else:
            request["postData"] = {"mimeType": rng.choice(_MIMES), "text": "AAEC/w==", "encoding": "base64"}
    status = rng.choice(_STATUSES)
    content: dict[str, Any] = {"size": rng.choice([-1, 0, 5, 1000]), "mimeType": rng.choice(_MIMES)}
    body = rng.random()
    if body < 0.4:
        content["text"] = rng.choice(_TEXT + ['{"ok": true}', "[1,2,3]"])
    elif body < 0.6:
        content["text"], content["encoding"] = "iVBORw0KGgo=", "base64"
    elif body < 0.65:
        content["_file"] = rng.choice(["body.bin", "sub/dir.txt", "missing.bin"])
    if rng.random() < 0.2:
        content["compression"] = rng.randint(0, 100)
    response = {"status": status, "statusText": rng.choice(["OK", "", "Not Found", "✓"]),
                "httpVersion": rng.choice(_VERSIONS), "cookies": [], "headers": _pairs(rng, rng.randint(0, 4)),
                "content": content, "redirectURL": rng.choice(["", "/next", "https://example.com/x"]),
                "headersSize": rng.choice([-1, 120]), "bodySize": rng.choice([-1, 0, 5])}
    if rng.random() < 0.3:
        response["_transferSize"] = rng.choice([300, "300", None])
    if status == 0 and rng.random() < 0.7:
        response["_error"] = rng.choice(["net::ERR_CONNECTION_REFUSED", {"message": "reset", "code": "ECONNRESET"}])
    timings = _timings(rng)
    entry = {"startedDateTime": _date(rng),
             "time": sum(v for k, v in timings.items() if k in ("blocked", "dns", "connect", "send", "wait", "receive")
                         and v > 0),
             "request": request, "response": response, "cache": rng.choice([{}, {"comment": "c"}]),
             "timings": timings}
    if pageref:
        entry["pageref"] = pageref
    if rng.random() < 0.5:
        entry["serverIPAddress"] = rng.choice(["93.184.216.34", "::1", "2001:db8::1", "127.0.0.1"])
    if rng.random() < 0.3:
        entry["connection"] = str(rng.randint(1, 99999))
    if rng.random() < 0.3:
        entry["_resourceType"] = rng.choice(["document", "xhr", "fetch", "image", "websocket", "other"])
    if scheme.startswith("ws") or rng.random() < 0.05:
        entry["_webSocketMessages"] = [{"type": rng.choice(["send", "receive"]), "time": 1.5, "opcode": rng.choice([1, 2]),
                                        "data": rng.choice(_TEXT + ['{"token": "t-1"}'])} for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.2:
        entry["_initiator"] = {"type": "script", "stack": {"callFrames": [{"url": "https://x/a.js", "lineNumber": 1}]}}
    return entry


def generate(rng: random.Random) -> dict:
    """A valid HAR 1.2 document exercising the features real tools write."""
    pages = [{"startedDateTime": _date(rng), "id": f"page_{i}", "title": rng.choice(_TEXT),
              "pageTimings": {"onContentLoad": rng.choice([-1, 12.5]), "onLoad": rng.choice([-1, 99])}}
             for i in range(rng.randint(0, 2))]
    entries = [generate_entry(rng, rng.choice([p["id"] for p in pages]) if pages and rng.random() < 0.8 else None)
               for _ in range(rng.randint(1, 4))]
    log = {"version": rng.choice(["1.2", "1.1"]), "creator": {"name": "generator", "version": "1"},
           "pages": pages, "entries": entries}
    if rng.random() < 0.3:
        log["browser"] = {"name": "Chromium", "version": "126"}
    if rng.random() < 0.2:
        log["comment"] = rng.choice(_TEXT)
    return {"log": log}


# -- structural mutations -----------------------------------------------------------------


@dataclass
class Draft:
    """A document being mutated, and the byte substitutions to make once it is JSON."""

    doc: Any
    rng: random.Random
    tokens: dict[str, bytes] = field(default_factory=dict)
    applied: list[str] = field(default_factory=list)

    def token(self, raw: bytes, inner: bool = False) -> str:
        """A placeholder for `raw`: a whole JSON value or key (any text, valid JSON or not),
        or with `inner` a piece of a string's bytes."""
        name = f"__fuzz{len(self.tokens)}{'i' if inner else ''}__"
        self.tokens[name] = raw
        return name

    def size(self, value: Any) -> int:
        """The bytes `value` comes to once its placeholders are filled in."""
        text = json.dumps(value)
        return len(text) + sum(len(raw) for name, raw in self.tokens.items() if name in text)

    def slots(self) -> list[tuple[Any, Any]]:
        """Every (container, key) in the document, iteratively (documents can be deep)."""
        found, stack = [], [self.doc]
        while stack and len(found) < 20_000:
            node = stack.pop()
            items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
            for key, value in items:
                found.append((node, key))
                if isinstance(value, (dict, list)):
                    stack.append(value)
        return found

    def pick(self, want: type | tuple | None = None) -> tuple[Any, Any] | None:
        slots = self.slots()
        if want is not None:
            slots = [(c, k) for c, k in slots if isinstance(c[k], want)]
        return self.rng.choice(slots) if slots else None


SPECIAL_NUMBERS = [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400", b"1E-400", b"18446744073709551616",
                   b"1180591620717411303424", b"-9223372036854775809", b"-0", b"1.7976931348623157e308",
                   b"123456789012345678901234567890.5", b"0.0000000000000000000001"]
SWAPS = [None, True, False, 0, -1, -2, 2 ** 31, 1.5, -1e300, "", "text", "12", "-1", "1e3", "true", "null",
         [], {}, [1, "a", None], {"a": 1}, [{}], {"name": "x", "value": "y"}]
DATES = ["0001-01-01T00:00:00Z", "2020-13-01T00:00:00Z", "2020-02-30T10:00:00Z", "2020-01-01T25:00:00Z",
         "2020-01-01T23:59:60Z", "2020-01-01T00:00:00+99:99", "9999-12-31T23:59:59-23:59", "1600-01-01T00:00:00Z",
         "2300-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "2020-01-01", "2020-01-01 10:00:00", "yesterday",
         "2020-01-01T00:00:00.12345678901234567890Z", "Thu, 01 Jan 1970 00:00:00 GMT", "１９７０-01-01T00:00:00Z",
         "2020-01-01T00:00:00", "2020-W01-1T00:00:00Z"]
URLS = ["", "not a url", "http://[::1", "http://a b/c", "javascript:alert(1)", "data:text/html,<b>x</b>",
        "//no-scheme/x", "http://%zz/", "https://user:pa ss@host/", "http://ü.example/ä?ö=ü#ß", "http:",
        "https://host:99999999/", "http://[vx]/", "file:///etc/passwd", "HTTP://EXAMPLE.COM", "a:b:c",
        "http://host/\u0000", "http://host/%", "https://x/?q=" + "%" * 50, "mailto:a@b",
        "http://" + "a" * 3000 + "<", "x://" + ":@" * 1500 + "|", "http://[" + ":" * 3000 + "x]/"]
IPS = ["", "[::1]", "::1", "999.1.1.1", "1.2.3", "fe80::1%eth0", "localhost", "::ffff:1.2.3.4", "[2001:db8::1]",
       ":" * 50_000 + "x", "1." * 20_000]
INVALID_UTF8 = [b"\xff", b"\xc3", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xe2\x82",
                b"\x80\x80", b"\xfe\xfe\xff"]
SURROGATES = [b'"\\ud800"', b'"x\\udc00y"', b'"\\ud83d"', b'"\\ud83d\\ude00"', b'"\\udfff\\ud800"', b'"\\u0000"']
BIG_ALPHABETS = ["a", " ", "%", "eyJ", "é", "\\", '"', "<script>alert(1)</script>", "0", "\u2028", "Bearer x ",
                 "https://x/", "a=b&", "\u0000", "😀"]


def drop_key(d: Draft) -> None:
    slot = d.pick(dict)
    if slot and slot[0][slot[1]]:
        obj = slot[0][slot[1]]
        del obj[d.rng.choice(list(obj))]
    elif isinstance(d.doc, dict) and d.doc:
        del d.doc[d.rng.choice(list(d.doc))]


def swap_type(d: Draft) -> None:
    slot = d.pick()
    if slot:
        value = slot[0][slot[1]]
        choices = [s for s in SWAPS if type(s) is not type(value)]
        slot[0][slot[1]] = copy.deepcopy(d.rng.choice(choices))


def special_number(d: Draft) -> None:
    slot = d.pick((int, float)) or d.pick()
    if slot:
        slot[0][slot[1]] = d.token(d.rng.choice(SPECIAL_NUMBERS))


def deep_nesting(d: Draft) -> None:
    depth = d.rng.choice([100, 500, 900, 999, 1000, 5000, 100_000, 100_000])
    opener, closer = (b"[", b"]") if d.rng.random() < 0.5 else (b'{"a":', b"}")
    core = b"1" if opener != b"[" else b""
    slot = d.pick()
    if slot:
        slot[0][slot[1]] = d.token(opener * depth + core + closer * depth)


def big_string(d: Draft) -> None:
    """A 2-3 MB string where a string was: a URL, a header, a body, a date, a key."""
    size = d.rng.randint(2_000_000, 3_000_000)
    unit = d.rng.choice(BIG_ALPHABETS)
    text = unit * (size // len(unit.encode()) + 1)
    slot = d.pick(str) or d.pick()
    if slot:
        old = slot[0][slot[1]]
        prefix = old[:40] if isinstance(old, str) and d.rng.random() < 0.5 else ""
        slot[0][slot[1]] = prefix + text


def invalid_utf8(d: Draft) -> None:
    slot = d.pick(str)
    if slot:
        old = slot[0][slot[1]]
        cut = d.rng.randint(0, len(old))
        slot[0][slot[1]] = old[:cut] + d.token(d.rng.choice(INVALID_UTF8), inner=True) + old[cut:]


def lone_surrogate(d: Draft) -> None:
    slot = d.pick(str) or d.pick()
    if slot:
        slot[0][slot[1]] = d.token(d.rng.choice(SURROGATES))


def duplicate_key(d: Draft) -> None:
    slot = d.pick(dict)
    obj = slot[0][slot[1]] if slot else d.doc
    if isinstance(obj, dict) and obj:
        key = d.rng.choice(list(obj))
        value = copy.deepcopy(d.rng.choice(SWAPS + [obj[key]]))
        obj[d.token(json.dumps(key).encode())] = value  # the placeholder key becomes `key` again


def tricky_string(d: Draft) -> None:
    """A near-valid value where HAR wants a date, a URL, an IP address, or any string."""
    for keys, pool in ((("startedDateTime", "expires", "lastAccess"), DATES), (("url", "redirectURL"), URLS),
                       (("serverIPAddress",), IPS)):
        slots = [s for s in d.slots() if s[1] in keys]
        if slots and d.rng.random() < 0.5:
            container, key = d.rng.choice(slots)
            container[key] = d.rng.choice(pool)
            return
    slot = d.pick(str)
    if slot:
        slot[0][slot[1]] = d.rng.choice(DATES + URLS + IPS + _TEXT)


def reshape_entries(d: Draft) -> None:
    """Whole-list oddities: many copies, non-objects among entries, pages of the wrong kind."""
    found = _entries_of(d.doc) if isinstance(d.doc, dict) else None
    if not found:
        return
    log, entries = found
    how = d.rng.randrange(5)
    if how == 0 and entries:
        copies = max(1, min(2000, 2_000_000 // d.size(entries[0])))
        log["entries"] = [copy.deepcopy(entries[0]) for _ in range(copies)]
    elif how == 1:
        entries.insert(d.rng.randint(0, len(entries)), d.rng.choice([None, 1, "entry", [], [{}], True]))
    elif how == 2:
        log["pages"] = d.rng.choice([None, {}, "pages", [None], [{"id": ["x"]}], [{"id": {"a": 1}}], [{"id": 5}],
                                     [{"id": "p"}, {"id": "p"}]])
    elif how == 3:
        for entry in entries:
            if isinstance(entry, dict):
                entry["pageref"] = d.rng.choice(["missing", "", 5, None, ["x"]])
    else:
        d.doc = d.rng.choice([{"entries": entries}, {"wrapper": {"log": log}}, [log], {"log": entries}, log])


STRUCTURAL = [(drop_key, 15), (swap_type, 15), (special_number, 8), (deep_nesting, 4), (big_string, 3),
              (invalid_utf8, 6), (lone_surrogate, 4), (duplicate_key, 6), (tricky_string, 14), (reshape_entries, 4)]


# -- byte-level mutations -----------------------------------------------------------------


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randint(0, max(len(data) - 1, 0))]


def flip_bytes(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if out:
            out[rng.randrange(len(out))] = rng.choice(b'{}[]",:\\0 \x00\xff') if rng.random() < 0.7 else rng.randrange(256)
    return bytes(out)


def insert_bytes(data: bytes, rng: random.Random) -> bytes:
    at = rng.randint(0, len(data))
    return data[:at] + rng.choice([b",", b"}", b"]", b'"', b"\\", b"\x00", b"\xef\xbb\xbf", b"/*c*/", b"\n" * 3]) + data[at:]


def wrap(data: bytes, rng: random.Random) -> bytes:
    how = rng.randrange(7)
    if how == 0:
        return gzip.compress(data, compresslevel=1)
    if how == 1:
        packed = gzip.compress(data, compresslevel=1)
        return packed[: rng.randint(2, max(len(packed) - 1, 2))]
    if how == 2:
        return b"\xef\xbb\xbf" + data
    if how == 3:
        return b"onHar(" + data + b");"
    if how == 4:
        return data.decode("utf-8", "replace").encode(rng.choice(["utf-16", "utf-32", "latin-1"]), "replace")
    if how == 5:
        return data + rng.choice([b"garbage", b"{}", b"\x00", b"\n\n"])
    return b" \t\r\n" * 50 + data


BYTES = [(truncate, 8), (flip_bytes, 5), (insert_bytes, 3), (wrap, 4)]


def _weighted(rng: random.Random, table: list) -> Any:
    return rng.choices([f for f, _ in table], weights=[w for _, w in table])[0]


# -- cases ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    seed: int
    index: int
    origin: str  # corpus file name, or "generated"
    mutations: tuple[str, ...]
    data: bytes
    suffix: str  # read through a file with this suffix, or "" to read the bytes


def encode(draft: Draft) -> bytes:
    data = json.dumps(draft.doc, ensure_ascii=draft.rng.random() < 0.5, indent=draft.rng.choice([None, None, 1])).encode()
    for name, raw in draft.tokens.items():
        data = data.replace(name.encode() if name.endswith("i__") else f'"{name}"'.encode(), raw)
    return data


def make_case(seed: int, index: int, bases: list[Base]) -> Case:
    rng = random.Random(f"{seed}:{index}")
    usable = [b for b in bases if b.doc is not None]
    roll = rng.random()
    if bases and roll < 0.03:  # a whole corpus file, any of them, bytes only
        base = rng.choice(bases)
        origin, data, mutations = base.name, base.raw, []
        mutator = _weighted(rng, BYTES)
        data, mutations = mutator(data, rng), [mutator.__name__]
    else:
        if usable and roll < 0.6:
            base = rng.choice(usable)
            origin, doc = base.name, shrink(base.doc, rng)
        else:
            origin, doc = "generated", generate(rng)
        draft = Draft(doc, rng)
        for _ in range(rng.choice([1, 1, 2, 3])):
            mutator = _weighted(rng, STRUCTURAL)
            mutator(draft)
            draft.applied.append(mutator.__name__)
        data, mutations = encode(draft), draft.applied
        if rng.random() < 0.3:
            mutator = _weighted(rng, BYTES)
            data = mutator(data, rng)
            mutations.append(mutator.__name__)
    suffix = rng.choice([".har", ".har.gz", ".zhar"]) if rng.random() < 0.1 else ""
    return Case(seed, index, origin, tuple(mutations), data, suffix)
