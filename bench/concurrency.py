"""Reads and appends under concurrency, a different synthetic partnership each request, through
HTTP with `wrk` and beside the raw floor of the same backend (the same SQL, no HTTP, no domain).

Used by `scale.py`; alone, against a running server over `synthetic.py`'s data:

    .venv/bin/python bench/concurrency.py http://127.0.0.1:8011 TOKEN DATABASE_URL \\
        [--partnerships N] [--server-pid PID]

With the server's process id (or in `scale.py`), each figure also says how many CPU
milliseconds a request took of the server (and, on PostgreSQL, of the database server):
on a machine whose speed drifts through the day, the figure to compare two versions by.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
READS = ("state", "history", "changes", "lineage")
LOOKUPS = ("party id", "party alias", "party wikidata")
"""A list of one organization's partnerships, named by its id, an alias or an identifier
(`random_party.lua`); the alias and the identifier are looked up in the organizations' keys."""
"""Each read of one partnership: its state, its events, a knowledge diff, a fact's lineage."""
FACTS = 2000
"""Facts whose lineages the lineage reads ask for, each of another partnership: as many as
a run asks for, so that few are asked twice."""
STREAM_SQL = "SELECT body FROM events WHERE stream = {} ORDER BY version"
"""What a state, history or per-partnership diff reads at least: the stream's events."""
COLUMNS = (
    "position, id, stream, version, type, effective_first, effective_last, recorded_at, actor,"
    " schema_version, body"
)
BODY = (
    b'{"type":"StatementMade","effective":"2030-01-01","data":{"speaker":"writer",'
    b'"text":"a benchmark statement","language":"en"}}'
)
"""About what an append of `random_append.lua` stores."""
POSITIONS = itertools.count(1)


Cost = Callable[[], dict[str, float]]
"""CPU seconds used so far, by whom (`server`, `database`): read before and after a run."""


def cpu_seconds(pids: Iterable[int]) -> float:
    """User and system CPU the processes have used (Linux `/proc`)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def tree(pid: int) -> list[int]:
    """The process and its descendants (granian's worker)."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            pids += tree(int(child))
    return pids


def postgres_pids() -> list[int]:
    """Every PostgreSQL server process of this machine: its backends, and autovacuum."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def spent_by(server_pid: int, *, postgres: bool) -> Cost:
    """The CPU a server (with its worker) and, on PostgreSQL, the database server have used."""

    def cost() -> dict[str, float]:
        used = {"server": cpu_seconds(tree(server_pid))}
        if postgres:
            used["database"] = cpu_seconds(postgres_pids())
        return used

    return cost


def wrk(
    base: str,
    script: str,
    args: list[str],
    connections: int,
    seconds: int,
    *,
    cost: Cost | None = None,
) -> dict[str, Any]:
    """`wrk --latency` with one of our scripts: requests/s (2xx only), p50 and p99 in ms; with
    `cost`, the CPU milliseconds each request took of the server (and of the database): a
    figure a busy, noisy machine moves far less than it moves a rate."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed for the concurrent figures: apt-get install wrk")
    command = [
        "wrk", f"-c{connections}", f"-t{min(2, connections)}", f"-d{seconds}s", "--latency",
        "-s", str(HERE / script), base, "--", *args,
    ]  # fmt: skip
    before = cost() if cost is not None else {}
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    after = cost() if cost is not None else {}
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    refused = int(failed.group(1)) if failed else 0
    took = float(re.search(r"requests in ([\d.]+)s", out).group(1))  # type: ignore[union-attr]
    return {
        "per_s": round((total - refused) / took),
        "refused_per_s": round(refused / took),
        "p50_ms": _ms(out, "50%"),
        "p99_ms": _ms(out, "99%"),
        **{
            f"{who}_cpu_ms": round(1000 * (after[who] - before[who]) / max(total, 1), 3)
            for who in after
        },
    }


def _ms(out: str, label: str) -> float:
    value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return round(float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 2)


