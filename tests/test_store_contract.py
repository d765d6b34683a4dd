"""The store contract (DESIGN.md §4): written once, run against every backend in `BACKENDS`."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import UUID

import msgspec
import pytest
from helpers import achieved, announce, invest, milestone, phase, started

from timeline.events import StoredEvent
from timeline.fold import DomainError
from timeline.formats import decode_event, encode_event, encode_stored
from timeline.ids import DrawnId
from timeline.store import (
    ConcurrencyError,
    EmptyAppendError,
    EventStore,
    IdempotencyError,
    StoreStats,
    open_store,
    token_registry,
    verify,
)
from timeline.store import base as store_base
from timeline.store.recorder import SQLTransaction
from timeline.tokens import TokenError


async def collect(events) -> list[StoredEvent]:
    return [e async for e in events]


async def test_append_assigns_versions_positions_and_metadata(store: EventStore) -> None:
    """An append stores its events in order with versions, positions, actor and a UTC time."""
    before = datetime.now(UTC)
    result = await store.append("vm", [announce(), invest()], actor="alice", expected_version=0)
    assert [(e.version, e.position) for e in result.events] == [(1, 1), (2, 2)]
    assert not result.replayed
    stored = await collect(store.read_stream("vm"))
    assert [e.event for e in stored] == [e.event for e in result.events]
    assert {e.actor for e in stored} == {"alice"}
    assert all(before <= e.recorded_at <= datetime.now(UTC) for e in stored)
    assert (await store.stats()).last_position == 2


async def test_expected_version_mismatch_appends_nothing(store: EventStore) -> None:
    """A wrong `expected_version` is a conflict that names the current version."""
    await store.append("vm", [announce()], actor="a", expected_version=0)
    with pytest.raises(ConcurrencyError) as caught:
        await store.append("vm", [invest()], actor="a", expected_version=0)
    assert (caught.value.expected, caught.value.actual) == (0, 1)
    with pytest.raises(ConcurrencyError):
        await store.append("other", [announce()], actor="a", expected_version=3)
    assert len(await collect(store.read_stream("vm"))) == 1
    assert (await store.stats()).events == 1


async def test_two_appends_at_same_expected_version_one_wins(store: EventStore) -> None:
    """Of two concurrent appends expecting the same version, exactly one is stored."""
    await store.append("vm", [announce()], actor="a", expected_version=0)
    outcomes = await asyncio.gather(
        store.append("vm", [invest("a")], actor="a", expected_version=1),
        store.append("vm", [invest("b")], actor="b", expected_version=1),
        return_exceptions=True,
    )
    errors = [o for o in outcomes if isinstance(o, ConcurrencyError)]
    assert len(errors) == 1
    assert len(await collect(store.read_stream("vm"))) == 2


async def test_domain_error_in_third_event_stores_none(store: EventStore) -> None:
    """A batch whose third event breaks a rule is refused whole."""
    with pytest.raises(DomainError) as caught:
        await store.append("vm", [announce(), milestone(), achieved("nope")], actor="a")
    assert caught.value.rule == "unknown-milestone"
    assert await collect(store.read_stream("vm")) == []
    assert (await store.stats()).events == 0
    await store.append("vm", [announce()], actor="a")  # the stream is still free
    assert (await store.stats()).last_position == 1


async def test_fifty_concurrent_appenders_get_gapless_positions(store: EventStore) -> None:
    """Fifty concurrent appends receive positions 1..N with no gap and no duplicate."""
    await store.append("shared", [announce()], actor="a")

    async def one(i: int):
        if i % 2:
            return await store.append(f"s{i}", [announce(), invest()], actor=f"w{i}")
        return await store.append("shared", [invest(f"i{i}")], actor=f"w{i}")

    results = await asyncio.gather(*(one(i) for i in range(50)))
    positions = [e.position for e in await collect(store.read_all())]
    assert positions == list(range(1, len(positions) + 1))
    assert len(positions) == 1 + 25 * 2 + 25
    for result in results:  # each batch is contiguous
        own = [e.position for e in result.events]
        assert own == list(range(own[0], own[0] + len(own)))
    shared = await collect(store.read_stream("shared"))
    assert [e.version for e in shared] == list(range(1, 27))


async def test_full_replay_returns_the_original_result(store: EventStore) -> None:
    """Appending the same events again stores nothing and answers with the original result."""
    events = [announce(), invest()]
    first = await store.append("vm", events, actor="a", expected_version=0)
    await store.append("vm", [milestone()], actor="a")
    again = await store.append("vm", events, actor="b", expected_version=0)
    assert again.replayed
    assert again.events == first.events
    assert (await store.stats()).events == 3


async def test_partial_replay_and_changed_content_conflict(store: EventStore) -> None:
    """A batch stored only in part, or an id reused with other content, is a conflict."""
    first = announce()
    await store.append("vm", [first], actor="a")
    with pytest.raises(IdempotencyError, match="part of this batch"):
        await store.append("vm", [first, invest()], actor="a")
    changed = invest(amount="2")
    same_id = type(changed)(id=first.id, effective=changed.effective, data=changed.data)
    with pytest.raises(IdempotencyError, match="other content"):
        await store.append("vm", [same_id], actor="a")
    with pytest.raises(IdempotencyError, match="in stream 'vm'"):
        await store.append("elsewhere", [first], actor="a")
    assert (await store.stats()).events == 1


async def test_ids_drawn_for_a_decoded_request_are_not_looked_up(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An id the server drew for a request's events cannot be stored already; one a client
    sent may be, and so may a drawn one on an event object appended again (a replay)."""
    asked: list[list[UUID]] = []
    looked_up = SQLTransaction.events_by_id

    async def spy(self: SQLTransaction, ids: Sequence[UUID]) -> list[StoredEvent]:
        asked.append(list(ids))
        return await looked_up(self, ids)

    monkeypatch.setattr(SQLTransaction, "events_by_id", spy)
    drawn = announce()
    assert isinstance(drawn.id, DrawnId)
    await store.append("drawn", [drawn], actor="t", decoded=True)
    assert asked == []
    kept = milestone("m1", due="2024-06")
    first = await store.append("drawn", [kept], actor="t")
    again = await store.append("drawn", [kept], actor="t")
    assert asked == [[kept.id], [kept.id]]
    assert again.replayed
    assert again.events == first.events
    sent = decode_event(encode_event(milestone("m2", due="2025")))
    assert type(sent.id) is UUID  # as a client's JSON gives it
    await store.append("drawn", [sent], actor="t", decoded=True)
    assert asked[-1] == [sent.id]


