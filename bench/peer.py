"""The `eventsourcing` library, the peer our figures are set beside, on the same machine.

Runs in the benchmark's own environment (`bench/all.py` makes it: `eventsourcing` is no
dependency of ours). Its SQLite persistence uses WAL and SQLite's default
`synchronous` (printed), so each saved event is as durable as one of our appends.

Run:  bench/.peer/bin/python bench/peer.py [--saves 3000] [--aggregate 10000]
Prints one JSON line per case.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event


class Partnership(Aggregate):
    @event("Announced")
    def __init__(self, title: str) -> None:
        self.title = title
        self.facts = 0

    @event("FactRecorded")
    def record(self, text: str) -> None:
        self.facts += 1
        self.last = text


def application(path: Path) -> Application:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    return Application(env=env)


def saves(folder: Path, count: int) -> dict[str, Any]:
    """One event per call, each saved in its own transaction."""
    app = application(folder / "saves.db")
    partnership = Partnership("Bench")
    app.save(partnership)
    started = time.perf_counter()
    for n in range(count):
        partnership.record(f"fact {n}")
        app.save(partnership)
    seconds = time.perf_counter() - started
    with sqlite3.connect(folder / "saves.db") as conn:
        synchronous = conn.execute("PRAGMA synchronous").fetchone()[0]
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    return {
        "case": "eventsourcing: save one event per call",
        "events_per_s": round(count / seconds),
        "journal_mode": journal,
        "synchronous": synchronous,
    }


def rebuild(folder: Path, count: int) -> dict[str, Any]:
    """A cold `repository.get` of one aggregate of `count` events (no snapshot, no cache)."""
    path = folder / "rebuild.db"
    app = application(path)
    partnership = Partnership("Long")
    for n in range(count - 1):
        partnership.record(f"fact {n}")
    app.save(partnership)
    cold = application(path)
    started = time.perf_counter()
    found = cold.repository.get(partnership.id)
    seconds = time.perf_counter() - started
    if found.facts != count - 1:
        raise SystemExit(f"rebuilt {found.facts} facts of {count - 1}")
    return {
        "case": f"eventsourcing: rebuild one aggregate of {count} events",
        "events_per_s": round(count / seconds),
        "ms": round(seconds * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--saves", type=int, default=3000)
    parser.add_argument("--aggregate", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        os.chdir(folder)
        for result in (saves(folder, args.saves), rebuild(folder, args.aggregate)):
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