def fact_targets(base: str, partnerships: int, folder: Path) -> Path:
    """A file of `FACTS` lineage paths: a milestone or phase of a random partnership each, as
    its state lists them."""
    rng = random.Random(7)
    paths: list[str] = []
    for _ in range(20 * FACTS):
        if len(paths) == FACTS:
            break
        stream = f"p{rng.randrange(partnerships):05d}"
        with urllib.request.urlopen(f"{base}/partnerships/{stream}") as answer:  # noqa: S310
            state = json.load(answer)
        facts = [("milestone", m["id"]) for m in state["milestones"]]
        facts += [("phase", p["id"]) for p in state["phases"]]
        if facts:
            kind, fact = rng.choice(facts)
            paths.append(f"/partnerships/{stream}/facts/{kind}/{fact}")
    path = folder / "facts.txt"
    path.write_text("\n".join(paths) + "\n")
    return path


def http(
    base: str,
    token: str,
    partnerships: int,
    seconds: int = 10,
    *,
    cost: Cost | None = None,
    organizations: int = 0,
) -> dict[str, Any]:
    """Reads at c16 (after a warm-up), appends at c32 and one at a time; with `organizations`
    (registered, parties to the partnerships), lists by party named three ways."""
    wrk(base, "random_partnership.lua", ["state", str(partnerships)], 16, 3)
    figures = {
        kind: wrk(base, "random_partnership.lua", [kind, str(partnerships)], 16, seconds, cost=cost)
        for kind in READS
        if kind != "lineage"
    }
    with tempfile.TemporaryDirectory() as folder:
        targets = fact_targets(base, partnerships, Path(folder))
        figures["lineage"] = wrk(base, "random_fact.lua", [str(targets)], 16, seconds, cost=cost)
    if organizations:
        for lookup in LOOKUPS:
            kind = lookup.removeprefix("party ")
            figures[lookup] = wrk(
                base, "random_party.lua", [kind, str(organizations)], 16, seconds, cost=cost
            )
    for connections in (32, 1):
        figures[f"appends c{connections}"] = wrk(
            base, "random_append.lua", [token, str(partnerships)], connections, seconds, cost=cost
        )
    return figures


# --- the raw floor ------------------------------------------------------------------------


