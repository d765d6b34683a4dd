"""Append throughput on SQLite: our grouped writer vs. one transaction per append vs. raw sqlite3.

Run:  .venv/bin/python bench/append.py [--appends 2000] [--writers 64]
Prints one JSON line per case, then a table. All cases commit with
synchronous=FULL in WAL mode, on the same disk, in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from timeline.dates import PartialDate
from timeline.events import (
    Announcement,
    Investment,
    InvestmentCommitted,
    PartnershipAnnounced,
    Party,
)
from timeline.formats import encode_event
from timeline.money import Money
from timeline.store import sqlite as sqlite_backend
from timeline.store import writer as group_writer
from timeline.store.mapper import insert
from timeline.store.sqlite import DIALECT, SQLiteStore

INSERT = insert(DIALECT)

DAY = PartialDate.parse("2024-01-16")


def announcement() -> PartnershipAnnounced:
    return PartnershipAnnounced(
        effective=DAY,
        data=Announcement(
            title="bench",
            kind="strategic",
            parties=(Party(org="a", name="A"), Party(org="b", name="B")),
        ),
    )


def investment(n: int) -> InvestmentCommitted:
    return InvestmentCommitted(
        effective=DAY,
        data=Investment(
            id=f"i{n}",
            investor="a",
            recipient="b",
            amount=Money(amount=Decimal(n + 1), currency="USD"),
            purpose="bench",
        ),
    )


async def timeline_case(path: Path, appends: int, writers: int, group_limit: int) -> float:
    group_writer.GROUP_LIMIT = group_limit
    store = await SQLiteStore.open(path)
    per_writer = appends // writers

    async def writer(w: int) -> None:
        await store.append(f"s{w}", [announcement()], actor="bench", expected_version=0)
        for n in range(per_writer - 1):
            await store.append(f"s{w}", [investment(n)], actor="bench")

    start = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    elapsed = time.perf_counter() - start
    stats = await store.stats()
    await store.close()
    if stats.events != per_writer * writers:
        raise SystemExit(f"expected {per_writer * writers} events, found {stats.events}")
    return elapsed


def raw_rows(appends: int) -> list[tuple[object, ...]]:
    body = encode_event(investment(0))
    return [
        (i + 1, str(uuid.uuid4()), "s", i + 1, "InvestmentCommitted", "2024-01-16", "2024-01-16",
         "2024-01-16T00:00:00.000000Z", "bench", 1, body)
        for i in range(appends)
    ]  # fmt: skip


def raw_connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    for _version, script in sqlite_backend.MIGRATIONS:  # the same table and triggers
        conn.executescript(script)
    return conn


def raw_per_event(path: Path, appends: int) -> float:
    conn = raw_connect(path)
    rows = raw_rows(appends)
    start = time.perf_counter()
    for row in rows:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(INSERT, row)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def raw_one_transaction(path: Path, appends: int) -> float:
    conn = raw_connect(path)
    rows = raw_rows(appends)
    start = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(INSERT, rows)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--writers", type=int, default=64)
    args = parser.parse_args()
    appends, writers = args.appends, args.writers
    cases: list[tuple[str, Callable[[Path], float]]] = [
        (
            f"timeline SQLiteStore, {writers} concurrent writers, grouped",
            lambda p: asyncio.run(timeline_case(p, appends, writers, 512)),
        ),
        (
            f"timeline SQLiteStore, {writers} concurrent writers, one transaction per append",
            lambda p: asyncio.run(timeline_case(p, appends, writers, 1)),
        ),
        ("raw sqlite3, one transaction per event (no checks)",
         lambda p: raw_per_event(p, appends)),
        ("raw sqlite3, all events in one executemany (no checks)",
         lambda p: raw_one_transaction(p, appends)),
    ]  # fmt: skip
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for i, (name, case) in enumerate(cases):
            elapsed = case(Path(folder) / f"case{i}.db")
            result = {"case": name, "appends": appends, "seconds": round(elapsed, 3),
                      "appends_per_s": round(appends / elapsed)}  # fmt: skip
            results.append(result)
            print(json.dumps(result), flush=True)
    width = max(len(r["case"]) for r in results)
    print(f"\n{'case':<{width}}  appends/s", file=sys.stderr)
    for r in results:
        print(f"{r['case']:<{width}}  {r['appends_per_s']:>9}", file=sys.stderr)


if __name__ == "__main__":
    main()
