"""`timeline projections rebuild`: the read models again from the events, while the old serve.

1. Under the backend's `exclusive("rebuild")` lock (one rebuild at a time,
   released if the process dies), drop what an interrupted rebuild left and
   note the last position P.
2. Read the events up to P stream by stream (one stream in memory at a
   time) and write the next generation's rows in transactions of a few
   thousand events, each short, so appends go on in between.
3. In one write transaction (appends wait): redo the streams that grew after
   P, then switch `read_model_state` to the new generation. Readers see the
   old rows until that commit and the new ones after it, never a mixture.
4. Delete the old generation's rows.

The events are only read. A `kill -9` anywhere leaves the old generation
serving; the next rebuild starts over.
"""

from __future__ import annotations

import asyncio
import importlib
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from timeline import readmodels
from timeline.events import StoredEvent
from timeline.store import mapper, read_models
from timeline.store.mapper import Query

if TYPE_CHECKING:
    from timeline.store.sql import Recorder, SQLTransaction

Progress = Callable[[int, int], None]
"""Called with (events done, events to do) as the rebuild goes."""

WORKERS = 2
"""Processes replaying streams while the rebuild reads and writes (at most one per core)."""
PARALLEL_FROM = 20_000
"""Stores with fewer events are replayed in the rebuilding process itself."""


@dataclass(frozen=True, slots=True)
class RebuildReport:
    events: int
    streams: int
    generation: int
    seconds: float
    rebuilt: bool = True


READ_ROWS = 5_000
"""Events read per query: each read is short, so SQLite can checkpoint its log meanwhile."""


def by_stream(dialect: mapper.Dialect, up_to: int, after: tuple[str, int] | None) -> Query:
    """Up to `READ_ROWS` events at or below position `up_to`, in (stream, version) order."""
    q = Query(dialect)
    where = [f"position <= {q.param(up_to)}"]
    if after is not None:
        where.append(f"(stream, version) > ({q.param(after[0])}, {q.param(after[1])})")
    q.sql = (
        f"SELECT {mapper.COLUMNS} FROM events WHERE {' AND '.join(where)}"
        f" ORDER BY stream, version LIMIT {q.param(READ_ROWS)}"
    )
    return q


async def row_pages(recorder: Recorder, up_to: int) -> AsyncIterator[list[tuple[Any, ...]]]:
    """Every event row up to position `up_to` in (stream, version) order, a page at a time,
    each page ending where a stream ends.

    Read by (stream, version): events are immutable and positions only grow,
    so the pages together are the store as of `up_to`, and no read
    transaction stays open (SQLite's log would grow meanwhile).
    """
    carried: list[tuple[Any, ...]] = []
    after: tuple[str, int] | None = None
    while True:
        rows = [
            tuple(row) for row in await recorder.fetch(by_stream(recorder.dialect, up_to, after))
        ]
        if len(rows) < READ_ROWS:
            if carried or rows:
                yield carried + rows
            return
        rows = carried + rows  # a stream longer than a page is carried until it ends
        last_stream = rows[-1][1]
        cut = len(rows)
        while cut > 0 and rows[cut - 1][1] == last_stream:
            cut -= 1
        if cut:
            yield rows[:cut]
        carried = rows[cut:]
        after = (str(rows[-1][1]), int(rows[-1][2]))


async def streams_in_order(recorder: Recorder, up_to: int) -> AsyncIterator[list[StoredEvent]]:
    """Every stream's events up to position `up_to`, one stream at a time, by stream id."""
    async for page in row_pages(recorder, up_to):
        for events in _streams(page, recorder.dialect):
            yield events


def _streams(rows: list[tuple[Any, ...]], dialect: mapper.Dialect) -> list[list[StoredEvent]]:
    """Rows of whole streams, decoded and split by stream."""
    streams: list[list[StoredEvent]] = []
    for row in rows:
        stored = mapper.from_row(row, dialect)
        if not streams or streams[-1][0].stream != stored.stream:
            streams.append([])
        streams[-1].append(stored)
    return streams


def replay_rows(backend: str, generation: int, rows: list[tuple[Any, ...]]) -> read_models.Writes:
    """Rows of whole streams → the read-model rows of a replay (run in a worker process)."""
    dialect = importlib.import_module(BACKENDS[backend]).DIALECT
    models = [readmodels.replay(events[0].stream, events) for events in _streams(rows, dialect)]
    return read_models.writes(dialect, generation, models)


