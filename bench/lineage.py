"""A fact's lineage (`timeline.lineage`), computed for every milestone and phase of synthetic
streams, beside one fold of the same stream (what a state read folds, the reference).

A lineage sweeps the stream once per recording instant that touches the fact, folding only
the announcement and the fact's own events; this shows what that costs against a whole fold.

    .venv/bin/python bench/lineage.py [--partnerships 200] [--events 100]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import synthetic

from timeline.fold import fold
from timeline.lineage import lineage
from timeline.store import open_store
from timeline.transfer import import_file

LATE = date(2030, 1, 1)


def _ms(samples: list[float]) -> str:
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return f"{statistics.median(samples) * 1000:.2f} / {p99 * 1000:.2f}"


async def run(folder: Path, partnerships: int, events: int) -> None:
    path = folder / "streams.ndjson"
    synthetic.write(path, partnerships, events, 20)
    store = await open_store(f"sqlite:///{folder / 'lineage.db'}")
    try:
        await import_file(store, path)
        facts: dict[str, list[float]] = {"milestone": [], "phase": []}
        folds: list[float] = []
        versions = 0
        for n in range(partnerships):
            stream = f"p{n:05d}"
            stored = [e async for e in store.read_stream(stream)]
            started = time.perf_counter()
            state = fold(stored, as_of=LATE)
            folds.append(time.perf_counter() - started)
            if state is None:
                continue
            asked = [("milestone", m.id) for m in state.milestones]
            asked += [("phase", p.id) for p in state.phases]
            for kind, fact in asked:
                started = time.perf_counter()
                found = lineage(stream, stored, kind, fact, as_of=LATE)
                facts[kind].append(time.perf_counter() - started)
                versions += len(found.versions) if found is not None else 0
    finally:
        await store.close()
    count = sum(len(v) for v in facts.values())
    print(f"{partnerships} streams of {events} events; ms median / p99")
    print("| computed | ours | reference: one fold of the stream | ratio (medians) |")
    print("|---|---|---|---|")
    for kind, samples in facts.items():
        ratio = statistics.median(samples) / statistics.median(folds)
        print(f"| lineage of a {kind} ({len(samples)}) | {_ms(samples)} | {_ms(list(folds))} "
              f"| {ratio:.1f}x |")  # fmt: skip
    print(f"{versions / count:.1f} versions per fact on average")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partnerships", type=int, default=200)
    parser.add_argument("--events", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(Path(folder), args.partnerships, args.events))


if __name__ == "__main__":
    main()
