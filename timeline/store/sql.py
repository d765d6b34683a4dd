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
    Callable,
    Sequence,
)
from datetime import datetime
from pathlib import Path
from typing import Unpack

from timeline.events import AnyEvent, StoredEvent
from timeline.readside import readmodels
from timeline.sources import SourceRegistry
from timeline.store import base, mapper
from timeline.store.base import (
    AppendOptions,
    AppendResult,
    FeedFilters,
    StoreError,
    StoreStats,
    StreamFilters,
    StreamInfo,
)
from timeline.store.mapper import Query
from timeline.store.notify import Notifier
from timeline.store.read_models import ReadModels
from timeline.store.rebuild import WORKERS, Progress, RebuildReport, rebuild, streams_in_order
from timeline.store.recorder import Recorder
from timeline.store.sources import SQLSources
from timeline.store.staged import StagedReport, import_staged
from timeline.store.subscriptions import SQLSubscriptions
from timeline.store.writer import GroupWriter
from timeline.tokens import TokenRegistry


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
        self.sources: SourceRegistry = SQLSources(recorder)
        self.subscriptions = SQLSubscriptions(recorder)

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

    async def import_staged(
        self,
        path: Path,
        *,
        token_names: set[str],
        default_actor: str,
        advance: Callable[[int], None] | None = None,
    ) -> StagedReport:
        return await import_staged(
            self.recorder,
            path,
            token_names=token_names,
            default_actor=default_actor,
            advance=advance,
        )

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

    async def read_stream_bodies(
        self, stream: str, **filters: Unpack[StreamFilters]
    ) -> AsyncIterator[tuple[StoredEvent, bytes | None]]:
        async for row in self.recorder.rows(mapper.read_stream(self.dialect, stream, **filters)):
            yield mapper.with_body(row, self.dialect)

    async def read_stream_json(
        self, stream: str, **filters: Unpack[StreamFilters]
    ) -> list[tuple[int, bytes]]:
        rows = await self.recorder.fetch(mapper.read_stream(self.dialect, stream, **filters))
        return [mapper.stored_json(row, self.dialect) for row in rows]

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
