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

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from itertools import groupby
from typing import Literal

import msgspec
from icalendar import Calendar, vDuration, vText, vUri

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
from timeline.state import InvestmentState, MilestoneState, PartnershipState, PhaseState
from timeline.words import amount_words, equivalent_words, firmness_differs

PRODID = "-//Partnership Timeline//Partnership Timeline 0.1//EN"
REFRESH = timedelta(hours=1)
COLOR = "steelblue"
"""RFC 7986 COLOR: a CSS3 colour name calendar apps may show the feed in."""
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
    """What an item says now; `path` is the API resource it links to.

    `uid` is the part before the deployment's domain (`Feed.uid_domain` completes it).
    `summary` is the item's own; a feed of several partnerships puts `label` (the
    partnership's) in front of it, a partnership's own feed does not repeat its name.
    """

    uid: str
    day: date
    status: Status
    progress: str
    category: str
    label: str
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
    url: str | None = None
    """RFC 7986 URL: where people read about what the feed shows."""
    source: str | None = None
    """RFC 7986 SOURCE: where the feed itself is fetched again."""


class Feed(msgspec.Struct, frozen=True, kw_only=True):
    """How one deployment writes a feed: links from `base_url`, `UID`s unique to it (the
    public address's host, or TIMELINE_UID_DOMAIN), partnership labels when it holds many."""

    base_url: str
    uid_domain: str
    labelled: bool = True


# --- items of a state --------------------------------------------------------------------


def _precision_words(day: PartialDate, *, deadline: bool) -> str:
    if day.no_later:
        return day.describe(precision=True)  # "no later than 2023 (year precision)"
    if day.precision is Precision.DAY:
        return f"on {day.describe()}"
    if deadline:
        return f"by end of {day.describe(precision=True)}"
    return f"in {day.describe(precision=True)}"


