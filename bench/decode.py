"""Decoding stored events: ours (typed, with partial dates and checks) next to msgspec decoding
the same bytes into a plain Struct (strings for dates, a dict for `data`), in one run.

The events are the bodies of synthetic partnerships (`synthetic.py`). Each case decodes
every body, best of three, with the cyclic collector off as a replay runs it.

Run:  .venv/bin/python bench/decode.py [--events 100000]
Prints one JSON line per case, then a table.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from timeline.formats import decode_event
from timeline.store.mapper import COLUMNS, from_row
from timeline.store.sqlite import DIALECT


class PlainSource(msgspec.Struct):
    title: str
    language: str
    publisher: str | None = None
    url: str | None = None
    published: str | None = None
    excerpt: str | None = None


class PlainEvent(msgspec.Struct):
    """The envelope as untyped as msgspec allows while still a Struct: the physical floor."""

    type: str
    id: str
    effective: str
    data: dict[str, Any]
    sources: list[PlainSource] = []


def rows(events: int) -> list[tuple[Any, ...]]:
    """Stored rows of `events` synthetic events, imported into a scratch store."""
    with tempfile.TemporaryDirectory() as scratch:
        source, db = Path(scratch) / "events.ndjson", Path(scratch) / "events.db"
        here = Path(__file__).parent
        subprocess.run(
            [sys.executable, str(here / "synthetic.py"), str(source),
             "--partnerships", str(max(1, events // 100)), "--events", "100"],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        subprocess.run(
            [str(here.parent / ".venv" / "bin" / "timeline"), "import", str(source)],
            check=True, stdout=subprocess.DEVNULL,
            env=os.environ | {"TIMELINE_DATABASE_URL": f"sqlite:///{db}",
                              "TIMELINE_CURATED_DIR": ""},
        )  # fmt: skip
        with sqlite3.connect(db) as connection:
            query = f"SELECT {COLUMNS} FROM events"  # noqa: S608 - a fixed column list
            return [tuple(row) for row in connection.execute(query)]


def rate(decode: Callable[[], object], count: int) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        decoded = decode()
        best = min(best, time.perf_counter() - started)
        del decoded
    return count / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    stored = rows(args.events)
    bodies = [bytes(row[-1]) for row in stored]
    plain = msgspec.json.Decoder(PlainEvent)
    gc.disable()
    count = len(bodies)
    cases = {
        "plain Struct (msgspec, no hooks)": rate(lambda: [plain.decode(b) for b in bodies], count),
        "ours: typed event": rate(lambda: [decode_event(b) for b in bodies], count),
        "ours: stored event (row)": rate(lambda: [from_row(r, DIALECT) for r in stored], count),
    }
    gc.enable()
    for case, per_second in cases.items():
        print(json.dumps({"events": count, "case": case, "events_per_s": round(per_second)}))
    floor = cases["plain Struct (msgspec, no hooks)"]
    title = f"decoding {count:,} stored events"
    print(f"\n{title:36}{'events/s':>12}{'÷ plain':>10}")
    for case, per_second in cases.items():
        print(f"{case:36}{per_second:>12,.0f}{floor / per_second:>9.1f}x")


if __name__ == "__main__":
    main()
