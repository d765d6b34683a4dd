"""`timeline projections rebuild` as a process: its report, `kill -9` halfway, stale on start."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from helpers import SOURCE, announce, d
from server_helpers import Server, free_port, request

from timeline.events import Statement, StatementMade
from timeline.readside import readmodels
from timeline.store import open_store, verify
from timeline.store.read_models import ListFilters

STREAMS = 300
EVENTS = 100


def statement(n: int) -> StatementMade:
    return StatementMade(
        effective=d("2024-02-01"),
        sources=(SOURCE,),
        data=Statement(speaker="Spokesperson", text=f"Statement {n}", language="en"),
    )


async def _fill(url: str) -> list[str]:
    store = await open_store(url)
    try:
        for n in range(STREAMS):
            events = [announce(), *(statement(i) for i in range(EVENTS - 1))]
            await store.append(f"s{n:04d}", events, actor="test")
        page = await store.read_models.partnerships(ListFilters(day=date(2024, 3, 1)), 1000)
        return [stream for stream, _, _ in page]
    finally:
        await store.close()


async def _listed_and_verified(url: str) -> tuple[list[str], list[str]]:
    store = await open_store(url)
    try:
        page = await store.read_models.partnerships(ListFilters(day=date(2024, 3, 1)), 1000)
        return [stream for stream, _, _ in page], (await verify(store)).problems
    finally:
        await store.close()


def _timeline(db: Path, *args: str) -> subprocess.Popen[str]:
    env = os.environ | {"TIMELINE_DATABASE_URL": f"sqlite:///{db}", "TIMELINE_CURATED_DIR": ""}
    return subprocess.Popen(
        [sys.executable, "-m", "timeline", *args], env=env, stdout=subprocess.PIPE, text=True
    )


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _all_gone(pids: list[int], seconds: float = 10) -> bool:
    """Whether these processes exit (a killed rebuild's workers watch for their parent)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{pid}").exists() and _alive(pid) for pid in pids):
            return True
        time.sleep(0.2)
    return False


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _events(db: Path) -> tuple[int, int, str]:
    conn = sqlite3.connect(db)
    try:
        count, size = conn.execute("SELECT COUNT(*), SUM(LENGTH(body)) FROM events").fetchone()
        last = conn.execute("SELECT id FROM events ORDER BY position DESC LIMIT 1").fetchone()[0]
    finally:
        conn.close()
    return count, size, last


def _generations(db: Path) -> tuple[int, list[int]]:
    conn = sqlite3.connect(db)
    try:
        live = conn.execute("SELECT generation FROM read_model_state").fetchone()[0]
        stored = [g for (g,) in conn.execute("SELECT DISTINCT generation FROM facets ORDER BY 1")]
    finally:
        conn.close()
    return live, stored


def test_a_rebuild_killed_halfway_leaves_the_old_models_and_the_next_starts_over(
    tmp_path: Path,
) -> None:
    db = tmp_path / "t.db"
    url = f"sqlite:///{db}"
    listed = asyncio.run(_fill(url))
    assert len(listed) == STREAMS
    events_before = _events(db)

    rebuild = _timeline(db, "projections", "rebuild")
    assert rebuild.stdout is not None
    first = rebuild.stdout.readline()  # the first progress line comes after the first batch
    assert "rebuilding read models:" in first, first
    workers = _children(rebuild.pid)
    assert workers  # 30,000 events: replayed by worker processes
    rebuild.send_signal(signal.SIGKILL)
    rebuild.wait(10)
    rebuild.stdout.close()
    live, stored = _generations(db)
    assert live == 1
    assert stored == [1, 2]  # half a next generation, invisible
    assert _all_gone(workers)

    assert asyncio.run(_listed_and_verified(url)) == (listed, [])

    again = _timeline(db, "projections", "rebuild")
    out, _ = again.communicate(timeout=120)
    assert again.returncode == 0, out
    assert f"from {STREAMS * EVENTS} events in {STREAMS} streams" in out
    assert _generations(db) == (2, [2])
    assert asyncio.run(_listed_and_verified(url)) == (listed, [])
    assert _events(db) == events_before  # a rebuild only reads the events


def test_serve_rebuilds_stale_read_models_before_serving(tmp_path: Path) -> None:
    """A database whose read models are older than the code: rebuilt first, said on stdout."""
    db = tmp_path / "served.db"
    listed = asyncio.run(_fill(f"sqlite:///{db}"))
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE read_model_state SET version = 0")
        conn.execute("DELETE FROM facets")
    conn.close()
    server = Server(tmp_path, free_port(), env={"TIMELINE_CURATED_DIR": ""})
    try:
        banner = server.read_banner()
        said = "\n".join(banner)
        assert (
            f"the read models are not version {readmodels.VERSION}: rebuilding them before serving"
            in said
        )
        assert f"read models rebuilt from {STREAMS * EVENTS:,} events" in said
        server.wait_healthy()
        status, body = request(f"{server.base}/partnerships?limit=500&as_of=2024-03-01")
        assert status == 200
        assert [p["id"] for p in body["partnerships"]] == listed
    finally:
        assert server.stop() == 0