def _unless_exact(day: PartialDate, *, deadline: bool = False) -> str:
    """What a summary says of a date that is not one sure day (most apps hide TENTATIVE)."""
    if day.is_exact:
        return ""
    if day.no_later:
        return f" {day.describe()}"
    if deadline:
        return f" by end of {day.describe()}"
    return f" {'on' if day.precision is Precision.DAY else 'in'} {day.describe()}"


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
    category: str
    headline: str
    """The summary after the label."""
    lines: str
    """The description before the partnership's context."""
    sources: str
    """The description after it; empty when nothing is cited."""

    def framed(self, frame: _Frame) -> ItemContent:
        tail = f"\n{self.sources}" if self.sources else ""
        return ItemContent(
            uid=f"{frame.id}.{self.key}",
            day=self.day,
            status=self.status,
            progress=self.progress,
            category=self.category,
            label=frame.label,
            summary=self.headline,
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
    """On its deadline while planned; once achieved or reported missed, on the day that
    happened, the plan said in the description. Cancelled, it stays on its deadline."""
    due = _precision_words(m.due, deadline=True)
    lines = [f"Milestone: {m.title}"]
    happened = m.achieved if m.status == "achieved" else m.missed if m.status == "missed" else None
    if m.status == "achieved" and m.achieved is not None:
        lines.append(f"Achieved {_precision_words(m.achieved, deadline=False)}.")
        headline = f"{m.title} (achieved{_unless_exact(m.achieved)})"
    elif m.status == "missed" and m.missed is not None:
        lines.append(f"Reported missed {_precision_words(m.missed, deadline=False)}.")
        headline = f"{m.title} (reported missed{_unless_exact(m.missed)})"
    elif m.status == "cancelled" and m.cancelled is not None:
        lines.append(f"Cancelled {_precision_words(m.cancelled, deadline=False)}.")
        headline = f"{m.title} (cancelled)"
    else:
        headline = f"{m.title} (due{_unless_exact(m.due, deadline=True)})"
    lines.append(f"{'Planned: due' if happened is not None else 'Due'} {due}.")
    if m.status == "achieved" and m.missed is not None:
        lines.append(f"Reported missed {_precision_words(m.missed, deadline=False)} before.")
    if m.reason:
        lines.append(f"Reason: {m.reason}")
    if m.description:
        lines.append(m.description)
    draft = _Draft(
        key=f"milestone.{m.id}",
        day=m.deadline if happened is None else happened.marked_day,
        status=_status(m.due if happened is None else happened, cancelled=m.status == "cancelled"),
        progress="scheduled" if m.status in ("pending", "unreported") else m.status,
        category="Milestone",
        headline=headline,
        lines="\n".join(lines),
        sources=_sources(m.sources),
    )
    return [draft]


def _phase_markers(p: PhaseState) -> list[_Draft]:
    """A start marker and, unless open-ended, an end marker: on the planned days, each moved
    to the day the phase really started or completed once a source says so."""
    markers: list[tuple[str, PartialDate, PartialDate | None, str, str]] = [
        ("start", p.period.start, p.started, "starts", "started")
    ]
    if p.period.end is not None:
        markers.append(("end", p.period.end, p.completed, "ends", "completed"))
    sources = _sources(p.sources)
    drafts = []
    for marker, planned, actual, verb, done in markers:
        when = _precision_words(planned, deadline=marker == "end")
        if actual is None:
            lines = [f"Phase {verb}: {p.name}", f"The phase {verb} {when}; period {p.period}."]
            headline = f"{p.name} (phase {verb}{_unless_exact(planned, deadline=marker == 'end')})"
        else:
            happened = _precision_words(actual, deadline=False)
            lines = [f"Phase {done}: {p.name}", f"The phase {done} {happened}."]
            lines.append(f"Planned: it {verb} {when}; period {p.period}.")
            headline = f"{p.name} (phase {done}{_unless_exact(actual)})"
        lines.append(f"Status: {p.status}.")
        if p.goals:
            lines.append("Goals: " + "; ".join(p.goals))
        if p.reason:
            lines.append(f"Reason: {p.reason}")
        shown = planned if actual is None else actual
        day = shown.marked_day if marker == "start" or actual is not None else shown.last_day
        drafts.append(
            _Draft(
                key=f"phase.{p.id}.{marker}",
                day=day,
                status=_status(shown, cancelled=p.status == "cancelled"),
                progress=p.status,
                category="Phase",
                headline=headline,
                lines="\n".join(lines),
                sources=sources,
            )
        )
    return drafts


def _investment(i: InvestmentState, investor: str) -> list[_Draft]:
    what = "an undisclosed amount" if isinstance(i.amount, str) else amount_words(i.amount)
    stated = "".join(equivalent_words(e) for e in i.equivalents)
    planned = i.firmness == "planned"
    verb = "plans to invest" if planned else "commits"
    lines = [f"{investor} {verb} {what}{stated}: {i.purpose}."]
    if i.period is not None:
        lines.append(f"Period: {i.period.describe()}.")
    differs = firmness_differs(i.firmness_said, i.sources)
    if differs is not None:
        lines.append(f"{differs}.")
    draft = _Draft(
        key=f"investment.{i.id}",
        day=i.since.marked_day,
        status=_status(i.since, cancelled=False),
        progress=i.firmness,
        category="Investment",
        headline=f"{investor} {'plans to invest' if planned else 'invests'} {what}{stated}"
        f"{_unless_exact(i.since)}",
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
        category="Announcement",
        headline=f"partnership announced{_unless_exact(headline.announced)}",
        lines="\n".join(lines),
        sources=_sources(headline.sources),
    )


def items_of(state: PartnershipState, options: FeedOptions) -> dict[str, ItemContent]:
    """The calendar items a state shows now (`item_memo.items_of` saves rewriting those that
    did not change, for a stream's read models)."""
    frame = _Frame.of(state)
    drafts = [draft for m in state.milestones for draft in _milestone(m)]
    for phase in state.phases:
        drafts += _phase_markers(phase)
    if options.investments:
        for i in state.investments:
            drafts += _investment(i, frame.names.get(i.investor, i.investor))
    if options.announcements:
        drafts.append(
            _announcement(Headline(state.announced, state.summary, state.status, state.sources))
        )
    items = (draft.framed(frame) for draft in drafts)
    return {item.uid: item for item in items}


# --- history: sequence and last change -----------------------------------------------------


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


def render_event(item: CalendarItem, feed: Feed) -> bytes:
    """One VEVENT: an all-day event (exclusive DTEND), transparent, with its UID for life.

    No day follows 9999-12-31: there RFC 5545 lets `DURATION:P1D` stand for
    the exclusive end. Written by `ics.vevent`, byte for byte as icalendar
    writes it.
    """
    content = item.content
    api = f"{feed.base_url}{content.path}"
    page = f"{api}/timeline{_anchor(content)}"
    summary = f"{content.label}: {content.summary}" if feed.labelled else content.summary
    summary = _standing(content, summary)
    return ics.vevent(
        uid=f"{content.uid}@{feed.uid_domain}",
        changed_at=item.changed_at,
        sequence=item.sequence,
        day=content.day,
        status=content.status,
        summary=summary,
        description=f"{content.description}\nTimeline: {page}\nAPI: {api}",
        url=page,
        categories=content.category,
    )


_ANCHORED = frozenset({"milestone", "phase", "investment"})


def _anchor(content: ItemContent) -> str:
    """`#item-milestone-<id>`: the item's entry on the timeline page (its words, its
    sources), which a person clicking the event in a calendar app wants to read."""
    stream = content.path.rsplit("/", 1)[-1]
    kind, _, rest = content.uid.removeprefix(f"{stream}.").partition(".")
    return f"#item-{kind}-{rest.split('.', 1)[0]}" if kind in _ANCHORED and rest else ""


def _standing(content: ItemContent, summary: str) -> str:
    """`summary`, first saying so when the item no longer stands: apps that ignore
    `STATUS:CANCELLED` (calcurse, ical2html) show the summary alone."""
    if content.status != "CANCELLED" or content.summary.endswith("(cancelled)"):
        return summary
    word = "Withdrawn" if content.progress == "withdrawn" else "Cancelled"
    return f"{word}: {summary}"


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
    calendar.add("color", COLOR)
    if info.url is not None:
        calendar.add("url", vUri(info.url), parameters={"VALUE": "URI"})
    if info.source is not None:
        calendar.add("source", vUri(info.source), parameters={"VALUE": "URI"})
    return bytes(calendar.to_ical()).removesuffix(END)


def render_calendar(info: CalendarInfo, events: Iterable[bytes]) -> bytes:
    """The VCALENDAR around already rendered VEVENTs."""
    return calendar_head(info) + b"".join(events) + END


def render(info: CalendarInfo, items: Iterable[CalendarItem], feed: Feed) -> bytes:
    return render_calendar(info, (render_event(item, feed) for item in items))


def last_change(items: Iterable[CalendarItem]) -> datetime | None:
    return max((item.changed_at for item in items), default=None)
