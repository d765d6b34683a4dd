"""The scale-out backend: PostgreSQL through asyncpg, shared by several API replicas.

Appends serialize on a transaction-level advisory lock taken before the next
position is read, so commit order is position order: a reader that has seen
position p never later sees an event below p (a sequence alone would not
give this: a transaction holding a lower number can commit after a higher
one). Each replica still groups its own concurrent appends into one
transaction (`GroupWriter`), so the lock is taken once per group.

UPDATE, DELETE and TRUNCATE are refused by triggers, and so is an insert
whose position or version is not the next one. Every commit NOTIFYs the
schema's channel with its last position; each replica LISTENs and wakes its
live subscribers.

Migrations are numbered, recorded in `schema_migrations`, and applied under
a session advisory lock: replicas starting together apply each one once.
The URL's `search_path` (`postgresql://…/db?search_path=name`) picks the
schema; tests give each run its own.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from timeline.store.base import StoreError, StoreFullError
from timeline.store.mapper import Dialect, Query, Row
from timeline.store.sql import SQLEventStore, SQLTransaction
from timeline.store.tokens import SQLTokens

log = logging.getLogger("timeline.store.postgres")

Connection = asyncpg.Connection | PoolConnectionProxy

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE events (
            position        bigint PRIMARY KEY,
            id              uuid NOT NULL UNIQUE,
            stream          text NOT NULL,
            version         integer NOT NULL CHECK (version >= 1),
            type            text NOT NULL,
            effective_first date NOT NULL,
            effective_last  date NOT NULL,
            recorded_at     timestamptz NOT NULL,
            actor           text NOT NULL,
            schema_version  integer NOT NULL,
            body            bytea NOT NULL,
            UNIQUE (stream, version)
        );
        CREATE FUNCTION timeline_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'events are immutable: % refused', TG_OP;
        END $$;
        CREATE TRIGGER events_no_change BEFORE UPDATE OR DELETE ON events
            FOR EACH ROW EXECUTE FUNCTION timeline_refuse_change();
        CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
            FOR EACH STATEMENT EXECUTE FUNCTION timeline_refuse_change();
        CREATE FUNCTION timeline_in_sequence() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.position <> (SELECT COALESCE(MAX(position), 0) + 1 FROM events)
               OR NEW.version <> (SELECT COALESCE(MAX(version), 0) + 1 FROM events
                                  WHERE stream = NEW.stream) THEN
                RAISE EXCEPTION 'position or version out of sequence';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER events_in_sequence BEFORE INSERT ON events
            FOR EACH ROW EXECUTE FUNCTION timeline_in_sequence();
        CREATE TABLE tokens (
            name       text PRIMARY KEY,
            hash       text NOT NULL UNIQUE,
            scopes     text NOT NULL,
            created_at timestamptz NOT NULL,
            revoked_at timestamptz
        );
        """,
    ),
)


def _any(cast: str) -> Callable[[Callable[[object], str], Sequence[object]], str]:
    return lambda param, values: f"= ANY({param(list(values))}::{cast}[])"


DIALECT = Dialect(
    placeholder=lambda n: f"${n}",
    instant=lambda instant: instant,
    read_instant=lambda instant: instant,
    day=lambda day: day,
    event_id=lambda event_id: event_id,
    any_text=_any("text"),
    any_id=_any("uuid"),
)


