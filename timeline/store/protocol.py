"""The `EventStore` protocol every backend implements.

Apart from the values it speaks in (`base.py`), so that those import nothing of the backends:
this module names the read models and the rebuild, which are built on them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Protocol, Unpack

from timeline.events import AnyEvent, StoredEvent
from timeline.sources import SourceRegistry
from timeline.store.base import (
    AppendOptions,
    AppendResult,
    FeedFilters,
    StoreStats,
    StreamFilters,
    StreamInfo,
)
from timeline.store.read_models import ReadModels
from timeline.store.rebuild import Progress, RebuildReport
from timeline.store.staged import StagedReport
from timeline.store.subscriptions import SQLSubscriptions


class EventStore(Protocol):
    """Immutable, ordered storage of partnership events.

    Guarantees (the contract suite in `tests/test_store_contract.py` proves
    them for every backend): optimistic concurrency, atomic batches,
    idempotency by event id, gapless global positions in commit order, and
    durability of every acknowledged append.
    """

    backend: str
    read_models: ReadModels
    """Lists, organizations and calendar rows, kept by the appends themselves."""
    sources: SourceRegistry
    subscriptions: SQLSubscriptions
    """Webhook subscriptions and their deliveries (`store/subscriptions.py`)."""

    async def rebuild_read_models(
        self,
        progress: Progress | None = None,
        *,
        only_if_stale: bool = False,
        workers: int = ...,
    ) -> RebuildReport:
        """Rebuild the read models from the events while the old ones serve (`rebuild.py`)."""
        ...

    async def import_staged(
        self,
        path: Path,
        *,
        token_names: set[str],
        default_actor: str,
        advance: Callable[[int], None] | None = None,
    ) -> StagedReport:
        """Store an NDJSON file of new streams in one transaction (`staged.py`), or raise
        `NotStagedError` with nothing stored: it is then imported run by run."""
        ...

    async def append(
        self, stream: str, events: Sequence[AnyEvent], **options: Unpack[AppendOptions]
    ) -> AppendResult:
        """Append atomically; `recorded_at` is for restoring exported history only."""
        ...

    def read_stream(
        self, stream: str, **filters: Unpack[StreamFilters]
    ) -> AsyncIterator[StoredEvent]:
        """A stream's events in version order, filtered, streamed from the backend."""
        ...

    def read_stream_bodies(
        self, stream: str, **filters: Unpack[StreamFilters]
    ) -> AsyncIterator[tuple[StoredEvent, bytes | None]]:
        """`read_stream`, each event with its stored body where its schema is current (what
        `encode_stored` splices in, the event not encoded again), else None."""
        ...

    async def read_stream_json(
        self, stream: str, **filters: Unpack[StreamFilters]
    ) -> list[tuple[int, bytes]]:
        """(version, the event as the API shows it) of `read_stream`'s events, the stored JSON
        spliced in without decoding it where its schema is current (a history's page)."""
        ...

    def read_all(
        self, *, after: int = 0, limit: int | None = None, **filters: Unpack[FeedFilters]
    ) -> AsyncIterator[StoredEvent]:
        """Every stream's events in global position order (those `filters` keep)."""
        ...

    def read_by_stream(self, up_to: int) -> AsyncIterator[list[StoredEvent]]:
        """Each stream's events up to position `up_to`, one stream at a time, by stream id."""
        ...

    async def streams(self) -> list[StreamInfo]: ...

    async def stream_info(
        self, stream: str, *, known_at: datetime | None = None
    ) -> StreamInfo | None:
        """Version and last position of a stream (as known at `known_at`); None if empty."""
        ...

    async def stats(self) -> StoreStats: ...

    async def wait_for_append(self, after: int, seconds: float) -> int:
        """Wait until an event after position `after` may exist, at most `seconds`.

        Returns the last position this process knows of; callers read the
        store to find out what is new (a timeout may or may not mean nothing is).
        """
        ...

    def release_waiters(self) -> None:
        """Wake every `wait_for_append` at once (shutdown)."""
        ...

    def notified_position(self) -> int:
        """The last position this process has heard of, without asking the database."""
        ...

    async def known_position(self) -> int:
        """The store's last position, asking the database only when what this process heard
        of is older than `TRUSTED_SECONDS` (commits it cannot hear of lag by at most that)."""
        ...

    async def close(self) -> None: ...
