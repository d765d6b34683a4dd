"""The embedded default: one SQLite file, WAL, durable commits, one grouping writer.

Three connections: the writer's (one `BEGIN IMMEDIATE` transaction per group
of appends, its statements on the loop's thread: `WriterConnection`), a reader's
(WAL lets it read while the writer writes) and one for token changes, so those
never land inside the writer's open transaction.
The schema is numbered migrations recorded in `PRAGMA user_version`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

import aiosqlite

from timeline.store.base import StoreFullError, register_refused
from timeline.store.mapper import BulkPaused, Dialect, Query, Row, format_instant
from timeline.store.recorder import SQLTransaction
from timeline.store.sql import SQLEventStore
from timeline.store.tokens import SQLTokens

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
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
        CREATE TRIGGER IF NOT EXISTS events_gapless BEFORE INSERT ON events
        WHEN NEW.position != (SELECT COALESCE(MAX(position), 0) + 1 FROM events)
          OR NEW.version != (SELECT COALESCE(MAX(version), 0) + 1 FROM events
                             WHERE stream = NEW.stream)
        BEGIN SELECT RAISE(ABORT, 'position or version out of sequence'); END;
        """,
    ),
    (
        2,
        # REPLACE deletes the row it collides with and fires no DELETE trigger
        """
        CREATE TRIGGER IF NOT EXISTS events_no_replace BEFORE INSERT ON events
        WHEN EXISTS (SELECT 1 FROM events WHERE id = NEW.id OR position = NEW.position)
        BEGIN SELECT RAISE(ABORT, 'events are immutable: INSERT over a stored event refused'); END;
        """,
    ),
    (
        3,
        # read models (timeline/readmodels.py); version 0 when events exist: rebuilt on start
        """
        CREATE TABLE read_model_state (
            id         INTEGER PRIMARY KEY CHECK (id = 1),
            generation INTEGER NOT NULL,
            version    INTEGER NOT NULL,
            changes    INTEGER NOT NULL
        ) STRICT;
        INSERT INTO read_model_state
            SELECT 1, 1, CASE WHEN EXISTS (SELECT 1 FROM events) THEN 0 ELSE 1 END, 0;
        CREATE TABLE facets (
            id            INTEGER PRIMARY KEY,
            generation    INTEGER NOT NULL,
            stream        TEXT NOT NULL,
            kind          TEXT NOT NULL,
            value         TEXT NOT NULL,
            valid_from    TEXT NOT NULL,
            valid_to      TEXT,
            recorded_from TEXT NOT NULL,
            recorded_to   TEXT,
            detail        BLOB
        ) STRICT;
        CREATE INDEX facets_by_value ON facets (generation, kind, value, stream);
        CREATE INDEX facets_by_stream ON facets (generation, stream, kind);
        CREATE TABLE calendar_items (
            generation INTEGER NOT NULL,
            stream     TEXT NOT NULL,
            uid        TEXT NOT NULL,
            kind       TEXT NOT NULL,
            day        TEXT NOT NULL,
            sequence   INTEGER NOT NULL,
            changed_at TEXT NOT NULL,
            content    BLOB NOT NULL,
            PRIMARY KEY (generation, stream, uid)
        ) STRICT;
        CREATE INDEX calendar_by_change ON calendar_items (generation, changed_at);
        """,
    ),
    (
        4,
        # a stream's fold at rest (incremental.Folding.snapshot), one per stream and generation
        """
        CREATE TABLE snapshots (
            generation INTEGER NOT NULL,
            stream     TEXT NOT NULL,
            version    INTEGER NOT NULL,
            body       BLOB NOT NULL,
            PRIMARY KEY (generation, stream)
        ) STRICT;
        """,
    ),
    (
        5,
        # registered sources (timeline/sources.py), immutable like events
        """
        CREATE TABLE sources (
            id            TEXT PRIMARY KEY,
            language      TEXT NOT NULL,
            title         TEXT NOT NULL,
            publisher     TEXT,
            supersedes    TEXT UNIQUE REFERENCES sources (id),
            registered_at TEXT NOT NULL,
            body          BLOB NOT NULL,
            text          TEXT
        ) STRICT;
        CREATE INDEX sources_by_language ON sources (language, id);
        CREATE TRIGGER sources_no_update BEFORE UPDATE ON sources
        BEGIN SELECT RAISE(ABORT, 'sources are immutable: UPDATE refused'); END;
        CREATE TRIGGER sources_no_delete BEFORE DELETE ON sources
        BEGIN SELECT RAISE(ABORT, 'sources are immutable: DELETE refused'); END;
        """,
    ),
    (
        6,
        # which events cite a registered source, written with them (GET /sources/{id}/citations)
        """
        CREATE TABLE citations (
            source   TEXT NOT NULL,
            position INTEGER NOT NULL,
            citation INTEGER NOT NULL,
            PRIMARY KEY (source, position, citation)
        ) STRICT, WITHOUT ROWID;
        CREATE TRIGGER citations_no_update BEFORE UPDATE ON citations
        BEGIN SELECT RAISE(ABORT, 'citations are immutable: UPDATE refused'); END;
        CREATE TRIGGER citations_no_delete BEFORE DELETE ON citations
        BEGIN SELECT RAISE(ABORT, 'citations are immutable: DELETE refused'); END;
        """,
    ),
    (
        7,
        # the words of each source's title and publisher, for GET /sources?q=
        """
        CREATE TABLE source_words (
            word   TEXT NOT NULL,
            source TEXT NOT NULL,
            PRIMARY KEY (word, source)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX source_words_by_source ON source_words (source, word);
        """,
    ),
    (
        8,
        # webhook subscriptions and their deliveries (the outbox), POST /subscriptions
        """
        CREATE TABLE subscriptions (
            id              TEXT PRIMARY KEY,
            url             TEXT NOT NULL,
            filters         TEXT NOT NULL,
            status          TEXT NOT NULL CHECK (status IN ('active', 'paused', 'disabled')),
            checkpoint      INTEGER NOT NULL,
            created_at      TEXT NOT NULL,
            created_by      TEXT NOT NULL,
            updated_at      TEXT NOT NULL,
            disabled_reason TEXT,
            secret          TEXT NOT NULL,
            old_secret      TEXT,
            old_until       TEXT
        ) STRICT;
        CREATE TABLE deliveries (
            subscription TEXT NOT NULL REFERENCES subscriptions (id),
            position     INTEGER NOT NULL,
            stream       TEXT NOT NULL,
            event_id     TEXT NOT NULL,
            status       TEXT NOT NULL
                CHECK (status IN ('pending', 'delivered', 'parked', 'skipped')),
            attempts     TEXT NOT NULL,
            due_at       TEXT,
            PRIMARY KEY (subscription, position)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX deliveries_due ON deliveries (due_at, position) WHERE status = 'pending';
        CREATE INDEX deliveries_by_status ON deliveries (subscription, status, position);
        CREATE INDEX deliveries_open ON deliveries (subscription, stream, position)
            WHERE status IN ('pending', 'parked');
        """,
    ),
    (
        9,
        # organizations' names, aliases, identifiers and relations, for lookups and for the
        # writer's checks across organizations (`organization.keys_of`)
        """
        CREATE TABLE organization_keys (
            generation INTEGER NOT NULL,
            org        TEXT NOT NULL,
            kind       TEXT NOT NULL,
            key        TEXT NOT NULL,
            value      TEXT NOT NULL,
            PRIMARY KEY (generation, org, kind, key)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX organization_keys_by_key ON organization_keys (generation, kind, key);
        """,
    ),
)
"""Numbered, applied in order inside one transaction each; never edited once released."""

