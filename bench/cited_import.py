"""`timeline import` of a backup whose events quote registered sources, staged and run by run,
beside the same events citing nothing (the staged import's own reference), on each backend.

A backup of a store that uses citations begins with its registered sources (their texts) and
every event's quotes carry the positions the store found. Staged, each quote is checked where
its position says and the citations index is written; the uncited file measures what that
costs. Synthetic partnerships (`synthetic.py`), each event citing one of `--sources` texts.

    .venv/bin/python bench/cited_import.py --partnerships 1000 --events 100 \
        [--postgres postgresql://root@127.0.0.1:5432]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

sys.path.insert(0, str(Path(__file__).parent))

import synthetic

from timeline.sources import SourceRegistration
from timeline.store import EventStore, open_store
from timeline.transfer import export_lines, import_file, import_staged

WORDS = ("cloud", "network", "partnership", "customers", "platform", "digital", "services")


def text_of(n: int) -> str:
    rnd = random.Random(n)
    body = " ".join(rnd.choice(WORDS) for _ in range(400))
    return f"{body} Report {n} says the partnership is on track. {body}"


def cited(line: bytes, sources: int) -> bytes:
    """An event line whose source is a registered source, quoted (a statement's stays inline)."""
    event = json.loads(line)
    if event["type"] == "StatementMade":  # its words would have to be the text's: left inline
        return line
    n = int(event["id"][:8], 16) % sources
    event["sources"] = [
        {
            "title": f"Wire report {n}",
            "language": "en",
            "source": f"wire-{n}",
            "quote": {"exact": f"Report {n} says the partnership is on track."},
        }
    ]
    return json.dumps(event, separators=(",", ":")).encode() + b"\n"


async def backup(url: str, folder: Path, partnerships: int, events: int, sources: int) -> Path:
    """A store that quotes registered sources (loaded run by run: each quote anchored), then
    its export: what a backup of such a store looks like."""
    store = await open_store(url)
    try:
        for n in range(sources):
            registration = msgspec.convert(
                {"id": f"wire-{n}", "title": f"Wire report {n}", "language": "en",
                 "text": text_of(n)},
                SourceRegistration,
            )  # fmt: skip
            await store.sources.register(registration, actor="bench")
        plain = folder / "plain.ndjson"
        with plain.open("wb") as out:
            for line in synthetic.lines(partnerships, events, 20):
                out.write(cited(line, sources))
        await import_file(store, plain)
        path = folder / "backup.ndjson"
        with path.open("wb") as out:
            async for line in export_lines(store):
                out.write(line)
        return path
    finally:
        await store.close()


def uncited(path: Path, folder: Path) -> Path:
    """The backup's events citing nothing registered (and without its source lines)."""
    out_path = folder / "uncited.ndjson"
    with path.open("rb") as source, out_path.open("wb") as out:
        for line in source:
            if line.startswith(b'{"source":'):
                continue
            event = json.loads(line)
            event["sources"] = [{"title": s["title"], "language": "en"} for s in event["sources"]]
            out.write(json.dumps(event, separators=(",", ":")).encode() + b"\n")
    return out_path


async def timed(url: str, load: Callable[[EventStore], Awaitable[object]]) -> float:
    store = await open_store(url)
    try:
        started = time.perf_counter()
        await load(store)
        return time.perf_counter() - started
    finally:
        await store.close()


class Databases:
    """Empty databases: SQLite files, or PostgreSQL databases made and dropped here."""

    def __init__(self, folder: Path, postgres: str | None) -> None:
        self.folder, self.postgres, self.made = folder, postgres, []

    async def fresh(self, name: str) -> str:
        if self.postgres is None:
            return f"sqlite:///{self.folder / (name + '.db')}"
        admin = await asyncpg.connect(f"{self.postgres}/postgres")
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS bench_{name}")
            await admin.execute(f"CREATE DATABASE bench_{name}")
        finally:
            await admin.close()
        self.made.append(name)
        return f"{self.postgres}/bench_{name}"

    async def drop(self) -> None:
        if self.postgres is None:
            return
        admin = await asyncpg.connect(f"{self.postgres}/postgres")
        try:
            for name in self.made:
                await admin.execute(f"DROP DATABASE IF EXISTS bench_{name}")
        finally:
            await admin.close()


async def run_backend(
    folder: Path, postgres: str | None, partnerships: int, events: int, sources: int
) -> dict[str, Any]:
    dbs = Databases(folder, postgres)
    try:
        path = await backup(await dbs.fresh("reference"), folder, partnerships, events, sources)
        plain = uncited(path, folder)
        count = sum(1 for line in path.open("rb") if not line.startswith(b'{"source":'))
        seconds = {
            "staged, quotes checked": await timed(
                await dbs.fresh("staged"), lambda s: import_staged(s, path)
            ),
            "run by run, quotes checked": await timed(
                await dbs.fresh("runs"), lambda s: import_file(s, path)
            ),
            "staged, citing nothing (reference)": await timed(
                await dbs.fresh("plain"), lambda s: import_staged(s, plain)
            ),
        }
    finally:
        await dbs.drop()
    backend = "postgresql" if postgres else "sqlite"
    return {"backend": backend, "events": count, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partnerships", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--postgres", help="a PostgreSQL server URL without a database")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for postgres in [None, *([args.postgres] if args.postgres else [])]:
            result = asyncio.run(
                run_backend(Path(folder), postgres, args.partnerships, args.events, args.sources)
            )
            print(json.dumps(result))
            results.append(result)
    print(f"\n{results[0]['events']:,} events quoting {args.sources:,} registered texts; events/s")
    print("| import | " + " | ".join(r["backend"] for r in results) + " |")
    print("|---|" + "---|" * len(results))
    for case in results[0]["seconds"]:
        cells = [f"{r['events'] / r['seconds'][case]:,.0f}" for r in results]
        print(f"| {case} | " + " | ".join(cells) + " |")
    reference = "staged, citing nothing (reference)"
    for r in results:
        ratio = r["seconds"]["staged, quotes checked"] / r["seconds"][reference]
        print(f"{r['backend']}: staged with quotes takes {ratio:.2f}x the reference's time")


if __name__ == "__main__":
    main()
