"""Run fuzz cases in worker processes, bounding each case's time and each worker's memory.

A case runs in a worker so that a hang or a memory blow-up is observed, not suffered:
the supervisor kills a worker whose case outlives `case_seconds` or whose resident memory
passes `rss_limit`, records that case as a failure and starts a new worker on the rest.

Reproduce one case: `python -m tests.hardening.runner --seed S --case I` (prints the
outcome or the traceback). Run many: `python -m tests.hardening.runner --count 10000`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import selectors
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tests.hardening.mutate import Case, load_bases, make_case

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "har-corpus"
_TAG = "FUZZ "


# -- one case -------------------------------------------------------------------------------


class Unexpected(Exception):
    """A case ended in something other than a Session or a HarError (or broke an invariant)."""


def check(case: Case, scratch: Path) -> str:
    """Import the case; a Session must also give its frame, its exports and their re-import.

    Returns "session" or "error" (a HarError with a message); raises anything else.
    """
    import necto_nb as nn

    source, before = case.data, None
    if case.suffix:  # through a file: the path branch of the reader, side files, and no change to the source
        path = scratch / f"case{case.suffix}"
        data = case.data
        if case.suffix == ".har.gz":
            import gzip

            data = gzip.compress(data, compresslevel=1)
        elif case.suffix == ".zhar":
            import zlib

            data = zlib.compress(data, 1)
        path.write_bytes(data)
        source, before = path, hashlib.sha256(data).hexdigest()
    try:
        session = nn.read_har(source, progress=False)
    except nn.HarError as error:
        if not str(error):
            raise Unexpected("a HarError without a message") from None
        return "error"
    finally:
        if before is not None and hashlib.sha256(Path(source).read_bytes()).hexdigest() != before:
            raise Unexpected("the import changed its source file")
    frame = session.df
    if len(frame) != len(session):
        raise Unexpected(f"the frame has {len(frame)} rows for {len(session)} entries")
    repr(session), repr(session.report), session.report._repr_html_()
    exported = session.to_har()
    again = nn.read_har(exported, progress=False)  # an export always reads back, with every entry
    if len(again) != len(session):
        raise Unexpected(f"the export re-reads as {len(again)} entries, not {len(session)}")
    redacted = session.to_har(redact=True)
    if "_redaction" not in redacted["log"]:
        raise Unexpected("a redacted export does not say what it redacted")
    if case.index % 4 == 0:
        session.to_har(bodies="text")
    for i in range(min(len(session), 5)):
        session.entries[i]
        for body in (session.response_body, session.request_body):
            try:
                body(i)
            except nn.HarError:
                pass
    return "session"


# -- a worker -------------------------------------------------------------------------------


def _say(**message) -> None:
    sys.stdout.write(_TAG + json.dumps(message) + "\n")
    sys.stdout.flush()


def worker(seed: int, indices: list[int], corpus: Path | None) -> None:
    """Run `indices` in order, announcing each start and end on stdout."""
    bases = load_bases(corpus)
    with tempfile.TemporaryDirectory(prefix="necto-fuzz-") as scratch:
        _say(ready=True, rss=psutil.Process().memory_info().rss)
        for index in indices:
            case = make_case(seed, index, bases)
            _say(start=index, size=len(case.data))
            began = time.perf_counter()
            try:
                outcome = check(case, Path(scratch))
            except Exception as exc:  # anything else is the finding
                _say(fail=index, kind=type(exc).__name__, origin=case.origin, mutations=case.mutations,
                     error="".join(traceback.format_exception(exc, limit=-6))[-3000:])
                outcome = "failed"
            _say(done=index, outcome=outcome, ms=round((time.perf_counter() - began) * 1000, 1),
                 rss=psutil.Process().memory_info().rss,
                 peak=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


# -- the supervisor ---------------------------------------------------------------------------


@dataclass
class Failure:
    index: int
    kind: str  # an exception name, "hang", "memory" or "crash"
    detail: str

    def __str__(self) -> str:
        return f"case {self.index}: {self.kind}: {self.detail}"


@dataclass
class Result:
    seed: int
    count: int
    outcomes: Counter = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0
    slowest_ms: float = 0.0
    largest_input: int = 0
    baseline_rss: int = 0  # a fresh worker, after imports
    peak_rss: int = 0  # the most any worker held at once
    peak_case: int | None = None  # the case that raised it
    settled_rss: list[int] = field(default_factory=list)  # each worker's RSS after its warm-up, and at its end

    @property
    def run(self) -> int:
        return sum(self.outcomes.values())

    def summary(self) -> str:
        mb = 1 << 20
        return (f"seed {self.seed}: {self.run} cases in {self.seconds:.0f} s ({dict(self.outcomes)}); slowest case "
                f"{self.slowest_ms / 1000:.1f} s; largest input {self.largest_input / mb:.1f} MB; worker RSS "
                f"{self.baseline_rss / mb:.0f} MB fresh, {self.peak_rss / mb:.0f} MB peak (case {self.peak_case}); "
                f"{len(self.failures)} failure(s)")


class _Worker:
    def __init__(self, seed: int, indices: list[int], corpus: Path | None) -> None:
        self.pending = list(indices)
        code = ("import sys, json; from pathlib import Path; from tests.hardening.runner import worker; "
                "a = json.loads(sys.argv[1]); worker(a[0], a[1], Path(a[2]) if a[2] else None)")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, json.dumps([seed, self.pending, str(corpus) if corpus else ""])],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONHASHSEED": "0"})
        self.ps = psutil.Process(self.proc.pid)
        self.current: int | None = None
        self.since = time.monotonic()
        self.buffer = b""
        self.done = 0
        self.peak = 0  # the worker's high-water mark of RSS so far

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


def run(seed: int, count: int, *, workers: int = 2, corpus: Path | None = CORPUS, case_seconds: float = 60.0,
        rss_limit: int = 1536 << 20, warmup: int = 100, progress=None) -> Result:
    """Cases 0..count-1 of `seed` across `workers` processes."""
    corpus = corpus if corpus and corpus.is_dir() else None
    result = Result(seed, count)
    started = time.monotonic()
    selector = selectors.DefaultSelector()
    live: dict[int, _Worker] = {}

    def spawn(indices: list[int]) -> None:
        if indices:
            w = _Worker(seed, indices, corpus)
            live[w.proc.pid] = w
            selector.register(w.proc.stdout, selectors.EVENT_READ, w)

    def retire(w: _Worker, failure: Failure | None) -> None:
        selector.unregister(w.proc.stdout)
        del live[w.proc.pid]
        w.kill()
        if failure:
            result.failures.append(failure)
            result.outcomes["failed"] += 1
            spawn(w.pending[w.pending.index(failure.index) + 1:])  # the rest of its share, in a fresh worker

    for k in range(workers):
        spawn(list(range(k, count, workers)))
    while live:
        for key, _ in selector.select(timeout=0.2):
            w: _Worker = key.data
            chunk = os.read(w.proc.stdout.fileno(), 1 << 16)
            if not chunk:
                if w.current is not None:
                    retire(w, Failure(w.current, "crash", f"the worker died (exit {w.proc.wait()})"))
                else:
                    retire(w, None)
                continue
            w.buffer += chunk
            *lines, w.buffer = w.buffer.split(b"\n")
            for line in lines:
                if line.startswith(_TAG.encode()):
                    _handle(json.loads(line[len(_TAG):]), w, result, warmup)
        for w in list(live.values()):
            try:
                rss = w.ps.memory_info().rss
            except psutil.NoSuchProcess:
                continue
            if rss > result.peak_rss and w.current is not None:
                result.peak_rss, result.peak_case = rss, w.current
            if w.current is None:
                continue
            if rss > rss_limit:
                retire(w, Failure(w.current, "memory", f"worker RSS reached {rss >> 20} MB (limit {rss_limit >> 20} MB)"))
            elif time.monotonic() - w.since > case_seconds:
                retire(w, Failure(w.current, "hang", f"still running after {case_seconds:.0f} s"))
        if progress:
            progress(result)
    result.seconds = time.monotonic() - started
    return result


def _handle(message: dict, w: _Worker, result: Result, warmup: int) -> None:
    if "ready" in message:
        result.baseline_rss = max(result.baseline_rss, message["rss"])
    elif "start" in message:
        w.current, w.since = message["start"], time.monotonic()
        result.largest_input = max(result.largest_input, message["size"])
    elif "fail" in message:
        result.failures.append(Failure(message["fail"], message["kind"],
                                       f"{message['origin']} {message['mutations']}\n{message['error']}"))
    elif "done" in message:
        w.current = None
        w.done += 1
        result.outcomes[message["outcome"]] += 1
        result.slowest_ms = max(result.slowest_ms, message["ms"])
        if message["peak"] > max(result.peak_rss, w.peak):  # this case raised its worker's high-water mark
            result.peak_rss, result.peak_case = message["peak"], message["done"]
        w.peak = max(w.peak, message["peak"])
        if w.done == warmup or message["done"] == w.pending[-1]:
            result.settled_rss.append(message["rss"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=int(os.environ.get("NECTO_FUZZ_SEED", "7")))
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--case", type=int, help="run this one case here and print what happened")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--show", action="store_true", help="with --case: print the case's bytes (first 2000)")
    args = parser.parse_args()
    if args.case is not None:
        case = make_case(args.seed, args.case, load_bases(CORPUS if CORPUS.is_dir() else None))
        print(f"case {args.case}: {case.origin} {case.mutations} {len(case.data)} bytes, suffix {case.suffix!r}")
        if args.show:
            print(case.data[:2000])
        with tempfile.TemporaryDirectory() as scratch:
            print(check(case, Path(scratch)))
        return
    result = run(args.seed, args.count, workers=args.workers)
    print(result.summary())
    for failure in result.failures:
        print(failure)
    sys.exit(1 if result.failures else 0)


if __name__ == "__main__":
    main()