_CANNOT_WRITE = {sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY}
"""Primary result codes that mean the file cannot take writes now (not a bad request)."""


def _any(param: Any, values: Sequence[object]) -> str:  # noqa: ANN401 - Query.param
    return f"IN ({', '.join(param(value) for value in values)})"


register_refused(sqlite3.IntegrityError)  # a unique id taken, or the events' triggers

LARGE_WRITE_CACHE_KB = 65_536
"""SQLite's page cache while a staged import writes (its default is 2 MB): a million events
inserted into the events' indexes missed it constantly; 64 MB made the inserts 20-45% faster."""

DIALECT = Dialect(
    placeholder=lambda _n: "?",
    instant=format_instant,
    read_instant=datetime.fromisoformat,
    day=lambda day: day.isoformat(),
    read_day=date.fromisoformat,
    event_id=str,
    any_text=_any,
    any_id=lambda param, ids: _any(param, [str(i) for i in ids]),
    large_write=(f"PRAGMA cache_size = -{LARGE_WRITE_CACHE_KB}", "PRAGMA cache_size = -2000"),
    indexed_by=lambda index: f" INDEXED BY {index}",
    bulk_paused=BulkPaused(
        checks=("events_gapless", "events_no_replace"),
        indexes=("facets_by_value", "facets_by_stream", "calendar_by_change"),
        definitions=lambda param, names: (
            "SELECT 'DROP ' || upper(type) || ' ' || name, sql FROM sqlite_master "
            f"WHERE name {_any(param, names)} ORDER BY name"
        ),
    ),
)


