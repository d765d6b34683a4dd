"""Stored snapshots (`fold.Folding.snapshot`), against every backend: written with the read
models, equal to the fold of their events, used by cold reads and appends, rebuilt, verified."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import NoReturn

import pytest
from helpers import SOURCE, announce, d, milestone, retract

from timeline import fold, readmodels
from timeline.events import Statement, StatementMade, StoredEvent
from timeline.projection import Projector
from timeline.store import EventStore, open_store, verify

EVERY = 4


@pytest.fixture(autouse=True)
def _often(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readmodels, "SNAPSHOT_EVERY", EVERY)


def statement(n: int, effective: str = "2024-02-01") -> StatementMade:
    return StatementMade(
        effective=d(effective),
        sources=(SOURCE,),
        data=Statement(speaker="Spokesperson", text=f"Statement {n}", language="en"),
    )


async def _grow(store: EventStore, stream: str, appends: int) -> None:
    await store.append(stream, [announce()], actor="a")
    for n in range(appends - 1):
        await store.append(stream, [statement(n)], actor="a")


async def _events(store: EventStore, stream: str) -> list[StoredEvent]:
    return [e async for e in store.read_stream(stream)]


def _folded(events: list[StoredEvent]) -> fold.Folding:
    folding = fold.Folding()
    folding.advance(events)
    return folding


def _no_folding_from_the_start(_self: Projector, _info: object) -> NoReturn:
    raise AssertionError("read every event of the stream")


async def test_a_stream_keeps_a_snapshot_every_few_events_equal_to_their_fold(
    store: EventStore,
) -> None:
    await _grow(store, "vm", 10)
    found = await store.read_models.snapshot("vm")
    assert found is not None
    version, body = found
    assert version == 8  # stored at 4 and again at 8; 10 is only 2 past it
    restored = fold.Folding.restore(body)
    assert restored is not None
    expected = _folded((await _events(store, "vm"))[:8])
    assert restored.version == 8
    assert restored.state() == expected.state()
    assert restored.stages == expected.stages
    await store.append("short", [announce()], actor="a")
    assert await store.read_models.snapshot("short") is None  # fewer events than EVERY


async def test_a_cold_state_comes_from_the_snapshot_and_the_events_after_it(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _grow(store, "vm", 10)
    events = await _events(store, "vm")
    today = datetime.now(UTC).date()
    info = await store.stream_info("vm")
    assert info is not None
    monkeypatch.setattr(Projector, "events", _no_folding_from_the_start)
    state = await Projector(store).state(info, as_of=today, known_at=datetime.now(UTC))
    assert state is not None
    expected = fold.fold(events, as_of=today)
    assert expected is not None
    assert state.statements == expected.statements
    assert len(state.statements) == 9
    assert state.basis.version == 10
    assert state == fold.msgspec.structs.replace(expected, basis=state.basis)


@pytest.mark.parametrize(
    "case", ["late fact", "retraction", "day before the last fact", "known before the snapshot"]
)
async def test_a_cold_state_the_snapshot_cannot_give_is_folded_from_the_first_event(
    store: EventStore, case: str
) -> None:
    await store.append("vm", [announce(), milestone("iot", "2024-04")], actor="a")
    for n in range(7):
        await store.append("vm", [statement(n, "2024-03-01")], actor="a")
    early = (await _events(store, "vm"))[2].recorded_at  # before the snapshot at version 8
    as_of, known_at = date(2024, 12, 31), None
    if case == "late fact":
        await store.append("vm", [statement(99, "2024-01-20")], actor="a")
    elif case == "retraction":
        first = (await _events(store, "vm"))[2].event.id
        await store.append("vm", [retract(first, "2024-03-02")], actor="a")
    elif case == "day before the last fact":
        as_of = date(2024, 2, 15)  # the statements of March are not yet made
    else:
        known_at = early
    assert await store.read_models.snapshot("vm") is not None
    info = await store.stream_info("vm", known_at=known_at)
    assert info is not None
    events = [e for e in await _events(store, "vm") if e.version <= info.version]
    state = await Projector(store).state(info, as_of=as_of, known_at=datetime.now(UTC))
    expected = fold.fold(events, as_of=as_of)
    assert state is not None
    assert expected is not None
    assert state.statements == expected.statements
    assert state.milestones == expected.milestones
    assert state.basis.version == len(events)


async def test_a_writer_starting_cold_goes_on_from_the_snapshot(store_url: str) -> None:
    """A fresh process (no kept folding) checks the next appends from the stored snapshot,
    refuses what breaks a rule, and leaves rows a replay agrees with."""
    first = await open_store(store_url)
    try:
        await _grow(first, "vm", 9)
    finally:
        await first.close()
    again = await open_store(store_url)
    try:
        await again.append("vm", [milestone("iot", "2024-06")], actor="a")
        with pytest.raises(fold.DomainError) as refused:
            await again.append("vm", [milestone("iot", "2024-07")], actor="a")
        assert refused.value.rule == "duplicate-id"
        await again.append("vm", [statement(50)], actor="a")
        found = await again.read_models.snapshot("vm")
        assert found is not None
        assert found[0] == 8
        assert (await verify(again)).problems == []
        assert len(await _events(again, "vm")) == 11
    finally:
        await again.close()


async def test_a_rebuild_writes_the_snapshots_again_and_verify_names_a_wrong_one(
    store: EventStore,
) -> None:
    await _grow(store, "vm", 9)
    await _grow(store, "tm", 5)
    before = {s: await store.read_models.snapshot(s) for s in ("vm", "tm")}
    await store.rebuild_read_models()
    after = {s: await store.read_models.snapshot(s) for s in ("vm", "tm")}
    assert {s: f[0] for s, f in after.items() if f} == {"vm": 9, "tm": 5}  # a replay's end
    assert before["vm"] is not None
    assert before["vm"][0] == 8
    assert (await verify(store)).problems == []
    async with store.recorder.transaction() as tx:  # type: ignore[attr-defined]
        await tx.run(
            "UPDATE snapshots SET body = (SELECT body FROM snapshots WHERE stream = 'tm'),"
            " version = 5 WHERE stream = 'vm'",
            [()],
        )
    problems = (await verify(store)).problems
    assert problems == ["vm: snapshot at version 5 differs from what its events fold to"]