class _Connection:
    """One pooled connection as `SQLTransaction` calls it; each commit NOTIFYs the replicas."""

    def __init__(self, conn: Connection | asyncpg.Pool, channel: str) -> None:
        self._conn = conn
        self._channel = channel

    async def fetch(self, query: Query) -> list[Row]:
        return list(await self._conn.fetch(query.sql, *query.params))

    async def insert(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        await self._conn.executemany(sql, rows)

    async def execute(self, query: Query) -> int:
        status = await self._conn.execute(query.sql, *query.params)
        return int(status.rsplit(" ", 1)[-1]) if status[-1:].isdigit() else 0

    async def notify(self, last_position: int) -> None:
        await self._conn.execute("SELECT pg_notify($1, $2)", self._channel, str(last_position))


class PostgresRecorder:
    """A pool for appends and reads, one LISTEN connection for other replicas' commits."""

    backend = "postgresql"
    dialect = DIALECT

    def __init__(self, pool: asyncpg.Pool, schema: str, url: str) -> None:
        self._pool = pool
        self._url = url
        self._schema = schema
        self.channel = f"timeline_events.{schema}"
        self._listener: asyncpg.Connection | None = None
        self._publish: Callable[[int], None] = lambda _position: None
        self.registry = SQLTokens(
            DIALECT, lambda: _Connection(self._pool, self.channel), self._token_change
        )

    @classmethod
    async def open(cls, url: str, migrate_url: str | None = None) -> PostgresRecorder:
        """Open on `url`; migrations run as `migrate_url`'s role when given (the owner).

        The owner then grants the app's role only what appending and reading
        need, so the app's own connections cannot disable the triggers that
        keep events immutable.
        """
        pool = await asyncpg.create_pool(url, min_size=1, max_size=10)
        try:
            async with pool.acquire() as conn:
                role: str = await conn.fetchval("SELECT current_user")
                if migrate_url:  # first, since only the owner's grants let the app see the schema
                    await _migrate_as_owner(migrate_url, role)
                schema = await _schema(conn, url)
                if not migrate_url:
                    await _migrate(conn, schema)
                await _warn_if_owner(conn, role)
            recorder = cls(pool, schema, url)
            await recorder._listen()
        except BaseException:
            await pool.close()
            raise
        return recorder

    async def _listen(self) -> None:
        """One connection per replica LISTENs, so appends through any replica wake this one."""
        conn: asyncpg.Connection = await asyncpg.connect(self._url)
        await conn.add_listener(self.channel, self._notified)
        self._listener = conn

    def listen(self, publish: Callable[[int], None]) -> None:
        self._publish = publish

    def _notified(self, _conn: Connection, _pid: int, _channel: str, payload: object) -> None:
        with contextlib.suppress(ValueError):
            self._publish(int(str(payload)))

    async def close(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.remove_listener(self.channel, self._notified)
            await self._listener.close()
        await self._pool.close()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[SQLTransaction]:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self.channel)
                on = _Connection(conn, self.channel)
                yield SQLTransaction(DIALECT, on.fetch, on.insert, on.notify)
        except (asyncpg.DiskFullError, asyncpg.InsufficientResourcesError) as error:
            raise StoreFullError(str(error)) from error

    @contextlib.asynccontextmanager
    async def _token_change(self, name: str) -> AsyncIterator[_Connection]:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"token:{name}")
            yield _Connection(conn, self.channel)

    async def rows(self, query: Query) -> AsyncIterator[Row]:
        async with self._pool.acquire() as conn, conn.transaction(readonly=True):
            async for record in conn.cursor(query.sql, *query.params, prefetch=256):
                yield record

    async def fetch(self, query: Query) -> list[Row]:
        return list(await self._pool.fetch(query.sql, *query.params))


class PostgresStore(SQLEventStore):
    """The event store on a PostgreSQL schema, shared by every replica."""

    recorder: PostgresRecorder

    @classmethod
    async def open(cls, url: str, migrate_url: str | None = None) -> PostgresStore:
        return cls(await PostgresRecorder.open(url, migrate_url))


async def _schema(conn: Connection, url: str) -> str:
    schema: str | None = await conn.fetchval("SELECT current_schema()")
    if schema is None:
        raise StoreError(f"the search_path of {url!r} names no existing schema")
    return schema


async def _migrate(conn: Connection, schema: str, grant_to: str | None = None) -> None:
    """Apply the migrations this schema lacks, once, whoever else is starting.

    `grant_to` (the app's role, when an owner migrates) gets its privileges
    under the same lock: concurrent GRANTs on one table can fail in PostgreSQL.
    """
    await conn.execute("SELECT pg_advisory_lock(hashtext($1))", f"timeline-migrate:{schema}")
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, sql in MIGRATIONS:
            if version in applied:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
            log.info("applied migration %d to schema %s", version, schema)
        if grant_to is not None:
            for grant in APP_PRIVILEGES:
                await conn.execute(grant.format(schema=_quoted(schema), role=_quoted(grant_to)))
    finally:
        await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", f"timeline-migrate:{schema}")


APP_PRIVILEGES = (
    "GRANT USAGE ON SCHEMA {schema} TO {role}",
    "GRANT SELECT, INSERT ON events TO {role}",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON tokens TO {role}",
    "GRANT SELECT ON schema_migrations TO {role}",
)
"""What the app's role needs: read and append events, manage tokens; never own or alter."""


async def _migrate_as_owner(migrate_url: str, role: str) -> None:
    """Migrate the schema `migrate_url` names (its search_path), then grant `role` its share."""
    conn: asyncpg.Connection = await asyncpg.connect(migrate_url)
    try:
        schema = await _schema(conn, migrate_url)
        owner = await conn.fetchval("SELECT current_user")
        await _migrate(conn, schema, grant_to=None if owner == role else role)
    finally:
        await conn.close()


async def _warn_if_owner(conn: Connection, role: str) -> None:
    """Say it loudly when the app could bypass the immutability triggers itself."""
    row = await conn.fetchrow(
        "SELECT r.rolsuper AS superuser, pg_has_role(current_user, c.relowner, 'USAGE') AS owner"
        " FROM pg_roles r, pg_class c"
        " WHERE r.rolname = current_user AND c.oid = to_regclass('events')"
    )
    if row is not None and (row["superuser"] or row["owner"]):
        log.warning(
            "the app's database role %r %s the events table, so its own connections could "
            "disable the triggers that keep events immutable; set TIMELINE_MIGRATE_URL to the "
            "owner and run the app as a role that owns nothing (README, Scaling out)",
            role,
            "is a superuser over" if row["superuser"] else "owns",
        )


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