WAL_KEPT_BYTES = 64 * 1024 * 1024
"""How large the write-ahead log file may stay after a checkpoint."""
ROWS_PER_HOP = 1024
"""Rows fetched per trip to the connection's thread while a query streams (aiosqlite: 64)."""


BUSY_MS = 10_000
"""How long a connection waits for a lock another process holds before it gives up."""
PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    f"PRAGMA busy_timeout = {BUSY_MS}",
    # a rebuild writes much at once; after a checkpoint the log shrinks back to this
    f"PRAGMA journal_size_limit = {WAL_KEPT_BYTES}",
)


async def _connect(path: str | Path) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None, iter_chunk_size=ROWS_PER_HOP)
    try:
        for pragma in PRAGMAS:
            await conn.execute(pragma)
    except BaseException:
        with contextlib.suppress(Exception):
            await conn.close()
        raise
    return conn


class WriterConnection:
    """The writer's connection: its statements run on the event loop's own thread.

    Each takes microseconds, while a trip to a connection's thread waits for the loop's next
    turn: under 64 concurrent appends over HTTP a trip took ~1.5 to 4 ms, and the dozen of a
    group of appends made it take 17 to 19 ms. What may wait runs on a thread of its own
    (`waiting`): taking the write lock (another process may hold it) and committing (fsync).
    The writer holds one transaction at a time, so the two threads never use the connection
    at once.
    """

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")

    @classmethod
    async def open(cls, path: str | Path) -> WriterConnection:
        return cls(await asyncio.to_thread(_plain_connection, path))

    async def waiting(self, sql: str) -> None:
        """A statement that may block: on the connection's own thread."""
        await asyncio.get_running_loop().run_in_executor(self._thread, self.raw.execute, sql)

    async def begin(self) -> None:
        """Take the write lock: at once when no other process holds it (the usual case: a trip
        to the thread waited ~4 ms for a busy loop's turn), else on the thread, waiting."""
        self.raw.execute("PRAGMA busy_timeout = 0")
        try:
            self.raw.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                raise
        finally:
            self.raw.execute(f"PRAGMA busy_timeout = {BUSY_MS}")
        if not self.raw.in_transaction:
            await self.waiting("BEGIN IMMEDIATE")

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.raw.execute(sql, params)

    async def execute_fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self.raw.execute(sql, params).fetchall()

    async def execute_fetchall_query(self, query: Query) -> list[Row]:
        return self.raw.execute(query.sql, query.params).fetchall()

    async def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        self.raw.executemany(sql, rows)

    @property
    def in_transaction(self) -> bool:
        return self.raw.in_transaction

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self.raw.close)
        self._thread.shutdown()


