"""Stored snapshots (`incremental.Folding.snapshot`), against every backend: written with the read
models, equal to the fold of their events, used by cold reads and appends, rebuilt, verified."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import NoReturn
from uuid import uuid4

import msgspec
import pytest
import zstandard
from helpers import SOURCE, T0, achieved, announce, d, milestone, recorded, retract
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_read_models import STEPS, _event

from timeline import fold
from timeline.events import AnyEvent, Statement, StatementMade, StoredEvent
from timeline.projection import Projector
from timeline.readside import incremental, readmodels
from timeline.store import EventStore, open_store, verify
from timeline.store.recorder import SQLTransaction

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


async def _grown_elsewhere(url: str, stream: str, appends: int) -> None:
    """`_grow` in a store opened and closed again: what the next one opened reads cold."""
    first = await open_store(url)
    try:
        await _grow(first, stream, appends)
    finally:
        await first.close()


async def _events(store: EventStore, stream: str) -> list[StoredEvent]:
    return [e async for e in store.read_stream(stream)]


def _folded(events: list[StoredEvent]) -> incremental.Folding:
    folding = incremental.Folding()
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
    restored = incremental.Folding.restore(body)
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
    assert state == msgspec.structs.replace(expected, basis=state.basis)


async def test_a_cold_state_at_its_snapshot_reads_no_events(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A snapshot that is the stream as viewed is the whole answer: no query for events."""
    await _grow(store, "vm", 8)
    events = await _events(store, "vm")
    found = await store.read_models.snapshot("vm")
    assert found is not None
    assert found[0] == 8
    info = await store.stream_info("vm")
    assert info is not None
    monkeypatch.setattr(Projector, "events", _no_folding_from_the_start)
    monkeypatch.setattr(type(store), "read_stream", _no_folding_from_the_start)
    today = datetime.now(UTC).date()
    state = await Projector(store).state(info, as_of=today, known_at=datetime.now(UTC))
    expected = fold.fold(events, as_of=today)
    assert state is not None
    assert expected is not None
    assert state == msgspec.structs.replace(expected, basis=state.basis)


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
    await _grown_elsewhere(store_url, "vm", 9)
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


@pytest.mark.parametrize(
    "stored_as",
    [lambda plain: plain, zlib.compress],
    ids=["uncompressed (shape 5 and before)", "zlib (shapes 6 and 7)"],
)
async def test_verify_says_once_that_snapshots_are_of_an_older_shape(
    store: EventStore, stored_as: Callable[[bytes], bytes]
) -> None:
    """A snapshot of an older shape is no problem (every reader ignores it), but its stream is
    folded from its events until replaced: verify says so once, with the command."""
    await _grow(store, "vm", 9)
    await _grow(store, "tm", 9)
    body = await store.read_models.snapshot("vm")
    assert body is not None
    older = stored_as(zstandard.decompress(body[1]))
    async with store.recorder.transaction() as tx:  # type: ignore[attr-defined]
        sql = f"UPDATE snapshots SET body = {tx.dialect.placeholder(1)}"  # noqa: S608 - a placeholder
        await tx.run(sql, [(older,)])
    found = await verify(store)
    assert found.problems == []
    assert len(found.notices) == 1
    assert found.notices[0].startswith("2 stream(s) have a snapshot of an older shape")
    assert "timeline projections rebuild" in found.notices[0]


def _tails_read(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, int]]:
    """Each group's `stream_tails` request ({stream: version read after}), as the writer made
    them from here on."""
    reads: list[dict[str, int]] = []
    tails = SQLTransaction.stream_tails

    async def stream_tails(self: SQLTransaction, after: Mapping[str, int]) -> list[StoredEvent]:
        reads.append(dict(after))
        return await tails(self, after)

    monkeypatch.setattr(SQLTransaction, "stream_tails", stream_tails)
    return reads


