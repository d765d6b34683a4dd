"""Event storage: the `EventStore` protocol and its backends, chosen by URL."""

from __future__ import annotations

from pathlib import Path

from timeline.store.base import (
    AppendChain,
    AppendResult,
    ConcurrencyError,
    EmptyAppendError,
    FeedFilters,
    IdempotencyError,
    InvalidAppendError,
    KeyTakenError,
    RecordingTimeError,
    SkippedAppendError,
    StoreError,
    StoreFullError,
    StoreStats,
    StreamInfo,
)
from timeline.store.protocol import EventStore
from timeline.store.staged import STAGED_FROM, NotStagedError
from timeline.store.verify import Findings, verify
from timeline.tokens import TokenRegistry

__all__ = [
    "STAGED_FROM",
    "AppendChain",
    "AppendResult",
    "ConcurrencyError",
    "EmptyAppendError",
    "EventStore",
    "FeedFilters",
    "Findings",
    "IdempotencyError",
    "InvalidAppendError",
    "KeyTakenError",
    "NotStagedError",
    "RecordingTimeError",
    "SkippedAppendError",
    "StoreError",
    "StoreFullError",
    "StoreStats",
    "StreamInfo",
    "open_store",
    "sqlite_path",
    "token_registry",
    "verify",
]

SQLITE_PREFIX = "sqlite:///"


def token_registry(store: EventStore) -> TokenRegistry:
    """The tokens kept beside `store`'s events, on the same connections or pool."""
    registry: TokenRegistry | None = getattr(store, "registry", None)
    if registry is None:
        raise TypeError(f"{type(store).__name__} keeps no tokens")
    return registry


class UnsupportedURLError(ValueError):
    pass


def sqlite_path(url: str) -> Path:
    """`sqlite:///timeline.db` is relative to the working folder, `sqlite:////srv/t.db` absolute."""
    if not url.startswith(SQLITE_PREFIX) or len(url) == len(SQLITE_PREFIX):
        raise UnsupportedURLError(f"{url!r} is not sqlite:///PATH")
    return Path(url.removeprefix(SQLITE_PREFIX))


async def open_store(url: str, migrate_url: str | None = None) -> EventStore:
    """Open the backend the URL names; the caller closes it.

    `migrate_url` (PostgreSQL) names the owner role that applies migrations.
    """
    if url.startswith("sqlite:"):
        from timeline.store.sqlite import SQLiteStore  # noqa: PLC0415 - backends load on demand

        path = sqlite_path(url)
        if path.parent != Path() and not path.parent.is_dir():
            raise UnsupportedURLError(f"folder {path.parent} of {url!r} does not exist")
        store: SQLiteStore | PostgresStore = await SQLiteStore.open(path)
    elif url.startswith(("postgresql://", "postgres://")):
        from timeline.store.postgres import PostgresStore  # noqa: PLC0415

        store = await PostgresStore.open(url, migrate_url)
    else:
        raise UnsupportedURLError(
            f"{url!r} names no supported backend; use sqlite:///PATH or postgresql://…"
        )
    await store.settle_empty_read_models()
    return store
