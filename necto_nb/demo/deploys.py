"""Made-up runs of a web site across deploys, with the truth of which request is which.

Real deploys change URLs in every way `nn.match_requests` has a stage for: bundlers rehash
assets (6 hex characters, 8 of base64url as Vite writes them, 12 of base32 as esbuild's
capitals, 20 hex as webpack's default), the build folder moves, query values vary under
names no list knows, ids in paths change, an image host is renamed, and a few requests are
removed and added. Each request carries its identity in a `_request` field, so a matching
can be scored, and its wait time is drawn around a typical value per request, so a known
slowdown can be looked for.
"""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from necto_nb.session import Session

_T0 = datetime(2026, 11, 1, 2, 0, tzinfo=timezone.utc)
_BASE32 = string.ascii_uppercase + "234567"
_BASE64URL = string.ascii_letters + string.digits + "-_"
_HASHES = [("hex", 6), ("base64url", 8), ("base32", 12), ("hex", 20)]
_WORDS = ["app", "vendor", "runtime", "checkout", "catalog", "search", "account", "cart", "product", "review",
          "header", "footer", "gallery", "promo", "tracking", "consent", "player", "chat", "map", "wishlist"]


@dataclass
class Deploy:
    """One deploy of the site: its build number and the hash of each asset."""

    build: int
    hashes: dict[int, str] = field(default_factory=dict)