async def test_a_cold_writer_reads_only_the_events_after_the_snapshot(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forward append reads the tail; a late fact reads the whole stream and is decided
    again, with the same answer a full check gives."""
    await _grown_elsewhere(store_url, "vm", 10)  # snapshot at 8
    reads = _tails_read(monkeypatch)
    again = await open_store(store_url)
    try:
        await again.append("vm", [statement(20, "2024-03-01")], actor="a")
        assert reads == [{"vm": 8}]
        await again.append("vm", [statement(21, "2024-03-02")], actor="a")
        assert reads == [{"vm": 8}]  # the writer keeps what it read
        late = await again.append("vm", [statement(22, "2024-01-20")], actor="a")
        assert late.events[0].version == 13
        assert reads == [{"vm": 8}, {"vm": 0}]  # the whole stream, from its first event
        assert (await verify(again)).problems == []
    finally:
        await again.close()


async def test_a_late_fact_reads_only_its_own_stream_whole(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In one group, a late fact to one cold stream and a forward fact to another: the group
    is decided again with the first read from its first event, the second from its snapshot."""
    await _grown_elsewhere(store_url, "vm", 10)
    await _grown_elsewhere(store_url, "tm", 10)
    reads = _tails_read(monkeypatch)
    again = await open_store(store_url)
    try:
        late, forward = await asyncio.gather(
            again.append("vm", [statement(22, "2024-01-20")], actor="a"),
            again.append("tm", [statement(23, "2024-03-01")], actor="a"),
        )
        assert (late.events[0].version, forward.events[0].version) == (11, 11)
        assert reads == [{"tm": 8, "vm": 8}, {"tm": 8, "vm": 0}]
        assert (await verify(again)).problems == []
    finally:
        await again.close()


async def test_a_cold_append_reads_the_rows_only_when_it_may_change_them(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A statement changes no facet or calendar item: its append reads the snapshot and the
    tail, not the rows; a milestone after it reads them then, and the rows written are what a
    replay of the stream writes."""
    await _grown_elsewhere(store_url, "vm", 10)
    loads: list[tuple[list[str], list[str]]] = []
    load = SQLTransaction.load_models

    async def load_models(
        self: SQLTransaction, streams: Collection[str], rows: Collection[str]
    ) -> dict[str, readmodels.StreamModel]:
        loads.append((sorted(streams), sorted(rows)))
        return await load(self, streams, rows)

    monkeypatch.setattr(SQLTransaction, "load_models", load_models)
    again = await open_store(store_url)
    try:
        await again.append("vm", [statement(20, "2024-03-01")], actor="a")
        assert loads == [(["vm"], [])]
        await again.append("vm", [milestone("iot", "2024-06", "2024-03-02")], actor="a")
        assert loads == [(["vm"], []), ([], ["vm"])]  # kept folding, rows read once
        await again.append("vm", [achieved("iot", "2024-03-05")], actor="a")
        assert len(loads) == 2  # kept with its rows now
        assert (await verify(again)).problems == []
        items = (await again.read_models.stream_rows("vm"))[1]
        assert sorted(items) == ["vm.announcement", "vm.milestone.iot"]
        assert items["vm.milestone.iot"].sequence == 1  # scheduled, then achieved
    finally:
        await again.close()


async def test_appends_to_one_cold_stream_at_several_instants_in_one_group(
    store_url: str,
) -> None:
    """The folding checks each append of a group; the rows move per recording instant, so
    they are what a replay writes. One refused append in the middle changes nothing else."""
    await _grown_elsewhere(store_url, "vm", 9)
    again = await open_store(store_url)
    try:
        base = (await _events(again, "vm"))[-1].recorded_at
        moments = [base + timedelta(microseconds=n) for n in (1, 2, 2, 3)]
        appends = [
            [milestone("iot", "2024-06", "2024-03-01")],
            [achieved("iot", "2024-03-05")],
            [achieved("iot", "2024-03-06")],  # refused: achieved already
            [statement(30, "2024-03-07")],
        ]
        results = await asyncio.gather(
            *(
                again.append("vm", events, actor="a", recorded_at=at)
                for events, at in zip(appends, moments, strict=True)
            ),
            return_exceptions=True,
        )
        assert [getattr(r, "rule", None) for r in results] == [None, None, "milestone-closed", None]
        events = await _events(again, "vm")
        assert [e.version for e in events][-3:] == [10, 11, 12]
        assert (await verify(again)).problems == []
        info = await again.stream_info("vm")
        assert info is not None
        state = await Projector(again).state(info, as_of=date(2024, 12, 31), known_at=base)
        assert state == msgspec.structs.replace(
            fold.fold(events, as_of=date(2024, 12, 31)),  # type: ignore[type-var]
            basis=state.basis,  # type: ignore[union-attr]
        )
        assert state is not None
        assert [(m.id, m.status) for m in state.milestones] == [("iot", "achieved")]
    finally:
        await again.close()


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    steps=STEPS,
    together=st.integers(1, 4),
    reopen_every=st.integers(1, 4),
    snapshot_every=st.sampled_from([1, 4, 10_000]),
)
def test_a_store_decides_every_append_as_a_full_check_would(
    steps: list[tuple[int, int, int, bool]],
    together: int,
    reopen_every: int,
    snapshot_every: int,
    tmp_path: Path,
) -> None:
    """Random appends, valid or not (late facts, retractions, corrections), several at a
    time in one group, the store reopened now and then so its writer starts from the
    snapshots (or, with none, from the stream's events and its rows as stored): each is
    accepted or refused as `fold.check` of the whole stream says, and the rows and states
    are those of a replay."""
    url = f"sqlite:///{tmp_path / f'{uuid4().hex}.db'}"
    kept = readmodels.SNAPSHOT_EVERY
    readmodels.SNAPSHOT_EVERY = snapshot_every
    try:
        asyncio.run(_decide_randomly(url, steps, together, reopen_every))
    finally:
        readmodels.SNAPSHOT_EVERY = kept


async def _decide_randomly(
    url: str, steps: list[tuple[int, int, int, bool]], together: int, reopen_every: int
) -> None:
    store = await open_store(url)
    try:
        accepted: list[AnyEvent] = [announce("2024-01-01")]
        await store.append("ag", accepted, actor="a", recorded_at=T0)
        at = T0
        for round_, start in enumerate(range(0, len(steps), together)):
            if round_ % reopen_every == reopen_every - 1:
                await store.close()
                store = await open_store(url)
            candidates, moments = [], []
            for kind, arg, delta, same in steps[start : start + together]:
                candidates.append(_event(kind, arg, max(0, 10 * start + delta), accepted))
                at = at if same and moments else at + timedelta(minutes=1)
                moments.append(at)
            results = await asyncio.gather(
                *(
                    store.append("ag", [event], actor="a", recorded_at=moment)
                    for event, moment in zip(candidates, moments, strict=True)
                ),
                return_exceptions=True,
            )
            for event, result in zip(candidates, results, strict=True):
                try:
                    trial = recorded([*accepted, event], stream="ag")
                    fold.check(trial)
                    incremental.check_new(trial[:-1], trial[-1:])
                    expected = None
                except fold.DomainError as error:
                    expected = error.rule
                assert getattr(result, "rule", None) == expected, result
                if expected is None:
                    accepted.append(event)
        stored = await _events(store, "ag")
        assert [e.event for e in stored] == accepted
        assert (await verify(store)).problems == []
        info = await store.stream_info("ag")
        assert info is not None
        state = await Projector(store).state(info, as_of=date(2030, 1, 1), known_at=at)
        expected = fold.fold(stored, as_of=date(2030, 1, 1))
        if expected is None:  # the announcement retracted
            assert state is None
        else:
            assert state == msgspec.structs.replace(expected, basis=state.basis)  # type: ignore[union-attr]
    finally:
        await store.close()


async def test_refused_first_appends_leave_nothing_kept(store: EventStore) -> None:
    """A stream whose first append is refused holds no events and no rows: the writer keeps
    nothing of it (zero-weight entries would grow its caches without bound)."""
    for n in range(50):
        with pytest.raises(fold.DomainError):
            await store.append(f"never-{n}", [statement(n)], actor="a")
    writer = store._writer  # type: ignore[attr-defined]  # what it keeps
    assert not any(name.startswith("never-") for name in writer._models._entries)
    await store.append("kept", [announce()], actor="a")
    assert "kept" in writer._models._entries


async def test_an_append_refused_for_its_recording_time_leaves_the_folding_right(
    store: EventStore,
) -> None:
    """An append checked by the folding, then refused because its `recorded_at` is older
    than the store's latest, must leave nothing of itself in the folding the next append of
    the same group is checked with."""
    await _grow(store, "vm", 9)
    late = milestone("iot", "2024-06", "2024-03-01")
    results = await asyncio.gather(
        store.append("vm", [late], actor="a", recorded_at=T0),  # before every recording
        store.append("vm", [achieved("iot", "2024-03-05")], actor="a"),
        return_exceptions=True,
    )
    assert type(results[0]).__name__ == "RecordingTimeError"
    assert getattr(results[1], "rule", None) == "unknown-milestone"  # the milestone never was
    again = await store.append("vm", [milestone("iot", "2024-06", "2024-03-01")], actor="a")
    assert again.events[0].version == 10
    assert (await verify(store)).problems == []
