"""What only the SQLite backend can show: its own triggers, pragmas and stored bytes."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import sqlite3
from pathlib import Path

import aiosqlite
import msgspec
import pytest
from helpers import announce, milestone

from timeline.events import StatementMade
from timeline.fold import DomainError
from timeline.formats import encode_stored
from timeline.store import ConcurrencyError, StoreFullError, token_registry
from timeline.store.sqlite import MIGRATIONS, SQLiteStore, migrate

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
async def db(tmp_path: Path) -> Path:
    path = tmp_path / "events.db"
    store = await SQLiteStore.open(path)
    await store.append("vm", [announce()], actor="a")
    await store.close()
    return path


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE events SET actor = 'mallory'",
        "DELETE FROM events",
        (
            "INSERT INTO events SELECT position + 5, id || 'x', stream, version + 1, type,"
            " effective_first, effective_last, recorded_at, actor, schema_version, body FROM events"
        ),
        (
            "INSERT INTO events SELECT position + 1, id || 'x', stream, version + 3, type,"
            " effective_first, effective_last, recorded_at, actor, schema_version, body FROM events"
        ),
        # REPLACE deletes the row it collides with without firing any DELETE trigger
        (
            "INSERT OR REPLACE INTO events SELECT position + 1, id, stream, version + 1, type,"
            " effective_first, effective_last, recorded_at, 'mallory', schema_version, body"
            " FROM events"
        ),
        (
            "REPLACE INTO events SELECT position, id || 'x', stream, version, type,"
            " effective_first, effective_last, recorded_at, 'mallory', schema_version, body"
            " FROM events"
        ),
    ],
)
def test_database_refuses_rewrites_and_gaps(db: Path, sql: str) -> None:
    """The database itself refuses UPDATE, DELETE and out-of-sequence positions or versions."""
    with sqlite3.connect(db) as conn:
        with pytest.raises(sqlite3.IntegrityError, match=r"immutable|out of sequence"):
            conn.execute(sql)
        assert conn.execute("SELECT COUNT(*), MAX(actor) FROM events").fetchone() == (1, "a")


async def test_a_full_disk_refuses_the_append_and_recovers(db: Path) -> None:
    """SQLITE_FULL is a StoreFullError (nothing stored); the next append after space returns works.

    `max_page_count` makes the file "full" exactly, without filling a real disk.
    """
    store = await SQLiteStore.open(db)
    try:
        pages = next(iter(await store.recorder.writer.execute_fetchall("PRAGMA page_count")))[0]
        await store.recorder.writer.execute(f"PRAGMA max_page_count = {pages}")
        plain = milestone("m1")
        big = msgspec.structs.replace(
            plain, data=msgspec.structs.replace(plain.data, title="x" * 50_000)
        )
        with pytest.raises(StoreFullError, match="cannot write"):
            await store.append("vm", [big], actor="a")
        assert (await store.stats()).events == 1
        await store.recorder.writer.execute("PRAGMA max_page_count = 1073741823")
        result = await store.append("vm", [big], actor="a")
        assert result.version == 2
    finally:
        await store.close()


async def test_wal_and_full_sync(db: Path) -> None:
    """The file is in WAL mode and the store's connections commit with synchronous=FULL."""
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    store = await SQLiteStore.open(db)
    try:
        for conn in (store.recorder.writer, store.recorder.reader):
            assert list(await conn.execute_fetchall("PRAGMA synchronous")) == [(2,)]  # FULL
    finally:
        await store.close()


async def test_old_schema_version_row_is_upcast_and_never_rewritten(db: Path) -> None:
    """A row written at StatementMade v1 reads as v2, and its stored bytes stay as written."""
    body = (FIXTURES / "statement_made_v1.json").read_bytes().strip()
    with sqlite3.connect(db) as conn:  # as an older release of the software wrote it
        conn.execute(
            "INSERT INTO events VALUES (2, '0b8f6f4e-3f1c-4f5e-9d55-6a8f1f7e2c11', 'vm', 2,"
            " 'StatementMade', '2024-01-16', '2024-01-16', '2024-01-17T00:00:00.000000Z', 'old',"
            " 1, ?)",
            (body,),
        )
    store = await SQLiteStore.open(db)
    try:
        events = [e async for e in store.read_stream("vm")]
        statement = events[1].event
        assert isinstance(statement, StatementMade)
        assert (statement.data.text[:8], statement.data.language) == ("This new", "en")
        assert events[1].schema_version == 2
        shown = await store.read_stream_json("vm")  # as a history shows them: upcast, current
        assert shown == [(e.version, encode_stored(e)) for e in events]
        assert b'"schema_version":2' in shown[1][1]
        kept = [pair async for pair in store.read_stream_bodies("vm")]
        assert [body is None for _, body in kept] == [False, True]  # v1's bytes: never spliced
        assert [encode_stored(e, body) for e, body in kept] == [json for _, json in shown]
        appended = await store.append("vm", [milestone()], actor="a")  # the stream still folds
        assert appended.version == 3
    finally:
        await store.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute(
            "SELECT body, schema_version FROM events WHERE position = 2"
        ).fetchone() == (
            body,
            1,
        )


