"""The read models' contract, written once and run against every backend in `BACKENDS`.

Lists at past `as_of` and `known_at`, party changes, retractions, corrections,
calendar rows after reschedules and cancellations, rebuilds and `verify`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from itertools import product

import msgspec
import pytest
from helpers import SOURCE, achieved, announce, correct, d, milestone, retract

from timeline import calendar, fold
from timeline.calendar import CalendarItem, FeedOptions
from timeline.events import (
    Ending,
    MilestoneCancelled,
    MilestoneChange,
    MilestoneRescheduled,
    MilestoneStep,
    PartnershipEnded,
    Party,
    PartyJoined,
    PartyLeft,
    StoredEvent,
)
from timeline.readside import readmodels
from timeline.readside.readmodels import shown
from timeline.store import EventStore, open_store, rebuild, verify
from timeline.store.mapper import Query
from timeline.store.read_models import ListFilters, Window


async def ids(
    store: EventStore, day: str, known_at: datetime | None = None, **filters: str
) -> list[str]:
    page = await store.read_models.partnerships(
        ListFilters(day=date.fromisoformat(day), known_at=known_at, **filters), 100
    )
    return [stream for stream, _outline, _version in page]


def joined(org: str, effective: str) -> PartyJoined:
    return PartyJoined(effective=d(effective), sources=(SOURCE,), data=Party(org=org, name=org))


async def test_a_retracted_party_is_listed_only_as_known_before_the_retraction(
    store: EventStore,
) -> None:
    first = await store.append("vm", [announce()], actor="a")
    added = await store.append("vm", [joined("initech", "2024-06-01")], actor="a")
    gone = await store.append("vm", [retract(added.events[0].event.id)], actor="a")
    t1, t2, t3 = (r.events[-1].recorded_at for r in (first, added, gone))
    assert await ids(store, "2024-07-01", t2, party="initech") == ["vm"]
    assert await ids(store, "2024-07-01", t1, party="initech") == []
    assert await ids(store, "2024-05-01", t2, party="initech") == []  # not yet a party then
    assert await ids(store, "2024-07-01", t3, party="initech") == []
    assert await ids(store, "2024-07-01", party="initech") == []
    assert await ids(store, "2024-07-01", party="vodafone") == ["vm"]
    page = await store.read_models.partnerships(ListFilters(day=date(2024, 7, 1), known_at=t2), 10)
    assert [(s, [p.org for p in o.parties], v) for s, o, v in page] == [
        ("vm", ["vodafone", "microsoft", "initech"], 2)
    ]


async def test_leaving_and_ending_move_the_party_and_the_status(store: EventStore) -> None:
    left = PartyLeft(
        effective=d("2024-03-01"), sources=(SOURCE,), data=Party(org="microsoft", name="Microsoft")
    )
    ended = PartnershipEnded(effective=d("2025-01"), sources=(SOURCE,), data=Ending(reason="done"))
    await store.append("vm", [announce(), left, ended], actor="a")
    assert await ids(store, "2024-02-01", party="microsoft") == ["vm"]
    assert await ids(store, "2024-04-01", party="microsoft") == []
    assert await ids(store, "2024-12-31", status="active") == ["vm"]
    assert await ids(store, "2024-12-31", status="ended") == []
    assert await ids(store, "2025-01-01", status="ended") == ["vm"]
    assert await ids(store, "2024-01-15") == []  # announced on the 16th
    [(stream, outline)] = await store.read_models.memberships(
        "microsoft", date(2025, 2, 1), None, 9
    )
    assert (stream, outline.status) == ("vm", "ended")
    assert [p.org for p in outline.former_parties] == ["microsoft"]
    orgs = await store.read_models.organizations(date(2025, 2, 1), None, 10)
    assert sorted(orgs) == ["microsoft", "vodafone"]


async def test_a_correction_moves_the_regions(store: EventStore) -> None:
    first = await store.append("vm", [announce()], actor="a")
    data = {
        "title": "Vodafone–Microsoft",
        "kind": "strategic",
        "parties": [{"org": "vodafone", "name": "Vodafone"}, {"org": "microsoft", "name": "M"}],
        "regions": ["Africa", "Europe"],
    }
    fixed = await store.append("vm", [correct(first.events[0].event.id, data)], actor="a")
    before = first.events[-1].recorded_at
    assert await ids(store, "2024-02-01", region="AFRICA") == ["vm"]
    assert await ids(store, "2024-02-01", before, region="africa") == []
    assert await ids(store, "2024-02-01", fixed.events[-1].recorded_at, region="Africa") == ["vm"]
    assert await ids(store, "2024-02-01", region="africa", party="microsoft") == ["vm"]
    assert await ids(store, "2024-02-01", region="asia", party="microsoft") == []


async def test_pages_follow_the_stream_ids(store: EventStore) -> None:
    for n in range(7):
        await store.append(f"p{n}", [announce()], actor="a")
    first = await store.read_models.partnerships(ListFilters(day=date(2024, 2, 1)), 3)
    assert [s for s, _, _ in first] == ["p0", "p1", "p2"]
    rest = await ids(store, "2024-02-01", after="p2", party="vodafone")
    assert rest == ["p3", "p4", "p5", "p6"]


async def _items(store: EventStore, stream: str, options: FeedOptions) -> list[CalendarItem]:
    kinds = shown(options)
    chunks = store.read_models.calendar(kinds, Window(), stream=stream)
    return [item async for chunk in chunks for item in chunk]


async def _events(store: EventStore, stream: str) -> list[StoredEvent]:
    return [e async for e in store.read_stream(stream)]


async def test_calendar_rows_after_reschedules_and_cancellations(store: EventStore) -> None:
    await store.append("vm", [announce(), milestone("iot", "2024-04")], actor="a")
    moved = MilestoneRescheduled(
        effective=d("2024-03-01"), data=MilestoneChange(id="iot", due=d("2024-06-30"))
    )
    await store.append("vm", [moved], actor="a")
    await store.append(
        "vm",
        [MilestoneCancelled(effective=d("2024-05-01"), data=MilestoneStep(id="iot"))],
        actor="a",
    )
    [item] = await _items(store, "vm", FeedOptions())
    assert (item.sequence, item.content.status, item.content.day) == (
        2,
        "CANCELLED",
        date(2024, 6, 30),
    )
    events = await _events(store, "vm")
    for announcements, investments in product((False, True), repeat=2):
        options = FeedOptions(announcements=announcements, investments=investments)
        assert await _items(store, "vm", options) == calendar.stream_items(events, options)
    window = store.read_models.calendar(
        shown(FeedOptions()), Window(start=date(2024, 7, 1)), stream="vm"
    )
    assert [chunk async for chunk in window] == []


async def _snapshot(store: EventStore) -> object:
    streams = [info.stream for info in await store.streams()]
    return [await store.read_models.stream_rows(stream) for stream in streams]


async def test_rebuild_writes_what_the_appends_wrote_and_verify_agrees(store: EventStore) -> None:
    added = await store.append("vm", [announce(), joined("initech", "2024-06-01")], actor="a")
    await store.append("vm", [retract(added.events[1].event.id)], actor="a")
    await store.append("tm", [announce(), milestone()], actor="a")
    before = await _snapshot(store)
    assert (await verify(store)).problems == []
    report = await store.rebuild_read_models()
    assert (report.events, report.streams, report.generation) == (5, 2, 2)
    assert await _snapshot(store) == before
    assert (await store.rebuild_read_models(only_if_stale=True)).rebuilt is False
    assert (await verify(store)).problems == []


async def test_verify_names_a_read_model_that_differs(store: EventStore) -> None:
    await store.append("vm", [announce(), milestone()], actor="a")
    async with store.recorder.transaction() as tx:  # type: ignore[attr-defined]
        await tx.run(
            "UPDATE facets SET value = 'umbrella' WHERE kind = 'party' AND value = 'vodafone'", [()]
        )
        await tx.run("UPDATE calendar_items SET sequence = 7", [()])
    problems = (await verify(store)).problems
    assert any("lacks facet party 'vodafone'" in p for p in problems), problems
    assert any("extra facet party 'umbrella'" in p for p in problems), problems
    assert any("calendar item vm.milestone.iot differs" in p for p in problems)


async def test_verify_says_once_that_read_models_are_older_than_the_code(
    store: EventStore,
) -> None:
    """Read models an older version built are one finding naming the rebuild, not a problem
    per row it never wrote; positions, versions and folds are still checked."""
    await store.append("vm", [announce(), milestone()], actor="a")
    await store.append("other", [announce()], actor="a")
    async with store.recorder.transaction() as tx:  # type: ignore[attr-defined]
        await tx.run("UPDATE read_model_state SET version = 1", [()])
        await tx.run("DELETE FROM facets", [()])
        await tx.run("DELETE FROM calendar_items", [()])
    found = await verify(store)
    assert len(found.problems) == 1, found.problems
    assert "read models version 1" in found.problems[0]
    assert "timeline projections rebuild" in found.problems[0]
    assert (found.streams, found.events) == (2, 3)
    await store.rebuild_read_models()
    assert (await verify(store)).problems == []


GHOST = (
    "INSERT INTO facets (generation, stream, kind, value, valid_from, recorded_from)"
    " SELECT GENERATION, 'ghost', 'summary', 'active', valid_from, recorded_from"
    " FROM facets WHERE stream = 'vm'"
)


async def test_an_interrupted_rebuild_leaves_the_old_rows_serving(store: EventStore) -> None:
    """Rows a rebuild killed before its switch wrote for the next generation are invisible,
    and so are those of the generation before one killed after it; the next rebuild sweeps
    both."""
    await store.append("vm", [announce()], actor="a")
    async with store.recorder.transaction() as tx:  # type: ignore[attr-defined]
        for generation in ("generation + 1", "generation - 1"):
            await tx.run(GHOST.replace("GENERATION", generation), [()])
    assert await ids(store, "2024-02-01") == ["vm"]
    await store.rebuild_read_models()
    assert await ids(store, "2024-02-01") == ["vm"]
    assert (await verify(store)).problems == []
    async with store.recorder.transaction() as tx:  # type: ignore[attr-defined]
        left = await tx.fetch(Query(tx.dialect, "SELECT generation FROM facets"))
    assert {row[0] for row in left} == {2}


async def test_appends_during_a_rebuild_are_in_the_new_generation(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Streams that grow while a rebuild reads are replayed again before it switches."""
    monkeypatch.setattr(rebuild, "READ_ROWS", 1)  # pages of one event: progress between them
    for n in range(3):
        await store.append(f"p{n}", [announce()], actor="a")
    appended: list[asyncio.Task[object]] = []

    def progress(done: int, total: int) -> None:
        if not appended:  # while the rebuild is between two of its transactions
            appended.append(
                asyncio.get_running_loop().create_task(
                    store.append("p0", [joined("initech", "2024-06-01")], actor="a")
                )
            )
            appended.append(
                asyncio.get_running_loop().create_task(
                    store.append("late", [announce()], actor="a")
                )
            )
        assert done <= total

    report = await store.rebuild_read_models(progress)
    await asyncio.gather(*appended)
    assert report.events == 3  # what it read up to its basis; the rest was caught up
    assert await ids(store, "2024-07-01", party="initech") == ["p0"]
    assert await ids(store, "2024-07-01") == ["late", "p0", "p1", "p2"]
    assert (await verify(store)).problems == []


