"""Import and export speed and memory, side by side with the peers, on one generated file.

    python3 bench/har_io.py                 # 50,000 entries (~100 MB), prints a table
    python3 bench/har_io.py --write-docs    # and updates docs/benchmarks.md

Each timing is the best of --repeat runs, alternating contenders, so load from other
processes hurts all of them alike. Every contender starts from the path on disk.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import generate  # noqa: E402
from report import best, table, write_docs  # noqa: E402

import necto_nb as nn  # noqa: E402
from necto_nb.frame import COLUMNS, PHASES  # noqa: E402
from necto_nb.har.read import parse, paused_gc  # noqa: E402

SECTION = "## Import and export"


def haralyzer_frame(path: Path):
    """What a haralyzer user writes to get the same columns, with the same dtypes: its object
    model gathered into a frame (what haralyzer does not model is read from the entry's dict)."""
    import pandas as pd
    from haralyzer import HarParser

    parser = HarParser(json.loads(path.read_bytes()))
    rows = []
    for page in parser.pages:
        for e in page.entries:
            request, response, raw, t = e.request, e.response, e.raw_entry, e.timings
            url = urlsplit(request.url)
            rows.append({
                "started": e.startTime, "method": request.method, "url": request.url, "scheme": url.scheme,
                "host": url.netloc, "path": urlunsplit(("", "", url.path, url.query, url.fragment)),
                "status": response.status, "status_text": response.statusText,
                "http_version": response.httpVersion or request.httpVersion, "mime_type": response.mimeType,
                "resource_type": raw.get("_resourceType"), "request_size": request.bodySize,
                "response_size": response.contentSize,
                "transfer_size": response.raw_entry.get("_transferSize", response.headersSize + response.bodySize),
                "time": e.time, **{k: t.get(k) for k in PHASES}, "server_ip": raw.get("serverIPAddress"),
                "page": raw.get("pageref"), "error": response.raw_entry.get("_error") or raw.get("_error"),
            })
    frame = pd.DataFrame(rows)
    frame["started"] = pd.to_datetime(frame["started"], utc=True)
    return frame.astype({name: dtype for name, (dtype, _) in COLUMNS.items() if name != "started"})


def without_frame(path: Path):
    """All that `read_har(path).df` does but building the frame."""
    with paused_gc():
        return parse(path, lambda views: None, progress=False)


def write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def json_normalize_frame(path: Path):
    import pandas as pd

    return pd.json_normalize(orjson.loads(path.read_bytes())["log"]["entries"])


MEMORY_PROBE = """
import gc, sys, psutil
sys.path.insert(0, {root!r})
import necto_nb as nn
process = psutil.Process()
gc.collect(); before = process.memory_info().rss
session = nn.read_har({path!r}); df = session.df; report = session.report  # every field checked
gc.collect(); after = process.memory_info().rss
exported = session.to_har()  # still lossless: every entry comes back
assert len(exported["log"]["entries"]) == len(session)
print(after - before)
"""


def resident_growth(path: Path) -> int:
    """Bytes of resident memory a fresh interpreter gains by importing `path` (frame built)."""
    code = MEMORY_PROBE.format(root=str(HERE.parent), path=str(path))
    return int(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)


def run(entries: int, repeat: int, peers: bool) -> list[tuple[str, str, str]]:
    folder = Path(tempfile.mkdtemp(prefix="necto-bench-"))
    path = folder / "big.har"
    path.write_bytes(orjson.dumps(generate.generate(entries)))
    size = path.stat().st_size
    rows: list[tuple[str, str, str]] = []

    ours, whole, loads = best(lambda: nn.read_har(path, progress=False).df,
                              lambda: nn.read_har(path, progress=False).report,
                              lambda: orjson.loads(path.read_bytes()), repeat=repeat)
    rows.append(("`read_har(path).df`", f"{ours:.2f} s",
                 f"{len(COLUMNS)} columns, their fields checked; lossless entries"))
    rows.append(("`read_har(path).report`", f"{whole:.2f} s",
                 f"every field of every entry checked as well ({loads / whole:.1f}x faster than `orjson.loads`)"))
    rows.append(("`orjson.loads(path.read_bytes())`", f"{loads:.2f} s", f"**{loads / ours:.1f}x** slower than ours (target ≥ 3x)"))
    if peers:
        (haralyzer,) = best(lambda: haralyzer_frame(path), repeat=1)
        rows.append(("haralyzer objects gathered into the same columns", f"{haralyzer:.2f} s",
                     f"**{haralyzer / ours:.1f}x** slower than ours (target ≥ 20x)"))
        (unbuilt,) = best(lambda: without_frame(path), repeat=repeat)
        rows.append(("`read_har` without building the frame", f"{unbuilt:.2f} s",
                     f"haralyzer takes {haralyzer / unbuilt:.1f}x this: 20x would leave "
                     f"{max(haralyzer / 20 - unbuilt, 0):.2f} s for the columns, which take {ours - unbuilt:.2f} s"))
        (normalize,) = best(lambda: json_normalize_frame(path), repeat=1)
        rows.append(("`pandas.json_normalize` of the entries", f"{normalize:.2f} s", f"{normalize / ours:.1f}x slower"))

    session = nn.read_har(path, progress=False)
    session.report  # the import finished: the export below is timed on its own
    document = orjson.loads(path.read_bytes())
    out_ours, out_peer = folder / "ours.har", folder / "peer.har"
    write, dumps, synced = best(lambda: session.to_har(out_ours), lambda: out_peer.write_bytes(orjson.dumps(document)),
                                lambda: write_synced(out_peer, orjson.dumps(document)), repeat=repeat)
    rows.append(("`session.to_har(path)`", f"{write:.2f} s", "atomic: a temporary file, fsync, rename"))
    rows.append(("`orjson.dumps` + write", f"{dumps:.2f} s", f"ours takes **{write / dumps:.2f}x** its time (target ≤ 1.0)"))
    rows.append(("`orjson.dumps` + write + fsync", f"{synced:.2f} s", f"like for like: ours takes **{write / synced:.2f}x** its time"))
    (redacted,) = best(lambda: session.to_har(out_ours, redact=True, progress=False), repeat=1)
    rows.append(("`session.to_har(path, redact=True)`", f"{redacted:.2f} s", "decodes, redacts and re-encodes every entry"))
    subset = session.df.index[session.df.status >= 400]
    (subset_time,) = best(lambda: session.to_har(out_ours, rows=subset), repeat=repeat)
    rows.append(("`session.to_har(path, rows=errors)`", f"{subset_time:.3f} s",
                 f"{len(subset)} of {len(session)} entries"))

    growth = resident_growth(path)
    rows.append(("resident memory after import", f"{growth / 1e6:.0f} MB",
                 f"**{growth / size:.2f}x** the file's {size / 1e6:.0f} MB (target ≤ 2x)"))
    for p in folder.iterdir():
        p.unlink()
    folder.rmdir()
    rows.insert(0, ("file", f"{size / 1e6:.0f} MB", f"{entries:,} entries from `bench/generate.py`"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-peers", action="store_true", help="skip the slow peers (haralyzer, json_normalize)")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    rows = run(args.entries, args.repeat, not args.no_peers)
    text = table(rows) + (
        f"\n\nPython {sys.version.split()[0]}, best of {args.repeat} (peers: one run), measured on a "
        "shared 2-core machine. `read_har` pauses the cyclic garbage collector while it decodes "
        "(the typed views hold no cycles); `orjson.loads` is timed as users call it.\n\n"
        "`read_har` returns once the fields the frame reads are decoded and checked (types, and the "
        "formats of dates, URLs and addresses); the rest of each entry (headers, cookies, query, "
        "bodies, cache) is checked, and repaired if need be, when the report, the entries or an export "
        "is first asked for — the `.report` row — or at once with `strict=True`. The frame is the same "
        "either way (a test holds it equal on every corpus file and in the fuzz tests). The export is "
        "timed after that check, writing each entry's bytes as held, piece by piece; it is atomic "
        "(temporary file, fsync, rename).\n\n"
        "**Target not met: 20x haralyzer.** Reading the file, splitting it into entries and decoding "
        "the frame's fields (each a single C pass in msgspec; on a quiet run 0.07, 0.10 and 0.19 s), "
        "then checking their formats, use nearly all of 20x haralyzer's time before a column exists "
        "(the row `read_har` without building the frame); the 25 columns of 50,000 rows take the rest, "
        "in Python, even gathered while the decoded views are in the CPU cache. Decoding the whole log "
        "in one pass instead of splitting it first measured slower (0.75 s against 0.67 s), the columns "
        "then being gathered cold. Closing the gap would need the columns built outside Python."
    )
    print(text)
    if args.write_docs:
        write_docs(SECTION, text)


if __name__ == "__main__":
    main()
