"""Calendar feeds of milestones and phases (DESIGN.md §7). Pure: events in, iCalendar bytes out.

An item (a milestone, a phase's start or end marker, optionally an
announcement or an investment) keeps its `UID` for life. Its `SEQUENCE` and
its last change (`DTSTAMP`, `LAST-MODIFIED`) come from replaying the stream
in recording order: after each append that can touch the calendar, the
stream is folded and its items compared with what was there before. An
item that disappears (retracted, or its id corrected away) stays in the
feed as `STATUS:CANCELLED`, so subscribed calendars drop it too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from itertools import groupby
from typing import Literal

import msgspec
from icalendar import Calendar, vDuration, vText

from timeline import ics
from timeline.dates import PartialDate, Precision
from timeline.events import (
    EventCorrected,
    EventRetracted,
    InvestmentCommitted,
    MilestoneAchieved,
    MilestoneCancelled,
    MilestoneMissed,
    MilestoneRescheduled,
    MilestoneScheduled,
    PartnershipAnnounced,
    PartnershipEnded,
    Party,
    PartyJoined,
    PartyLeft,
    PhaseCancelled,
    PhaseCompleted,
    PhaseRescheduled,
    PhaseScheduled,
    PhaseStarted,
    Source,
    StoredEvent,
)
from timeline.fold import END_OF_TIME, fold
from timeline.money import Money
from timeline.state import InvestmentState, MilestoneState, PartnershipState, PhaseState

PRODID = "-//Partnership Timeline//Partnership Timeline 0.1//EN"
REFRESH = timedelta(hours=1)
UID_DOMAIN = "partnership-timeline"
EN_DASH = "\N{EN DASH}"

Status = Literal["CONFIRMED", "TENTATIVE", "CANCELLED"]

CALENDAR_TYPES: tuple[type, ...] = (
    PartnershipAnnounced,
    PartyJoined,
    PartyLeft,
    PartnershipEnded,
    MilestoneScheduled,
    MilestoneRescheduled,
    MilestoneAchieved,
    MilestoneCancelled,
    MilestoneMissed,
    PhaseScheduled,
    PhaseRescheduled,
    PhaseStarted,
    PhaseCompleted,
    PhaseCancelled,
    EventRetracted,
    EventCorrected,
)
"""Event types that can change a milestones-and-phases feed; other appends are skipped."""


class FeedOptions(msgspec.Struct, frozen=True, kw_only=True):
    """Milestones and phases always; announcements and investments on request."""

    announcements: bool = False
    investments: bool = False


class ItemContent(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What an item says now; `path` is the API resource it links to."""

    uid: str
    day: date
    status: Status
    progress: str
    summary: str
    description: str
    path: str

    def signature(self) -> tuple[date, str, str]:
        """What `SEQUENCE` counts: the item's date and its status."""
        return (self.day, self.status, self.progress)