async def test_a_rebuild_in_worker_processes_writes_the_same_rows(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages replayed by worker processes, a stream longer than a page carried whole."""
    monkeypatch.setattr(rebuild, "PARALLEL_FROM", 0)
    monkeypatch.setattr(rebuild, "READ_ROWS", 2)
    moved = MilestoneRescheduled(
        effective=d("2024-03-01"), data=MilestoneChange(id="iot", due=d("2024-06-30"))
    )
    await store.append(
        "vm", [announce(), milestone("iot", "2024-04"), joined("x", "2024-05")], actor="a"
    )
    await store.append("vm", [moved], actor="a")
    for n in range(3):
        await store.append(f"p{n}", [announce()], actor="a")
    before = await _snapshot(store)
    report = await store.rebuild_read_models()
    assert (report.events, report.streams) == (7, 4)
    assert await _snapshot(store) == before
    assert (await verify(store)).problems == []


async def test_a_refused_append_leaves_the_kept_fold_and_rows_right(store: EventStore) -> None:
    """The writer checks appends with the fold it keeps of the stream; one the domain refuses
    changes nothing, and the appends after it are checked and written as a fresh fold says."""
    await store.append("vm", [announce(), milestone("iot", "2024-04")], actor="a")
    with pytest.raises(fold.DomainError, match="unknown-milestone"):
        await store.append("vm", [achieved("never")], actor="a")
    with pytest.raises(fold.DomainError, match="milestone-closed"):
        await store.append("vm", [achieved("iot"), achieved("iot", "2024-05-03")], actor="a")
    await store.append("vm", [achieved("iot")], actor="a")
    with pytest.raises(fold.DomainError, match="milestone-closed"):  # the fold holds the success
        await store.append("vm", [achieved("iot", "2024-06-01")], actor="a")
    assert [info.version for info in await store.streams()] == [3]
    _facets, items = await store.read_models.stream_rows("vm")
    assert {uid: item.content.progress for uid, item in items.items()} == {
        "vm.announcement": "active",
        "vm.milestone.iot": "achieved",
    }
    assert (await verify(store)).problems == []


async def test_an_empty_store_has_current_read_models_whatever_stamped_it(store_url: str) -> None:
    """Migrations stamp an empty store with the read models' version of their day; opened by
    newer code it is current (nothing to rebuild), while a store with events stays stale."""
    first = await open_store(store_url)
    try:
        async with first.recorder.transaction() as tx:  # type: ignore[attr-defined]
            await tx.run("UPDATE read_model_state SET version = 1", [()])
    finally:
        await first.close()
    reopened = await open_store(store_url)
    try:
        assert (await reopened.read_models.state()).version == readmodels.VERSION
        await reopened.append("vm", [announce()], actor="t")
        async with reopened.recorder.transaction() as tx:  # type: ignore[attr-defined]
            await tx.run("UPDATE read_model_state SET version = 1", [()])
    finally:
        await reopened.close()
    stale = await open_store(store_url)
    try:
        assert (await stale.read_models.state()).version == 1
    finally:
        await stale.close()


async def test_a_search_finds_the_starts_of_words_in_the_outline_in_any_case_and_accent(
    store: EventStore,
) -> None:
    """`text` matches words of the title, kind, parties, regions and summary: each of its
    words must begin one of them, on that day as known then."""
    await store.append("vm", [announce()], actor="a")
    other = msgspec.structs.replace(
        announce().data,
        title="Acme_Globex 100% joint venture",
        regions=("Africa",),
        parties=(Party(org="telefonica", name="Telefónica"), Party(org="acme", name="ACME")),
    )
    first = msgspec.structs.replace(announce(), data=other)
    await store.append("ag", [first], actor="a")
    assert await ids(store, "2024-07-01", text="vodafone–MICROSOFT") == ["vm"]
    assert await ids(store, "2024-07-01", text="africa") == ["ag"]
    assert await ids(store, "2024-07-01", text="100%") == ["ag"]
    assert await ids(store, "2024-07-01", text="globex") == ["ag"]  # `_` parts words
    assert await ids(store, "2024-07-01", text="TELEFONICA") == ["ag"]  # without its accent
    assert await ids(store, "2024-07-01", text="telefónica joint") == ["ag"]
    assert await ids(store, "2024-07-01", text="micro") == ["vm"]  # the start of a word
    assert await ids(store, "2024-07-01", text="soft") == []  # not its middle
    assert await ids(store, "2024-07-01", text="strat") == ["ag", "vm"]  # their kind
    assert await ids(store, "2024-07-01", text="strategic", party="acme") == ["ag"]
    assert await ids(store, "2024-07-01", text="joint vodafone") == []  # every word
    assert await ids(store, "2024-07-01", text="nothing like it") == []
    assert await ids(store, "2024-01-01", text="africa") == []  # not yet announced
    assert await ids(store, "2024-07-01", text="–%") == ["ag", "vm"]  # no word: no filter
    before = datetime.now(UTC)
    renamed = msgspec.to_builtins(msgspec.structs.replace(other, title="Acme–Initech"))
    await store.append("ag", [correct(first.id, renamed)], actor="a")
    assert await ids(store, "2024-07-01", text="globex") == []
    assert await ids(store, "2024-07-01", text="initech") == ["ag"]
    assert await ids(store, "2024-07-01", before, text="globex") == ["ag"]  # as known then
