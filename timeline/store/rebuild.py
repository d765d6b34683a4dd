"""`timeline projections rebuild`: the read models again from the events, while the old serve.

1. Under the backend's `exclusive("rebuild")` lock (one rebuild at a time,
   released if the process dies), drop every generation but the live one
   (what an interrupted rebuild left) and note the last position P.
2. Read the events up to P a page of whole streams at a time in (stream,
   version) order, have worker processes replay the pages' streams (on a
   SQLite file they read their pages themselves), and write the next
   generation's rows in a short transaction per page while the next pages
   are read and replayed, so appends go on in between.
3. In one write transaction (appends wait): redo the streams that grew after
   P, then switch `read_model_state` to the new generation. Readers see the
   old rows until that commit and the new ones after it, never a mixture.
4. Delete the old generation's rows.

The events are only read. A `kill -9` anywhere leaves the old generation
serving; the next rebuild starts over.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import multiprocessing
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from timeline import collector
from timeline.events import ORGANIZATION_STREAM, StoredEvent, is_organization_stream
from timeline.readside import readmodels
from timeline.store import mapper, read_models
from timeline.store.mapper import Query

if TYPE_CHECKING:
    from timeline.store.recorder import Recorder, SQLTransaction

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
        query = mapper.by_stream(recorder.dialect, up_to, after, READ_ROWS)
        rows = [tuple(row) for row in await recorder.fetch(query)]
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


async def stream_ranges(
    recorder: Recorder, up_to: int, size: int
) -> AsyncIterator[tuple[str | None, str | None]]:
    """(after, last): the store as of position `up_to` cut into runs of whole streams of about
    `size` events, from an index alone; None is an open end."""
    after: str | None = None
    while True:
        rows = await recorder.fetch(mapper.page_end(recorder.dialect, up_to, after, size))
        last = str(rows[0][0]) if rows else None
        yield after, last
        if last is None:
            return
        after = last


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


class Replayed(NamedTuple):
    """A page replayed: its read-model rows, and how many events and streams it held."""

    writes: read_models.Writes
    events: int
    streams: int


def replay_rows(backend: str, generation: int, rows: list[tuple[Any, ...]]) -> Replayed:
    """Rows of whole streams → the read-model rows of a replay (run in a worker process)."""
    dialect = importlib.import_module(BACKENDS[backend]).DIALECT
    with collector.paused():  # each model is dropped once written: nothing is left to collect
        streams = _streams(rows, dialect)
        models = (readmodels.replay(events[0].stream, events) for events in streams)
        return Replayed(read_models.writes(dialect, generation, models), len(rows), len(streams))


def replay_file(
    path: str, generation: int, after: str | None, last: str | None, up_to: int
) -> Replayed:
    """In a worker: read the streams after `after` up to `last` from a SQLite file and replay
    them. Reading here spares the rebuild's process reading every row and piping it over."""
    sqlite = importlib.import_module(BACKENDS["sqlite"])
    rows = sqlite.file_rows(path, mapper.streams_between(sqlite.DIALECT, after, last, up_to))
    return replay_rows("sqlite", generation, rows)


def _start_worker(parent: int) -> None:
    """In a worker: no cyclic collection (replays make no cycles; re-enabling it after each page
    cost a collection over the page's rows), and exit when the rebuild's process is gone
    (`kill -9` leaves no one to say so)."""
    gc.disable()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


BACKENDS = {"sqlite": "timeline.store.sqlite", "postgresql": "timeline.store.postgres"}
"""Where a worker finds each backend's `DIALECT` (dialects hold functions: they are not sent)."""


async def _delete(tx: SQLTransaction, where: Callable[[Query], str]) -> None:
    """Delete read-model rows; `where` writes the condition, adding its parameters."""
    for table in ("facets", "calendar_items", "snapshots", "organization_keys"):
        q = Query(tx.dialect)
        q.sql = f"DELETE FROM {table} WHERE {where(q)}"
        await tx.run(q.sql, [tuple(q.params)])


