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
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from timeline.events import StoredEvent, type_name
from timeline.formats import decode_event, encode_event
from timeline.store.base import StoreError, StoreFullError, StoreStats, StreamInfo
from timeline.store.writer import WriterBacked
from timeline.tokens import Token, TokenError, check_name, check_scopes, digest, new_secret
from timeline.upcasts import current_version

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

_COLUMNS = "position, stream, version, recorded_at, actor, schema_version, type, body"
_INSERT = (
    "INSERT INTO events (position, id, stream, version, type, effective_first, effective_last,"
    " recorded_at, actor, schema_version, body)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
)


def _record_to_event(record: asyncpg.Record) -> StoredEvent:
    event = decode_event(bytes(record["body"]), record["schema_version"], record["type"])
    return StoredEvent(
        stream=record["stream"],
        version=record["version"],
        position=record["position"],
        recorded_at=record["recorded_at"],
        actor=record["actor"],
        schema_version=current_version(type_name(event)),
        event=event,
    )


def _event_row(stored: StoredEvent) -> tuple[Any, ...]:
    event = stored.event
    return (
        stored.position,
        event.id,
        stored.stream,
        stored.version,
        type_name(event),
        event.effective.first_day,
        event.effective.last_day,
        stored.recorded_at,
        stored.actor,
        stored.schema_version,
        encode_event(event),
    )


class _PostgresTransaction:
    """The writer's view of one write transaction, holding the append lock."""

    def __init__(self, conn: Connection, channel: str) -> None:
        self._conn = conn
        self._channel = channel

    async def stream_versions(self, streams: Sequence[str]) -> dict[str, int]:
        rows = await self._conn.fetch(
            "SELECT stream, MAX(version) AS version FROM events"
            " WHERE stream = ANY($1::text[]) GROUP BY stream",
            list(streams),
        )
        return {row["stream"]: row["version"] for row in rows}

    async def stream_events(self, streams: Sequence[str]) -> list[StoredEvent]:
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM events WHERE stream = ANY($1::text[]) ORDER BY position",
            list(streams),
        )
        return [_record_to_event(row) for row in rows]

    async def events_by_id(self, ids: Sequence[UUID]) -> list[StoredEvent]:
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM events WHERE id = ANY($1::uuid[])", list(ids)
        )
        return [_record_to_event(row) for row in rows]

    async def last(self) -> tuple[int, datetime | None]:
        row = await self._conn.fetchrow(
            "SELECT position, recorded_at FROM events ORDER BY position DESC LIMIT 1"
        )
        return (0, None) if row is None else (row["position"], row["recorded_at"])

    async def insert(self, events: Sequence[StoredEvent]) -> None:
        await self._conn.executemany(_INSERT, [_event_row(e) for e in events])
        await self._conn.execute(
            "SELECT pg_notify($1, $2)", self._channel, str(events[-1].position)
        )


