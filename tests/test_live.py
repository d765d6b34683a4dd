"""Server-Sent Events from a real server: backlog then live, resume, heartbeats, slow clients."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import helpers
import httpx
import pytest
from server_helpers import EventStreamReader, Server, first_started, free_port

from timeline.api.live import follow
from timeline.api.services import Services
from timeline.projection import Projector
from timeline.settings import Settings
from timeline.store import open_store, token_registry

VODAFONE = "/partnerships/vodafone-microsoft"
ACHIEVED = {
    "type": "MilestoneAchieved",
    "effective": "2024-05-02",
    "data": {"id": "iot-platform-independent"},
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Server, str]]:
    with first_started(tmp_path, env={"TIMELINE_SSE_HEARTBEAT": "1"}) as started:
        yield started


async def post(base: str, token: str, stream: str, events: list[dict[str, object]]) -> int:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{base}/partnerships/{stream}/events",
            json={"events": events},
            headers={"Authorization": f"Bearer {token}"},
        )
    return response.status_code


def announcement(title: str) -> dict[str, object]:
    return {
        "type": "PartnershipAnnounced",
        "effective": "2024-01-01",
        "data": {"title": title, "kind": "test",
                 "parties": [{"org": "a", "name": "A"}, {"org": "b", "name": "B"}]},
    }  # fmt: skip


async def test_backlog_then_live_then_resume(server: tuple[Server, str]) -> None:
    """A subscriber gets the backlog after `?after=`, then a live append; resuming repeats none."""
    served, token = server
    async with EventStreamReader(f"{served.base}/events/stream?after=34") as reader:
        assert (reader.status, reader.content_type) == (200, "text/event-stream; charset=utf-8")
        backlog = await reader.events(8)
        assert [(p, kind) for p, kind, _ in backlog[:3]] == [
            (35, "StatementMade"), (36, "StatementMade"), (37, "BackgroundNoted"),
        ]  # fmt: skip
        assert backlog[0][2]["stream"] == "vodafone-microsoft"
        assert [p for p, _, _ in backlog[3:]] == [38, 39, 40, 41, 42]  # the organizations
        assert all(data["stream"].startswith("org:") for _, _, data in backlog[3:])
        assert await post(served.base, token, "vodafone-microsoft", [ACHIEVED]) == 201
        position, kind, data = await asyncio.wait_for(reader.next_event(), 5)  # type: ignore[misc]
        assert (position, kind, data["version"], data["actor"]) == (
            43,
            "MilestoneAchieved",
            13,
            "default",
        )
    resume = {"Last-Event-ID": "41"}
    async with EventStreamReader(f"{served.base}/events/stream?after=1", resume) as reader:
        assert [p for p, _, _ in await reader.events(2)] == [42, 43]
        await asyncio.sleep(1.5)
        assert await post(served.base, token, "other", [announcement("Other")]) == 201
        assert (await asyncio.wait_for(reader.next_event(), 5))[0] == 44  # type: ignore[index]
        assert "heartbeat" in reader.comments


async def test_partnership_stream_has_only_its_events(server: tuple[Server, str]) -> None:
    """A partnership's stream skips other partnerships' events; ids stay global positions."""
    served, token = server
    url = f"{served.base}{VODAFONE}/events/stream"
    async with EventStreamReader(url, {"Last-Event-ID": "42"}) as reader:
        assert await post(served.base, token, "other", [announcement("Other")]) == 201
        assert await post(served.base, token, "vodafone-microsoft", [ACHIEVED]) == 201
        position, kind, data = await asyncio.wait_for(reader.next_event(), 5)  # type: ignore[misc]
        assert (position, kind, data["stream"]) == (44, "MilestoneAchieved", "vodafone-microsoft")


async def test_bad_resume_point_is_a_problem(server: tuple[Server, str]) -> None:
    """A Last-Event-ID that is not a position is a 400 problem, not a stream."""
    served, _ = server
    async with httpx.AsyncClient() as client:
        response = await client.get(
            f"{served.base}/events/stream", headers={"Last-Event-ID": "yesterday"}
        )
    assert (response.status_code, response.headers["content-type"]) == (
        400,
        "application/problem+json",
    )


async def test_a_stalled_client_blocks_neither_appends_nor_others(
    server: tuple[Server, str],
) -> None:
    """A subscriber that stops reading does not slow appends or another subscriber."""
    served, token = server
    host, port = served.base.removeprefix("http://").split(":")
    stalled = socket.create_connection((host, int(port)))
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.sendall(f"GET /events/stream HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    try:
        async with EventStreamReader(f"{served.base}/events/stream?after=42") as reader:
            big = [announcement("x" * 2000)]
            results = await asyncio.wait_for(
                asyncio.gather(*(post(served.base, token, f"load-{n}", big) for n in range(60))),
                30,
            )
            assert results == [201] * 60
            received = await asyncio.wait_for(reader.events(60), 30)
            assert [p for p, _, _ in received] == list(range(43, 103))
    finally:
        stalled.close()


async def test_stopping_the_server_ends_open_streams(tmp_path: Path) -> None:
    """SIGTERM with a subscriber connected: the stream ends with a note and the server exits 0."""
    served = Server(tmp_path, free_port(), env={"TIMELINE_SSE_HEARTBEAT": "60"})
    served.read_banner()
    served.wait_healthy()
    async with EventStreamReader(f"{served.base}/events/stream?after=42") as reader:
        await asyncio.sleep(0.5)  # the stream is open and idle
        code = await asyncio.to_thread(served.stop)
        assert code == 0
        assert await asyncio.wait_for(reader.next_event(), 5) is None
        assert any("server is stopping" in c for c in reader.comments)


async def test_a_live_subscriber_too_far_behind_is_disconnected(tmp_path: Path) -> None:
    """Live, then more than TIMELINE_SSE_MAX_LAG events behind: the stream ends, to be resumed."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'lag.db'}", curated_dir="", sse_max_lag=5
    )
    store = await open_store(settings.database_url)
    svc = Services(
        settings=settings, store=store, tokens=token_registry(store), projector=Projector(store)
    )
    stream = follow(svc, 0, None)
    try:
        assert await anext(stream) == b": connected\n\n"
        pending = asyncio.ensure_future(anext(stream))  # caught up: now waiting, live
        await asyncio.sleep(0.05)
        await store.append("s0", [helpers.announce()], actor="t")
        assert (await pending).startswith(b"id: 1\nevent: PartnershipAnnounced\n")
        for n in range(1, 8):  # the subscriber reads nothing meanwhile
            await store.append(f"s{n}", [helpers.announce()], actor="t")
        assert await anext(stream) == (
            b": too far behind; reconnect with Last-Event-ID to resume\n\n"
        )
        with pytest.raises(StopAsyncIteration):
            await anext(stream)
    finally:
        await stream.aclose()
        await store.close()