class Statements(Protocol):
    """What migrations need of a connection (aiosqlite's, or the writer's)."""

    async def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any: ...  # noqa: ANN401

    async def execute_fetchall(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any: ...  # noqa: ANN401

    @property
    def in_transaction(self) -> bool: ...


async def migrate(conn: Statements) -> int:
    """Apply the migrations the file lacks, each with its version, in one transaction each."""
    rows = list(await conn.execute_fetchall("PRAGMA user_version", ()))
    applied = int(rows[0][0])
    for version, sql in MIGRATIONS:
        if version <= applied:
            continue
        await conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(sql):
                await conn.execute(statement)
            await conn.execute(f"PRAGMA user_version = {version}")
            await conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            raise
        applied = version
    return applied


def _statements(script: str) -> list[str]:
    """`script` split into complete statements (a trigger body holds `;` of its own)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return [s for s in statements if s]


async def _fetch_on(conn: aiosqlite.Connection, query: Query) -> list[Row]:
    return list(await conn.execute_fetchall(query.sql, query.params))


def _plain_connection(path: str | Path) -> sqlite3.Connection:
    """A connection without aiosqlite's thread (the writer's, the loop's own), set up as every
    connection is; usable from another thread than the one that made it."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        for pragma in PRAGMAS:
            conn.execute(pragma)
    except BaseException:
        conn.close()
        raise
    return conn


class _Connection:
    """One connection as `SQLTransaction` and `SQLTokens` call it."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def fetch(self, query: Query) -> list[Row]:
        return await _fetch_on(self._conn, query)

    async def insert(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        await self._conn.executemany(sql, rows)

    async def execute(self, query: Query) -> int:
        cursor = await self._conn.execute(query.sql, query.params)
        return cursor.rowcount


_files: dict[str, sqlite3.Connection] = {}
"""Read-only connections of this process by file (`file_rows`)."""


def file_rows(path: str, query: Query) -> list[tuple[Any, ...]]:
    """A query's rows read from a SQLite file without an event loop, as a rebuild's worker
    process does: one read-only connection per file, each query its own snapshot."""
    conn = _files.get(path)
    if conn is None:
        uri = Path(path).resolve().as_uri() + "?mode=ro"
        conn = _files[path] = sqlite3.connect(uri, uri=True, isolation_level=None)
    return conn.execute(query.sql, query.params).fetchall()


class SQLiteRecorder:
    """Four connections to one file: the writer's, a reader's (on its thread), the event loop's
    own for the reads of one stream, and one for token changes."""

    backend = "sqlite"
    dialect = DIALECT

    def __init__(
        self,
        writer: WriterConnection,
        reader: aiosqlite.Connection,
        admin: aiosqlite.Connection,
        path: str | Path = ":memory:",
    ) -> None:
        self.path = Path(path)
        self.local_file = None if str(path) == ":memory:" else str(self.path)
        self._writing = asyncio.Lock()
        """The writer connection holds one transaction at a time (appends, rebuild steps)."""
        self.writer = writer
        self.reader = reader
        self.here: sqlite3.Connection | None = None
        """The event loop's own connection, for `fetch_here` (made when first needed)."""
        self.admin = admin
        """Token writes, on their own connection: never inside the writer's open transaction."""
        self.registry = SQLTokens(DIALECT, lambda: _Connection(self.admin), self._token_change)

    @classmethod
    async def open(cls, path: str | Path) -> SQLiteRecorder:
        writer = await WriterConnection.open(path)
        try:
            await migrate(writer)
            reader = await _connect(path)
            admin = await _connect(path)
        except BaseException:
            await writer.close()
            raise
        return cls(writer, reader, admin, path)

    async def close(self) -> None:
        if self.here is not None:
            self.here.close()
        await self.reader.close()
        await self.admin.close()
        await self.writer.close()

    def listen(self, publish: Callable[[int], None]) -> None:
        """Nothing to hear: another process on the file is seen at the next heartbeat."""

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[None]:
        """An advisory lock on a file beside the database: the kernel frees it if we die."""
        lock = self.path.with_name(f"{self.path.name}.{name}.lock")
        with lock.open("a") as handle:
            await asyncio.to_thread(fcntl.flock, handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[SQLTransaction]:
        async with self._writing, self._transaction() as tx:
            yield tx

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[SQLTransaction]:
        conn = self.writer
        try:
            await conn.begin()
            try:
                yield SQLTransaction(DIALECT, conn.execute_fetchall_query, conn.executemany)
                await conn.waiting("COMMIT")
            except BaseException:
                if conn.in_transaction:  # SQLite may have rolled back already (disk full)
                    await conn.waiting("ROLLBACK")
                raise
        except sqlite3.Error as error:
            if getattr(error, "sqlite_errorcode", 0) & 0xFF in _CANNOT_WRITE:
                raise StoreFullError(str(error)) from error
            raise

    @contextlib.asynccontextmanager
    async def _token_change(self, _name: str) -> AsyncIterator[_Connection]:
        conn = self.admin
        await conn.execute("BEGIN IMMEDIATE")
        try:
            yield _Connection(conn)
            await conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            raise

    async def rows(self, query: Query) -> AsyncIterator[Row]:
        if query.one_stream:
            for row in self.fetch_here(query):
                yield row
            return
        async with self.reader.execute(query.sql, query.params) as cursor:
            async for row in cursor:
                yield row

    async def fetch(self, query: Query) -> list[Row]:
        if query.one_stream:
            return self.fetch_here(query)
        return await _fetch_on(self.reader, query)

    def fetch_here(self, query: Query) -> list[Row]:
        """A query of one stream, on the event loop's own connection: its rows come from an
        index in about what a trip to the reader's thread costs, and that trip also made the
        loop wait for the thread to give back the interpreter (15-28% fewer state, history and
        diff reads a second at 1M events). Each runs whole (`fetchall`): a statement left open
        would hold its snapshot for the next one."""
        here = self.here
        if here is None:
            here = self.here = _plain_connection(self.path)
        return here.execute(query.sql, query.params).fetchall()


class SQLiteStore(SQLEventStore):
    """The event store on one SQLite file."""

    recorder: SQLiteRecorder

    @classmethod
    async def open(cls, path: str | Path) -> SQLiteStore:
        return cls(await SQLiteRecorder.open(path))
