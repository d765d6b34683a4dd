"""The global feed and its live stream, filtered by type, party and stream prefix."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import helpers
import pytest
from conftest import BACKENDS
from litestar.testing import AsyncTestClient
from server_helpers import EventStreamReader, Server, free_port

from timeline.api.live import follow
from timeline.api.services import Services
from timeline.events import Party, PartyJoined
from timeline.projection import Projector
from timeline.settings import Settings
from timeline.store import EventStore, open_store, token_registry


def _joined(org: str) -> PartyJoined:
    return PartyJoined(effective=helpers.d("2024-03"), data=Party(org=org, name=org.title()))


async def _fill(store: EventStore) -> None:
    """alpha-one (vodafone, microsoft; then acme joins), alpha-two, beta (vodafone, microsoft)."""
    await store.append("alpha-one", [helpers.announce(), helpers.milestone()], actor="t")
    await store.append("beta", [helpers.announce(), helpers.invest()], actor="t")
    await store.append("alpha-two", [helpers.announce()], actor="t")
    await store.append("alpha-one", [helpers.achieved(), _joined("acme")], actor="t")
    await store.append("beta", [helpers.milestone("m2")], actor="t")


@pytest.mark.parametrize("store_url", BACKENDS, indirect=True)
async def test_the_store_reads_the_feed_filtered_in_position_order(store: EventStore) -> None:
    await _fill(store)

    async def read(**filters: Any) -> list[tuple[int, str, str]]:
        return [(e.position, e.stream, e.type) async for e in store.read_all(**filters)]

    assert await read(types=["MilestoneScheduled", "MilestoneAchieved"]) == [
        (2, "alpha-one", "MilestoneScheduled"),
        (6, "alpha-one", "MilestoneAchieved"),
        (8, "beta", "MilestoneScheduled"),
    ]
    assert [p for p, _, _ in await read(stream_prefix="alpha-")] == [1, 2, 5, 6, 7]
    assert [p for p, _, _ in await read(stream_prefix="alpha-t")] == [5]
    assert [p for p, _, _ in await read(party="acme")] == [1, 2, 6, 7]  # its whole partnership
    assert [p for p, _, _ in await read(party="vodafone", stream_prefix="b")] == [3, 4, 8]
    assert await read(party="nobody") == []
    assert [p for p, _, _ in await read(after=2, limit=2, stream_prefix="alpha")] == [5, 6]
    assert [p for p, _, _ in await read(types=["PartyJoined"], party="microsoft")] == [7]


async def test_a_filtered_page_says_how_far_it_looked_and_next_keeps_the_filters(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    first = (await client.get("/events?type=MilestoneScheduled")).json()
    assert [(e["stream"], e["position"]) for e in first["events"]] == [("vodafone-microsoft", 30)]
    assert first["last_position"] == 42  # looked at every event so far
    assert first["next"] == "/events?type=MilestoneScheduled&after=42&limit=100"
    await client.post(
        "/partnerships/vodafone-microsoft/events",
        json={"events": [{"type": "MilestoneAchieved", "effective": "2024-05-02",
                          "data": {"id": "iot-platform-independent"}}]},
        headers=auth,
    )  # fmt: skip
    assert (await client.get(first["next"])).json()["events"] == []
    paged = (await client.get("/events?stream=telefonica&limit=10")).json()
    assert [e["position"] for e in paged["events"]] == list(range(1, 11))
    assert paged["last_position"] == 10
    assert paged["next"] == "/events?stream=telefonica&after=10&limit=10"
    both = await client.get("/events?type=StatementMade&type=ForecastPublished&party=telefonica")
    assert {e["type"] for e in both.json()["events"]} == {"StatementMade", "ForecastPublished"}
    assert {e["stream"] for e in both.json()["events"]} == {"telefonica-microsoft"}


async def test_the_feed_selects_organizations_streams_by_their_prefix(
    client: AsyncTestClient[Any],
) -> None:
    """`stream=org:` is every registered organization's events, `org:vodafone` one's; a
    partnership's prefix never selects them (its ids have no colon)."""
    every = (await client.get("/events?stream=org:")).json()["events"]
    assert every
    assert all(e["stream"].startswith("org:") for e in every)
    assert {"org:vodafone", "org:microsoft"} <= {e["stream"] for e in every}
    one = (await client.get("/events?stream=org:vodafone")).json()["events"]
    assert {e["stream"] for e in one} == {"org:vodafone", "org:vodafone-iot-platform"}
    partnerships = (await client.get("/events?stream=vodafone")).json()["events"]
    assert partnerships
    assert not any(e["stream"].startswith("org:") for e in partnerships)


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ("type=MilestoneDone", "query.type"),
        ("party=Not_An_Org", "query.party"),
        ("stream=Vodafone", "query.stream"),
        ("stream=a%20b", "query.stream"),
        ("stream=org:Vodafone", "query.stream"),
        ("stream=org:org:", "query.stream"),
        ("stream=" + "a" * 105, "query.stream"),
    ],
)
async def test_bad_filters_are_400s_naming_the_parameter(
    client: AsyncTestClient[Any], query: str, path: str
) -> None:
    for url in (f"/events?{query}", f"/events/stream?{query}"):
        answer = await client.get(url)
        assert answer.status_code == 400, (url, answer.text)
        assert answer.json()["errors"][0]["path"] == path


