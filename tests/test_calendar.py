"""Calendar items and their history (pure): date mapping, UIDs, SEQUENCE, cancellations."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import msgspec
import pytest
from helpers import (
    T0,
    achieved,
    announce,
    correct,
    invest,
    milestone,
    phase,
    recorded,
    retract,
    started,
)

from timeline.calendar import (
    CalendarInfo,
    CalendarItem,
    Feed,
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
    PhaseCancelled,
    PhaseStarted,
    PhaseStep,
    Statement,
    StatementMade,
)
from timeline.money import Money
from timeline.words import amount_words

OPTIONS = FeedOptions()


def by_uid(items: list[CalendarItem]) -> dict[str, CalendarItem]:
    return {item.content.uid: item for item in items}


MILESTONE_UID = "vm.milestone.iot"
FEED = Feed(base_url="https://example.org", uid_domain="example.org")


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
        "vm.phase.pilot.start": (date(2024, 4, 1), "TENTATIVE"),
        "vm.phase.pilot.end": (date(2025, 12, 31), "TENTATIVE"),
        "vm.phase.rollout.start": (date(2026, 1, 1), "TENTATIVE"),
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


def test_what_no_longer_stands_says_so_in_its_summary() -> None:
    """A retracted milestone's summary says it was withdrawn and a cancelled phase's says
    it was cancelled, for apps that show the summary and ignore `STATUS:CANCELLED`; a
    cancelled milestone's already says "(cancelled)" and is not said twice."""
    scheduled = milestone()
    gone = render(
        INFO, stream_items(recorded([announce(), scheduled, retract(scheduled.id)]), OPTIONS), FEED
    )
    assert _summaries(gone) == [
        "Withdrawn: Vodafone–Microsoft: milestone iot (due by end of April 2024)"
    ]
    cancelled = MilestoneCancelled(
        effective=PartialDate.parse("2024-03"), data=MilestoneStep(id="iot")
    )
    dropped = render(
        INFO, stream_items(recorded([announce(), scheduled, cancelled]), OPTIONS), FEED
    )
    assert _summaries(dropped) == ["Vodafone–Microsoft: milestone iot (cancelled)"]
    stopped = PhaseCancelled(effective=PartialDate.parse("2024-03"), data=PhaseStep(id="pilot"))
    phases = render(INFO, stream_items(recorded([announce(), phase(), stopped]), OPTIONS), FEED)
    assert all(line.startswith("Cancelled: ") for line in _summaries(phases))
    assert len(_summaries(phases)) == 2


def test_an_item_links_to_its_entry_on_the_timeline_page() -> None:
    """`URL:` leads a person to the item's words and sources on the page, not to JSON; the
    description names both."""
    rendered = render(INFO, stream_items(recorded([announce(), milestone()]), OPTIONS), FEED)
    unfolded = rendered.decode().replace("\r\n ", "")
    page = "https://example.org/partnerships/vm/timeline#item-milestone-iot"
    assert f"URL:{page}\r\n" in unfolded
    assert f"\\nTimeline: {page}\\nAPI: https://example.org/partnerships/vm\r\n" in unfolded


INFO = CalendarInfo(name="vm", description="vm")


def _summaries(rendered: bytes) -> list[str]:
    unfolded = rendered.decode().replace("\r\n ", "")
    return [
        line.removeprefix("SUMMARY:")
        for line in unfolded.split("\r\n")
        if line.startswith("SUMMARY:")
    ]


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
    assert render(info, after, FEED) == render(info, before, FEED)


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
    assert items["vm.announcement"].content.day == date(2024, 1, 16)
    investment = items["vm.investment.cloud"].content
    assert (investment.day, investment.status) == (date(2024, 2, 1), "TENTATIVE")
    assert investment.summary == "Vodafone invests USD 1.5 billion in February 2024"


