"""Stored rows <-> events, and the queries every SQL backend asks, written once.

A backend differs only in its `Dialect`: how a parameter is written (`?` or
`$1`), how instants, days and ids travel, and how "one of these values" is
said. Everything else (columns, filters, order, row mapping) is here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, Protocol, Unpack
from uuid import UUID

from timeline.events import BY_TYPE, StoredEvent, type_name
from timeline.formats import (
    StoredHead,
    decode_event,
    encode_event,
    encode_stored,
    spliced_stored,
)
from timeline.store.base import FeedFilters, StreamFilters, StreamInfo
from timeline.upcasts import current_version


class Row(Protocol):
    """A result row, read by position: a tuple from SQLite, a `Record` from asyncpg."""

    def __getitem__(self, index: int, /) -> Any: ...  # noqa: ANN401 - a column of any type

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...


COLUMNS = "position, stream, version, recorded_at, actor, schema_version, type, body"
"""What a row is read as; `from_row` takes a row in this order."""
INSERT_COLUMNS = (
    "position, id, stream, version, type, effective_first, effective_last,"
    " recorded_at, actor, schema_version, body"
)


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one database spells what the queries need."""

    placeholder: Callable[[int], str]
    """The n-th parameter (1-based): `?` or `$n`."""
    instant: Callable[[datetime], Any]
    """An aware instant as the database stores it."""
    read_instant: Callable[[Any], datetime]
    day: Callable[[date], Any]
    read_day: Callable[[Any], date]
    event_id: Callable[[UUID], Any]
    any_text: Callable[[Callable[[object], str], Sequence[str]], str]
    """`IN (…)` or `= ANY(…)` over text values, adding its parameters with the given function."""
    any_id: Callable[[Callable[[object], str], Sequence[UUID]], str]
    large_write: tuple[str, str] | None = None
    """Statements that give one long write transaction (a staged import) a larger page cache,
    and take it back after."""
    bulk_paused: BulkPaused | None = None
    """What a staged import may drop inside its own transaction and make again before it
    commits (where the database's schema changes are transactional)."""
    insert_arrays: str | None = None
    """An insert of many events as one statement, one array parameter per column
    (`INSERT_COLUMNS`): a group of appends is then checked once by a per-statement trigger."""
    after_bulk_load: str | None = None
    """A statement that refreshes the planner's statistics once a bulk load has committed."""
    lock_rows: str = ""
    """What ends a SELECT that locks the rows it reads until the transaction ends (SQLite's
    write transactions hold the whole database already)."""
    indexed_by: Callable[[str], str] = lambda _index: ""
    """SQLite's `INDEXED BY index`: where its planner, without statistics, would read a whole
    primary-key range instead of a small partial index."""
    kept_apart: Callable[[str], str] = lambda membership: membership
    """A membership test (`x IN (SELECT …)`) the planner must not turn into a join.
    PostgreSQL makes a join of one at the top of a WHERE, and for a feed page (`ORDER BY
    position LIMIT`) chose a nested loop comparing every event with every one of a party's
    streams: 1.27M comparisons for 100 events at 1M (60-117 ms). Kept apart (`(…) IS TRUE`),
    it stays a hashed subplan: one probe an event (4 ms). SQLite keeps its own plan, reading
    the party's streams by index."""
    skip_locked: str = ""
    """What ends a SELECT of deliveries `d` that locks them and passes over those another
    transaction holds (two replicas claiming due deliveries at once take different ones)."""


@dataclass(frozen=True, slots=True)
class BulkPaused:
    """Schema objects a staged import drops while it writes and makes again before it commits.

    Dropped and made again in the import's own transaction: no other connection ever sees the
    store without them, and a failed or killed import rolls the drop back with the rest."""

    checks: tuple[str, ...]
    """Triggers on the events that check what the staged path makes by construction
    (positions and versions in sequence, no insert over a stored row); it checks the range it
    wrote once instead (`staged`). SQLite's two doubled the cost of inserting 1M events."""
    indexes: tuple[str, ...]
    """Read-model indexes one sort builds faster than a million inserts keep up, dropped when
    the import at least doubles the store."""
    definitions: Callable[[Callable[[object], str], Sequence[str]], str]
    """SQL of (statement that drops it, statement that makes it) for the named objects."""


@dataclass(slots=True)
class Query:
    """SQL with its parameters, built in order so placeholders number themselves."""

    dialect: Dialect
    sql: str = ""
    params: list[Any] = field(default_factory=list)
    one_stream: bool = False
    """It reads one stream's rows by an index (its events, its last version, its snapshot):
    bounded by that stream, so a backend may run it where it is asked (`SQLiteRecorder`)."""

    def param(self, value: object) -> str:
        self.params.append(value)
        return self.dialect.placeholder(len(self.params))