async def _events(stream: AsyncIterator[bytes], count: int) -> list[tuple[int, str]]:
    seen: list[tuple[int, str]] = []
    while len(seen) < count:
        chunk = await asyncio.wait_for(anext(stream), 5)
        if chunk.startswith(b"id: "):
            head = chunk.split(b"\n")
            seen.append((int(head[0][4:]), head[1][7:].decode()))
    return seen


async def test_a_filtered_live_stream_delivers_each_match_once_in_order_across_resumes(
    tmp_path: Path,
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'f.db'}", curated_dir="")
    store = await open_store(settings.database_url)
    svc = Services(
        settings=settings, store=store, tokens=token_registry(store), projector=Projector(store)
    )
    wanted = {"types": ("MilestoneScheduled", "MilestoneAchieved"), "stream_prefix": "alpha"}
    live = follow(svc, 0, None, wanted)  # type: ignore[arg-type]
    try:
        assert await anext(live) == b": connected\n\n"
        await _fill(store)
        assert await _events(live, 2) == [(2, "MilestoneScheduled"), (6, "MilestoneAchieved")]
    finally:
        await live.aclose()
    await store.append("beta", [helpers.achieved("m2")], actor="t")  # not alpha: never sent
    await store.append("alpha-two", [helpers.milestone("m3")], actor="t")
    resumed = follow(svc, 6, None, wanted)  # type: ignore[arg-type]  # Last-Event-ID: 6
    try:
        await anext(resumed)
        assert await _events(resumed, 1) == [(10, "MilestoneScheduled")]
        pending = asyncio.ensure_future(_events(resumed, 1))
        await asyncio.sleep(0.05)
        await store.append("beta", [helpers.milestone("m4")], actor="t")
        await store.append("alpha-one", [helpers.milestone("m5")], actor="t")
        assert await pending == [(12, "MilestoneScheduled")]
    finally:
        await resumed.aclose()
        await store.close()


async def test_the_served_live_stream_takes_the_filters(tmp_path: Path) -> None:
    served = Server(tmp_path, free_port(), first_start=True)
    try:
        served.first_token()
        served.wait_healthy()
        url = f"{served.base}/events/stream?type=MilestoneScheduled&party=vodafone"
        async with EventStreamReader(url) as reader:
            position, kind, data = await asyncio.wait_for(reader.next_event(), 5)  # type: ignore[misc]
            assert (position, kind, data["stream"]) == (
                30,
                "MilestoneScheduled",
                "vodafone-microsoft",
            )
    finally:
        served.stop()