async def test_two_stores_on_one_file_see_each_other(tmp_path: Path) -> None:
    """Two processes on one file (here two stores) keep versions and positions consistent."""
    path = tmp_path / "shared.db"
    first, second = await SQLiteStore.open(path), await SQLiteStore.open(path)
    try:
        await first.append("vm", [announce()], actor="a", expected_version=0)
        await second.append("vm", [milestone("m1")], actor="b", expected_version=1)
        with pytest.raises(ConcurrencyError) as caught:
            await first.append("vm", [milestone("m2")], actor="a", expected_version=1)
        assert caught.value.actual == 2
        third = await first.append("vm", [milestone("m2")], actor="a", expected_version=2)
        assert (third.version, third.last_position) == (3, 3)
        with pytest.raises(DomainError, match="duplicate-id"):
            await second.append("vm", [milestone("m2")], actor="b")
    finally:
        await first.close()
        await second.close()


async def test_reads_of_one_stream_run_on_the_loop_and_see_every_commit(tmp_path: Path) -> None:
    """A stream's events, last version and snapshot are read on the loop's own connection
    (`fetch_here`), each query whole: a read begun before a commit, here or by another store on
    the file, never holds an older snapshot for the reads after it."""
    path = tmp_path / "shared.db"
    first, second = await SQLiteStore.open(path), await SQLiteStore.open(path)
    try:
        await first.append("vm", [announce(), milestone("m1"), milestone("m2")], actor="a")
        reading = first.read_stream("vm")
        assert (await anext(reading)).version == 1
        assert first.recorder.here is not None  # read on the loop, not the reader's thread
        await second.append("vm", [milestone("m3")], actor="b")
        info = await first.stream_info("vm")
        assert info is not None
        assert info.version == 4
        assert [e.version async for e in first.read_stream("vm")] == [1, 2, 3, 4]
        assert [e.version async for e in reading] == [2, 3]  # as it was when it began
        assert [e.version async for e in second.read_stream("vm")] == [1, 2, 3, 4]
    finally:
        await first.close()
        await second.close()


async def test_token_secrets_are_stored_only_as_hashes(tmp_path: Path) -> None:
    """The database holds a SHA-256 of each token, never the token itself."""
    path = tmp_path / "tokens.db"
    store = await SQLiteStore.open(path)
    try:
        secret = await token_registry(store).create_token("pipeline", ("append",))
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        (stored,) = conn.execute("SELECT hash FROM tokens").fetchone()
        dump = "\n".join(conn.iterdump())
    assert stored == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in dump


async def test_a_database_of_the_first_release_is_migrated_in_place(tmp_path: Path) -> None:
    """`timeline-v1.db` (made by the code of schema 1) opens at the newest schema, data intact.

    Migration 2 adds the trigger against INSERT OR REPLACE; the events, their
    positions and the token are untouched, and opening again applies nothing.
    """
    db = tmp_path / "old.db"
    shutil.copyfile(FIXTURES / "timeline-v1.db", db)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (1,)
    store = await SQLiteStore.open(db)
    try:
        events = [e async for e in store.read_all()]
        assert [e.position for e in events] == list(range(1, 39))
        assert {e.stream for e in events} == {"telefonica-microsoft", "vodafone-microsoft"}
        assert [t.name for t in await token_registry(store).tokens()] == ["fixture"]
        appended = await store.append("vodafone-microsoft", [milestone("later")], actor="a")
        assert appended.last_position == 39
    finally:
        await store.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
        with pytest.raises(sqlite3.IntegrityError, match="immutable"):
            conn.execute(
                "INSERT OR REPLACE INTO events SELECT position + 1, id, stream, version + 1, type,"
                " effective_first, effective_last, recorded_at, 'mallory', schema_version, body"
                " FROM events WHERE position = 39"
            )
    assert await migrate_again(db) == len(MIGRATIONS)


async def migrate_again(db: Path) -> int:
    async with aiosqlite.connect(db, isolation_level=None) as conn:
        return await migrate(conn)


async def test_an_append_waits_off_the_loop_for_a_lock_another_process_holds(db: Path) -> None:
    """The writer takes the write lock on the loop only when it is free; while another process
    holds it, the append waits on the connection's thread and the loop goes on serving."""
    store = await SQLiteStore.open(db)
    other = sqlite3.connect(db, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        append = asyncio.create_task(store.append("vm", [milestone("m1")], actor="a"))
        ticks = 0
        for _ in range(10):
            await asyncio.sleep(0.02)
            ticks += 1
        assert (ticks, append.done()) == (10, False)
        other.execute("COMMIT")
        result = await asyncio.wait_for(append, 10)
        assert result.version == 2
    finally:
        other.close()
        await store.close()
