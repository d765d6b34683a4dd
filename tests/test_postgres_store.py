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


_COPIED = (
    "gen_random_uuid(), {stream}, {version}, type, effective_first, effective_last, recorded_at,"
    " actor, schema_version, body FROM events, unnest(ARRAY[{positions}], ARRAY[{versions}])"
    " AS n(p, v) WHERE position = 1"
)


def _rows(positions: str, versions: str, stream: str) -> str:
    """Copies of the first event, one per (position, version), inserted in one statement."""
    copied = _COPIED.format(stream=stream, version="n.v", positions=positions, versions=versions)
    return f"INSERT INTO events SELECT n.p, {copied}"


@pytest.mark.parametrize(
    ("positions", "versions", "stream", "refused"),
    [
        ("2, 3, 4", "1, 1, 1", "'s' || n.p", False),
        ("2, 3", "2, 3", "'vm'", False),
        ("3, 2", "1, 1", "'s' || n.p", False),  # in any order: the table is left without a gap
        ("2, 4", "1, 1", "'s' || n.p", True),  # a gap between the statement's rows
        ("3, 4", "1, 1", "'s' || n.p", True),  # a gap before them
        ("2, 3", "2, 4", "'vm'", True),  # a stream's versions with a gap
        ("2, 3", "3, 4", "'vm'", True),  # a stream's first version not its next
    ],
)
async def test_sequence_is_checked_over_each_statements_rows(
    postgres_url: str, positions: str, versions: str, stream: str, *, refused: bool
) -> None:
    """The sequence trigger runs once a statement over every row it inserted (a group of
    appends, a staged import's `COPY`): what it leaves must be gapless, or none of it stays."""
    store = await open_store(postgres_url)
    await store.append("vm", [announce()], actor="a")
    await store.close()
    sql = _rows(positions, versions, stream)
    conn = await asyncpg.connect(postgres_url)
    try:
        if refused:
            with pytest.raises(asyncpg.RaiseError, match="out of sequence"):
                await conn.execute(sql)
        else:
            await conn.execute(sql)
        count = await conn.fetchval("SELECT COUNT(*) FROM events")
        assert count == (1 if refused else 1 + len(positions.split(",")))
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
