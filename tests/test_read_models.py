"""Read-model rows equal the fold they stand for, on random histories (`timeline/readmodels.py`).

Histories are random valid streams: parties joining and leaving, milestones
and phases scheduled, moved, achieved and cancelled, an ending, retractions
and corrections, on random effective days, recorded in random batches. For
every recording instant and many world days, the facets known then must say
what `fold` says, and the calendar rows must be what `calendar.stream_items`
renders for every feed option.
"""

from __future__ import annotations

import zlib
from datetime import date, datetime, timedelta
from itertools import product

import msgspec
import pytest
import zstandard
from helpers import SOURCE, T0, d, recorded
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from timeline import calendar, fold
from timeline.calendar import FeedOptions
from timeline.dates import Period
from timeline.events import (
    Announcement,
    AnyEvent,
    Correction,
    Ending,
    EventCorrected,
    EventRetracted,
    Milestone,
    MilestoneAchieved,
    MilestoneCancelled,
    MilestoneChange,
    MilestoneRescheduled,
    MilestoneScheduled,
    MilestoneStep,
    PartnershipAnnounced,
    PartnershipEnded,
    Party,
    PartyJoined,
    PartyLeft,
    Phase,
    PhaseCancelled,
    PhaseChange,
    PhaseRescheduled,
    PhaseScheduled,
    PhaseStarted,
    PhaseStep,
    Retraction,
    Source,
    Statement,
    StatementMade,
    StoredEvent,
)
from timeline.readside import incremental, readmodels

ORGS = ("acme", "globex", "initech", "umbrella")
DAY0 = date(2024, 1, 1)


def _day(offset: int) -> str:
    return (DAY0 + timedelta(days=offset)).isoformat()


def _event(kind: int, arg: int, offset: int, earlier: list[AnyEvent]) -> AnyEvent:  # noqa: C901, PLR0911, PLR0912 - a case per kind
    on = d(_day(offset))
    org = ORGS[arg % len(ORGS)]
    item = f"m{arg % 3}"
    match kind:
        case 0:
            return PartyJoined(effective=on, sources=(SOURCE,), data=Party(org=org, name=org))
        case 1:
            return PartyLeft(effective=on, sources=(SOURCE,), data=Party(org=org, name=org))
        case 2:
            due = d(_day(offset + 30 + arg)[:7])  # month precision
            return MilestoneScheduled(
                effective=on, sources=(SOURCE,), data=Milestone(id=item, title=item, due=due)
            )
        case 3:
            due = d(_day(offset + 60 + arg))
            return MilestoneRescheduled(
                effective=on, sources=(SOURCE,), data=MilestoneChange(id=item, due=due)
            )
        case 4:
            return MilestoneAchieved(effective=on, sources=(SOURCE,), data=MilestoneStep(id=item))
        case 5:
            return MilestoneCancelled(effective=on, sources=(SOURCE,), data=MilestoneStep(id=item))
        case 6:
            period = Period.parse(f"{_day(offset)}/{_day(offset + 90)}")
            return PhaseScheduled(
                effective=on,
                sources=(SOURCE,),
                data=Phase(id=f"p{arg % 2}", name="Pilot", period=period),
            )
        case 7:
            return PhaseStarted(effective=on, sources=(SOURCE,), data=PhaseStep(id=f"p{arg % 2}"))
        case 8:
            return PhaseCancelled(effective=on, sources=(SOURCE,), data=PhaseStep(id=f"p{arg % 2}"))
        case 12:  # open-ended on odd args: the end marker goes; cited by another source
            end = ".." if arg % 2 else _day(offset + 120)
            source = Source(title=f"Report {arg}", language="en")
            return PhaseRescheduled(
                effective=on,
                sources=(source,),
                data=PhaseChange(id=f"p{arg % 2}", period=Period.parse(f"{_day(offset)}/{end}")),
            )
        case 9 if arg == 0:
            return PartnershipEnded(effective=on, sources=(SOURCE,), data=Ending(reason="done"))
        case 9:
            return PartyJoined(effective=on, sources=(SOURCE,), data=Party(org=org, name=org))
        case 13:  # a note: checked against a restored snapshot's head alone
            source = Source(title=f"Interview {arg % 3}", language="en")
            statement = Statement(speaker=org, text=f"Said on day {offset}", language="en")
            return StatementMade(effective=on, sources=(source,), data=statement)
        case 10:
            target = earlier[arg % len(earlier)]
            return EventRetracted(
                effective=on, sources=(SOURCE,), data=Retraction(event_id=target.id, reason="wrong")
            )
        case _:
            regions = ("Europe", "Africa", "Asia")[: 1 + arg % 3]
            return EventCorrected(
                effective=on,
                sources=(SOURCE,),
                data=Correction(
                    event_id=earlier[0].id, data=_announcement(regions), reason="regions"
                ),
            )