def test_same_events_render_the_same_bytes() -> None:
    """Rendering depends on the events only: twice the same input, twice the same bytes."""
    events = recorded(
        [announce(), milestone(), phase()], at=[T0 + timedelta(days=i) for i in range(3)]
    )
    info = CalendarInfo(name="Vodafone, Microsoft; feed", description="d")
    first = render(info, stream_items(events, OPTIONS), FEED)
    second = render(info, stream_items(list(events), OPTIONS), FEED)
    assert first == second
    assert b"NAME:Vodafone\\, Microsoft\\; feed\r\n" in first
    assert b"METHOD" not in first


def test_what_happened_goes_on_the_day_it_happened_under_the_same_uid() -> None:
    """A milestone due by end of April and achieved on 2 May moves to 2 May, CONFIRMED, the
    plan in its description, its SEQUENCE one higher; a phase that started late moves its
    start marker to the real day. Imprecise days say so in the summary."""
    events = recorded([announce(), milestone(due="2024-04"), phase(period="2024-02/2024-03")])
    before = by_uid(stream_items(events, OPTIONS))
    planned = before["vm.milestone.iot"].content
    assert (planned.day, planned.status) == (date(2024, 4, 30), "TENTATIVE")
    assert planned.summary == "milestone iot (due by end of April 2024)"
    later = recorded([*(e.event for e in events), achieved(), started(effective="2024-03-04")])
    after = by_uid(stream_items(later, OPTIONS))
    done = after["vm.milestone.iot"]
    assert (done.content.day, done.content.status) == (date(2024, 5, 2), "CONFIRMED")
    assert done.content.summary == "milestone iot (achieved)"
    assert "Achieved on 2 May 2024.\nPlanned: due by end of April 2024 (month precision)." in (
        done.content.description
    )
    assert done.sequence == before["vm.milestone.iot"].sequence + 1
    start = after["vm.phase.pilot.start"].content
    assert (start.day, start.status, start.summary) == (
        date(2024, 3, 4),
        "CONFIRMED",
        "phase pilot (phase started)",
    )
    assert "Planned: it starts in February 2024 (month precision)" in start.description
    end = after["vm.phase.pilot.end"].content
    assert (end.day, end.summary) == (
        date(2024, 3, 31),
        "phase pilot (phase ends by end of March 2024)",
    )


def test_amounts_read_as_people_write_them_in_their_own_currency() -> None:
    """USD 1.5 billion with its stated equivalent, "≈" where the source says "about"."""
    euros = Money(amount=Decimal(1370000000), currency="EUR", approximate=True)
    cloud = invest()
    event = msgspec.structs.replace(
        cloud, data=msgspec.structs.replace(cloud.data, equivalents=(euros,))
    )
    items = by_uid(stream_items(recorded([announce(), event]), FeedOptions(investments=True)))
    content = items["vm.investment.cloud"].content
    assert content.summary == "Vodafone invests USD 1.5 billion (≈ EUR 1.37 billion)"
    assert (content.category, content.status) == ("Investment", "CONFIRMED")
    assert amount_words(Money(amount=Decimal(250000), currency="GBP")) == "GBP 250 thousand"


def test_a_feed_of_one_partnership_does_not_repeat_its_name_and_uids_name_the_deployment() -> None:
    events = recorded([announce(), milestone()])
    items = stream_items(events, OPTIONS)
    own = Feed(base_url="https://t.example.org", uid_domain="t.example.org", labelled=False)
    many = Feed(base_url="https://t.example.org", uid_domain="t.example.org")
    info = CalendarInfo(name="n", description="d", url="https://t.example.org/partnerships/vm",
                        source="https://t.example.org/calendars/partnerships/vm.ics")  # fmt: skip
    alone = render(info, items, own).decode()
    assert "SUMMARY:milestone iot (due by end of April 2024)\r\n" in alone
    assert "UID:vm.milestone.iot@t.example.org\r\n" in alone
    assert "CATEGORIES:Milestone\r\n" in alone
    assert "COLOR:steelblue\r\n" in alone
    assert "URL;VALUE=URI:https://t.example.org/partnerships/vm\r\n" in alone
    assert "SOURCE;VALUE=URI:https://t.example.org/calendars/partnerships/vm.ics\r\n" in alone
    assert (
        "SUMMARY:Vodafone–Microsoft: milestone iot (due by end of April 2024)"
        in render(info, items, many).decode()
    )
