"""Appends to one long stream: what an append costs when the stream already holds N events.

Builds a stream of N events (milestones scheduled and achieved, statements), then
times single-event appends to it through the store (SQLite, synchronous=FULL),
and beside them, in the same run, the full domain check every append made before
streams kept their folding: `fold.check` of the whole stream (the reference).

Run:  .venv/bin/python bench/long_stream.py [--events 20000] [--appends 200]
Prints one JSON line per case, then a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import msgspec

from timeline import fold
from timeline.dates import PartialDate
from timeline.events import (
    Announcement,
    AnyEvent,
    Milestone,
    MilestoneAchieved,
    MilestoneScheduled,
    MilestoneStep,
    PartnershipAnnounced,
    Party,
    Statement,
    StatementMade,
)
from timeline.projection import Projector
from timeline.store.sqlite import SQLiteStore

START = date(2000, 1, 1)
STREAM = "long-stream"


def _on(n: int) -> PartialDate:
    return PartialDate.of(START + timedelta(days=n // 4))


def fact(n: int) -> AnyEvent:
    """The n-th fact: effective dates rise, so each append is checked by what it adds."""
    match n % 3:
        case 0:
            data = Milestone(id=f"m{n}", title=f"Milestone {n}", due=_on(n + 400))
            return MilestoneScheduled(effective=_on(n), data=data)
        case 1:
            return MilestoneAchieved(effective=_on(n), data=MilestoneStep(id=f"m{n - 1}"))
        case _:
            said = Statement(speaker="A spokesperson", text=f"Statement {n}.", language="en")
            return StatementMade(effective=_on(n), data=said)


def announcement() -> PartnershipAnnounced:
    parties = (Party(org="a", name="A"), Party(org="b", name="B"))
    data = Announcement(title="Long", kind="strategic", parties=parties)
    return PartnershipAnnounced(effective=_on(0), data=data)


def ms(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 2),
    }


async def run(events: int, appends: int) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as scratch:
        store = await SQLiteStore.open(Path(scratch) / "long.db")
        try:
            await store.append(STREAM, [announcement()], actor="bench")
            for start in range(0, events - 1, 500):
                batch = [fact(n) for n in range(start, min(start + 500, events - 1))]
                await store.append(STREAM, batch, actor="bench")
            ours = []
            for n in range(events - 1, events - 1 + appends):
                started = time.perf_counter()
                await store.append(STREAM, [fact(n)], actor="bench")
                ours.append(time.perf_counter() - started)
            stream = [e async for e in store.read_stream(STREAM)]
        finally:
            await store.close()
        cold = await SQLiteStore.open(Path(scratch) / "long.db")  # nothing decoded or folded yet
        try:
            started = time.perf_counter()
            today = datetime.now(UTC).date()
            state = await Projector(cold).answer(STREAM, as_of=today, known_at=None)
            seconds = time.perf_counter() - started
            if state.basis.version != len(stream):
                raise SystemExit(f"the cold state is of version {state.basis.version}")
            started = time.perf_counter()
            every = [e async for e in cold.read_stream(STREAM)]
            folded = fold.fold(every, as_of=today)
            every_seconds = time.perf_counter() - started
            if folded != msgspec.structs.replace(state, basis=folded.basis if folded else None):
                raise SystemExit("the state from the snapshot is not the fold of every event")
            started = time.perf_counter()
            await cold.append(STREAM, [fact(events - 1 + appends)], actor="bench")
            cold_append = time.perf_counter() - started
        finally:
            await cold.close()
    reference = []
    for _ in range(min(appends, 20)):
        started = time.perf_counter()
        fold.check(stream)
        reference.append(time.perf_counter() - started)
    return {
        "append (ours)": ms(ours),
        "full check of the stream": ms(reference),
        "cold state of the stream": {
            "ms": round(seconds * 1000, 1),
            "events_per_s": round(len(stream) / seconds),
        },
        "cold state folded from every event": {
            "ms": round(every_seconds * 1000, 1),
            "events_per_s": round(len(stream) / every_seconds),
        },
        "first append after a restart": {"ms": round(cold_append * 1000, 1)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--appends", type=int, default=200)
    args = parser.parse_args()
    results = asyncio.run(run(args.events, args.appends))
    for case, figures in results.items():
        print(json.dumps({"events": args.events, "case": case, **figures}))
    ours = results["append (ours)"]["p50_ms"]
    before = results["full check of the stream"]["p50_ms"]
    print(f"\n{'one append to a stream of':34}{args.events:>10,} events")
    for case, figures in list(results.items())[:2]:
        print(f"{case:34}{figures['p50_ms']:>10} ms p50 {figures['p99_ms']:>10} ms p99")
    print(f"{'ratio (before / ours, p50)':34}{before / max(ours, 0.001):>10.1f}x")
    cold = results["cold state of the stream"]
    every = results["cold state folded from every event"]
    print(f"{'cold state (snapshot + events after)':34}{cold['ms']:>10} ms")
    print(f"{'cold state (every event, before)':34}{every['ms']:>10} ms")
    print(f"{'ratio (before / ours)':34}{every['ms'] / max(cold['ms'], 0.001):>10.1f}x")
    first = results["first append after a restart"]["ms"]
    print(f"{'first append after a restart':34}{first:>10} ms")


if __name__ == "__main__":
    main()