class PostgresStore(WriterBacked):
    backend = "postgresql"

    def __init__(self, pool: asyncpg.Pool, schema: str, url: str) -> None:
        self._pool = pool
        self._url = url
        self._schema = schema
        self.channel = f"timeline_events.{schema}"
        self._listener: asyncpg.Connection | None = None
        self._start_writer(self._transaction)

    @classmethod
    async def open(cls, url: str, migrate_url: str | None = None) -> PostgresStore:
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
            store = cls(pool, schema, url)
            await store._listen()
        except BaseException:
            await pool.close()
            raise
        return store

    async def _listen(self) -> None:
        """One connection per replica LISTENs, so appends through any replica wake this one."""
        conn: asyncpg.Connection = await asyncpg.connect(self._url)
        await conn.add_listener(self.channel, self._notified)
        self._listener = conn

    def _notified(self, _conn: Connection, _pid: int, _channel: str, payload: object) -> None:
        with contextlib.suppress(ValueError):
            self.notifier.publish(int(str(payload)))

    async def close(self) -> None:
        if not await self._stop_writer():
            return
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.remove_listener(self.channel, self._notified)
            await self._listener.close()
        await self._pool.close()

    # --- appends ---------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[_PostgresTransaction]:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self.channel)
                yield _PostgresTransaction(conn, self.channel)
        except (asyncpg.DiskFullError, asyncpg.InsufficientResourcesError) as error:
            raise StoreFullError(str(error)) from error

    # --- reads -----------------------------------------------------------------

    async def _rows(self, sql: str, *args: object) -> AsyncIterator[StoredEvent]:
        async with self._pool.acquire() as conn, conn.transaction(readonly=True):
            async for record in conn.cursor(sql, *args, prefetch=256):
                yield _record_to_event(record)

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
        where = ["stream = $1", "version >= $2", "position > $3"]
        params: list[Any] = [stream, from_version, after_position]

        def add(condition: str, value: object) -> None:
            params.append(value)
            where.append(condition.replace("?", f"${len(params)}"))

        if to_version is not None:
            add("version <= ?", to_version)
        if types:
            add("type = ANY(?::text[])", list(types))
        if effective_from is not None:
            add("effective_last >= ?", effective_from)
        if effective_to is not None:
            add("effective_first <= ?", effective_to)
        if known_at is not None:
            add("recorded_at <= ?", known_at)
        sql = f"SELECT {_COLUMNS} FROM events WHERE {' AND '.join(where)} ORDER BY version"
        if limit is not None:
            params.append(limit)
            sql += f" LIMIT ${len(params)}"
        return self._rows(sql, *params)

    def read_all(self, *, after: int = 0, limit: int | None = None) -> AsyncIterator[StoredEvent]:
        sql = f"SELECT {_COLUMNS} FROM events WHERE position > $1 ORDER BY position"
        if limit is None:
            return self._rows(sql, after)
        return self._rows(sql + " LIMIT $2", after, limit)

    async def streams(self) -> list[StreamInfo]:
        rows = await self._pool.fetch(
            "SELECT stream, MAX(version) AS version, MAX(position) AS position FROM events"
            " GROUP BY stream ORDER BY stream"
        )
        return [
            StreamInfo(stream=r["stream"], version=r["version"], last_position=r["position"])
            for r in rows
        ]

    async def stream_info(
        self, stream: str, *, known_at: datetime | None = None
    ) -> StreamInfo | None:
        row = await self._pool.fetchrow(
            "SELECT MAX(version) AS version, MAX(position) AS position FROM events"
            " WHERE stream = $1 AND ($2::timestamptz IS NULL OR recorded_at <= $2)",
            stream,
            known_at,
        )
        if row is None or row["version"] is None:
            return None
        return StreamInfo(stream=stream, version=row["version"], last_position=row["position"])

    async def stats(self) -> StoreStats:
        """Positions are gapless from 1, so the last position is also the count."""
        last = await self._pool.fetchval("SELECT COALESCE(MAX(position), 0) FROM events")
        return StoreStats(backend=self.backend, events=last, last_position=last)

    # --- tokens ----------------------------------------------------------------

    async def create_token(self, name: str, scopes: tuple[str, ...]) -> str:
        name, scopes = check_name(name), check_scopes(scopes)
        secret = new_secret()
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"token:{name}")
            active = await conn.fetchval(
                "SELECT 1 FROM tokens WHERE name = $1 AND revoked_at IS NULL", name
            )
            if active:
                raise TokenError(f"a token named {name!r} exists; revoke it first")
            await conn.execute("DELETE FROM tokens WHERE name = $1", name)
            await conn.execute(
                "INSERT INTO tokens (name, hash, scopes, created_at) VALUES ($1, $2, $3, $4)",
                name,
                digest(secret),
                " ".join(scopes),
                datetime.now(UTC),
            )
        return secret

    async def revoke_token(self, name: str) -> bool:
        result = await self._pool.execute(
            "UPDATE tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
            datetime.now(UTC),
            name,
        )
        return bool(result != "UPDATE 0")

    async def find_token(self, secret: str) -> Token | None:
        row = await self._pool.fetchrow(
            "SELECT name, scopes, created_at, revoked_at FROM tokens"
            " WHERE hash = $1 AND revoked_at IS NULL",
            digest(secret),
        )
        return None if row is None else _token(row)

    async def tokens(self) -> list[Token]:
        rows = await self._pool.fetch(
            "SELECT name, scopes, created_at, revoked_at FROM tokens ORDER BY name"
        )
        return [_token(row) for row in rows]


def _token(row: asyncpg.Record) -> Token:
    return Token(
        name=row["name"],
        scopes=tuple(row["scopes"].split()),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


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
