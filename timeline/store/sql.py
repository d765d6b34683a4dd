"""What every SQL backend shares: the event store composed around a `Recorder`.

A backend is a `Recorder`: it supplies its `Dialect`, how rows are fetched
and streamed, and a write transaction that wraps its connection in
`SQLTransaction`. Connections, locking, schema and migrations stay in its own
small module; the grouping writer, the notifier and the mapper are here.
"""

from __future__ import annotations

import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Mapping,
    Sequence,
)
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol, Unpack
from uuid import UUID

from timeline.events import AnyEvent, StoredEvent
from timeline.readside import readmodels
from timeline.readside.readmodels import StreamModel
from timeline.store import base, mapper, read_models
from timeline.store.base import (
    AppendOptions,
    AppendResult,
    FeedFilters,
    StoreError,
    StoreStats,
    StreamFilters,
    StreamInfo,
)
from timeline.store.mapper import Dialect, Query, Row
from timeline.store.notify import Notifier
from timeline.store.read_models import ReadModels
from timeline.store.rebuild import WORKERS, Progress, RebuildReport, rebuild, streams_in_order
from timeline.store.writer import GroupWriter
from timeline.tokens import TokenRegistry

Fetch = Callable[[Query], Awaitable[list[Row]]]


class SQLTransaction:
    """The writer's view of one write transaction (the backend holds its lock)."""

    def __init__(
        self,
        dialect: Dialect,
        fetch: Fetch,
        insert_rows: Callable[[str, list[tuple[Any, ...]]], Awaitable[None]],
        after_insert: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        self._dialect = dialect
        self._fetch = fetch
        self._insert_rows = insert_rows
        self._after_insert = after_insert
        self._generation: int | None = None

    @property
    def dialect(self) -> Dialect:
        return self._dialect

    async def fetch(self, query: Query) -> list[Row]:
        return await self._fetch(query)

    async def run(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """One statement per parameter row (`executemany`)."""
        await self._insert_rows(sql, rows)

    async def stream_versions(self, streams: Sequence[str]) -> dict[str, int]:
        rows = await self._fetch(mapper.stream_versions(self._dialect, streams))
        return {row[0]: row[1] for row in rows if row[1] is not None}

    async def stream_events(self, streams: Sequence[str]) -> list[StoredEvent]:
        rows = await self._fetch(mapper.stream_events(self._dialect, streams))
        return [mapper.from_row(row, self._dialect) for row in rows]

    async def stream_tails(self, after: Mapping[str, int]) -> list[StoredEvent]:
        rows = await self._fetch(mapper.stream_tails(self._dialect, after))
        return [mapper.from_row(row, self._dialect) for row in rows]

    async def events_by_id(self, ids: Sequence[UUID]) -> list[StoredEvent]:
        rows = await self._fetch(mapper.events_by_id(self._dialect, ids))
        return [mapper.from_row(row, self._dialect) for row in rows]

    async def last(self) -> tuple[int, datetime | None]:
        rows = await self._fetch(Query(self._dialect, mapper.LAST))
        if not rows:
            return 0, None
        position, recorded_at = rows[0]
        return position, self._dialect.read_instant(recorded_at)

    async def insert(self, events: Sequence[StoredEvent]) -> None:
        rows = [mapper.to_row(stored, self._dialect) for stored in events]
        await self._insert_rows(mapper.insert(self._dialect), rows)
        if self._after_insert is not None:
            await self._after_insert(events[-1].position)

    async def generation(self) -> int:
        """The live generation of the read models (a rebuild switches it)."""
        if self._generation is None:
            state = await read_models.model_state(self._fetch, self._dialect)
            self._generation = state.generation
        return self._generation

    async def load_models(
        self, streams: Collection[str], rows: Collection[str]
    ) -> dict[str, StreamModel]:
        generation = await self.generation()
        return await read_models.load(self._fetch, self._dialect, generation, streams, rows)

    async def save_models(self, models: Iterable[StreamModel]) -> None:
        generation = await self.generation()
        await read_models.save(self._insert_rows, self._dialect, generation, models)


class Recorder(Protocol):
    """A backend: connections, its dialect, locking and schema, and nothing else.

    `SQLEventStore` composes the writer, the notifier and the mapper around it;
    a third backend is one more small module implementing this.
    """

    backend: str
    dialect: Dialect
    local_file: str | None
    """The database file, when other processes on this machine may open it (SQLite)."""

    @property
    def registry(self) -> TokenRegistry:
        """The API tokens, kept on the same connections."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[SQLTransaction]:
        """One write transaction holding the backend's append lock."""
        ...

    def rows(self, query: Query) -> AsyncIterator[Row]:
        """Rows streamed from the database (not all held in memory)."""
        ...

    async def fetch(self, query: Query) -> list[Row]: ...

    def exclusive(self, name: str) -> AbstractAsyncContextManager[None]:
        """Held by one process at a time across every process on the database; freed on death."""
        ...

    def listen(self, publish: Callable[[int], None]) -> None:
        """Call `publish(position)` for commits made elsewhere (other replicas), if it can."""
        ...

    async def close(self) -> None: ...


class SQLEventStore:
    """The `EventStore` of any `Recorder`: grouped appends, wake-ups, reads through the mapper."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.backend = recorder.backend
        self.dialect = recorder.dialect
        self.registry: TokenRegistry = recorder.registry
        self.notifier = Notifier()
        self._writer: GroupWriter | None = GroupWriter(
            recorder.transaction, on_commit=self.notifier.publish
        )
        recorder.listen(self.notifier.publish)
        self._asked_at = float("-inf")
        self.read_models = ReadModels(recorder.fetch, recorder.dialect)

    async def settle_empty_read_models(self) -> None:
        """A store without events has current read models, whatever version of the code made
        its tables: the migrations stamp an empty store with the version of their day."""
        current = readmodels.VERSION
        if (await self.read_models.state()).version == current:
            return  # the usual open: one read, no write transaction to wait for
        async with self.recorder.transaction() as tx:
            await tx.run(
                f"UPDATE read_model_state SET version = {current} WHERE version <> {current}"
                " AND NOT EXISTS (SELECT 1 FROM events)",
                [()],
            )

    async def rebuild_read_models(
        self,
        progress: Progress | None = None,
        *,
        only_if_stale: bool = False,
        workers: int = WORKERS,
    ) -> RebuildReport:
        return await rebuild(self.recorder, progress, only_if_stale=only_if_stale, workers=workers)

    async def close(self) -> None:
        """Finish every append already accepted, then close the backend."""
        if self._writer is None:
            return
        writer, self._writer = self._writer, None
        await writer.close()
        await self.recorder.close()

    # --- appends and wake-ups ----------------------------------------------------

    async def append(
        self, stream: str, events: Sequence[AnyEvent], **options: Unpack[AppendOptions]
    ) -> AppendResult:
        if self._writer is None:
            raise StoreError("the store is closed")
        return await self._writer.append(stream, events, **options)

    async def wait_for_append(self, after: int, seconds: float) -> int:
        return await self.notifier.wait(after, seconds)

    def release_waiters(self) -> None:
        self.notifier.release()

    def notified_position(self) -> int:
        return self.notifier.last

    async def known_position(self) -> int:
        asked_at = time.monotonic()
        if asked_at - self._asked_at < base.TRUSTED_SECONDS:
            return self.notifier.last
        await self.stats()
        self._asked_at = max(self._asked_at, asked_at)
        return self.notifier.last

    # --- reads -------------------------------------------------------------------

    async def _stored(self, query: Query) -> AsyncIterator[StoredEvent]:
        async for row in self.recorder.rows(query):
            yield mapper.from_row(row, self.dialect)

    def read_stream(
        self, stream: str, **filters: Unpack[StreamFilters]
    ) -> AsyncIterator[StoredEvent]:
        return self._stored(mapper.read_stream(self.dialect, stream, **filters))

    def read_all(
        self, *, after: int = 0, limit: int | None = None, **filters: Unpack[FeedFilters]
    ) -> AsyncIterator[StoredEvent]:
        return self._stored(mapper.read_all(self.dialect, after=after, limit=limit, **filters))

    def read_by_stream(self, up_to: int) -> AsyncIterator[list[StoredEvent]]:
        return streams_in_order(self.recorder, up_to)

    async def streams(self) -> list[StreamInfo]:
        rows = await self.recorder.fetch(Query(self.dialect, mapper.STREAMS))
        return [StreamInfo(stream=s, version=v, last_position=p) for s, v, p in rows]

    async def stream_info(
        self, stream: str, *, known_at: datetime | None = None
    ) -> StreamInfo | None:
        rows = await self.recorder.fetch(mapper.stream_info(self.dialect, stream, known_at))
        return mapper.to_stream_info(stream, rows[0] if rows else None)

    async def stats(self) -> StoreStats:
        rows = await self.recorder.fetch(Query(self.dialect, mapper.LAST_POSITION))
        last = int(rows[0][0])
        self.notifier.publish(last)
        return StoreStats(backend=self.backend, events=last, last_position=last)