def _announcement(regions: tuple[str, ...]) -> dict[str, object]:
    return {
        "title": "Acme–Globex",
        "kind": "strategic",
        "parties": [{"org": "acme", "name": "Acme"}, {"org": "globex", "name": "Globex"}],
        "regions": list(regions),
    }


KINDS = (0, 0, 1, 2, 2, 2, 3, 3, 4, 4, 5, 6, 6, 7, 8, 10, 10, 11, 11, 9, 12, 12, 13, 13, 13)
"""Weighted: joins, milestones and meta events often, an ending (which closes the stream) rarely."""

STEPS = st.lists(
    st.tuples(
        st.sampled_from(KINDS),  # what happens
        st.integers(0, 11),  # which party, item, target
        st.integers(-40, 60),  # days after the previous step (negative: a late fact)
        st.booleans(),  # recorded with the previous step (same instant)
    ),
    min_size=8,
    max_size=40,
)


def history(steps: list[tuple[int, int, int, bool]]) -> list[StoredEvent]:
    """A valid stream from random steps: a step that would break a rule is left out."""
    first = PartnershipAnnounced(
        effective=d(_day(0)),
        sources=(SOURCE,),
        data=Announcement(
            title="Acme–Globex",
            kind="strategic",
            parties=(Party(org="acme", name="Acme"), Party(org="globex", name="Globex")),
            regions=("Europe",),
        ),
    )
    events: list[AnyEvent] = [first]
    times = [T0]
    offset = 0
    for kind, arg, delta, same_instant in steps:
        offset = max(0, offset + delta)
        candidate = _event(kind, arg, offset, events)
        at = times[-1] if same_instant else times[-1] + timedelta(hours=1)
        trial = recorded([*events, candidate], stream="ag", at=[*times, at])
        try:
            fold.check(trial)
            incremental.check_new(trial[:-1], trial[-1:])
        except fold.DomainError:
            continue
        events.append(candidate)
        times.append(at)
    return recorded(events, stream="ag", at=times)


def _known_at(model: readmodels.StreamModel, at: datetime) -> list[readmodels.FacetRow]:
    rows = [*model.open.values(), *model.closed]
    return [
        k.row
        for k in rows
        if k.recorded_from <= at and (k.recorded_to is None or k.recorded_to > at)
    ]


