"""Answers replayed at the edge: the same bytes as litestar's, and never past what they rest on."""

from __future__ import annotations

import asyncio
import gzip
from datetime import date, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import msgspec
import pytest
from api_helpers import services_of
from hypothesis import given
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient

from timeline.api import replay
from timeline.api.replay import Answers, Gzipped, Replayable, accepts_gzip
from timeline.store import base as store_base
from timeline.store import open_store

VODAFONE = "/partnerships/vodafone-microsoft"
PLAIN = {"Accept-Encoding": "identity"}
"""httpx asks for gzip by default; a compressed "now" answer is computed each time."""


@pytest.fixture
def routed(client: AsyncTestClient[Any], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The streams whose state requests reached the handler (were not replayed)."""
    projector = services_of(client).projector
    seen: list[str] = []
    original = projector.view

    async def view(stream: str, known_at: Any) -> Any:
        seen.append(stream)
        return await original(stream, known_at)

    monkeypatch.setattr(projector, "view", view)
    return seen


async def append_milestone(client: AsyncTestClient[Any], item: str) -> None:
    secret = await services_of(client).tokens.create_token(f"writer-{item}", ("append",))
    response = await client.post(
        f"{VODAFONE}/events",
        json={
            "events": [
                {
                    "type": "MilestoneScheduled",
                    "effective": "2024-03-01",
                    "data": {"id": item, "title": f"Milestone {item}", "due": "2025-06"},
                    "sources": [{"title": "Press release", "language": "en"}],
                }
            ]
        },
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 201, response.text


async def test_a_repeated_state_is_replayed_with_its_own_now(
    client: AsyncTestClient[Any], routed: list[str]
) -> None:
    """The second answer is the first one's bytes, except `known_at`, which is the new now."""
    first = await client.get(VODAFONE, params={"as_of": "2024-02-01"}, headers=PLAIN)
    second = await client.get(VODAFONE, params={"as_of": "2024-02-01"}, headers=PLAIN)
    assert (first.status_code, second.status_code) == (200, 200)
    assert routed == ["vodafone-microsoft"]
    one, two = first.json(), second.json()
    instants = [datetime.fromisoformat(a["basis"]["known_at"]) for a in (one, two)]
    assert instants[1] > instants[0]
    one["basis"].pop("known_at")
    two["basis"].pop("known_at")
    assert one == two
    assert second.headers["etag"] == first.headers["etag"]
    assert second.headers["content-length"] == str(len(second.content))
    assert second.headers["x-request-id"] != first.headers["x-request-id"]
    drop = {"x-request-id", "content-length", "date"}
    assert {k: v for k, v in first.headers.items() if k not in drop} == {
        k: v for k, v in second.headers.items() if k not in drop
    }


async def test_an_append_ends_the_replay(client: AsyncTestClient[Any], routed: list[str]) -> None:
    """An append through this process is seen by the very next read: state and health."""
    before = await client.get(VODAFONE, headers=PLAIN)
    events = (await client.get("/health")).json()["events"]
    assert (await client.get("/health")).json()["events"] == events
    await append_milestone(client, "fresh")
    after = await client.get(VODAFONE, headers=PLAIN)
    assert after.json()["basis"]["version"] == before.json()["basis"]["version"] + 1
    assert "fresh" in [m["id"] for m in after.json()["milestones"]]
    assert (await client.get("/health")).json()["events"] == events + 1
    assert routed == ["vodafone-microsoft", "vodafone-microsoft"]


async def test_another_process_append_is_seen_within_the_trusted_time(
    client: AsyncTestClient[Any], routed: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit this process cannot hear of (another process on the SQLite file) shows once
    what it heard is older than `TRUSTED_SECONDS`."""
    monkeypatch.setattr(store_base, "TRUSTED_SECONDS", 0.2)
    events = (await client.get("/health")).json()["events"]
    before = (await client.get(VODAFONE, headers=PLAIN)).json()["basis"]["version"]
    other = await open_store(f"sqlite:///{tmp_path / 'api.db'}")
    try:
        first = [e async for e in other.read_stream("vodafone-microsoft", limit=1)].pop()
        await other.append(
            "elsewhere", [msgspec.structs.replace(first.event, id=uuid4())], actor="elsewhere"
        )
    finally:
        await other.close()
    await asyncio.sleep(0.25)
    assert (await client.get("/health")).json()["events"] == events + 1
    assert (await client.get("/partnerships/elsewhere", headers=PLAIN)).status_code == 200
    assert (await client.get(VODAFONE, headers=PLAIN)).json()["basis"]["version"] == before
    assert routed.count("vodafone-microsoft") == 2  # asked again: the position moved


async def test_conditional_and_head_requests_are_replayed(
    client: AsyncTestClient[Any], routed: list[str]
) -> None:
    """A 304 is kept for its `If-None-Match`, and HEAD gets the GET's headers without a body."""
    tag = (await client.get(VODAFONE, headers=PLAIN)).headers["etag"]
    for _ in range(2):
        response = await client.get(VODAFONE, headers={**PLAIN, "If-None-Match": tag})
        assert (response.status_code, response.headers["etag"], response.content) == (
            304,
            tag,
            b"",
        )
    full = await client.get(VODAFONE, headers=PLAIN)
    head = await client.head(VODAFONE, headers=PLAIN)
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == str(len(full.content))
    assert routed == ["vodafone-microsoft", "vodafone-microsoft"]


async def test_personal_and_fresh_requests_are_routed(
    client: AsyncTestClient[Any], routed: list[str]
) -> None:
    """`Authorization` never shares an answer, and `no-cache` asks for a fresh one."""
    await client.get(VODAFONE, headers=PLAIN)
    await client.get(VODAFONE, headers={**PLAIN, "Authorization": "Bearer x"})
    await client.get(VODAFONE, headers={**PLAIN, "Cache-Control": "no-cache"})
    await client.get(VODAFONE, headers=PLAIN)
    assert len(routed) == 3


async def test_a_compressed_state_is_replayed_as_gzip_with_its_own_now(
    client: AsyncTestClient[Any], routed: list[str]
) -> None:
    """A client that takes gzip gets the kept parts as one gzip stream around the new instant;
    one that takes brotli alone gets a state made afresh each time."""
    answers = []
    for _ in range(3):
        response = await client.get(VODAFONE, headers={"Accept-Encoding": "br, gzip"})
        assert response.status_code == 200
        answers.append(response)
    assert [a.headers["content-encoding"] for a in answers] == ["br", "gzip", "gzip"]
    assert routed == ["vodafone-microsoft"]
    first, *later = (a.json() for a in answers)
    for answer in later:
        known = datetime.fromisoformat(answer["basis"]["known_at"])
        assert known > datetime.fromisoformat(first["basis"]["known_at"])
        assert {**answer, "basis": None} == {**first, "basis": None}
    assert answers[2].headers["vary"] == answers[0].headers["vary"]
    for _ in range(2):
        brotli = await client.get(VODAFONE, headers={"Accept-Encoding": "br"})
        assert brotli.headers["content-encoding"] == "br"
    assert len(routed) == 3
    instant = first["basis"]["known_at"]
    past = await client.get(
        VODAFONE, params={"known_at": instant}, headers={"Accept-Encoding": "br"}
    )
    again = await client.get(
        VODAFONE, params={"known_at": instant}, headers={"Accept-Encoding": "br"}
    )
    assert (past.status_code, again.content) == (200, past.content)
    assert len(routed) == 4  # an explicit known_at is the same bytes each time: kept compressed


@given(head=st.binary(max_size=3000), middle=st.binary(max_size=300), tail=st.binary(max_size=3000))
def test_a_gzip_stream_around_any_bytes_decompresses_to_them(
    head: bytes, middle: bytes, tail: bytes
) -> None:
    """The spliced stream is valid gzip (CRC and size included) for any parts."""
    assert gzip.decompress(Gzipped.of(head, tail).around(middle)) == head + middle + tail


@pytest.mark.parametrize(
    ("value", "accepted"),
    [(b"gzip", True), (b"br, gzip;q=0.5", True), (b"*", True), (b"GZIP", True),
     (b"br", False), (b"gzip;q=0", False), (b"identity", False), (b"", False),
     (b"gzip;q=x", False)],
)  # fmt: skip
def test_accept_encoding_is_read_with_its_weights(value: bytes, *, accepted: bool) -> None:
    assert accepts_gzip(value) is accepted


async def test_a_kept_answer_ends_with_its_day_and_position() -> None:
    """`as_of` left out means today: the answer kept yesterday is not replayed today; nor one
    kept at another position; and when the store does not answer, nothing is sent and the
    request goes on to its handler, which answers with a problem."""
    answers = Answers()
    key = ("/partnerships/x", b"", (b"", b"", b"", b""))
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def position() -> int:
        return 7

    start = [(b"content-type", b"application/json")]
    answers.keep(
        key, Replayable(7, date(2000, 1, 1)), status=200, headers=start, body=b"{}", route="r"
    )
    assert await answers.replay(key, position, send, head=False, request_id=b"1") is None
    answers.keep(key, Replayable(7), status=200, headers=start, body=b"{}", route="r")
    assert await answers.replay(key, position, send, head=False, request_id=b"1") is not None
    assert sent[-1]["body"] == b"{}"
    answers.keep(key, Replayable(6), status=200, headers=start, body=b"{}", route="r")
    assert await answers.replay(key, position, send, head=False, request_id=b"1") is None

    async def unreachable() -> int:
        raise OSError("connection refused")

    answers.keep(key, Replayable(7), status=200, headers=start, body=b"{}", route="r")
    sent.clear()
    assert await answers.replay(key, unreachable, send, head=False, request_id=b"1") is None
    assert sent == []  # nothing sent: the request goes on to its handler


async def test_a_history_is_replayed_until_its_stream_grows(
    client: AsyncTestClient[Any], routed: list[str]
) -> None:
    """A history page, compressed or not, is kept; an append shows on the next read."""
    path = f"{VODAFONE}/events"
    first = await client.get(path, params={"limit": 5}, headers={"Accept-Encoding": "gzip"})
    second = await client.get(path, params={"limit": 5}, headers={"Accept-Encoding": "gzip"})
    assert second.content == first.content
    assert second.headers["content-encoding"] == "gzip"
    assert routed == ["vodafone-microsoft"]
    await append_milestone(client, "later")
    third = await client.get(path, params={"limit": 5}, headers={"Accept-Encoding": "gzip"})
    assert third.headers["etag"] != first.headers["etag"]  # the stream's version moved on
    assert routed == ["vodafone-microsoft"] * 2


def test_only_a_marked_answer_within_bounds_is_gathered(monkeypatch: pytest.MonkeyPatch) -> None:
    """A live stream (unmarked) passes through without being held; a marked answer over
    `LARGEST` is dropped as it grows, not kept."""
    monkeypatch.setattr(replay, "LARGEST", 10)
    answers = Answers()
    key = ("/events/stream", b"", (b"", b"", b"", b""))
    start = {"type": "http.response.start", "status": 200, "headers": []}
    chunk = {"type": "http.response.body", "body": b"data: 123456\n\n", "more_body": True}
    unmarked = replay.Recording(answers, key, {"state": {}})  # type: ignore[arg-type]
    unmarked.see(start)  # type: ignore[arg-type]
    for _ in range(100):
        unmarked.see(chunk)  # type: ignore[arg-type]
    assert unmarked._body == []
    scope = {"state": {replay.REPLAYABLE: Replayable(1)}}
    large = replay.Recording(answers, key, scope)  # type: ignore[arg-type]
    large.see(start)  # type: ignore[arg-type]
    large.see(chunk)  # type: ignore[arg-type]
    large.see({"type": "http.response.body", "body": b"", "more_body": False})  # type: ignore[arg-type]
    assert (large._body, len(answers)) == ([], 0)
    small = replay.Recording(answers, key, scope)  # type: ignore[arg-type]
    small.see(start)  # type: ignore[arg-type]
    small.see({"type": "http.response.body", "body": b"{}", "more_body": False})  # type: ignore[arg-type]
    assert len(answers) == 1