@lru_cache(maxsize=1 << 14)
def format_instant(instant: datetime) -> str:
    """Fixed-width UTC text, so that text order is time order (SQLite keeps instants as text).

    Cached: a store has few distinct recording instants, and every read-model
    row written repeats one (strftime was a tenth of a replay's writing).
    """
    if instant.tzinfo is None:
        raise ValueError("instants are timezone-aware")
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_row(stored: StoredEvent, dialect: Dialect, body: bytes | None = None) -> tuple[Any, ...]:
    """The values of `INSERT_COLUMNS` for one event; `body` is its encoding when known."""
    event = stored.event
    return (
        stored.position,
        dialect.event_id(event.id),
        stored.stream,
        stored.version,
        type_name(event),
        dialect.day(event.effective.first_day),
        dialect.day(event.effective.last_day),
        dialect.instant(stored.recorded_at),
        stored.actor,
        stored.schema_version,
        encode_event(event) if body is None else body,
    )


def from_row(row: Row, dialect: Dialect) -> StoredEvent:
    """One row of `COLUMNS` as a stored event (upcast to its current shape)."""
    return with_body(row, dialect)[0]


def with_body(row: Row, dialect: Dialect) -> tuple[StoredEvent, bytes | None]:
    """`from_row`, and the stored body when its schema is current: an answer splices it in
    (`encode_stored`) instead of encoding the event again."""
    position, stream, version, recorded_at, actor, schema_version, event_type, body = row
    body = bytes(body)
    event = decode_event(body, schema_version, event_type)
    current = current_version(type_name(event))
    stored = StoredEvent(
        stream=stream,
        version=version,
        position=position,
        recorded_at=dialect.read_instant(recorded_at),
        actor=actor,
        schema_version=current,
        event=event,
    )
    return stored, body if schema_version >= current else None


def stored_json(row: Row, dialect: Dialect) -> tuple[int, bytes]:
    """(version, the event as `encode_stored` gives it) of one row of `COLUMNS`: spliced from
    the stored body when it is in its type's current schema, else decoded, upcast, encoded."""
    position, stream, version, recorded_at, actor, schema_version, event_type, body = row
    current = event_type in BY_TYPE and schema_version >= current_version(event_type)
    if not current:
        return version, encode_stored(from_row(row, dialect))
    head = StoredHead(
        stream=stream,
        version=version,
        position=position,
        recorded_at=dialect.read_instant(recorded_at),
        actor=actor,
        schema_version=current_version(event_type),
    )
    return version, spliced_stored(head, bytes(body))


def read_stream(dialect: Dialect, stream: str, **filters: Unpack[StreamFilters]) -> Query:
    """A stream's events in version order, filtered as `EventStore.read_stream` says."""
    q = Query(dialect, one_stream=True)
    where = [
        f"stream = {q.param(stream)}",
        f"version >= {q.param(filters.get('from_version', 1))}",
        f"position > {q.param(filters.get('after_position', 0))}",
    ]
    if (to_version := filters.get("to_version")) is not None:
        where.append(f"version <= {q.param(to_version)}")
    if types := filters.get("types", ()):
        where.append(f"type {dialect.any_text(q.param, types)}")
    if (effective_from := filters.get("effective_from")) is not None:
        where.append(f"effective_last >= {q.param(dialect.day(effective_from))}")
    if (effective_to := filters.get("effective_to")) is not None:
        where.append(f"effective_first <= {q.param(dialect.day(effective_to))}")
    if (known_at := filters.get("known_at")) is not None:
        where.append(f"recorded_at <= {q.param(dialect.instant(known_at))}")
    q.sql = f"SELECT {COLUMNS} FROM events WHERE {' AND '.join(where)} ORDER BY version"
    if (limit := filters.get("limit")) is not None:
        q.sql += f" LIMIT {q.param(limit)}"
    return q


PARTY_STREAMS = (
    "SELECT stream FROM facets WHERE generation = (SELECT generation FROM read_model_state)"
    " AND kind = 'party' AND value = {org}"
)
"""Streams an organization is or ever was a party to, as the read models know it now."""


def read_all(
    dialect: Dialect,
    *,
    after: int = 0,
    limit: int | None = None,
    **filters: Unpack[FeedFilters],
) -> Query:
    """The global feed in position order, filtered as `EventStore.read_all` says."""
    q = Query(dialect)
    where = [f"position > {q.param(after)}"]
    if types := filters.get("types", ()):
        where.append(f"type {dialect.any_text(q.param, types)}")
    if prefix := filters.get("stream_prefix"):
        where.append(f"substr(stream, 1, {len(prefix)}) = {q.param(prefix)}")
    if (org := filters.get("party")) is not None:
        where.append(dialect.kept_apart(f"stream IN ({PARTY_STREAMS.format(org=q.param(org))})"))
    q.sql = f"SELECT {COLUMNS} FROM events WHERE {' AND '.join(where)} ORDER BY position"
    if limit is not None:
        q.sql += f" LIMIT {q.param(limit)}"
    return q