async def test_duplicate_ids_in_one_batch_are_refused(store: EventStore) -> None:
    """One batch cannot carry the same event id twice."""
    event = announce()
    with pytest.raises(DomainError) as caught:
        await store.append("vm", [event, event], actor="a")
    assert caught.value.rule == "duplicate-event-id"
    with pytest.raises(EmptyAppendError):
        await store.append("vm", [], actor="a")
    assert (await store.stats()).events == 0


async def test_each_append_in_a_group_is_answered_on_its_own(store: EventStore) -> None:
    """Concurrent appends are grouped, but a bad one fails alone and the others land."""
    outcomes = await asyncio.gather(
        store.append("good-1", [announce()], actor="a"),
        store.append("bad", [invest()], actor="a"),
        store.append("good-2", [announce()], actor="a"),
        return_exceptions=True,
    )
    assert isinstance(outcomes[1], DomainError)
    assert [o.stream for o in outcomes if not isinstance(o, BaseException)] == ["good-1", "good-2"]
    assert [e.position for e in await collect(store.read_all())] == [1, 2]


async def test_read_stream_filters(store: EventStore) -> None:
    """History reads filter by version range, type, effective range and `known_at`."""
    await store.append(
        "vm",
        [
            announce(),
            invest(effective="2024-03"),
            phase(effective="2024-05-01"),
            started(effective="2024-05-02"),
        ],
        actor="a",
    )
    later = await store.append("vm", [milestone(effective="2025")], actor="a")
    cut = later.events[0].recorded_at - timedelta(microseconds=1)

    async def versions(**filters) -> list[int]:
        return [e.version for e in await collect(store.read_stream("vm", **filters))]

    assert await versions(from_version=2, to_version=3) == [2, 3]
    assert await versions(types=["InvestmentCommitted", "MilestoneScheduled"]) == [2, 5]
    assert await versions(effective_from=date(2024, 3, 31), effective_to=date(2024, 12, 31)) == [
        2,
        3,
        4,
    ]
    assert await versions(known_at=cut) == [1, 2, 3, 4]
    assert await versions(limit=2) == [1, 2]
    assert await versions(from_version=9) == []
    assert await collect(store.read_stream("unknown")) == []


