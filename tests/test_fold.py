"""The fold's bitemporal semantics (DESIGN.md §5), each test one named behaviour."""

from __future__ import annotations

from datetime import date, timedelta

import msgspec
import pytest
from helpers import (
    T0,
    achieved,
    announce,
    correct,
    d,
    invest,
    milestone,
    phase,
    recorded,
    retract,
    started,
)

from timeline.events import (
    EVENT_TYPES,
    Ending,
    MilestoneCancelled,
    MilestoneChange,
    MilestoneMissed,
    MilestoneRescheduled,
    MilestoneStep,
    PartnershipEnded,
)
from timeline.fold import _FACT_RULES, DomainError, check, fold
from timeline.formats import decode_event, encode_event
from timeline.state import PartnershipState

FEB = date(2024, 2, 1)


def state(events: list, as_of: date = FEB, known_at=None) -> PartnershipState:
    result = fold(events, as_of=as_of, known_at=known_at)
    assert result is not None
    return result


def test_late_fact_changes_the_past_but_not_what_was_known_before() -> None:
    """A late fact with an old effective date changes `as_of` answers, not earlier `known_at`."""
    events = recorded(
        [announce(), invest(effective="2024-01-16")], at=[T0, T0 + timedelta(days=30)]
    )
    now = state(events)
    assert [i.id for i in now.investments] == ["cloud"]
    then = state(events, known_at=T0 + timedelta(days=1))
    assert then.investments == ()
    assert (then.basis.version, then.basis.last_position) == (1, 1)
    assert (now.basis.version, now.basis.last_position) == (2, 2)


def test_retraction_holds_for_every_as_of_from_its_recording_time() -> None:
    """A retraction removes its target for every `as_of`, but only once it was recorded."""
    target = invest()
    events = recorded([announce(), target, retract(target.id, effective="2030-01-01")])
    retracted_at = events[2].recorded_at
    for as_of in (date(2024, 1, 16), FEB, date(2031, 1, 1)):
        assert state(events, as_of).investments == ()
    before = state(events, FEB, known_at=retracted_at - timedelta(seconds=1))
    assert [i.id for i in before.investments] == ["cloud"]


def test_correction_replaces_the_target_data() -> None:
    """A correction replaces the target's data for every `as_of`; earlier beliefs stay known."""
    scheduled = milestone(due="2024-04")
    fixed = correct(scheduled.id, {"id": "iot", "title": "IoT company", "due": "2024-06"})
    events = recorded([announce(), scheduled, fixed])
    after = state(events, date(2024, 5, 15)).milestones[0]
    assert (str(after.due), after.deadline, after.status, after.title) == (
        "2024-06",
        date(2024, 6, 30),
        "pending",
        "IoT company",
    )
    before = state(events, date(2024, 5, 15), known_at=events[1].recorded_at).milestones[0]
    assert (str(before.due), before.status) == ("2024-04", "unreported")


def test_retracting_a_correction_restores_the_original() -> None:
    """Retracting a correction undoes it: the target's own data stands again."""
    scheduled = milestone(due="2024-04")
    fixed = correct(scheduled.id, {"id": "iot", "title": "IoT company", "due": "2024-06"})
    events = recorded([announce(), scheduled, fixed, retract(fixed.id)])
    assert str(state(events).milestones[0].due) == "2024-04"


def test_effective_order_mixes_precisions_by_first_day_then_position() -> None:
    """Events fold by the first day of `effective`, whatever its precision, then by position."""
    # Recorded in the "wrong" order: the start (a day) before the schedule (a quarter).
    events = recorded(
        [
            announce("2024"),
            started("pilot", "2024-03-15"),
            phase("pilot", "2024-03/2024-06", "2024-Q1"),
        ]
    )
    check(events)
    assert state(events, date(2024, 3, 14)).phases[0].status == "planned"
    assert state(events, date(2024, 3, 15)).phases[0].status == "started"
    assert fold(events, as_of=date(2023, 12, 31)) is None  # announced "2024": from its first day
    assert state(events, date(2024, 1, 1)).announced.first_day == date(2024, 1, 1)


@pytest.mark.parametrize(
    ("as_of", "status"),
    [
        (date(2024, 4, 1), "pending"),
        (date(2024, 4, 30), "pending"),
        (date(2024, 5, 1), "unreported"),
    ],
)
def test_milestone_unreported_after_last_day_of_its_span(as_of: date, status: str) -> None:
    """Due in April: pending through 30 April, then unreported (no source said what happened)."""
    assert (
        state(recorded([announce(), milestone(due="2024-04")]), as_of).milestones[0].status
        == status
    )


def test_milestone_deadline_in_leap_february() -> None:
    """A milestone due in February 2024 has its deadline on the 29th."""
    events = recorded([announce(), milestone(due="2024-02")])
    assert state(events, date(2024, 2, 29)).milestones[0].status == "pending"
    assert state(events, date(2024, 3, 1)).milestones[0].deadline == date(2024, 2, 29)


def test_milestone_achieved_and_cancelled() -> None:
    """Achievement counts from its effective date; a cancelled milestone is never unreported."""
    events = recorded([announce(), milestone(due="2024-04"), achieved(effective="2024-05-02")])
    assert state(events, date(2024, 5, 1)).milestones[0].status == "unreported"
    done = state(events, date(2024, 5, 2)).milestones[0]
    assert (done.status, str(done.achieved), done.revision) == ("achieved", "2024-05-02", 1)
    cancelled = MilestoneCancelled(effective=announce().effective, data=MilestoneStep(id="iot"))
    events = recorded([announce(), milestone(due="2024-04"), cancelled])
    assert state(events, date(2025, 1, 1)).milestones[0].status == "cancelled"


