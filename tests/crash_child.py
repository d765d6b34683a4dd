"""Appends three-event batches in a loop and prints each acknowledged stream; killed by a test."""

from __future__ import annotations

import asyncio
import sys

from helpers import announce, invest, milestone

from timeline.store import open_store


async def appender(url_store, worker: int) -> None:
    for n in range(1_000_000):
        stream = f"crash-{worker}-{n}"
        await url_store.append(
            stream, [announce(), invest(), milestone()], actor="crash", expected_version=0
        )
        sys.stdout.write(stream + "\n")
        sys.stdout.flush()


async def main(url: str) -> None:
    store = await open_store(url)
    await asyncio.gather(*(appender(store, worker) for worker in range(4)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
