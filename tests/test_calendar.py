"""Calendar items and their history (pure): date mapping, UIDs, SEQUENCE, cancellations."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from helpers import T0, announce, correct, invest, milestone, phase, recorded, retract

from timeline.calendar import (
    CalendarInfo,
    CalendarItem,
    FeedOptions,
    render,
    stream_items,
)
from timeline.dates import PartialDate
from timeline.events import (
    MilestoneCancelled,
    MilestoneChange,
    MilestoneRescheduled,
    MilestoneStep,
    PhaseStarted,
    PhaseStep,
    Statement,
    StatementMade,
)

OPTIONS = FeedOptions()


def by_uid(items: list[CalendarItem]) -> dict[str, CalendarItem]:
    return {item.content.uid: item for item in items}


MILESTONE_UID = "vm.milestone.iot@partnership-timeline"


@pytest.mark.parametrize(
    ("due", "day", "status", "words"),
    [
        ("2024-04-16", date(2024, 4, 16), "CONFIRMED", "Due on 16 April 2024."),
        ("2024-04", date(2024, 4, 30), "TENTATIVE", "Due by end of April 2024 (month precision)."),
        ("2024-02", date(2024, 2, 29), "TENTATIVE", "Due by end of February 2024"),
        ("2023-02", date(2023, 2, 28), "TENTATIVE", "Due by end of February 2023"),
        ("2024-Q2", date(2024, 6, 30), "TENTATIVE", "Due by end of Q2 2024 (quarter precision)."),
        ("2024", date(2024, 12, 31), "TENTATIVE", "Due by end of 2024 (year precision)."),
    ],
)
def test_milestone_falls_on_the_last_day_of_its_span(
    due: str, day: date, status: str, words: str
) -> None:
    """A milestone is one event on its deadline; coarser than a day: tentative, said in words."""
    (item,) = stream_items(recorded([announce(), milestone(due=due)]), OPTIONS)
    assert (item.content.day, item.content.status) == (day, status)
    assert words in item.content.description


def test_phase_has_start_and_end_markers_and_open_phase_only_a_start() -> None:
    """A phase is two single-day markers; an open-ended phase has its start marker only."""
    events = recorded([announce(), phase("pilot", "2024-Q2/2025"), phase("rollout", "2026/..")])
    items = by_uid(stream_items(events, OPTIONS))
    assert {uid: (i.content.day, i.content.status) for uid, i in items.items()} == {
        "vm.phase.pilot.start@partnership-timeline": (date(2024, 4, 1), "TENTATIVE"),
        "vm.phase.pilot.end@partnership-timeline": (date(2025, 12, 31), "TENTATIVE"),
        "vm.phase.rollout.start@partnership-timeline": (date(2026, 1, 1), "TENTATIVE"),
    }


def test_reschedule_keeps_uid_and_raises_sequence() -> None:
    """Moving a milestone keeps its UID, adds one to SEQUENCE and dates the change."""
    events = recorded(
        [
            announce(),
            milestone(due="2024-04"),
            MilestoneRescheduled(
                effective=PartialDate.parse("2024-03"),
                data=MilestoneChange(id="iot", due=PartialDate.parse("2024-06-15")),
            ),
        ]
    )
    item = by_uid(stream_items(events, OPTIONS))[MILESTONE_UID]
    assert (item.content.day, item.content.status, item.sequence) == (
        date(2024, 6, 15),
        "CONFIRMED",
        1,
    )
    assert item.changed_at == events[2].recorded_at


def test_cancelled_and_retracted_items_stay_cancelled() -> None:
    """A cancelled milestone, and one whose creating event is retracted, stay as CANCELLED."""
    scheduled = milestone()
    cancelled = MilestoneCancelled(
        effective=PartialDate.parse("2024-03"), data=MilestoneStep(id="iot")
    )
    item = stream_items(recorded([announce(), scheduled, cancelled]), OPTIONS)[0]
    assert (item.content.status, item.sequence) == ("CANCELLED", 1)
    events = recorded([announce(), scheduled, retract(scheduled.id)])
    (gone,) = stream_items(events, OPTIONS)
    assert (gone.content.uid, gone.content.status, gone.sequence) == (MILESTONE_UID, "CANCELLED", 1)
    assert gone.changed_at == events[2].recorded_at
    assert gone.content.description.startswith("Withdrawn from the record")


def test_unrelated_appends_change_nothing() -> None:
    """A statement appended later leaves every item, its sequence and its last change alone."""
    base = [announce(), milestone()]
    said = StatementMade(
        effective=PartialDate.parse("2024-05"),
        data=Statement(speaker="CEO", text="Good.", language="en"),
    )
    before = stream_items(recorded(base), OPTIONS)
    after = stream_items(recorded([*base, said]), OPTIONS)
    assert after == before
    info = CalendarInfo(name="n", description="d")
    assert render(info, after, "http://x") == render(info, before, "http://x")


def test_title_correction_moves_last_change_but_not_sequence() -> None:
    """A new title changes LAST-MODIFIED; SEQUENCE counts only date and status changes."""
    scheduled = milestone()
    fixed = correct(scheduled.id, {"id": "iot", "title": "IoT company", "due": "2024-04"})
    events = recorded([announce(), scheduled, fixed])
    item = stream_items(events, OPTIONS)[0]
    assert item.sequence == 0
    assert item.changed_at == events[2].recorded_at
    assert "IoT company" in item.content.summary


def test_progress_counts_as_a_status_change() -> None:
    """A phase that starts is a status change of both its markers."""
    events = recorded(
        [
            announce(),
            phase(),
            PhaseStarted(effective=PartialDate.parse("2024-02-05"), data=PhaseStep(id="pilot")),
        ]
    )
    assert {i.sequence for i in stream_items(events, OPTIONS)} == {1}


def test_options_add_announcements_and_investments() -> None:
    """Announcements and investments appear only when asked for, as single days."""
    events = recorded([announce(), invest(effective="2024-02")])
    assert stream_items(events, OPTIONS) == []
    items = by_uid(stream_items(events, FeedOptions(announcements=True, investments=True)))
    assert items["vm.announcement@partnership-timeline"].content.day == date(2024, 1, 16)
    investment = items["vm.investment.cloud@partnership-timeline"].content
    assert (investment.day, investment.status) == (date(2024, 2, 1), "TENTATIVE")
    assert "USD 1,500,000,000" in investment.summary


def test_same_events_render_the_same_bytes() -> None:
    """Rendering depends on the events only: twice the same input, twice the same bytes."""
    events = recorded(
        [announce(), milestone(), phase()], at=[T0 + timedelta(days=i) for i in range(3)]
    )
    info = CalendarInfo(name="Vodafone, Microsoft; feed", description="d")
    first = render(info, stream_items(events, OPTIONS), "https://example.org")
    second = render(info, stream_items(list(events), OPTIONS), "https://example.org")
    assert first == second
    assert b"NAME:Vodafone\\, Microsoft\\; feed\r\n" in first
    assert b"METHOD" not in first
