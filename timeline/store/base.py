"""What the `EventStore` protocol (`protocol.py`) speaks in: its values, options and errors."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Required, TypedDict

import msgspec

from timeline.events import StoredEvent

TRUSTED_SECONDS = 1.0
"""How long a process trusts what it learnt from the database before asking again: the last
position (its own commits and, on PostgreSQL, other replicas' NOTIFY reach it at once) and a
token found. It bounds how long a commit or a token revocation this process cannot hear of
(another process on the same SQLite file, the CLI, a notification lost with its connection)
goes unseen by what trusts it (`/health`, replayed answers, appends' tokens)."""


class AppendResult(msgspec.Struct, frozen=True, kw_only=True):
    """What an append stored, or, on an idempotent replay, what the original append stored."""

    stream: str
    events: tuple[StoredEvent, ...]
    replayed: bool = False

    @property
    def version(self) -> int:
        return self.events[-1].version

    @property
    def last_position(self) -> int:
        return self.events[-1].position


class StreamInfo(msgspec.Struct, frozen=True, kw_only=True):
    stream: str
    version: int
    last_position: int


class StoreStats(msgspec.Struct, frozen=True, kw_only=True):
    backend: str
    events: int
    last_position: int


class AppendChain:
    """Appends that stand or fall in order, as an import's runs do: once one is refused, every
    later append of the chain is refused unwritten (`SkippedAppendError`), even those already
    queued behind it."""

    __slots__ = ("broken",)

    def __init__(self) -> None:
        self.broken = False


class AppendOptions(TypedDict, total=False):
    """Who appends, and the checks an append asks for."""

    actor: Required[str]
    """Recorded with every event: the token's name, or an importer's."""
    expected_version: int | None
    """The stream's version the writer saw (0: must not exist); None or left out: any."""
    recorded_at: datetime | None
    """Only for restoring exported history; otherwise the store's clock."""
    chain: AppendChain | None
    """Refuse this append unwritten if an earlier one of the chain was refused."""
    decoded: bool
    """The events were decoded from a request for this append alone, so an id the server drew
    for one of them (`ids.DrawnId`) is new and is not looked up. An event object a caller
    keeps and appends again is a replay: its drawn id must be looked up like any other."""


class FeedFilters(TypedDict, total=False):
    """Which events of the global feed to read; each one left out does not filter."""

    types: Sequence[str]
    """Only these event types."""
    party: str | None
    """Only the streams of partnerships this organization is or ever was a party to."""
    stream_prefix: str | None
    """Only streams whose id starts with this."""


class StreamFilters(TypedDict, total=False):
    """Which of a stream's events to read; each one left out does not filter."""

    from_version: int
    """Versions from this one (default 1)."""
    to_version: int | None
    types: Sequence[str]
    """Only these event types (default all)."""
    effective_from: date | None
    """Only events whose effective span reaches this day or later."""
    effective_to: date | None
    known_at: datetime | None
    """Only events recorded at or before this instant."""
    limit: int | None
    after_position: int
    """Only events after this global position (default 0)."""


class StoreError(Exception):
    """Base of the errors an append can answer with; nothing was stored."""


class ConcurrencyError(StoreError):
    """`expected_version` did not match the stream's version."""

    def __init__(self, stream: str, expected: int, actual: int) -> None:
        super().__init__(f"stream {stream!r} is at version {actual}, not {expected}")
        self.stream = stream
        self.expected = expected
        self.actual = actual


class IdempotencyError(StoreError):
    """An event id was stored before with other content, or only part of a batch was."""

    def __init__(self, stream: str, message: str, actual: int) -> None:
        super().__init__(message)
        self.stream = stream
        self.actual = actual


class KeyTakenError(StoreError):
    """An alias or identifier another organization holds: one name, one organization."""

    def __init__(self, stream: str, key: str, holder: str, actual: int) -> None:
        super().__init__(f"{key!r} names organization {holder!r} already")
        self.stream = stream
        self.key = key
        self.holder = holder
        self.actual = actual


class RecordingTimeError(StoreError):
    """A restored recording time older than what the store already holds."""

    def __init__(self, requested: datetime, latest: datetime) -> None:
        super().__init__(
            f"recorded_at {requested.isoformat()} is before the store's latest recording "
            f"({latest.isoformat()}); restore history into an empty store, or in recording order"
        )


class InvalidAppendError(StoreError):
    """A stream id or actor the store does not keep (the API checks these before)."""


class StoreFullError(StoreError):
    """The storage refused to write (disk full, quota, I/O error): retry when space returns."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the store cannot write: {reason}")


class SkippedAppendError(StoreError):
    """Not tried: an earlier append of the same chain was refused."""

    def __init__(self) -> None:
        super().__init__("not tried: an earlier append of the same import was refused")


class EmptyAppendError(StoreError):
    def __init__(self) -> None:
        super().__init__("an append carries at least one event")


_UNREACHABLE: list[type[BaseException]] = [OSError, TimeoutError]
"""What a database that cannot be reached raises; backends add their own (`unreachable`)."""


def register_unreachable(*kinds: type[BaseException]) -> None:
    """Name a backend's errors that mean its database cannot be reached (not a refusal)."""
    _UNREACHABLE.extend(kinds)


_REFUSED: list[type[BaseException]] = []
"""What a statement that breaks a constraint of the events raises; each backend adds its own."""


def register_refused(*kinds: type[BaseException]) -> None:
    """Name a backend's errors for a write its constraints refused (a taken id, say)."""
    _REFUSED.extend(kinds)


def refused(error: BaseException) -> bool:
    """Whether `error` is a constraint refusing a write (not a fault of the database)."""
    return isinstance(error, tuple(_REFUSED))


def unreachable(error: BaseException) -> bool:
    """Whether `error` says the database cannot be reached: a read answers 503, never a guess."""
    return isinstance(error, tuple(_UNREACHABLE))
