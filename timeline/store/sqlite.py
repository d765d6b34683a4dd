"""The embedded backend: one SQLite file in WAL mode, through aiosqlite.

Appends go through the process's one `GroupWriter` (store/writer.py): a
handful of awaited calls per group of concurrent appends (read the streams,
read the ids, one `executemany`, commit), not per event, because each
aiosqlite call is a hop to its thread (~100 µs).

The database refuses UPDATE and DELETE, and refuses a position or version
that is not the next one, by triggers: the invariants hold even against a
hand-written INSERT.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import aiosqlite

from timeline.events import StoredEvent, type_name
from timeline.formats import decode_event, encode_event
from timeline.store.base import StoreFullError, StoreStats, StreamInfo
from timeline.store.writer import WriterBacked
from timeline.tokens import Token, TokenError, check_name, check_scopes, digest, new_secret
from timeline.upcasts import current_version

SCHEMA_VERSION = 1
_CANNOT_WRITE = {sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY}
"""Primary result codes that mean the file cannot take writes now (not a bad request)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    position        INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    stream          TEXT NOT NULL,
    version         INTEGER NOT NULL CHECK (version >= 1),
    type            TEXT NOT NULL,
    effective_first TEXT NOT NULL,
    effective_last  TEXT NOT NULL,
    recorded_at     TEXT NOT NULL,
    actor           TEXT NOT NULL,
    schema_version  INTEGER NOT NULL,
    body            BLOB NOT NULL,
    UNIQUE (stream, version)
) STRICT;
CREATE TABLE IF NOT EXISTS tokens (
    name       TEXT PRIMARY KEY,
    hash       TEXT NOT NULL UNIQUE,
    scopes     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
) STRICT;
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are immutable: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are immutable: DELETE refused'); END;
CREATE TRIGGER IF NOT EXISTS events_no_replace BEFORE INSERT ON events
WHEN EXISTS (SELECT 1 FROM events WHERE id = NEW.id OR position = NEW.position)
BEGIN SELECT RAISE(ABORT, 'events are immutable: INSERT over a stored event refused'); END;
CREATE TRIGGER IF NOT EXISTS events_gapless BEFORE INSERT ON events
WHEN NEW.position != (SELECT COALESCE(MAX(position), 0) + 1 FROM events)
  OR NEW.version != (SELECT COALESCE(MAX(version), 0) + 1 FROM events WHERE stream = NEW.stream)
