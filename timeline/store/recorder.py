"""What a SQL backend supplies (`Recorder`) and the writer's view of its write transaction
(`SQLTransaction`): apart from `sql.py`, so that the rebuild, which works on a recorder,
and the event store, which runs the rebuild, import it without importing each other."""

from __future__ import annotations

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
from typing import Any, Protocol
from uuid import UUID

from timeline.events import StoredEvent
from timeline.readside.readmodels import StreamModel
from timeline.sources import normalised
from timeline.store import mapper, read_models
from timeline.store.mapper import Dialect, Query, Row
from timeline.tokens import TokenRegistry

Fetch = Callable[[Query], Awaitable[list[Row]]]


EVENT_COLUMNS = [column.strip() for column in mapper.INSERT_COLUMNS.split(",")]
"""The events table's columns as `mapper.to_row` fills them."""


class SQLTransaction:
    """The writer's view of one write transaction (the backend holds its lock)."""

    def __init__(
        self,
        dialect: Dialect,
        fetch: Fetch,
        insert_rows: Callable[[str, list[tuple[Any, ...]]], Awaitable[None]],
        after_insert: Callable[[int], Awaitable[None]] | None = None,
        copy: Callable[[str, list[str], list[tuple[Any, ...]]], Awaitable[None]] | None = None,
    ) -> None:
        self._dialect = dialect
        self._fetch = fetch
        self._insert_rows = insert_rows
        self._after_insert = after_insert
        self._copy = copy
        """How the backend stores many rows of a table at once (table, columns, rows), if it
        has a faster way than one statement per row (PostgreSQL's `COPY`)."""
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

    async def source_texts(self, ids: Collection[str]) -> dict[str, str | None]:
        """Each registered source's text in its normal form (None: registered without one);
        an id not registered is left out."""
        q = Query(self._dialect)
        q.sql = (
            f"SELECT id, text FROM sources WHERE id {self._dialect.any_text(q.param, sorted(ids))}"
        )
        return {
            str(source): None if text is None else normalised(str(text))
            for source, text in await self._fetch(q)
        }

    async def insert_citations(self, events: Sequence[StoredEvent]) -> None:
        """Index the citations of registered sources among `events` (stored in this transaction)."""
        await self.insert_citation_rows(
            [
                (source.source, stored.position, n)
                for stored in events
                for n, source in enumerate(stored.event.sources)
                if source.source is not None
            ]
        )

    async def insert_citation_rows(
        self, rows: list[tuple[str, int, int]], *, many: bool = False
    ) -> None:
        """(source, position, citation) rows of the citations index; `many` (a staged import's
        batch) takes the backend's bulk path when it has one."""
        if rows and many and self._copy is not None:
            await self._copy("citations", ["source", "position", "citation"], list(rows))
        elif rows:
            p = self._dialect.placeholder
            values = f"({p(1)}, {p(2)}, {p(3)})"
            await self._insert_rows(
                f"INSERT INTO citations (source, position, citation) VALUES {values}", rows
            )

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
        await self.insert_rows([mapper.to_row(stored, self._dialect) for stored in events])

    async def insert_rows(self, rows: Sequence[tuple[Any, ...]], *, many: bool = False) -> None:
        """Events as `mapper.to_row` makes them, in position order; `many` (a staged import's
        batch) takes the backend's bulk path when it has one."""
        if many and self._copy is not None:
            await self._copy("events", EVENT_COLUMNS, list(rows))
        elif len(rows) > 1 and self._dialect.insert_arrays is not None:
            columns = [list(column) for column in zip(*rows, strict=True)]
            await self._fetch(Query(self._dialect, self._dialect.insert_arrays, columns))
        else:
            await self._insert_rows(mapper.insert(self._dialect), list(rows))
        if self._after_insert is not None:
            await self._after_insert(rows[-1][0])

    async def organization_keys(
        self, generation: int, claimed: Sequence[tuple[str, str]], orgs: Sequence[str]
    ) -> list[tuple[str, str, str]]:
        rows: list[Any] = []
        if claimed:
            wanted = set(claimed)
            q = read_models.held_keys(self._dialect, generation, sorted({k for _, k in claimed}))
            rows += [row for row in await self._fetch(q) if (row[0], row[1]) in wanted]
        if orgs:
            rows += await self._fetch(
                read_models.keys_of_organizations(self._dialect, generation, orgs)
            )
        return [(str(k), str(key), str(org)) for k, key, org in rows]

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
