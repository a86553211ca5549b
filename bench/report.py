"""What every bench script shares: alternating timings, a table, and its docs section."""

from __future__ import annotations

import gc
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def best(*fns, repeat: int) -> list[float]:
    """Best time of each function, running them in turn, so load from other processes hurts
    all of them alike."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, mine in zip(fns, times):
            gc.collect()
            start = time.perf_counter()
            fn()
            mine.append(time.perf_counter() - start)
    return [min(t) for t in times]


def table(rows) -> str:
    lines = ["| step | measured | compared |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def write_docs(section: str, text: str) -> None:
    """Replace the body of `section` (a '## ' heading's start) in docs/benchmarks.md."""
    content = DOCS.read_text()
    start = content.index(section)
    end = content.find("\n## ", start + len(section))
    end = len(content) if end == -1 else end
    heading = content[start:content.index("\n", start)]
    DOCS.write_text(content[:start] + heading + "\n\n" + text + "\n" + content[end:])