BEGIN SELECT RAISE(ABORT, 'position or version out of sequence'); END;
"""

_COLUMNS = "position, stream, version, recorded_at, actor, schema_version, type, body"
_INSERT = (
    "INSERT INTO events (position, id, stream, version, type, effective_first, effective_last,"
    " recorded_at, actor, schema_version, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def format_instant(instant: datetime) -> str:
    """Fixed-width UTC text, so that text order is time order in SQL."""
    if instant.tzinfo is None:
        raise ValueError("instants are timezone-aware")
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _row_to_event(row: Sequence[Any]) -> StoredEvent:
    position, stream, version, recorded_at, actor, schema_version, event_type, body = row
    event = decode_event(body, schema_version, event_type)
    return StoredEvent(
        stream=stream,
        version=version,
        position=position,
        recorded_at=datetime.fromisoformat(recorded_at),
        actor=actor,
        schema_version=current_version(type_name(event)),
        event=event,
    )


def _event_row(stored: StoredEvent) -> tuple[Any, ...]:
    event = stored.event
    return (
        stored.position,
        str(event.id),
        stored.stream,
        stored.version,
        type_name(event),
        event.effective.first_day.isoformat(),
        event.effective.last_day.isoformat(),
        format_instant(stored.recorded_at),
        stored.actor,
        stored.schema_version,
        encode_event(event),
    )


def _placeholders(count: int) -> str:
    return ",".join("?" * count)


async def _connect(path: str | Path) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = FULL")
        await conn.execute("PRAGMA busy_timeout = 10000")
    except BaseException:
        with contextlib.suppress(Exception):
            await conn.close()
        raise
    return conn


class _SQLiteTransaction:
    """The writer's view of one SQLite write transaction (BEGIN IMMEDIATE holds the lock)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def stream_versions(self, streams: Sequence[str]) -> dict[str, int]:
        marks = _placeholders(len(streams))
        rows = await self._conn.execute_fetchall(
            f"SELECT stream, MAX(version) FROM events WHERE stream IN ({marks}) GROUP BY stream",
            streams,
        )
        return {row[0]: row[1] for row in rows}

    async def stream_events(self, streams: Sequence[str]) -> list[StoredEvent]:
        rows = await self._conn.execute_fetchall(
            f"SELECT {_COLUMNS} FROM events WHERE stream IN ({_placeholders(len(streams))})"
            " ORDER BY position",
            streams,
        )
        return [_row_to_event(row) for row in rows]

    async def events_by_id(self, ids: Sequence[UUID]) -> list[StoredEvent]:
        found: list[StoredEvent] = []
        texts = [str(i) for i in ids]
        for start in range(0, len(texts), 500):
            chunk = texts[start : start + 500]
            rows = await self._conn.execute_fetchall(
                f"SELECT {_COLUMNS} FROM events WHERE id IN ({_placeholders(len(chunk))})", chunk
            )
            found.extend(_row_to_event(row) for row in rows)
        return found

    async def last(self) -> tuple[int, datetime | None]:
        rows = list(
            await self._conn.execute_fetchall(
                "SELECT position, recorded_at FROM events ORDER BY position DESC LIMIT 1"
            )
        )
        if not rows:
            return 0, None
        return rows[0][0], datetime.fromisoformat(rows[0][1])

    async def insert(self, events: Sequence[StoredEvent]) -> None:
        await self._conn.executemany(_INSERT, [_event_row(e) for e in events])