def _rate(took: list[float], seconds: float) -> dict[str, Any]:
    ms = sorted(t * 1000 for t in took)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))] if ms else 0.0
    return {
        "per_s": round(len(ms) / seconds),
        "p50_ms": round(ms[len(ms) // 2], 2) if ms else 0.0,
        "p99_ms": round(p99, 2),
    }


def raw_sqlite(path: Path, partnerships: int, seconds: int = 10) -> dict[str, Any]:
    """sqlite3 from 16 threads reading a random stream's bodies, and 32 threads inserting one
    row a transaction into a scratch copy of `events` (no checks, no read models)."""
    connection = sqlite3.connect(path)
    connection.execute("DROP TABLE IF EXISTS raw_appends")
    connection.execute("CREATE TABLE raw_appends AS SELECT * FROM events WHERE 0")
    connection.execute("CREATE UNIQUE INDEX raw_appends_id ON raw_appends (id)")
    connection.execute("CREATE UNIQUE INDEX raw_appends_stream ON raw_appends (stream, version)")
    connection.close()
    figures: dict[str, Any] = {}

    def reads(took: list[float], until: float) -> None:
        db = sqlite3.connect(path, check_same_thread=False)
        rng = random.Random()
        while (started := time.perf_counter()) < until:
            stream = f"p{rng.randrange(partnerships):05d}"
            db.execute(STREAM_SQL.format("?"), [stream]).fetchall()
            took.append(time.perf_counter() - started)
        db.close()

    def appends(took: list[float], until: float) -> None:
        db = sqlite3.connect(path, timeout=30, isolation_level=None)
        rng = random.Random()
        while (started := time.perf_counter()) < until:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                f"INSERT INTO raw_appends ({COLUMNS}) VALUES (?, ?, ?, ?, 'StatementMade',"  # noqa: S608
                " '2030-01-01', '2030-01-01', '2025-01-01T00:00:00.000000Z', 'raw', 1, ?)",
                [next(POSITIONS), str(uuid.uuid4()), f"p{rng.randrange(partnerships):05d}",
                 rng.randrange(1 << 30), BODY],
            )  # fmt: skip
            db.execute("COMMIT")
            took.append(time.perf_counter() - started)
        db.close()

    for name, work, count in (("reads", reads, 16), ("appends c32", appends, 32)):
        took: list[float] = []
        until = time.perf_counter() + seconds
        threads = [threading.Thread(target=work, args=(took, until)) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        figures[name] = _rate(took, seconds)
    connection = sqlite3.connect(path)
    connection.execute("DROP TABLE raw_appends")
    connection.close()
    return figures


def raw_postgres(url: str, partnerships: int, seconds: int = 10) -> dict[str, Any]:
    """asyncpg, 16 connections reading a random stream's bodies with the same SQL, and 32
    inserting one row a transaction into a scratch copy of `events`."""
    return asyncio.run(_raw_postgres(url, partnerships, seconds))


async def _raw_postgres(url: str, partnerships: int, seconds: int) -> dict[str, Any]:
    import asyncpg  # noqa: PLC0415 - only for PostgreSQL runs

    pool = await asyncpg.create_pool(url, min_size=32, max_size=32)
    await pool.execute("DROP TABLE IF EXISTS raw_appends")
    await pool.execute("CREATE TABLE raw_appends (LIKE events INCLUDING INDEXES)")
    figures: dict[str, Any] = {}

    async def reads(took: list[float], until: float) -> None:
        rng = random.Random()
        async with pool.acquire() as db:
            while (started := time.perf_counter()) < until:
                await db.fetch(STREAM_SQL.format("$1"), f"p{rng.randrange(partnerships):05d}")
                took.append(time.perf_counter() - started)

    async def appends(took: list[float], until: float) -> None:
        rng = random.Random()
        async with pool.acquire() as db:
            while (started := time.perf_counter()) < until:
                await db.execute(
                    f"INSERT INTO raw_appends ({COLUMNS}) VALUES ($1, $2, $3, $4, 'StatementMade',"  # noqa: S608
                    " '2030-01-01', '2030-01-01', now(), 'raw', 1, $5)",
                    next(POSITIONS), uuid.uuid4(), f"p{rng.randrange(partnerships):05d}",
                    rng.randrange(1 << 30), BODY,
                )  # fmt: skip
                took.append(time.perf_counter() - started)

    for name, work, count in (("reads", reads, 16), ("appends c32", appends, 32)):
        took: list[float] = []
        until = time.perf_counter() + seconds
        await asyncio.gather(*(work(took, until) for _ in range(count)))
        figures[name] = _rate(took, seconds)
    await pool.execute("DROP TABLE raw_appends")
    await pool.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base")
    parser.add_argument("token")
    parser.add_argument("database_url")
    parser.add_argument("--partnerships", type=int, default=10000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument(
        "--server-pid", type=int, help="the server's process: each request's CPU is measured"
    )
    args = parser.parse_args()
    cost = None
    if args.server_pid is not None:
        postgres = not args.database_url.startswith("sqlite:")
        cost = spent_by(args.server_pid, postgres=postgres)
    served = http(args.base, args.token, args.partnerships, args.seconds, cost=cost)
    for name, figures in served.items():
        print(f"{name:14} {figures}")
    if args.database_url.startswith("sqlite:///"):
        raw = raw_sqlite(Path(args.database_url.removeprefix("sqlite:///")), args.partnerships)
    else:
        raw = raw_postgres(args.database_url, args.partnerships)
    for name, figures in raw.items():
        print(f"raw {name:10} {figures}")


if __name__ == "__main__":
    main()