class CalendarItem(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    content: ItemContent
    sequence: int
    changed_at: datetime
    """When anything the item shows last changed: its DTSTAMP and LAST-MODIFIED."""


class CalendarInfo(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    description: str


# --- items of a state --------------------------------------------------------------------


def _precision_words(day: PartialDate, *, deadline: bool) -> str:
    if day.no_later:
        return day.describe(precision=True)  # "no later than 2023 (year precision)"
    if day.precision is Precision.DAY:
        return f"on {day.describe()}"
    if deadline:
        return f"by end of {day.describe(precision=True)}"
    return f"in {day.describe(precision=True)}"


def _status(day: PartialDate, *, cancelled: bool) -> Status:
    if cancelled:
        return "CANCELLED"
    return "CONFIRMED" if day.is_exact else "TENTATIVE"


class _Frame(msgspec.Struct, frozen=True, gc=False):
    """What every item of one state repeats, worked out once per state."""

    id: str
    label: str
    context: str
    """The description's lines about the partnership, between an item's own and its sources."""
    path: str
    names: dict[str, str]
    """Party names by organization id."""

    @classmethod
    def of(cls, state: PartnershipState) -> _Frame:
        return cls.framing(state.id, state.title, state.parties)

    @classmethod
    def framing(cls, stream: str, title: str, parties: Sequence[Party]) -> _Frame:
        named = ", ".join(
            f"{party.name} ({party.role})" if party.role else party.name for party in parties
        )
        return cls(
            id=stream,
            label=EN_DASH.join(party.name for party in parties) or title,
            context=f"Partnership: {title} ({stream})\nParties: {named}",
            path=f"/partnerships/{stream}",
            names={party.org: party.name for party in parties},
        )


class _Draft(msgspec.Struct, frozen=True, gc=False):
    """An item without what its state's frame adds: written once, framed again when the
    title or the parties change."""

    key: str
    """The UID between the stream and the domain (`milestone.<id>`)."""
    day: date
    status: Status
    progress: str
    headline: str
    """The summary after the label."""
    lines: str
    """The description before the partnership's context."""
    sources: str
    """The description after it; empty when nothing is cited."""

    def framed(self, frame: _Frame) -> ItemContent:
        tail = f"\n{self.sources}" if self.sources else ""
        return ItemContent(
            uid=f"{frame.id}.{self.key}@{UID_DOMAIN}",
            day=self.day,
            status=self.status,
            progress=self.progress,
            summary=f"{frame.label}: {self.headline}",
            description=f"{self.lines}\n{frame.context}{tail}",
            path=frame.path,
        )


def _sources(sources: Iterable[Source]) -> str:
    lines = []
    for source in sources:
        where = f", {source.publisher}" if source.publisher else ""
        link = f" <{source.url}>" if source.url else ""
        lines.append(f"- {source.title}{where} [{source.language}]{link}")
    return "\n".join(["Sources:", *lines]) if lines else ""


def _milestone(m: MilestoneState) -> list[_Draft]:
    progress = {"achieved": "achieved", "missed": "missed", "cancelled": "cancelled"}.get(
        m.status, "scheduled"
    )
    lines = [f"Milestone: {m.title}", f"Due {_precision_words(m.due, deadline=True)}."]
    if m.achieved is not None:
        lines.append(f"Achieved {_precision_words(m.achieved, deadline=False)}.")
    if m.missed is not None:
        lines.append(f"Reported missed {_precision_words(m.missed, deadline=False)}.")
    if m.cancelled is not None:
        lines.append(f"Cancelled {_precision_words(m.cancelled, deadline=False)}.")
    if m.reason:
        lines.append(f"Reason: {m.reason}")
    if m.description:
        lines.append(m.description)
    suffix = f" ({progress})" if progress != "scheduled" else ""
    draft = _Draft(
        key=f"milestone.{m.id}",
        day=m.deadline,
        status=_status(m.due, cancelled=m.status == "cancelled"),
        progress=progress,
        headline=f"{m.title}{suffix}",
        lines="\n".join(lines),
        sources=_sources(m.sources),
    )
    return [draft]


def _phase_markers(p: PhaseState) -> list[_Draft]:
    markers = [("start", p.period.start, p.period.start.marked_day, "starts")]
    if p.period.end is not None and p.period.last_day is not None:
        markers.append(("end", p.period.end, p.period.last_day, "ends"))
    sources = _sources(p.sources)
    drafts = []
    for marker, bound, day, verb in markers:
        when = _precision_words(bound, deadline=marker == "end")
        lines = [f"Phase {verb}: {p.name}", f"The phase {verb} {when}; period {p.period}."]
        lines.append(f"Status: {p.status}.")
        if p.goals:
            lines.append("Goals: " + "; ".join(p.goals))
        if p.reason:
            lines.append(f"Reason: {p.reason}")
        drafts.append(
            _Draft(
                key=f"phase.{p.id}.{marker}",
                day=day,
                status=_status(bound, cancelled=p.status == "cancelled"),
                progress=p.status,
                headline=f"{p.name} (phase {verb})",
                lines="\n".join(lines),
                sources=sources,
            )
        )
    return drafts


def _money(amount: Money) -> str:
    about = "about " if amount.approximate else ""
    return f"{about}{amount.currency} {amount.amount:,}"


def _investment(i: InvestmentState, investor: str) -> list[_Draft]:
    what = "an undisclosed amount" if isinstance(i.amount, str) else _money(i.amount)
    verb = "plans to invest" if i.firmness == "planned" else "commits"
    lines = [f"{investor} {verb} {what}: {i.purpose}."]
    if i.equivalents:
        lines.append("Stated equivalents: " + ", ".join(_money(e) for e in i.equivalents))
    if i.period is not None:
        lines.append(f"Period: {i.period.describe()}.")
    draft = _Draft(
        key=f"investment.{i.id}",
        day=i.since.marked_day,
        status=_status(i.since, cancelled=False),
        progress=i.firmness,
        headline=f"{investor} {'plans to invest' if i.firmness == 'planned' else 'invests'} {what}",
        lines="\n".join(lines),
        sources=_sources(i.sources),
    )
    return [draft]


class Headline(msgspec.Struct, frozen=True, gc=False):
    """What the announcement item says: when, the summary, the status, every source so far."""

    announced: PartialDate
    summary: str | None
    status: str
    sources: tuple[Source, ...]


def _announcement(headline: Headline) -> _Draft:
    lines = [f"Announced {_precision_words(headline.announced, deadline=False)}."]
    if headline.summary:
        lines.append(headline.summary)
    return _Draft(
        key="announcement",
        day=headline.announced.marked_day,
        status=_status(headline.announced, cancelled=False),
        progress=headline.status,
        headline="partnership announced",
        lines="\n".join(lines),
        sources=_sources(headline.sources),
    )


@dataclass(slots=True)
class ItemMemo:
    """One stream's items already written, by the state they were written from.

    Keyed by identity: a `fold.Folding` hands out the same phase, milestone and
    investment objects while they do not change, so a lookup hashes nothing.
    Drafts outlive a change of what every item repeats (title, parties); the
    framed items do not.
    """

    context: tuple[object, ...] = ()
    frame: _Frame | None = None
    drafts: dict[tuple[int, str], tuple[object, list[_Draft]]] = field(default_factory=dict)
    written: dict[tuple[int, str], tuple[object, list[ItemContent]]] = field(default_factory=dict)


def _context(stream: str, title: str, parties: Sequence[Party]) -> tuple[object, ...]:
    return (stream, title, tuple((p.org, p.name, p.role) for p in parties))


def prime(memo: ItemMemo, stream: str, title: str, parties: Sequence[Party]) -> None:
    """Give `memo` the frame of a state whose items are already written (read models loaded
    with a folding restored from its snapshot), so the next change rewrites only its items."""
    memo.context = _context(stream, title, parties)
    memo.frame = _Frame.framing(stream, title, parties)


def items_of(
    state: PartnershipState, options: FeedOptions, memo: ItemMemo | None = None
) -> dict[str, ItemContent]:
    """The calendar items a state shows now; `memo` saves rewriting items that did not change."""
    memo = ItemMemo() if memo is None else memo
    context = _context(state.id, state.title, state.parties)
    if memo.frame is None or context != memo.context:
        memo.context, memo.frame, memo.written = context, _Frame.of(state), {}
    frame, drafted, written = memo.frame, memo.drafts, memo.written
    drafts: dict[tuple[int, str], tuple[object, list[_Draft]]] = {}
    now: dict[tuple[int, str], tuple[object, list[ItemContent]]] = {}

    def take(source: object, detail: str, draft: Callable[[], list[_Draft]]) -> None:
        key = (id(source), detail)
        found = written.get(key)
        if found is not None and found[0] is source:
            drafts[key] = drafted[key]
            now[key] = found
            return
        chosen = drafted.get(key)
        if chosen is None or chosen[0] is not source:
            chosen = (source, draft())
        drafts[key] = chosen
        now[key] = (source, [each.framed(frame) for each in chosen[1]])

    for m in state.milestones:
        take(m, "", partial(_milestone, m))
    for phase in state.phases:
        take(phase, "", partial(_phase_markers, phase))
    if options.investments:
        for i in state.investments:
            investor = frame.names.get(i.investor, i.investor)
            take(i, investor, partial(_investment, i, investor))
    items = [item for _source, each in now.values() for item in each]
    if options.announcements:
        headline = Headline(state.announced, state.summary, state.status, state.sources)
        items.append(_announcement(headline).framed(frame))
    memo.drafts, memo.written = drafts, now  # the memo holds what the state shows now, no more
    return {item.uid: item for item in items}


# --- history: sequence and last change -----------------------------------------------------


def touched_items(
    memo: ItemMemo,
    milestones: Iterable[MilestoneState],
    phases: Iterable[PhaseState],
    investments: Iterable[InvestmentState],
    headline: Headline,
) -> tuple[dict[str, ItemContent], list[str]]:
    """The items of these phases, milestones and investments and the announcement, written
    in the frame `memo` last saw (the caller knows the title and parties did not change since),
    and the UIDs of markers a phase no longer has (its end, when it became open-ended)."""
    frame = memo.frame
    if frame is None:
        raise ValueError("touched_items needs a memo that has seen the whole state once")
    drafts = [draft for m in milestones for draft in _milestone(m)]
    gone: list[str] = []
    for phase in phases:
        markers = _phase_markers(phase)
        drafts += markers
        if len(markers) == 1:
            gone.append(f"{frame.id}.phase.{phase.id}.end@{UID_DOMAIN}")
    for i in investments:
        drafts += _investment(i, frame.names.get(i.investor, i.investor))
    drafts.append(_announcement(headline))
    now = {item.uid: item for item in (draft.framed(frame) for draft in drafts)}
    return now, gone


def advance(
    records: dict[str, CalendarItem], now: dict[str, ItemContent], at: datetime
) -> set[str]:
    """Records moved to what the state shows `now`; an item no longer shown is withdrawn.
    Returns the UIDs whose record changed."""
    changed = advance_some(records, now, (), at)
    for uid, before in records.items():
        if uid not in now and before.content.status != "CANCELLED":
            changed.add(uid)
    for uid in changed - now.keys():
        _withdraw(records, uid, at)
    return changed


def advance_some(
    records: dict[str, CalendarItem], now: dict[str, ItemContent], gone: Iterable[str], at: datetime
) -> set[str]:
    """Records of the items in `now` moved to it, those in `gone` withdrawn; the rest as they
    were. Returns the UIDs whose record changed."""
    changed: set[str] = set()
    for uid, content in now.items():
        before = records.get(uid)
        if before is None:
            records[uid] = CalendarItem(content=content, sequence=0, changed_at=at)
        elif before.content != content:
            bump = before.content.signature() != content.signature()
            records[uid] = CalendarItem(
                content=content, sequence=before.sequence + bump, changed_at=at
            )
        else:
            continue
        changed.add(uid)
    for uid in gone:
        before = records.get(uid)
        if before is not None and before.content.status != "CANCELLED":
            _withdraw(records, uid, at)
            changed.add(uid)
    return changed


def _withdraw(records: dict[str, CalendarItem], uid: str, at: datetime) -> None:
    before = records[uid]
    withdrawn = msgspec.structs.replace(
        before.content,
        status="CANCELLED",
        progress="withdrawn",
        description="Withdrawn from the record (retracted or corrected away).\n"
        + before.content.description,
    )
    records[uid] = CalendarItem(content=withdrawn, sequence=before.sequence + 1, changed_at=at)


def stream_items(events: Sequence[StoredEvent], options: FeedOptions) -> list[CalendarItem]:
    """Every item the stream ever showed, with its sequence and last change, by UID."""
    records: dict[str, CalendarItem] = {}
    known: list[StoredEvent] = []
    relevant = (*CALENDAR_TYPES, InvestmentCommitted) if options.investments else CALENDAR_TYPES
    for recorded_at, batch in groupby(events, key=lambda e: e.recorded_at):
        appended = list(batch)
        known.extend(appended)
        if not any(isinstance(e.event, relevant) for e in appended):
            continue
        state = fold(known, as_of=END_OF_TIME)
        advance(records, items_of(state, options) if state else {}, recorded_at)
    return sorted(records.values(), key=lambda item: item.content.uid)


# --- rendering -----------------------------------------------------------------------------


def render_event(item: CalendarItem, base_url: str) -> bytes:
    """One VEVENT: an all-day event (exclusive DTEND), transparent, with its UID for life.

    No day follows 9999-12-31: there RFC 5545 lets `DURATION:P1D` stand for
    the exclusive end. Written by `ics.vevent`, byte for byte as icalendar
    writes it.
    """
    content = item.content
    url = f"{base_url}{content.path}"
    return ics.vevent(
        uid=content.uid,
        changed_at=item.changed_at,
        sequence=item.sequence,
        day=content.day,
        status=content.status,
        summary=content.summary,
        description=f"{content.description}\nAPI: {url}",
        url=url,
    )


END = b"END:VCALENDAR\r\n"


def calendar_head(info: CalendarInfo) -> bytes:
    """The VCALENDAR up to its first VEVENT (no METHOD: a published feed); `END` closes it."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("name", vText(info.name))
    calendar.add("x-wr-calname", vText(info.name))
    calendar.add("description", vText(info.description))
    calendar.add("x-wr-caldesc", vText(info.description))
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(REFRESH))
    return bytes(calendar.to_ical()).removesuffix(END)


def render_calendar(info: CalendarInfo, events: Iterable[bytes]) -> bytes:
    """The VCALENDAR around already rendered VEVENTs."""
    return calendar_head(info) + b"".join(events) + END


def render(info: CalendarInfo, items: Iterable[CalendarItem], base_url: str) -> bytes:
    return render_calendar(info, (render_event(item, base_url) for item in items))


def last_change(items: Iterable[CalendarItem]) -> datetime | None:
    return max((item.changed_at for item in items), default=None)