async def test_read_all_pages_by_position(store: EventStore) -> None:
    """The global feed reads in position order from any position, in pages."""
    for i in range(5):
        await store.append(f"s{i}", [announce()], actor="a")
    page = await collect(store.read_all(after=2, limit=2))
    assert [(e.position, e.stream) for e in page] == [(3, "s2"), (4, "s3")]
    infos = await store.streams()
    assert [(i.stream, i.version, i.last_position) for i in infos][:2] == [
        ("s0", 1, 1),
        ("s1", 1, 2),
    ]


async def test_data_survives_reopening(store_url: str) -> None:
    """What was appended is there after the store is closed and opened again."""
    first = await open_store(store_url)
    result = await first.append("vm", [announce(), milestone()], actor="a")
    await first.close()
    second = await open_store(store_url)
    try:
        assert [e.event for e in await collect(second.read_stream("vm"))] == [
            e.event for e in result.events
        ]
    finally:
        await second.close()


async def test_close_drains_queued_appends(store_url: str) -> None:
    """Closing the store finishes every append already accepted."""
    opened = await open_store(store_url)
    pending = [
        asyncio.ensure_future(opened.append(f"s{i}", [announce()], actor="a")) for i in range(20)
    ]
    await asyncio.sleep(0)
    await opened.close()
    results = await asyncio.gather(*pending)
    assert sorted(r.last_position for r in results) == list(range(1, 21))


def test_kill_9_keeps_every_acknowledged_append_and_no_partial_batch(store_url: str) -> None:
    """A writer killed with SIGKILL loses nothing it acknowledged, leaves no partial batch, and
    no snapshot (written in the appends' transactions) that disagrees with a fresh fold."""
    tests = Path(__file__).parent
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tests), os.environ.get("PYTHONPATH", "")]),
    }
    child = subprocess.Popen(
        [sys.executable, str(tests / "crash_child.py"), store_url],
        stdout=subprocess.PIPE,
        env=env,
    )
    assert child.stdout is not None
    acknowledged: list[str] = []
    deadline = time.monotonic() + 60
    while len(acknowledged) < 200 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        acknowledged.append(line.decode().strip())
    child.send_signal(signal.SIGKILL)
    rest, _ = child.communicate(timeout=30)
    acknowledged += [line for line in rest.decode().splitlines() if line]
    assert len(acknowledged) >= 50, "the child did not get going"

    async def inspect() -> tuple[dict[str, int], list[int], list[str], int]:
        reopened = await open_store(store_url)
        try:
            counts: dict[str, int] = {}
            positions = []
            async for stored in reopened.read_all():
                counts[stored.stream] = counts.get(stored.stream, 0) + 1
                positions.append(stored.position)
            found = await verify(reopened)
            longs = [f"crash-long-{worker}" for worker in range(4)]
            snapshots = sum([await reopened.read_models.snapshot(s) is not None for s in longs])
            return counts, positions, found.problems, snapshots
        finally:
            await reopened.close()

    counts, positions, problems, snapshots = asyncio.run(inspect())
    reached = {}
    for line in acknowledged:
        stream, _, version = line.partition(" ")
        if version:
            reached[stream] = max(reached.get(stream, 0), int(version))
    batches = [line for line in acknowledged if " " not in line]
    missing = [stream for stream in batches if counts.get(stream) != 3]
    assert missing == []
    assert {counts[s] for s in counts if not s.startswith("crash-long-")} == {3}, (
        "a batch was stored in part"
    )
    assert all(counts[stream] >= version for stream, version in reached.items())
    assert positions == list(range(1, len(positions) + 1))
    assert snapshots >= 1, "no snapshot was written before the kill"
    assert problems == []


