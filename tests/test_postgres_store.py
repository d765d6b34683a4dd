"""What only the PostgreSQL backend can show: its triggers, migrations and commit order."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from helpers import announce, invest

from timeline.readside import readmodels
from timeline.store import open_store, token_registry, verify
from timeline.store.postgres import MIGRATIONS

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE events SET actor = 'mallory'",
        "DELETE FROM events",
        "TRUNCATE events",
        (
            "INSERT INTO events SELECT position + 5, gen_random_uuid(), stream, version + 1, type,"
            " effective_first, effective_last, recorded_at, actor, schema_version, body FROM events"
        ),
        (
            "INSERT INTO events SELECT position + 1, gen_random_uuid(), stream, version + 3, type,"
            " effective_first, effective_last, recorded_at, actor, schema_version, body FROM events"
        ),
    ],
)
async def test_database_refuses_rewrites_and_gaps(postgres_url: str, sql: str) -> None:
    """The database itself refuses UPDATE, DELETE, TRUNCATE and out-of-sequence inserts."""
    store = await open_store(postgres_url)
    await store.append("vm", [announce()], actor="a")
    await store.close()
    conn = await asyncpg.connect(postgres_url)
    try:
        with pytest.raises(asyncpg.RaiseError, match=r"immutable|out of sequence"):
            await conn.execute(sql)
        assert await conn.fetchval("SELECT COUNT(*) FROM events") == 1
    finally:
        await conn.close()


async def test_replicas_starting_together_migrate_once(postgres_url: str) -> None:
    """Several stores opening one empty schema at once apply each migration exactly once."""
    stores = await asyncio.gather(*(open_store(postgres_url) for _ in range(4)))
    for store in stores:
        await store.close()
    conn = await asyncpg.connect(postgres_url)
    try:
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")]
    finally:
        await conn.close()
    assert versions == [version for version, _ in MIGRATIONS]


async def test_a_reader_never_sees_a_lower_position_later(postgres_url: str) -> None:
    """Two replicas append concurrently; a follower reading after its last position misses none."""
    first, second = await open_store(postgres_url), await open_store(postgres_url)
    reader = await open_store(postgres_url)
    appended = 0
    try:

        async def writer(store, worker: int) -> None:
            nonlocal appended
            for n in range(15):
                await store.append(f"s{worker}-{n}", [announce(), invest()], actor="w")
                appended += 2

        async def follow() -> list[int]:
            seen: list[int] = []
            while len(seen) < 2 * 15 * 8:
                last = seen[-1] if seen else 0
                seen += [e.position async for e in reader.read_all(after=last)]
                await asyncio.sleep(0)
            return seen

        follower = asyncio.create_task(follow())
        await asyncio.gather(*(writer(first if w % 2 else second, w) for w in range(8)))
        seen = await asyncio.wait_for(follower, 30)
    finally:
        for store in (first, second, reader):
            await store.close()
    assert appended == 240
    assert seen == list(range(1, 241))


async def test_appends_through_one_replica_wake_another(postgres_url: str) -> None:
    """LISTEN/NOTIFY: a store waiting for appends wakes when another store commits."""
    waiting, writing = await open_store(postgres_url), await open_store(postgres_url)
    try:
        waiter = asyncio.create_task(waiting.wait_for_append(0, 10))
        await asyncio.sleep(0.1)
        await writing.append("vm", [announce(), invest()], actor="a")
        assert await asyncio.wait_for(waiter, 5) == 2
    finally:
        await waiting.close()
        await writing.close()


@pytest.mark.parametrize(
    "sql",
    [
        "ALTER TABLE events DISABLE TRIGGER USER",
        "SET session_replication_role = replica",
        "DELETE FROM events",
        "UPDATE events SET actor = 'mallory'",
        "TRUNCATE events",
        "DROP TABLE events",
        "DROP TRIGGER events_no_change ON events",
    ],
)
async def test_the_app_role_cannot_bypass_immutability(
    role_urls: tuple[str, str], sql: str
) -> None:
    """Migrated by the owner, the app appends and reads but cannot disable triggers or delete."""
    owner_url, app_url = role_urls
    store = await open_store(app_url, migrate_url=owner_url)
    try:
        await store.append("vm", [announce()], actor="a")
        assert [e.version async for e in store.read_stream("vm")] == [1]
        assert await token_registry(store).create_token("t", ("read",))
    finally:
        await store.close()
    conn = await asyncpg.connect(app_url)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(sql)
        assert await conn.fetchval("SELECT COUNT(*) FROM events") == 1
    finally:
        await conn.close()


async def test_the_app_role_writes_snapshots_and_rebuilds(
    role_urls: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app role may write every read-model table, snapshots included."""
    monkeypatch.setattr(readmodels, "SNAPSHOT_EVERY", 1)
    owner_url, app_url = role_urls
    store = await open_store(app_url, migrate_url=owner_url)
    try:
        await store.append("vm", [announce()], actor="a")
        await store.append("vm", [invest()], actor="a")
        found = await store.read_models.snapshot("vm")
        assert found is not None
        assert found[0] == 2
        await store.rebuild_read_models()
        assert (await verify(store)).problems == []
    finally:
        await store.close()


async def test_an_owning_app_role_is_warned_about(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Without TIMELINE_MIGRATE_URL the app owns the table, and the log says what that risks."""
    store = await open_store(postgres_url)
    await store.close()
    assert "TIMELINE_MIGRATE_URL" in caplog.text