def _valid(rows: list[readmodels.FacetRow], kind: str, day: date) -> list[readmodels.FacetRow]:
    return [
        r
        for r in rows
        if r.kind == kind and r.valid_from <= day and (r.valid_to is None or r.valid_to > day)
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(STEPS)
def test_facets_say_what_the_fold_says_at_every_instant_and_day(steps) -> None:
    events = history(steps)
    model = readmodels.replay("ag", events)
    instants = sorted({e.recorded_at for e in events})
    days = sorted(
        {e.event.effective.first_day + timedelta(days=k) for e in events for k in (-1, 0, 1)}
    )
    for at in instants:
        rows = _known_at(model, at)
        known = [e for e in events if e.recorded_at <= at]
        for day in days:
            state = fold.fold(known, as_of=day)
            summaries = _valid(rows, "summary", day)
            if state is None:
                assert summaries == []
                continue
            assert len(summaries) == 1, (at, day)
            outline = readmodels.decode_outline(summaries[0].detail or b"")
            assert outline.status == state.status == summaries[0].value
            assert [p.org for p in outline.parties] == [p.org for p in state.parties]
            assert [p.org for p in outline.former_parties] == [p.org for p in state.former_parties]
            assert outline.regions == state.regions
            parties = {r.value for r in _valid(rows, "party", day)}
            assert parties == {p.org for p in state.parties}
            regions = {r.value for r in _valid(rows, "region", day)}
            assert regions == {r.casefold() for r in state.regions}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(STEPS)
def test_calendar_rows_are_what_every_feed_renders(steps) -> None:
    events = history(steps)
    model = readmodels.replay("ag", events)
    for announcements, investments in product((False, True), repeat=2):
        options = FeedOptions(announcements=announcements, investments=investments)
        kinds = readmodels.shown(options)
        rows = sorted(
            (i for i in model.items.values() if readmodels.item_kind(i.content.uid) in kinds),
            key=lambda i: i.content.uid,
        )
        assert rows == calendar.stream_items(events, options)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(STEPS, st.integers(1, 25))
def test_advancing_from_stored_rows_equals_a_replay(steps, split) -> None:
    """The writer's path (rows as stored, then the next appends) ends where a replay does."""
    events = history(steps)
    cut = min(split, len(events))
    while cut < len(events) and events[cut].recorded_at == events[cut - 1].recorded_at:
        cut += 1  # a recording instant is never split between two appends
    earlier = readmodels.replay("ag", events[:cut])
    resumed = readmodels.StreamModel("ag", open=dict(earlier.open), items=dict(earlier.items))
    for count, batch in readmodels.batches(events[cut:]):
        resumed.advance(events[: cut + count], batch)
    whole = readmodels.replay("ag", events)
    assert resumed.items == whole.items
    assert set(resumed.open) == set(whole.open)
    assert {(k.row, k.recorded_from) for k in resumed.open.values()} == {
        (k.row, k.recorded_from) for k in whole.open.values()
    }
    cut_at = events[cut - 1].recorded_at
    closed_now = {(k.row, k.recorded_from, k.recorded_to) for k in resumed.closed}
    closed_later = {
        (k.row, k.recorded_from, k.recorded_to)
        for k in whole.closed
        if k.recorded_to is not None and k.recorded_to > cut_at
    }
    assert closed_now == closed_later  # what the later appends closed, and nothing else


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(STEPS)
def test_a_folding_kept_open_equals_folding_again(steps) -> None:
    """`incremental.Folding` after each batch: the state and outlines a full fold gives."""
    events = history(steps)
    folding = incremental.Folding()
    for count, _batch in readmodels.batches(events):
        folding.advance(events[:count])
        assert folding.state() == fold.fold(events[:count], as_of=fold.END_OF_TIME)
        again = incremental.Folding()
        again.advance(events[:count])
        assert folding.stages == again.stages


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(STEPS, st.integers(1, 4), st.booleans())
def test_checking_an_append_incrementally_says_what_a_full_check_says(
    steps, batch, from_snapshot
) -> None:
    """`incremental.check_append` with a kept folding (or one restored from its snapshot before each
    append, as a writer starting cold has) and `fold.check` of the whole stream: the same
    error (rule and event) for every candidate append, valid or not, late facts, retractions and
    corrections included; and the same state after every accepted one."""
    first = history([])[0].event
    accepted: list[AnyEvent] = [first]
    folding = incremental.Folding()
    folding.advance(recorded(accepted, stream="ag"))
    errors = 0
    for start in range(0, len(steps), batch):
        offset = 10 * start
        candidates = [
            _event(kind, arg, max(0, offset + delta), accepted)
            for kind, arg, delta, _same in steps[start : start + batch]
        ]
        trial = recorded([*accepted, *candidates], stream="ag")
        existing, new = trial[: len(accepted)], trial[len(accepted) :]
        try:
            fold.check(trial)
            full = None
        except fold.DomainError as error:
            full = (error.rule, error.event_id)
        if from_snapshot:
            folding = _restored(folding, existing)
        try:
            incremental.check_append(existing, new, folding)
            by_folding = None
        except fold.DomainError as error:
            by_folding = (error.rule, error.event_id)
        assert by_folding == full
        if full is None:
            accepted.extend(candidates)
            assert folding.state() == fold.fold(trial, as_of=fold.END_OF_TIME)
        else:
            errors += 1
            assert folding.version == 0  # cleared: the next check folds from the start
            folding.advance(existing)
    event("rules broken", errors)


def _restored(folding: incremental.Folding, events: list[StoredEvent]) -> incremental.Folding:
    """The folding through its stored bytes, as a writer or reader starting cold gets it. A
    stream whose every fact was retracted has no snapshot: it is folded from its events."""
    body = folding.snapshot()
    if body is None:
        assert folding.state() is None
        again = incremental.Folding()
        again.advance(events)
        return again
    restored = incremental.Folding.restore(body)
    assert restored is not None
    return restored


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(STEPS, st.integers(1, 25))
def test_a_snapshot_restored_goes_on_as_the_folding_would_have(steps, split) -> None:
    """A folding stored after any batch and restored: the same state on every day it covers,
    the same outlines, and the same state and outlines after the later batches."""
    events = history(steps)
    counts = [count for count, _batch in readmodels.batches(events)]
    cut = counts[min(split, len(counts)) - 1]
    kept = incremental.Folding()
    kept.advance(events[:cut])
    resumed = _restored(kept, events[:cut])
    assert resumed.stages == kept.stages
    assert resumed.state() == kept.state()
    firsts = {e.event.effective.first_day for e in events}
    days = sorted({day + timedelta(days=k) for day in firsts for k in (-1, 0)})
    covered = [day for day in days if resumed.covers(day)]
    assert bool(covered) == (kept.state() is not None), "the last fact's own day is covered"
    for day in covered:
        assert resumed.state_on(day) == fold.fold(events[:cut], as_of=day)
    for count in counts:
        if count > cut and not resumed.extend(events[resumed.version : count]):
            resumed.advance(events[:count])  # a late fact, a retraction or a correction
    whole = incremental.Folding()
    whole.advance(events)
    assert resumed.state() == fold.fold(events, as_of=fold.END_OF_TIME)
    assert resumed.stages == whole.stages


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(STEPS, st.integers(1, 25))
def test_a_snapshot_never_read_goes_on_as_the_folding_would_have(steps, split) -> None:
    """Restored, then only checked and stored again after each later batch, as cold appends
    do (a note is checked against the snapshot's head alone, the rest stays JSON): the last
    one restored is the stream's fold, and each append refused is refused by a fresh check."""
    events = history(steps)
    counts = [count for count, _batch in readmodels.batches(events)]
    cut = counts[min(split, len(counts)) - 1]
    kept = incremental.Folding()
    kept.advance(events[:cut])
    resumed = _restored(kept, events[:cut])
    for count in counts:
        if count > cut:
            incremental.check_append(
                events[: resumed.version], events[resumed.version : count], resumed
            )
            resumed = _restored(resumed, events[:count])
    whole = incremental.Folding()
    whole.advance(events)
    assert resumed.state() == fold.fold(events, as_of=fold.END_OF_TIME)
    assert resumed.stages == whole.stages


def test_a_note_is_checked_against_the_head_of_a_snapshot() -> None:
    """A statement after a restore leaves the rest of the snapshot undecoded, and is still
    refused after the end."""
    events = history([(2, 1, 3, False), (13, 0, 2, False), (13, 1, 4, False)])
    assert [e.type for e in events[-2:]] == ["StatementMade", "StatementMade"]
    cold = _restored(_folded(events[:-1]), events[:-1])
    incremental.check_append(events[:-1], events[-1:], cold)
    assert cold._rest is not None
    assert cold.state() == fold.fold(events, as_of=fold.END_OF_TIME)

    ended = history([(2, 1, 3, False), (9, 0, 5, False)])
    assert ended[-1].type == "PartnershipEnded"
    last = ended[-1]
    note = msgspec.structs.replace(
        last, event=events[-1].event, version=last.version + 1, position=last.position + 1
    )
    with pytest.raises(fold.DomainError) as refused:
        incremental.check_append(ended, [note], _restored(_folded(ended), ended))
    assert refused.value.rule == "after-end"


def _folded(events: list[StoredEvent]) -> incremental.Folding:
    folding = incremental.Folding()
    folding.advance(events)
    return folding


def test_a_snapshot_of_another_shape_is_not_restored() -> None:
    folding = incremental.Folding()
    folding.advance(history([]))
    body = folding.snapshot()
    assert body is not None
    plain = zstandard.decompress(body)
    assert incremental.Folding.restore(zstandard.compress(plain)) is not None
    assert incremental.Folding.restore(zlib.compress(plain)) is None  # shape 7 and before

    def stored(text: bytes) -> bytes:
        return zstandard.compress(text)

    shape = f'"shape":{incremental.SNAPSHOT_SHAPE}'.encode()
    other = plain.replace(shape, b'"shape":99', 1)
    assert other != plain
    assert incremental.Folding.restore(stored(other)) is None
    assert incremental.Folding.restore(stored(b"{" + shape + b"}")) is None
    older = plain.replace(b"StatementMade:2", b"StatementMade:1", 1)  # before an upcast
    assert older != plain
    assert incremental.Folding.restore(stored(older)) is None
    assert incremental.Folding.restore(plain) is None  # shape 5 and before: stored uncompressed
    head = plain[: plain.index(b"\n")]
    assert incremental.Folding.restore(stored(head + b"\n")) is None  # the notes cut off
    shape_8 = head[:-1].replace(shape, b'"shape":8') + b',"statements":[],"rest":{}}'
    assert incremental.Folding.restore(stored(shape_8)) is None  # notes in the head
    assert incremental.Folding.restore(body[:-8]) is None  # cut short
    assert incremental.Folding().snapshot() is None
