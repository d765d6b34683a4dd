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

import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from timeline import readmodels
from timeline.events import StoredEvent
from timeline.store import mapper, read_models
from timeline.store.mapper import Query

if TYPE_CHECKING:
    from timeline.store.sql import Recorder, SQLTransaction

Progress = Callable[[int, int], None]
"""Called with (events done, events to do) as the rebuild goes."""

BATCH_EVENTS = 5_000
"""Events whose rows are written per transaction while building."""


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


async def streams_in_order(recorder: Recorder, up_to: int) -> AsyncIterator[list[StoredEvent]]:
    """Every stream's events up to position `up_to`, one stream at a time, by stream id.

    Read a page at a time by (stream, version): events are immutable and
    positions only grow, so the pages together are the store as of `up_to`,
    and no read transaction stays open (SQLite's log would grow meanwhile).
    """
    current: list[StoredEvent] = []
    after: tuple[str, int] | None = None
    while True:
        rows = await recorder.fetch(by_stream(recorder.dialect, up_to, after))
        for row in rows:
            stored = mapper.from_row(row, recorder.dialect)
            if current and current[0].stream != stored.stream:
                yield current
                current = []
            current.append(stored)
        if len(rows) < READ_ROWS:
            break
        after = (current[-1].stream, current[-1].version)
    if current:
        yield current


async def _delete(tx: SQLTransaction, where: str, params: Sequence[object]) -> None:
    for table in ("facets", "calendar_items"):
        await tx.run(f"DELETE FROM {table} WHERE {where}", [tuple(params)])


async def rebuild(
    recorder: Recorder, progress: Progress | None = None, *, only_if_stale: bool = False
) -> RebuildReport:
    """Rebuild every read model; with `only_if_stale`, only if their version is not the code's."""
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
        done = streams = 0
        pending: list[readmodels.StreamModel] = []
        pending_events = 0
        async for events in streams_in_order(recorder, basis):
            pending.append(readmodels.replay(events[0].stream, events))
            pending_events += len(events)
            streams += 1
            if pending_events >= BATCH_EVENTS:
                async with recorder.transaction() as tx:
                    await read_models.save(tx.run, dialect, target, pending)
                done += pending_events
                pending, pending_events = [], 0
                if progress is not None:
                    progress(done, basis)
        async with recorder.transaction() as tx:
            await read_models.save(tx.run, dialect, target, pending)
            done += pending_events
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


def _grown(dialect: mapper.Dialect, basis: int) -> Query:
    q = Query(dialect)
    q.sql = f"SELECT DISTINCT stream FROM events WHERE position > {q.param(basis)}"
    return q


def _in(values: Sequence[str], dialect: mapper.Dialect) -> str:
    """`IN (…)` with placeholders numbered after the first parameter."""
    return "IN (" + ", ".join(dialect.placeholder(n) for n in range(2, len(values) + 2)) + ")"
