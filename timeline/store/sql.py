"""What every SQL backend does the same way: reads, the writer's transaction, via the mapper.

A backend subclasses `SQLStore` and supplies its `Dialect`, how rows are
fetched and streamed (`_fetch`, `_rows`), and a write transaction factory
that wraps its connection in `SQLTransaction`. Connections, locking, schema
and migrations stay in the backend's own small module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from timeline.events import StoredEvent
from timeline.store import mapper
from timeline.store.base import StoreStats, StreamInfo
from timeline.store.mapper import Dialect, Query, Row
from timeline.store.writer import WriterBacked

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

    async def stream_versions(self, streams: Sequence[str]) -> dict[str, int]:
        rows = await self._fetch(mapper.stream_versions(self._dialect, streams))
        return {row[0]: row[1] for row in rows}

    async def stream_events(self, streams: Sequence[str]) -> list[StoredEvent]:
        rows = await self._fetch(mapper.stream_events(self._dialect, streams))
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


class SQLStore(WriterBacked):
    """The read side of the `EventStore` protocol, for any backend with a `Dialect`."""

    backend: str
    dialect: Dialect

    def _rows(self, query: Query) -> AsyncIterator[Row]:
        """Rows streamed from the database (not all held in memory)."""
        raise NotImplementedError

    async def _fetch(self, query: Query) -> list[Row]:
        raise NotImplementedError

    async def _stored(self, query: Query) -> AsyncIterator[StoredEvent]:
        async for row in self._rows(query):
            yield mapper.from_row(row, self.dialect)

    def read_stream(
        self,
        stream: str,
        *,
        from_version: int = 1,
        to_version: int | None = None,
        types: Sequence[str] = (),
        effective_from: date | None = None,
        effective_to: date | None = None,
        known_at: datetime | None = None,
        limit: int | None = None,
        after_position: int = 0,
    ) -> AsyncIterator[StoredEvent]:
        return self._stored(
            mapper.read_stream(
                self.dialect,
                stream,
                from_version=from_version,
                to_version=to_version,
                types=types,
                effective_from=effective_from,
                effective_to=effective_to,
                known_at=known_at,
                limit=limit,
                after_position=after_position,
            )
        )

    def read_all(self, *, after: int = 0, limit: int | None = None) -> AsyncIterator[StoredEvent]:
        return self._stored(mapper.read_all(self.dialect, after=after, limit=limit))

    async def streams(self) -> list[StreamInfo]:
        rows = await self._fetch(Query(self.dialect, mapper.STREAMS))
        return [StreamInfo(stream=s, version=v, last_position=p) for s, v, p in rows]

    async def stream_info(
        self, stream: str, *, known_at: datetime | None = None
    ) -> StreamInfo | None:
        rows = await self._fetch(mapper.stream_info(self.dialect, stream, known_at))
        return mapper.to_stream_info(stream, rows[0] if rows else None)

    async def stats(self) -> StoreStats:
        rows = await self._fetch(Query(self.dialect, mapper.LAST_POSITION))
        last = int(rows[0][0])
        return StoreStats(backend=self.backend, events=last, last_position=last)
