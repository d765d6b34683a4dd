"""Appends three-event batches in a loop and prints each acknowledged stream, and a statement to
a long stream per worker (its snapshot rewritten every few appends), printing the version each
reached; killed by a test."""

from __future__ import annotations

import asyncio
import sys

from helpers import SOURCE, announce, d, invest, milestone

from timeline.events import Statement, StatementMade
from timeline.store import open_store


async def appender(url_store, worker: int) -> None:
    long = f"crash-long-{worker}"
    await url_store.append(long, [announce()], actor="crash", expected_version=0)
    for n in range(1_000_000):
        stream = f"crash-{worker}-{n}"
        await url_store.append(
            stream, [announce(), invest(), milestone()], actor="crash", expected_version=0
        )
        sys.stdout.write(stream + "\n")
        said = Statement(speaker="Spokesperson", text=f"Statement {n}", language="en")
        statement = StatementMade(effective=d("2024-02-01"), sources=(SOURCE,), data=said)
        result = await url_store.append(long, [statement], actor="crash")
        sys.stdout.write(f"{long} {result.version}\n")
        sys.stdout.flush()


async def main(url: str) -> None:
    store = await open_store(url)
    await asyncio.gather(*(appender(store, worker) for worker in range(4)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