def _leave_with_parent(parent: int) -> None:
    """In a worker: exit when the rebuild's process is gone (`kill -9` leaves no one to say so)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


BACKENDS = {"sqlite": "timeline.store.sqlite", "postgresql": "timeline.store.postgres"}
"""Where a worker finds each backend's `DIALECT` (dialects hold functions: they are not sent)."""


async def _delete(tx: SQLTransaction, where: str, params: Sequence[object]) -> None:
    for table in ("facets", "calendar_items"):
        await tx.run(f"DELETE FROM {table} WHERE {where}", [tuple(params)])


async def rebuild(
    recorder: Recorder,
    progress: Progress | None = None,
    *,
    only_if_stale: bool = False,
    workers: int = WORKERS,
) -> RebuildReport:
    """Rebuild every read model; with `only_if_stale`, only if their version is not the code's.

    `workers` processes replay the streams (0: this process does); a process
    that is not the command line's own (a server's worker) should pass 0.
    """
    started = time.monotonic()
    dialect = recorder.dialect
    p = dialect.placeholder
    async with recorder.exclusive("rebuild"):
        async with recorder.transaction() as tx:
            state = await read_models.model_state(tx.fetch, dialect)
            if only_if_stale and state.version == readmodels.VERSION:
                return RebuildReport(0, 0, state.generation, 0.0, rebuilt=False)
            await _delete(tx, f"generation > {p(1)}", [state.generation])
            basis, _ = await tx.last()
        target = state.generation + 1
        done, streams = await _build(recorder, target, basis, progress, workers)
        async with recorder.transaction() as tx:
            grown = [str(row[0]) for row in await tx.fetch(_grown(dialect, basis))]
            if grown:
                await _delete(
                    tx, f"generation = {p(1)} AND stream {_in(grown, dialect)}", [target, *grown]
                )
                events = await tx.stream_events(grown)
                models = [
                    readmodels.replay(name, [e for e in events if e.stream == name])
                    for name in grown
                ]
                await read_models.save(tx.run, dialect, target, models)
            await tx.run(
                f"UPDATE read_model_state SET generation = {p(1)}, version = {p(2)},"
                " changes = changes + 1",
                [(target, readmodels.VERSION)],
            )
        if progress is not None:
            progress(done, basis)
        async with recorder.transaction() as tx:
            await _delete(tx, f"generation <> {p(1)}", [target])
    return RebuildReport(done, streams, target, time.monotonic() - started)


async def _build(
    recorder: Recorder, target: int, basis: int, progress: Progress | None, workers: int
) -> tuple[int, int]:
    """Generation `target` from the events up to `basis`: (events, streams) replayed.

    Pages of rows go to worker processes (replaying is pure CPU: one core
    each) and their rows are written here as they come back, a few pages in
    flight at most. A small store is replayed in this process: a worker
    costs more to start than a few thousand events to replay.
    """
    workers = min(workers, os.cpu_count() or 1) if basis >= PARALLEL_FROM else 0
    pool = (
        ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_leave_with_parent,
            initargs=(os.getpid(),),
        )
        if workers
        else None
    )
    loop = asyncio.get_running_loop()
    in_flight: deque[tuple[asyncio.Future[read_models.Writes], int]] = deque()
    written = streams = 0

    async def write_oldest() -> None:
        nonlocal written
        pending, events = in_flight.popleft()
        w = await pending
        async with recorder.transaction() as tx:
            await read_models.write(tx.run, recorder.dialect, w)
        written += events
        if progress is not None:
            progress(written, basis)

    try:
        async for page in row_pages(recorder, basis):
            streams += len({row[1] for row in page})
            if pool is None:
                done: asyncio.Future[read_models.Writes] = loop.create_future()
                done.set_result(replay_rows(recorder.backend, target, page))
                in_flight.append((done, len(page)))
            else:
                job = loop.run_in_executor(pool, replay_rows, recorder.backend, target, page)
                in_flight.append((job, len(page)))
            if len(in_flight) > 2 * max(workers, 1):
                await write_oldest()
        while in_flight:
            await write_oldest()
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return written, streams


def _grown(dialect: mapper.Dialect, basis: int) -> Query:
    q = Query(dialect)
    q.sql = f"SELECT DISTINCT stream FROM events WHERE position > {q.param(basis)}"
    return q


def _in(values: Sequence[str], dialect: mapper.Dialect) -> str:
    """`IN (…)` with placeholders numbered after the first parameter."""
    return "IN (" + ", ".join(dialect.placeholder(n) for n in range(2, len(values) + 2)) + ")"