def test_a_miss_is_reported_not_inferred_and_a_late_achievement_still_counts() -> None:
    """`missed` needs a source (`MilestoneMissed`); achieved later, the miss stays on record; a
    second report of the same miss is refused; a new plan clears it."""
    missed = MilestoneMissed(effective=d("2024-05-10"), data=MilestoneStep(id="iot"))
    events = recorded([announce(), milestone(due="2024-04"), missed])
    assert state(events, date(2024, 5, 9)).milestones[0].status == "unreported"
    on_record = state(events, date(2024, 5, 10)).milestones[0]
    assert (on_record.status, str(on_record.missed)) == ("missed", "2024-05-10")
    late = state(recorded([*(e.event for e in events), achieved(effective="2024-06")]),
                 date(2024, 7, 1)).milestones[0]  # fmt: skip
    assert (late.status, str(late.achieved), str(late.missed)) == (
        "achieved",
        "2024-06",
        "2024-05-10",
    )
    again = MilestoneMissed(effective=d("2024-05-20"), data=MilestoneStep(id="iot"))
    with pytest.raises(DomainError) as refused:
        check(recorded([*(e.event for e in events), again]))
    assert refused.value.rule == "milestone-missed"
    replanned = MilestoneRescheduled(
        effective=d("2024-05-15"), data=MilestoneChange(id="iot", due=d("2024-09"))
    )
    plan = state(recorded([*(e.event for e in events), replanned]), date(2024, 6, 1)).milestones[0]
    assert (plan.status, plan.missed) == ("pending", None)


def test_an_intention_is_planned_and_older_events_read_as_committed() -> None:
    """`firmness` says whether a source stated an intention or a commitment; a stored event
    from before the field (no `firmness`) decodes as committed and encodes back unchanged."""
    stored = encode_event(invest())
    assert b"firmness" not in stored
    assert decode_event(stored).data.firmness == "committed"  # type: ignore[union-attr]
    planned = msgspec.structs.replace(invest().data, firmness="planned")
    event = msgspec.structs.replace(invest(), data=planned)
    assert b'"firmness":"planned"' in encode_event(event)
    folded = state(recorded([announce(), event]), date(2024, 2, 1))
    assert folded.investments[0].firmness == "planned"


@pytest.mark.parametrize(
    ("as_of", "schedule"),
    [
        (date(2024, 1, 31), "upcoming"),
        (date(2024, 2, 1), "in_window"),
        (date(2024, 3, 31), "in_window"),
        (date(2024, 4, 1), "past_window"),
    ],
)
def test_phase_schedule_at_boundary_dates(as_of: date, schedule: str) -> None:
    """A phase is in its window from the first day of its start to the last day of its end."""
    events = recorded([announce(), phase(period="2024-02/2024-03")])
    assert state(events, as_of).phases[0].schedule == schedule


def test_open_ended_phase_never_leaves_its_window() -> None:
    """`2026/..` is in window from 1 January 2026 on, for ever."""
    events = recorded([announce(), phase(period="2026/..")])
    assert state(events, date(2025, 12, 31)).phases[0].schedule == "upcoming"
    assert state(events, date(2099, 1, 1)).phases[0].schedule == "in_window"


def test_items_carry_their_sources() -> None:
    """Each item in the state cites the sources of the event that brought it."""
    result = state(recorded([announce()]))
    assert result.parties[0].sources[0].title == "Test article"
    assert result.sources[0].language == "en"


@pytest.mark.parametrize(
    ("events", "rule"),
    [
        (lambda: [invest()], "announcement-first"),
        (lambda: [announce(), announce()], "announced-once"),
        (lambda: [announce(), started("nope")], "unknown-phase"),
        (lambda: [announce(), achieved("nope")], "unknown-milestone"),
        (lambda: [announce(), invest(), invest()], "duplicate-id"),
        (lambda: [announce(), retract(invest().id)], "unknown-event"),
        (
            lambda: [
                announce(),
                PartnershipEnded(effective=announce().effective, data=Ending(reason="done")),
                invest(effective="2025"),
            ],
            "after-end",
        ),
        (
            lambda: [announce(), milestone(), achieved(), achieved(effective="2024-06")],
            "milestone-closed",
        ),
    ],
)
def test_domain_rules_name_the_rule_and_event(events, rule: str) -> None:
    """A stream that breaks a rule fails the check with the rule's name and the event's id."""
    built = recorded(events())
    with pytest.raises(DomainError) as caught:
        check(built)
    assert caught.value.rule == rule
    assert caught.value.event_id in {e.event.id for e in built}


def test_correction_must_fit_the_target_type() -> None:
    """Corrected data is checked against the target's own type."""
    scheduled = milestone()
    events = recorded([announce(), scheduled, correct(scheduled.id, {"id": "iot", "due": "soon"})])
    with pytest.raises(DomainError) as caught:
        check(events)
    assert caught.value.rule == "invalid-correction"
    assert "is not a partial date" in caught.value.message


def test_nothing_known_yet_is_none() -> None:
    """Before anything was recorded, there is no partnership to show."""
    events = recorded([announce()])
    assert fold(events, as_of=FEB, known_at=T0 - timedelta(days=1)) is None


def test_every_event_type_has_a_rule_in_the_fold() -> None:
    """The fold looks each fact's rule up by its type: a type added to the catalogue without
    one would fail every fold that meets it, where the `match` it replaced passed it by."""
    assert set(_FACT_RULES) == set(EVENT_TYPES)