def stream_info(dialect: Dialect, stream: str, known_at: datetime | None) -> Query:
    """A stream's last version and position (as known at `known_at`): its last row by the
    (stream, version) index. `MAX(position)` let PostgreSQL's generic plan walk the primary
    key backwards instead, past every later event of the store (150-470 ms at 1M events)."""
    q = Query(dialect, one_stream=True)
    q.sql = f"SELECT version, position FROM events WHERE stream = {q.param(stream)}"
    if known_at is not None:
        q.sql += f" AND recorded_at <= {q.param(dialect.instant(known_at))}"
    q.sql += " ORDER BY version DESC LIMIT 1"
    return q


def to_stream_info(stream: str, row: Row | None) -> StreamInfo | None:
    if row is None or row[0] is None:
        return None
    return StreamInfo(stream=stream, version=row[0], last_position=row[1])


STREAMS = "SELECT stream, MAX(version), MAX(position) FROM events GROUP BY stream ORDER BY stream"
LAST_POSITION = "SELECT COALESCE(MAX(position), 0) FROM events"
"""Positions are gapless from 1, so the last position is also the count: one index probe."""
LAST = "SELECT position, recorded_at FROM events ORDER BY position DESC LIMIT 1"


def stream_versions(dialect: Dialect, streams: Sequence[str]) -> Query:
    """(stream, last version or NULL) of each stream: one index probe each, where a GROUP BY
    walked every version of the stream (2 ms at 20,000 events, on every append)."""
    q = Query(dialect)
    values = ", ".join(f"({q.param(stream)})" for stream in streams)
    q.sql = (
        "SELECT column1, (SELECT MAX(version) FROM events WHERE stream = column1)"
        f" FROM (VALUES {values}) AS wanted"
    )
    return q


def stream_events(dialect: Dialect, streams: Sequence[str]) -> Query:
    q = Query(dialect)
    q.sql = (
        f"SELECT {COLUMNS} FROM events WHERE stream {dialect.any_text(q.param, streams)}"
        " ORDER BY position"
    )
    return q


def stream_tails(dialect: Dialect, after: Mapping[str, int]) -> Query:
    """The events of each stream after its version `after[stream]`, in position order: one
    index range a stream, in one round trip for a whole group of appends."""
    q = Query(dialect)  # parameters in the order they appear: SQLite's `?` are positional
    values = ", ".join(
        f"({q.param(stream)}, CAST({q.param(version)} AS INTEGER))"
        for stream, version in after.items()
    )
    q.sql = (
        f"SELECT {COLUMNS} FROM (VALUES {values}) AS wanted, events"
        " WHERE stream = wanted.column1 AND version > wanted.column2 ORDER BY position"
    )
    return q


def by_stream(dialect: Dialect, up_to: int, after: tuple[str, int] | None, limit: int) -> Query:
    """Up to `limit` events at or below position `up_to`, in (stream, version) order after
    `after`: a store read a page at a time, as it stood at `up_to`."""
    q = Query(dialect)
    where = [f"position <= {q.param(up_to)}"]
    if after is not None:
        where.append(f"(stream, version) > ({q.param(after[0])}, {q.param(after[1])})")
    q.sql = (
        f"SELECT {COLUMNS} FROM events WHERE {' AND '.join(where)}"
        f" ORDER BY stream, version LIMIT {q.param(limit)}"
    )
    return q


def page_end(dialect: Dialect, up_to: int, after: str | None, size: int) -> Query:
    """The stream of the `size`-th event at or below position `up_to` in stream order, after
    stream `after`: where a page of whole streams ends (read from the (stream, version) index)."""
    q = Query(dialect)
    where = [f"position <= {q.param(up_to)}"]
    if after is not None:
        where.append(f"stream > {q.param(after)}")
    q.sql = (
        f"SELECT stream FROM events WHERE {' AND '.join(where)}"
        f" ORDER BY stream, version LIMIT 1 OFFSET {q.param(size - 1)}"
    )
    return q


def streams_between(dialect: Dialect, after: str | None, last: str | None, up_to: int) -> Query:
    """The events at or below position `up_to` of the streams after `after` up to and
    including `last` (None: no bound), in (stream, version) order."""
    q = Query(dialect)
    where = [f"position <= {q.param(up_to)}"]
    if after is not None:
        where.append(f"stream > {q.param(after)}")
    if last is not None:
        where.append(f"stream <= {q.param(last)}")
    q.sql = f"SELECT {COLUMNS} FROM events WHERE {' AND '.join(where)} ORDER BY stream, version"
    return q


def streams_after(dialect: Dialect, position: int) -> Query:
    """The streams that have events after `position`."""
    q = Query(dialect)
    q.sql = f"SELECT DISTINCT stream FROM events WHERE position > {q.param(position)}"
    return q


def events_by_id(dialect: Dialect, ids: Sequence[UUID]) -> Query:
    q = Query(dialect)
    q.sql = f"SELECT {COLUMNS} FROM events WHERE id {dialect.any_id(q.param, ids)}"
    return q


def insert(dialect: Dialect) -> str:
    count = INSERT_COLUMNS.count(",") + 1
    values = ", ".join(dialect.placeholder(n) for n in range(1, count + 1))
    return f"INSERT INTO events ({INSERT_COLUMNS}) VALUES ({values})"