async def _delete_streams(tx: SQLTransaction, generation: int, streams: list[str]) -> None:
    """Delete the read-model rows of `streams` in `generation` (an organization's keys are
    by its id, the rest by stream)."""
    dialect = tx.dialect
    orgs = [s.removeprefix(ORGANIZATION_STREAM) for s in streams if is_organization_stream(s)]
    for table, column, names in (
        ("facets", "stream", streams),
        ("calendar_items", "stream", streams),
        ("snapshots", "stream", streams),
        ("organization_keys", "org", orgs),
    ):
        if names:
            q = Query(dialect)
            q.sql = (
                f"DELETE FROM {table} WHERE generation = {q.param(generation)}"
                f" AND {column} {dialect.any_text(q.param, names)}"
            )
            await tx.run(q.sql, [tuple(q.params)])


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
    if only_if_stale:  # the usual start: one small query, no lock
        state = await read_models.model_state(recorder.fetch, dialect)
        if state.version == readmodels.VERSION:
            return RebuildReport(0, 0, state.generation, 0.0, rebuilt=False)
    async with recorder.exclusive("rebuild"):
        async with recorder.transaction() as tx:
            state = await read_models.model_state(tx.fetch, dialect)
            if only_if_stale and state.version == readmodels.VERSION:  # another just did it
                return RebuildReport(0, 0, state.generation, 0.0, rebuilt=False)
            live = state.generation
            # what a rebuild killed before (next generation) or after (old one) its switch left
            await _delete(tx, lambda q: f"generation <> {q.param(live)}")
            basis, _ = await tx.last()
        target = live + 1
        done, streams = await _build(recorder, target, basis, progress, workers)
        async with recorder.transaction() as tx:
            grown = [str(row[0]) for row in await tx.fetch(mapper.streams_after(dialect, basis))]
            if grown:
                await _delete_streams(tx, target, grown)
                events = await tx.stream_events(grown)
                models = [
                    readmodels.replay(name, [e for e in events if e.stream == name])
                    for name in grown
                ]
                await read_models.save(tx.run, dialect, target, models)
            p = dialect.placeholder
            await tx.run(
                f"UPDATE read_model_state SET generation = {p(1)}, version = {p(2)},"
                " changes = changes + 1",
                [(target, readmodels.VERSION)],
            )
        if progress is not None:
            progress(done, basis)
        async with recorder.transaction() as tx:  # by the index on generation, not a scan
            await _delete(tx, lambda q: f"generation = {q.param(live)}")
    if dialect.after_bulk_load is not None:  # every read-model row is new: so are their stats
        await recorder.fetch(Query(dialect, dialect.after_bulk_load))
    return RebuildReport(done, streams, target, time.monotonic() - started)


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """Processes that replay streams (the rebuild's and a staged import's), gone with this one."""
    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(os.getpid(),),
    )


async def _replayed_pages(
    recorder: Recorder, target: int, basis: int, pool: ProcessPoolExecutor | None
) -> AsyncIterator[Awaitable[Replayed]]:
    """Each page's replay, in stream order: done here, or under way in a worker.

    Workers on a file of this machine read their pages themselves; otherwise
    this process reads each page and sends its rows.
    """
    loop = asyncio.get_running_loop()
    if pool is not None and recorder.local_file is not None:
        async for after, last in stream_ranges(recorder, basis, READ_ROWS):
            args = (recorder.local_file, target, after, last, basis)
            yield loop.run_in_executor(pool, replay_file, *args)
        return
    async for page in row_pages(recorder, basis):
        if pool is None:
            yield _ready(replay_rows(recorder.backend, target, page))
        else:
            yield loop.run_in_executor(pool, replay_rows, recorder.backend, target, page)


async def _ready(replayed: Replayed) -> Replayed:
    return replayed


async def _build(
    recorder: Recorder, target: int, basis: int, progress: Progress | None, workers: int
) -> tuple[int, int]:
    """Generation `target` from the events up to `basis`: (events, streams) replayed.

    Pages go to worker processes (replaying is pure CPU: one core each) and
    their rows are written here in order as they come back, while the next
    pages are read and replayed; a few pages in flight at most. A small
    store is replayed in this process: a worker costs more to start than a
    few thousand events to replay.
    """
    workers = min(workers, os.cpu_count() or 1) if basis >= PARALLEL_FROM else 0
    pool = worker_pool(workers) if workers else None
    done: asyncio.Queue[Awaitable[Replayed] | None] = asyncio.Queue(2 * max(workers, 1))
    written = streams = 0

    async def dispatch() -> None:
        """Pages to replay; waits only when the writing is `done.maxsize` pages behind."""
        async for job in _replayed_pages(recorder, target, basis, pool):
            await done.put(job)
        await done.put(None)

    async def collect() -> None:
        nonlocal written, streams
        while (job := await done.get()) is not None:
            replayed = await job
            async with recorder.transaction() as tx:
                await read_models.write(tx.run, recorder.dialect, replayed.writes)
            written += replayed.events
            streams += replayed.streams
            if progress is not None:
                progress(written, basis)

    try:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(dispatch())
            tasks.create_task(collect())
    except BaseExceptionGroup as group:  # the first failure, as a sequential build would raise
        raise group.exceptions[0] from None
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return written, streams