class SQLiteStore(WriterBacked):
    backend = "sqlite"

    def __init__(
        self,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        admin: aiosqlite.Connection,
    ) -> None:
        self._writer = writer
        self._reader = reader
        self._admin = admin
        """Token writes, on their own connection: never inside the writer's open transaction."""
        self._start_writer(self._transaction)

    @classmethod
    async def open(cls, path: str | Path) -> SQLiteStore:
        writer = await _connect(path)
        try:
            await writer.executescript(_SCHEMA)
            await writer.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            reader = await _connect(path)
            admin = await _connect(path)
        except BaseException:
            await writer.close()
            raise
        return cls(writer, reader, admin)

    async def close(self) -> None:
        """Finish every append already queued, then close the connections."""
        if not await self._stop_writer():
            return
        await self._reader.close()
        await self._admin.close()
        await self._writer.close()

    # --- appends ---------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[_SQLiteTransaction]:
        conn = self._writer
        try:
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield _SQLiteTransaction(conn)
                await conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # SQLite may have rolled back already (disk full)
                    await conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as error:
            if getattr(error, "sqlite_errorcode", 0) & 0xFF in _CANNOT_WRITE:
                raise StoreFullError(str(error)) from error
            raise

    # --- reads -----------------------------------------------------------------

    async def _rows(self, sql: str, params: Sequence[Any]) -> AsyncIterator[StoredEvent]:
        async with self._reader.execute(sql, params) as cursor:
            async for row in cursor:
                yield _row_to_event(row)

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
        where = ["stream = ?", "version >= ?", "position > ?"]
        params: list[Any] = [stream, from_version, after_position]
        if to_version is not None:
            where.append("version <= ?")
            params.append(to_version)
        if types:
            where.append(f"type IN ({_placeholders(len(types))})")
            params.extend(types)
        if effective_from is not None:
            where.append("effective_last >= ?")
            params.append(effective_from.isoformat())
        if effective_to is not None:
            where.append("effective_first <= ?")
            params.append(effective_to.isoformat())
        if known_at is not None:
            where.append("recorded_at <= ?")
            params.append(format_instant(known_at))
        sql = f"SELECT {_COLUMNS} FROM events WHERE {' AND '.join(where)} ORDER BY version"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return self._rows(sql, params)

    def read_all(self, *, after: int = 0, limit: int | None = None) -> AsyncIterator[StoredEvent]:
        sql = f"SELECT {_COLUMNS} FROM events WHERE position > ? ORDER BY position"
        params: list[Any] = [after]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return self._rows(sql, params)

    async def streams(self) -> list[StreamInfo]:
        rows = await self._reader.execute_fetchall(
            "SELECT stream, MAX(version), MAX(position) FROM events GROUP BY stream ORDER BY stream"
        )
        return [StreamInfo(stream=s, version=v, last_position=p) for s, v, p in rows]

    async def stream_info(
        self, stream: str, *, known_at: datetime | None = None
    ) -> StreamInfo | None:
        sql = "SELECT MAX(version), MAX(position) FROM events WHERE stream = ?"
        params: list[Any] = [stream]
        if known_at is not None:
            sql += " AND recorded_at <= ?"
            params.append(format_instant(known_at))
        rows = list(await self._reader.execute_fetchall(sql, params))
        version, position = rows[0]
        if version is None:
            return None
        return StreamInfo(stream=stream, version=version, last_position=position)

    async def stats(self) -> StoreStats:
        """Positions are gapless from 1, so the last position is also the count: O(log n)."""
        rows = list(await self._reader.execute_fetchall("SELECT MAX(position) FROM events"))
        last = rows[0][0] or 0
        return StoreStats(backend=self.backend, events=last, last_position=last)

    # --- tokens ----------------------------------------------------------------

    async def create_token(self, name: str, scopes: tuple[str, ...]) -> str:
        name, scopes = check_name(name), check_scopes(scopes)
        secret = new_secret()
        conn = self._admin
        await conn.execute("BEGIN IMMEDIATE")
        try:
            await _refuse_active(conn, name)
            await conn.execute("DELETE FROM tokens WHERE name = ?", (name,))
            await conn.execute(
                "INSERT INTO tokens (name, hash, scopes, created_at) VALUES (?, ?, ?, ?)",
                (name, digest(secret), " ".join(scopes), format_instant(datetime.now(UTC))),
            )
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        return secret

    async def revoke_token(self, name: str) -> bool:
        cursor = await self._admin.execute(
            "UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
            (format_instant(datetime.now(UTC)), name),
        )
        return cursor.rowcount > 0

    async def find_token(self, secret: str) -> Token | None:
        rows = list(
            await self._reader.execute_fetchall(
                "SELECT name, scopes, created_at, revoked_at FROM tokens"
                " WHERE hash = ? AND revoked_at IS NULL",
                (digest(secret),),
            )
        )
        return _token(rows[0]) if rows else None

    async def tokens(self) -> list[Token]:
        rows = await self._reader.execute_fetchall(
            "SELECT name, scopes, created_at, revoked_at FROM tokens ORDER BY name"
        )
        return [_token(row) for row in rows]


async def _refuse_active(conn: aiosqlite.Connection, name: str) -> None:
    active = await conn.execute_fetchall(
        "SELECT 1 FROM tokens WHERE name = ? AND revoked_at IS NULL", (name,)
    )
    if list(active):
        raise TokenError(f"a token named {name!r} exists; revoke it first")


def _token(row: Sequence[Any]) -> Token:
    name, scopes, created_at, revoked_at = row
    return Token(
        name=name,
        scopes=tuple(scopes.split()),
        created_at=datetime.fromisoformat(created_at),
        revoked_at=datetime.fromisoformat(revoked_at) if revoked_at else None,
    )