@dataclass
class Site:
    """A made-up site of `size` requests per page load (and `extra` that come and go).

    `requests()` lays out a page load for a deploy and a run; `run()` makes it a Session.
    Request `k` is the same request in every deploy and run, whatever its URL.
    """

    size: int = 200
    seed: int = 0
    host: str = "www.example.com"
    image_host: str = "img.example.com"
    noise: float = 0.04  # lognormal sigma of wait times
    _typical: list[float] = field(init=False, repr=False)
    _kinds: list[tuple] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        self._typical = [rng.uniform(20, 200) for _ in range(self.size + 10)]
        self._kinds = [self._kind(k, rng) for k in range(self.size + 10)]

    def _kind(self, k: int, rng: random.Random) -> tuple:
        word = _WORDS[k % len(_WORDS)]
        if k >= self.size:  # the removed (size..size+4) and added (size+5..size+9) requests
            i = k - self.size
            return ("legacy", i) if i < 5 else ("fresh", i - 5)
        slot = k % 10
        if slot < 4:
            return ("asset", word, k, _HASHES[k % len(_HASHES)], rng.choice(["js", "css"]))
        if slot == 4:
            return ("image", k)
        if slot == 5:
            return ("item", word, k)  # /api/<word>/<5-8 digit id> that changes every run
        if slot == 6:
            return ("volatile", word, k)  # ?page=N&<made-up name>=<value that changes every run>
        if slot == 7:
            return ("search", ["shoes", "socks", "shirts", "scarves"][k // 10 % 4], k)
        if slot == 8:
            return ("upload", k)  # /files/<uuid>/thumb.png: a new upload each deploy
        return ("poll", word, k)  # the same URL each run

    def deploy(self, build: int) -> Deploy:
        rng = random.Random(f"{self.seed}-{build}")
        hashes = {}
        for k, kind in enumerate(self._kinds):
            if kind[0] == "asset":
                alphabet, n = kind[3]
                chars = {"hex": "0123456789abcdef", "base64url": _BASE64URL, "base32": _BASE32}[alphabet]
                hashes[k] = "".join(rng.choice(chars) for _ in range(n))
        return Deploy(build, hashes)

    def url(self, k: int, deploy: Deploy, run_rng: random.Random, *, image_host: str) -> str:
        kind = self._kinds[k]
        origin = f"https://{self.host}"
        match kind[0]:
            case "asset":
                _, word, _, (alphabet, _n), ext = kind
                h = deploy.hashes[k]
                if alphabet == "base64url":  # Vite: /assets/<name>-<hash>.js
                    return f"{origin}/assets/{word}{k}-{h}.{ext}"
                if alphabet == "base32":  # esbuild: <name>-<HASH>.js
                    return f"{origin}/build-{deploy.build}/{word}-{k}-{h}.{ext}"
                return f"{origin}/build-{deploy.build}/static/{ext}/chunk-{k}.{h}.{ext}"
            case "image":
                return f"https://{image_host}/v{deploy.build // 10}.{deploy.build % 10}.0/img/photo-{k}.webp"
            case "item":
                return f"{origin}/api/{kind[1]}/{run_rng.randint(10_000, 99_999_999)}?view=k{k}"
            case "volatile":
                token = "".join(run_rng.choice(string.ascii_letters + string.digits) for _ in range(16))
                return f"{origin}/api/feed/{kind[2]}?page=2&{kind[1]}_sig={token}&ver={deploy.build}"
            case "search":
                return f"{origin}/api/search?q={kind[1]}&slot={kind[2]}"
            case "upload":
                return f"{origin}/files/{uuid.UUID(int=run_rng.getrandbits(128))}/thumb-{kind[1]}.png"
            case "poll":
                return f"{origin}/api/{kind[1]}/status?n={kind[2]}"
            case "legacy":
                return f"{origin}/api/legacy/{kind[1]}"
            case _:
                return f"{origin}/api/fresh/{kind[1]}"

    def requests(self, deploy: Deploy, *, run: int, removed: bool = False, added: bool = False) -> list[int]:
        """The requests of a page load: all of the site's, with the 5 that go (`removed`)
        or the 5 that come (`added`), in a slightly different order each run."""
        ks = list(range(self.size))
        ks += list(range(self.size, self.size + 5)) if removed else []
        ks += list(range(self.size + 5, self.size + 10)) if added else []
        return ks

    def run(self, deploy: Deploy, *, run: int, name: str | None = None, removed: bool = False,
            added: bool = False, slow: Mapping[int, float] | None = None, image_host: str | None = None,
            day: int = 0) -> Session:
        """A page load as a Session; `slow` adds ms to the wait of requests by number."""
        rng = random.Random(f"{self.seed}-{deploy.build}-{run}-{day}")
        t0 = _T0 + timedelta(days=day, minutes=run)
        entries = []
        for position, k in enumerate(self.requests(deploy, run=run, removed=removed, added=added)):
            wait = self._typical[k] * rng.lognormvariate(0, self.noise) + (slow or {}).get(k, 0.0)
            at = position * 4.0 + rng.uniform(0, 6)  # neighbours swap now and then
            entries.append(_entry(self.url(k, deploy, rng, image_host=image_host or self.image_host), t0, at,
                                  wait, k))
        return Session(name or f"build {deploy.build} run {run}", entries)


def _entry(url: str, t0: datetime, at: float, wait: float, k: int) -> dict:
    timings = {"blocked": 0.5, "dns": -1, "connect": -1, "ssl": -1, "send": 0.2, "wait": round(wait, 3),
               "receive": 2.0}
    started = (t0 + timedelta(milliseconds=at)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "startedDateTime": started, "time": round(0.5 + 0.2 + wait + 2.0, 3), "_request": k,
        "request": {"method": "GET", "url": url, "httpVersion": "HTTP/2", "cookies": [], "headers": [],
                    "queryString": [], "headersSize": -1, "bodySize": 0},
        "response": {"status": 200, "statusText": "", "httpVersion": "HTTP/2", "cookies": [], "headers": [],
                     "content": {"size": 0, "mimeType": "application/octet-stream"}, "redirectURL": "",
                     "headersSize": -1, "bodySize": 0},
        "cache": {}, "timings": timings,
    }


def deploy_pair(size: int = 200, *, seed: int = 0, runs: int = 1, slow: Mapping[int, float] | None = None,
                staging: str = "images.example.com") -> tuple[list[Session], list[Session]]:
    """`runs` page loads before a deploy and `runs` after it, with 5 requests removed and 5
    added, the image host renamed to `staging`, and `slow` (request number -> ms) added to
    waits after it. Each entry's `_request` says which request it is."""
    site = Site(size, seed)
    before, after = site.deploy(1041), site.deploy(1042)
    return ([site.run(before, run=r, removed=True) for r in range(runs)],
            [site.run(after, run=r, added=True, slow=slow, image_host=staging) for r in range(runs)])


def nightly(size: int = 500, nights: int = 30, *, seed: int = 0, deploy_every: int = 4,
            step: tuple[int, int, float] | None = None, spike: tuple[int, int, float] | None = None) -> list[Session]:
    """One page load a night for `nights` nights, a deploy every `deploy_every` nights (new
    hashes, build folder and ids). `step` = (request, first night, ms) slows one request
    from that night on; `spike` = (request, night, ms) slows one request on one night only.
    """
    site = Site(size, seed)
    sessions = []
    for night in range(nights):
        extra: dict[int, float] = {}
        if step and night >= step[1]:
            extra[step[0]] = step[2]
        if spike and night == spike[1]:
            extra[spike[0]] = extra.get(spike[0], 0.0) + spike[2]
        deploy = site.deploy(1000 + night // deploy_every)
        sessions.append(site.run(deploy, run=0, day=night, slow=extra, name=f"night {night:02d}"))
    return sessions


def truth(a: Session, b: Session) -> set[tuple[int, int]]:
    """The right pairs (entry in `a`, entry in `b`) of two runs from this module."""
    ids_b = {e["_request"]: j for j, e in enumerate(b.entries)}
    return {(i, ids_b[e["_request"]]) for i, e in enumerate(a.entries) if e["_request"] in ids_b}


def request_numbers(sessions: Sequence[Session]) -> list[list[int]]:
    """Each entry's request number, per session."""
    return [[e["_request"] for e in s.entries] for s in sessions]