async def test_a_stream_as_json_is_each_event_as_the_api_encodes_it(store: EventStore) -> None:
    """`read_stream_json` splices the stored bodies: the same bytes as decoding and encoding
    each event, with `read_stream`'s filters."""
    await store.append("vm", [announce(), invest(), milestone()], actor="a")
    await store.append("vm", [milestone("m2", "2024-06", "2024-02-01")], actor="b")
    events = [e async for e in store.read_stream("vm")]
    assert await store.read_stream_json("vm") == [(e.version, encode_stored(e)) for e in events]
    chosen = await store.read_stream_json(
        "vm", from_version=2, to_version=4, types=("MilestoneScheduled",), limit=1
    )
    assert chosen == [(3, encode_stored(events[2]))]
    assert await store.read_stream_json("nobody") == []
    kept = [pair async for pair in store.read_stream_bodies("vm", from_version=2)]
    assert [e for e, _ in kept] == events[1:]
    assert [encode_stored(e, body) for e, body in kept] == [encode_stored(e) for e in events[1:]]
    assert all(body is not None for _, body in kept)  # stored in the current schema


async def test_tokens_are_found_by_secret_and_revoked_by_name(store: EventStore) -> None:
    """A token is found by its secret while active, never by another, and not after revoking."""
    tokens = token_registry(store)
    secret = await tokens.create_token("pipeline", ("read", "append"))
    found = await tokens.find_token(secret)
    assert found is not None
    assert (found.name, found.scopes) == ("pipeline", ("append", "read"))
    assert await tokens.find_token(secret + "x") is None
    with pytest.raises(TokenError, match="exists"):
        await tokens.create_token("pipeline", ("append",))
    assert await tokens.revoke_token("pipeline")
    assert not await tokens.revoke_token("pipeline")
    assert await tokens.find_token(secret) is None
    renewed = await tokens.create_token("pipeline", ("append",))
    assert (await tokens.find_token(renewed)) is not None
    assert [t.name for t in await tokens.tokens()] == ["pipeline"]


async def test_a_revocation_elsewhere_takes_effect_within_the_trusted_time(
    store: EventStore, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token found is trusted for `TRUSTED_SECONDS`; a revocation by another process (the
    CLI) is seen once that has passed, and the known position likewise."""
    monkeypatch.setattr(store_base, "TRUSTED_SECONDS", 0.2)
    tokens = token_registry(store)
    secret = await tokens.create_token("pipeline", ("append",))
    assert await tokens.find_token(secret) is not None
    position = await store.known_position()
    other = await open_store(store_url)
    try:
        assert await token_registry(other).revoke_token("pipeline")
        await other.append("elsewhere", [announce()], actor="a")
    finally:
        await other.close()
    await asyncio.sleep(0.25)
    assert await tokens.find_token(secret) is None
    assert await store.known_position() == position + 1


async def test_verify_finds_gaps_versions_and_broken_rules(store: EventStore) -> None:
    """`verify` reports a store that holds true, and names each kind of breakage it reads."""
    await store.append("vm", [announce()], actor="a")
    healthy = await verify(store)
    assert (healthy.events, healthy.streams, healthy.problems) == (1, 1, [])

    class Broken:
        read_models = store.read_models
        sources = store.sources

        async def stats(self) -> StoreStats:
            return StoreStats(backend="broken", events=1, last_position=2)

        async def read_by_stream(self, up_to: int) -> AsyncIterator[list[StoredEvent]]:
            del up_to
            first = await anext(aiter(store.read_all()))
            yield [msgspec.structs.replace(first, position=2, version=2)]

    found = await verify(Broken())  # type: ignore[arg-type]
    assert found.problems[:1] == ["vm: version 2, expected 1"]
    assert found.problems[-1] == "1 events under last position 2: positions have gaps"
