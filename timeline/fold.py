"""The fold: events in, state out, at (`as_of`, `known_at`). Pure; no I/O.

1. keep the events recorded at or before `known_at`;
2. apply retractions and corrections among them, in recording order (so they
   hold for every `as_of`);
3. order the rest by (first day of `effective`, `position`) and fold those
   that took effect on or before `as_of`.

The same fold checks a stream before the store accepts an append: folded to
the end of time, a stream must raise no `DomainError`.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import groupby
from typing import Any, Generic, Literal, TypeVar
from uuid import UUID

import msgspec

from timeline import wire
from timeline.dates import PartialDate, Period
from timeline.events import (
    BY_TYPE,
    DATA_TYPES,
    AnyEvent,
    BackgroundNoted,
    CommitmentMade,
    Event,
    EventCorrected,
    EventRetracted,
    FocusAreaDefined,
    ForecastPublished,
    GovernanceEstablished,
    InvestmentCommitted,
    MilestoneAchieved,
    MilestoneCancelled,
    MilestoneMissed,
    MilestoneRescheduled,
    MilestoneScheduled,
    Model,
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
    RiskIdentified,
    Source,
    StatementMade,
    StoredEvent,
    TargetSet,
    Term,
    type_name,
)
from timeline.state import (
    BackgroundState,
    Basis,
    CommitmentState,
    FocusAreaState,
    ForecastState,
    GovernanceState,
    InvestmentState,
    MilestoneState,
    Outline,
    PartnershipState,
    PartyState,
    PhaseSchedule,
    PhaseState,
    PhaseStatus,
    RiskState,
    StatementState,
    TargetState,
)

END_OF_TIME = date.max

S = TypeVar("S", bound=Model)
V = TypeVar("V")


Rule = Literal[
    "after-end",
    "already-retracted",
    "announced-once",
    "announcement-first",
    "correct-meta-event",
    "duplicate-event-id",
    "duplicate-id",
    "invalid-correction",
    "milestone-closed",
    "milestone-missed",
    "party-present",
    "phase-closed",
    "phase-started",
    "retract-retraction",
    "unknown-event",
    "unknown-milestone",
    "unknown-party",
    "unknown-phase",
]
"""Every rule an append can break, by the stable name clients see in a 422's `rule`."""


class DomainError(Exception):
    """A stream that breaks a rule of the domain; `rule` is a stable name for clients."""

    def __init__(self, rule: Rule, message: str, event_id: UUID | None = None) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.event_id = event_id

    def __str__(self) -> str:
        where = f" (event {self.event_id})" if self.event_id else ""
        return f"{self.rule}: {self.message}{where}"


@dataclass(slots=True)
class _Applied:
    """One event as the fold sees it: corrections applied, recording facts kept."""

    event: AnyEvent
    position: int


def _sourced(kind: type[S], data: Model, applied: _Applied, **extra: object) -> S:
    fields = msgspec.structs.asdict(data)
    fields.update(extra)
    return kind(
        **fields,
        since=applied.event.effective,
        event_id=applied.event.id,
        sources=applied.event.sources,
    )


def resolve(events: Sequence[StoredEvent]) -> list[_Applied]:
    """Apply retractions and corrections in recording order; drop the meta events.

    Returns the remaining facts in effective order: (first day, position).
    """
    by_id: dict[UUID, StoredEvent] = {}
    current: dict[UUID, AnyEvent] = {}
    retracted: set[UUID] = set()
    for stored in events:
        event = stored.event
        if event.id in by_id:
            raise DomainError("duplicate-event-id", f"event id {event.id} appears twice", event.id)
        by_id[event.id] = stored
        if isinstance(event, EventRetracted):
            target = _target(by_id, event.data.event_id, event, retracted)
            if isinstance(target.event, EventRetracted):
                raise DomainError(
                    "retract-retraction",
                    "a retraction cannot be retracted; append the fact again instead",
                    event.id,
                )
            retracted.add(target.event.id)
            current.pop(target.event.id, None)
            if isinstance(target.event, EventCorrected):
                _undo_correction(by_id, current, retracted, target.event)
        elif isinstance(event, EventCorrected):
            target = _target(by_id, event.data.event_id, event, retracted)
            if isinstance(target.event, EventRetracted | EventCorrected):
                raise DomainError(
                    "correct-meta-event",
                    "retractions and corrections cannot be corrected; retract them instead",
                    event.id,
                )
            current[target.event.id] = corrected(current[target.event.id], event)
        else:
            current[event.id] = event
    applied = [_Applied(current[i], by_id[i].position) for i in current]
    applied.sort(key=lambda a: (a.event.effective.first_day, a.position))
    return applied


def _target(
    by_id: dict[UUID, StoredEvent], target_id: UUID, event: Event, retracted: set[UUID]
) -> StoredEvent:
    target = by_id.get(target_id)
    if target is None:
        raise DomainError("unknown-event", f"no earlier event {target_id} in this stream", event.id)
    if target_id in retracted:
        raise DomainError("already-retracted", f"event {target_id} is retracted", event.id)
    return target


def corrected(target: AnyEvent, correction: EventCorrected) -> AnyEvent:
    kind = DATA_TYPES[type_name(target)]
    try:
        data = wire.convert(correction.data.data, kind)
    except msgspec.ValidationError as error:
        raise DomainError(
            "invalid-correction",
            f"corrected data does not fit {type_name(target)}: {error}",
            correction.id,
        ) from None
    effective = correction.data.effective or target.effective
    return msgspec.structs.replace(target, data=data, effective=effective)


def _undo_correction(
    by_id: dict[UUID, StoredEvent],
    current: dict[UUID, AnyEvent],
    retracted: set[UUID],
    correction: EventCorrected,
) -> None:
    """Rebuild the corrected event from its original and the corrections still standing."""
    target_id = correction.data.event_id
    if target_id in retracted:
        return
    rebuilt = by_id[target_id].event
    for stored in by_id.values():
        other = stored.event
        if (
            isinstance(other, EventCorrected)
            and other.data.event_id == target_id
            and other.id not in retracted
        ):
            rebuilt = corrected(rebuilt, other)
    current[target_id] = rebuilt


@dataclass(slots=True)
class _Phase:
    applied: _Applied
    id: str
    period: Period
    status: PhaseStatus = "planned"
    started: PartialDate | None = None
    completed: PartialDate | None = None
    cancelled: PartialDate | None = None
    reason: str | None = None
    revision: int = 0


@dataclass(slots=True)
class _Milestone:
    applied: _Applied
    id: str
    due: PartialDate
    achieved: PartialDate | None = None
    missed: PartialDate | None = None
    cancelled: PartialDate | None = None
    reason: str | None = None
    revision: int = 0


def _add(bucket: dict[str, V], kind: str, item_id: str, item: V, event: Event) -> None:
    if item_id in bucket:
        raise DomainError("duplicate-id", f"{kind} {item_id!r} already exists", event.id)
    bucket[item_id] = item


N = TypeVar("N", StatementState, BackgroundState, ForecastState)


class _Notes(Generic[N]):
    """What a partnership accumulates and no rule consults (statements, background, forecasts),
    in order. Restored from a snapshot it stays JSON until the state is read: an append checked
    against a restored folding decodes only what the rules need (half a synthetic snapshot's
    bytes are its statements), and the next snapshot writes the JSON back as it was, with what
    was added since after it."""

    __slots__ = ("_items", "_kind", "_stored")

    def __init__(self, kind: type[N], stored: bytes | None = None) -> None:
        self._kind: type[N] = kind
        self._stored = stored
        """A JSON array of the first ones, not decoded yet."""
        self._items: list[N] = []

    def append(self, item: N) -> None:
        self._items.append(item)

    def all(self) -> tuple[N, ...]:
        if self._stored is not None:
            self._items[:0] = _notes_decoders[self._kind].decode(self._stored)
            self._stored = None
        return tuple(self._items)

    def encoded(self) -> msgspec.Raw:
        """All of them as a JSON array, without decoding the stored ones."""
        added = wire.encoder.encode(self._items)
        stored = self._stored
        if stored is None or stored == b"[]":
            return msgspec.Raw(added)
        if not self._items:
            return msgspec.Raw(stored)
        return msgspec.Raw(stored[:-1] + b"," + added[1:])


@dataclass(slots=True)
class _Partnership:
    """The mutable working state while folding; frozen into `PartnershipState` at the end."""

    announced: _Applied | None = None
    ended: _Applied | None = None
    parties: dict[str, PartyState] = field(default_factory=dict)
    former: dict[str, PartyState] = field(default_factory=dict)
    focus_areas: dict[str, FocusAreaState] = field(default_factory=dict)
    investments: dict[str, InvestmentState] = field(default_factory=dict)
    commitments: dict[str, CommitmentState] = field(default_factory=dict)
    targets: dict[str, TargetState] = field(default_factory=dict)
    risks: dict[str, RiskState] = field(default_factory=dict)
    governance: dict[str, GovernanceState] = field(default_factory=dict)
    phases: dict[str, _Phase] = field(default_factory=dict)
    milestones: dict[str, _Milestone] = field(default_factory=dict)
    statements: _Notes[StatementState] = field(default_factory=lambda: _Notes(StatementState))
    background: _Notes[BackgroundState] = field(default_factory=lambda: _Notes(BackgroundState))
    forecasts: _Notes[ForecastState] = field(default_factory=lambda: _Notes(ForecastState))
    sources: dict[tuple[str, str | None], Source] = field(default_factory=dict)

    def phase(self, phase_id: str, event: Event) -> _Phase:
        phase = self.phases.get(phase_id)
        if phase is None:
            raise DomainError("unknown-phase", f"no phase {phase_id!r} scheduled", event.id)
        return phase

    def milestone(self, milestone_id: str, event: Event) -> _Milestone:
        milestone = self.milestones.get(milestone_id)
        if milestone is None:
            raise DomainError(
                "unknown-milestone", f"no milestone {milestone_id!r} scheduled", event.id
            )
        return milestone


def _apply(p: _Partnership, applied: _Applied) -> None:
    event = applied.event
    if p.announced is None:
        if not isinstance(event, PartnershipAnnounced):  # recorded after it, dated before it
            raise DomainError(
                "announcement-first",
                f"{type_name(event)} takes effect on {event.effective}, before the partnership "
                "was announced: a fact takes effect on or after the announcement's date",
                event.id,
            )
        p.announced = applied
        for party in event.data.parties:
            p.parties[party.org] = _sourced(PartyState, party, applied)
    elif p.ended is not None:
        raise DomainError(
            "after-end",
            f"{type_name(event)} takes effect after the partnership ended "
            f"({p.ended.event.effective})",
            event.id,
        )
    else:
        _apply_fact(p, applied)
    for source in event.sources:
        p.sources.setdefault((source.title, source.url), source)


def _apply_fact(p: _Partnership, applied: _Applied) -> None:  # noqa: C901, PLR0912 - a case per type
    event = applied.event
    match event:
        case PartnershipAnnounced():
            raise DomainError("announced-once", "the partnership is already announced", event.id)
        case PartyJoined(data=party):
            if party.org in p.parties:
                raise DomainError("party-present", f"{party.org!r} is already a party", event.id)
            p.former.pop(party.org, None)
            p.parties[party.org] = _sourced(PartyState, party, applied)
        case PartyLeft(data=party):
            if party.org not in p.parties:
                raise DomainError("unknown-party", f"{party.org!r} is not a party", event.id)
            p.former[party.org] = p.parties.pop(party.org)
        case FocusAreaDefined(data=data):
            area = _sourced(FocusAreaState, data, applied)
            _add(p.focus_areas, "focus area", data.id, area, event)
        case InvestmentCommitted(data=data):
            _add(
                p.investments,
                "investment",
                data.id,
                _sourced(InvestmentState, data, applied),
                event,
            )
        case CommitmentMade(data=data):
            _add(
                p.commitments,
                "commitment",
                data.id,
                _sourced(CommitmentState, data, applied),
                event,
            )
        case TargetSet(data=data):
            _add(p.targets, "target", data.id, _sourced(TargetState, data, applied), event)
        case RiskIdentified(data=data):
            _add(p.risks, "risk", data.id, _sourced(RiskState, data, applied), event)
        case GovernanceEstablished(data=data):
            body = _sourced(GovernanceState, data, applied)
            _add(p.governance, "governance body", data.id, body, event)
        case StatementMade(data=data):
            p.statements.append(_sourced(StatementState, data, applied))
        case BackgroundNoted(data=data):
            p.background.append(_sourced(BackgroundState, data, applied))
        case ForecastPublished(data=data):
            p.forecasts.append(_sourced(ForecastState, data, applied))
        case PhaseScheduled(data=data):
            _add(p.phases, "phase", data.id, _Phase(applied, data.id, data.period), event)
        case PhaseRescheduled() | PhaseStarted() | PhaseCompleted() | PhaseCancelled():
            _apply_phase(p.phase(event.data.id, event), event)
        case MilestoneScheduled(data=data):
            _add(p.milestones, "milestone", data.id, _Milestone(applied, data.id, data.due), event)
        case (
            MilestoneRescheduled() | MilestoneAchieved() | MilestoneMissed() | MilestoneCancelled()
        ):
            _apply_milestone(p.milestone(event.data.id, event), event)
        case PartnershipEnded():
            p.ended = applied
        case EventRetracted() | EventCorrected():  # applied before the fold, in `resolve`
            pass


def _apply_phase(
    phase: _Phase, event: PhaseRescheduled | PhaseStarted | PhaseCompleted | PhaseCancelled
) -> None:
    if phase.status in ("completed", "cancelled"):
        raise DomainError("phase-closed", f"phase {phase.id!r} is {phase.status}", event.id)
    match event:
        case PhaseRescheduled(data=data):
            phase.period = data.period
            phase.reason = data.reason or phase.reason
        case PhaseStarted(data=data):
            if phase.status == "started":
                raise DomainError("phase-started", f"phase {data.id!r} already started", event.id)
            phase.status, phase.started = "started", event.effective
            phase.reason = data.reason or phase.reason
        case PhaseCompleted(data=data):
            phase.status, phase.completed = "completed", event.effective
            phase.reason = data.reason or phase.reason
        case PhaseCancelled(data=data):
            phase.status, phase.cancelled = "cancelled", event.effective
            phase.reason = data.reason or phase.reason
    phase.revision += 1


def _apply_milestone(
    milestone: _Milestone,
    event: MilestoneRescheduled | MilestoneAchieved | MilestoneMissed | MilestoneCancelled,
) -> None:
    if milestone.achieved is not None or milestone.cancelled is not None:
        state = "achieved" if milestone.achieved is not None else "cancelled"
        raise DomainError("milestone-closed", f"milestone {milestone.id!r} is {state}", event.id)
    match event:
        case MilestoneRescheduled(data=data):
            milestone.due = data.due
            milestone.missed = None  # a new plan: its deadline is what counts now
            milestone.reason = data.reason or milestone.reason
        case MilestoneMissed(data=data):
            if milestone.missed is not None:
                raise DomainError(
                    "milestone-missed",
                    f"milestone {milestone.id!r} is already reported missed; reschedule it first",
                    event.id,
                )
            milestone.missed = event.effective
            milestone.reason = data.reason or milestone.reason
        case MilestoneAchieved(data=data):
            milestone.achieved = event.effective
            milestone.reason = data.reason or milestone.reason
        case MilestoneCancelled(data=data):
            milestone.cancelled = event.effective
            milestone.reason = data.reason or milestone.reason
    milestone.revision += 1


def _schedule(period: Period, as_of: date) -> PhaseSchedule:
    if as_of < period.first_day:
        return "upcoming"
    return "in_window" if as_of in period else "past_window"


def _phase_state(phase: _Phase, as_of: date) -> PhaseState:
    return _sourced(
        PhaseState,
        phase.applied.event.data,
        phase.applied,
        period=phase.period,
        status=phase.status,
        schedule=_schedule(phase.period, as_of),
        started=phase.started,
        completed=phase.completed,
        cancelled=phase.cancelled,
        reason=phase.reason,
        revision=phase.revision,
    )


def _milestone_state(milestone: _Milestone, as_of: date) -> MilestoneState:
    deadline = milestone.due.last_day
    if milestone.cancelled is not None:
        status = "cancelled"
    elif milestone.achieved is not None:
        status = "achieved"
    elif milestone.missed is not None:
        status = "missed"
    elif as_of > deadline:
        status = "unreported"
    else:
        status = "pending"
    return _sourced(
        MilestoneState,
        milestone.applied.event.data,
        milestone.applied,
        due=milestone.due,
        deadline=deadline,
        status=status,
        achieved=milestone.achieved,
        missed=milestone.missed,
        cancelled=milestone.cancelled,
        reason=milestone.reason,
        revision=milestone.revision,
    )


def known(events: Iterable[StoredEvent], known_at: datetime | None) -> list[StoredEvent]:
    """The events recorded at or before `known_at`, in position order."""
    chosen = [e for e in events if known_at is None or e.recorded_at <= known_at]
    chosen.sort(key=lambda e: e.position)
    return chosen


def fold(
    events: Iterable[StoredEvent], *, as_of: date, known_at: datetime | None = None
) -> PartnershipState | None:
    """The partnership at `as_of` as known at `known_at`; None if nothing was known yet.

    None also when the announcement takes effect after `as_of`: the
    partnership did not exist yet on that date.
    """
    recorded = known(events, known_at)
    if not recorded:
        return None
    p = _run(resolve(recorded), as_of)
    basis = Basis(
        as_of=as_of,
        known_at=known_at,
        version=max(e.version for e in recorded),
        last_position=recorded[-1].position,
    )
    return _state(p, recorded[0].stream, basis)


class _StateMemo:
    """Phase and milestone states of a `Folding`, kept while their record's revision holds:
    a state that did not change is the same object from one batch to the next."""

    def __init__(self) -> None:
        self._made: dict[int, tuple[_Phase | _Milestone, int, PhaseState | MilestoneState]] = {}

    def phase(self, phase: _Phase, as_of: date) -> PhaseState:
        made = self._get(phase)
        if not isinstance(made, PhaseState):
            made = self._put(phase, _phase_state(phase, as_of))
        return made

    def milestone(self, milestone: _Milestone, as_of: date) -> MilestoneState:
        made = self._get(milestone)
        if not isinstance(made, MilestoneState):
            made = self._put(milestone, _milestone_state(milestone, as_of))
        return made

    def _get(self, record: _Phase | _Milestone) -> PhaseState | MilestoneState | None:
        found = self._made.get(id(record))
        if found is None or found[0] is not record or found[1] != record.revision:
            return None
        return found[2]

    def _put(self, record: _Phase | _Milestone, made: S) -> S:
        self._made[id(record)] = (record, record.revision, made)  # type: ignore[assignment]
        return made


def _term_ends(term: Term | None, announced: PartialDate) -> date | None:
    """Where the sources put the term's end: its period's last day, else `years` counted from
    an announcement dated to the day (ten years from 16 January 2024 end on 15 January 2034)."""
    if term is None:
        return None
    if term.period is not None:
        return term.period.last_day
    if term.years is None or not announced.is_exact:
        return None
    start = announced.first_day
    try:
        anniversary = start.replace(year=start.year + term.years)
    except ValueError:  # 29 February, in a year that has none
        anniversary = date(start.year + term.years, 3, 1)
    except OverflowError:
        return None
    return anniversary - timedelta(days=1)


def _state(
    p: _Partnership, stream: str, basis: Basis, memo: _StateMemo | None = None
) -> PartnershipState | None:
    if p.announced is None:
        return None
    as_of = basis.as_of
    announcement = p.announced.event
    assert isinstance(announcement, PartnershipAnnounced)  # noqa: S101 - guaranteed by _apply
    data = announcement.data
    ending = p.ended.event if p.ended is not None else None
    phase_state = _phase_state if memo is None else memo.phase
    milestone_state = _milestone_state if memo is None else memo.milestone
    term_ends = _term_ends(data.term, announcement.effective)
    return PartnershipState(
        id=stream,
        title=data.title,
        kind=data.kind,
        status="ended" if ending is not None else "active",
        announced=announcement.effective,
        parties=tuple(p.parties.values()),
        former_parties=tuple(p.former.values()),
        term=data.term,
        term_ends=term_ends,
        term_status=None if term_ends is None else "running" if as_of <= term_ends else "run_out",
        regions=data.regions,
        reach=data.reach,
        summary=data.summary,
        ended=ending.effective if ending is not None else None,
        end_reason=ending.data.reason if isinstance(ending, PartnershipEnded) else None,
        focus_areas=tuple(p.focus_areas.values()),
        investments=tuple(p.investments.values()),
        commitments=tuple(p.commitments.values()),
        targets=tuple(p.targets.values()),
        phases=tuple(phase_state(phase, as_of) for phase in p.phases.values()),
        milestones=tuple(milestone_state(m, as_of) for m in p.milestones.values()),
        statements=p.statements.all(),
        background=p.background.all(),
        forecasts=p.forecasts.all(),
        risks=tuple(p.risks.values()),
        governance=tuple(p.governance.values()),
        sources=tuple(p.sources.values()),
        basis=basis,
    )


_NOTED = (StatementMade, BackgroundNoted, ForecastPublished)
"""Facts no rule looks back at: checked against a snapshot's head alone (`Folding._rest`)."""
_OUTLINED = (PartnershipAnnounced, PartyJoined, PartyLeft, PartnershipEnded)
"""Facts that change an outline (corrections and retractions fold again from the start)."""

_ITEM_KINDS: dict[type, str] = {
    **dict.fromkeys(
        (
            MilestoneScheduled,
            MilestoneRescheduled,
            MilestoneAchieved,
            MilestoneMissed,
            MilestoneCancelled,
        ),
        "milestone",
    ),
    **dict.fromkeys(
        (PhaseScheduled, PhaseRescheduled, PhaseStarted, PhaseCompleted, PhaseCancelled), "phase"
    ),
    InvestmentCommitted: "investment",
}
"""Facts that change one phase, milestone or investment, by the kind they change."""


class Folding:
    """A fold kept open while a stream grows, for the read models.

    New facts that take effect on or after everything folded so far are
    applied to the working state; a late fact, a retraction or a correction
    folds the stream again from its start. Either way the result is what
    `fold` and `outlines` give for the whole stream.
    """

    def __init__(self) -> None:
        self._stages: list[tuple[date, Outline]] = []
        self._reset()

    @property
    def stages(self) -> list[tuple[date, Outline]]:
        """(day, outline) from which each outline holds, as `outlines` gives them."""
        self._whole()
        return self._stages

    def clear(self) -> None:
        """Forget everything taken in (after a failed advance left the working state spoiled)."""
        self._reset()

    def _reset(self) -> None:
        self._p = _Partnership()
        self._memo = _StateMemo()
        self._everything = True
        self._touched: set[tuple[str, str]] = set()
        self._count = 0
        self._key: tuple[date, int] | None = None
        self._stream = ""
        self._last_position = 0
        self._stages = []
        self._rest: bytes | None = None
        """What a restored snapshot holds beyond what notes are checked against, not decoded
        yet (`_Rest`): a statement appended to a cold stream decodes only the snapshot's head."""

    def advance(self, events: Sequence[StoredEvent]) -> None:
        """Take in `events`: the whole stream so far (the folding remembers what it has seen)."""
        new = events[self._count :]
        if not new:
            return
        if self._from_start(new):
            if self._count or self._key is not None:  # one that took nothing in forgets nothing
                self._reset()
            self._take(resolve(known(events, None)), events)
        else:
            self._take(_in_effective_order(new), events)

    def extend(self, tail: Sequence[StoredEvent]) -> bool:
        """Take in `tail`, the stream's events after those taken in, unless they need the stream
        from its start (a late fact, a retraction, a correction): False, and nothing taken."""
        if not tail:
            return True
        if self._from_start(tail):
            return False
        self._take(_in_effective_order(tail), tail, before=self._count)
        return True

    def _from_start(self, new: Sequence[StoredEvent]) -> bool:
        key = self._key
        return key is None or any(
            isinstance(e.event, EventRetracted | EventCorrected)
            or (e.event.effective.first_day, e.position) < key
            for e in new
        )

    def _take(
        self, applied: list[_Applied], events: Sequence[StoredEvent], before: int = 0
    ) -> None:
        """Apply facts in effective order; `events` ends the stream, after `before` others."""
        if self._rest is not None and not all(isinstance(a.event, _NOTED) for a in applied):
            self._whole()
        for day, on_day in groupby(applied, lambda a: a.event.effective.first_day):
            outlined = False
            for item in on_day:
                _apply(self._p, item)
                self._key = (day, item.position)
                outlined = outlined or isinstance(item.event, _OUTLINED)
                kind = _ITEM_KINDS.get(type(item.event))
                if kind is not None:
                    self._touched.add((kind, item.event.data.id))  # type: ignore[union-attr]
            self._everything = self._everything or outlined
            if outlined:  # other facts leave the outline as it was
                self._outline_from(day)
        self._count = before + len(events)
        self._stream = events[0].stream
        self._last_position = events[-1].position

    def _outline_from(self, day: date) -> None:
        outline = _outline(self._p)
        if outline is None:
            return
        stages = self._stages
        if stages and stages[-1][0] == day:  # more facts of the day folded last time
            stages.pop()
        if not stages or stages[-1][1] != outline:
            stages.append((day, outline))

    @property
    def version(self) -> int:
        """How many events it has taken in."""
        return self._count

    def changes(self) -> tuple[bool, set[tuple[str, str]]]:
        """What changed since the last call: (True, _) when anything may have (a fold from the
        start, or a fact that changes the outline); else the (kind, id) of each phase,
        milestone and investment a fact touched. Calendar items are rewritten by this."""
        everything, touched = self._everything, self._touched
        self._everything, self._touched = False, set()
        return everything, touched

    def touched_states(
        self, touched: Iterable[tuple[str, str]]
    ) -> tuple[list[MilestoneState], list[PhaseState], list[InvestmentState]]:
        """The states at the end of time of these phases, milestones and investments."""
        self._whole()
        p, memo = self._p, self._memo
        milestones = [
            memo.milestone(p.milestones[i], END_OF_TIME) for k, i in touched if k == "milestone"
        ]
        phases = [memo.phase(p.phases[i], END_OF_TIME) for k, i in touched if k == "phase"]
        investments = [p.investments[i] for k, i in touched if k == "investment"]
        return milestones, phases, investments

    def headline(self) -> tuple[PartialDate, str | None, str, tuple[Source, ...]] | None:
        """(announced, summary, status, sources) at the end of time; None before an announcement."""
        self._whole()
        p = self._p
        if p.announced is None:
            return None
        announcement = p.announced.event
        assert isinstance(announcement, PartnershipAnnounced)  # noqa: S101 - guaranteed by _apply
        status = "ended" if p.ended is not None else "active"
        return announcement.effective, announcement.data.summary, status, tuple(p.sources.values())

    def state(self) -> PartnershipState | None:
        """The state at the end of time of everything taken in."""
        self._whole()
        basis = Basis(
            as_of=END_OF_TIME,
            known_at=None,
            version=self._count,
            last_position=self._last_position,
        )
        return _state(self._p, self._stream, basis, self._memo)

    def covers(self, as_of: date) -> bool:
        """Whether every fact taken in took effect by `as_of`: then `state_on(as_of)` is what
        `fold` gives for that day (phases and milestones judged on it)."""
        return self._key is not None and self._key[0] <= as_of

    def state_on(self, as_of: date) -> PartnershipState | None:
        """The state on `as_of` of everything taken in; only where `covers(as_of)`."""
        self._whole()
        basis = Basis(
            as_of=as_of, known_at=None, version=self._count, last_position=self._last_position
        )
        return _state(self._p, self._stream, basis)

    def snapshot(self) -> bytes | None:
        """What it has folded, as stored bytes (`restore`); None before it has taken in a fact."""
        if self._key is None:
            return None
        p = self._p
        rest = self._rest
        if rest is None:
            rest = wire.encoder.encode(
                _Rest(
                    stages=tuple(self._stages),
                    parties=p.parties,
                    former=p.former,
                    focus_areas=p.focus_areas,
                    investments=p.investments,
                    commitments=p.commitments,
                    targets=p.targets,
                    risks=p.risks,
                    governance=p.governance,
                    phases=tuple(p.phases.values()),  # dataclasses msgspec writes as they are
                    milestones=tuple(p.milestones.values()),
                )
            )
        frozen = Snapshot(
            stream=self._stream,
            version=self._count,
            last_position=self._last_position,
            key=self._key,
            announced=p.announced,
            ended=p.ended,
            sources=tuple(p.sources.values()),
            statements=p.statements.encoded(),
            background=p.background.encoded(),
            forecasts=p.forecasts.encoded(),
            rest=msgspec.Raw(rest),
        )
        return zlib.compress(wire.encoder.encode(frozen), SNAPSHOT_COMPRESSION)

    @classmethod
    def restore(cls, body: bytes) -> Folding | None:
        """The folding `snapshot` stored, going on from there; None when the bytes are of
        another shape (or hold events of an older schema): fold the stream from its events."""
        try:
            s = _snapshot_decoder.decode(zlib.decompress(body))
        except (zlib.error, msgspec.DecodeError, msgspec.ValidationError):
            return None
        if s.shape != SNAPSHOT_SHAPE or s.schemas != EVENT_SCHEMAS:
            return None
        folding = cls()
        folding._p = _thaw(s)
        folding._rest = bytes(s.rest)
        folding._key = s.key
        folding._count = s.version
        folding._stream = s.stream
        folding._last_position = s.last_position
        return folding

    def _whole(self) -> None:
        """Decode what the snapshot holds beyond the head, before anything reads it."""
        if self._rest is None:
            return
        r = _rest_decoder.decode(self._rest)
        self._rest = None
        p = self._p
        p.parties, p.former, p.focus_areas = r.parties, r.former, r.focus_areas
        p.investments, p.commitments, p.targets = r.investments, r.commitments, r.targets
        p.risks, p.governance = r.risks, r.governance
        p.phases = {phase.id: phase for phase in r.phases}
        p.milestones = {milestone.id: milestone for milestone in r.milestones}
        self._stages = list(r.stages)

    def framing(self) -> tuple[str, str, tuple[PartyState, ...]] | None:
        """(stream, title, parties) at the end of time: what every calendar item repeats."""
        self._whole()
        p = self._p
        if p.announced is None:
            return None
        announcement = p.announced.event
        assert isinstance(announcement, PartnershipAnnounced)  # noqa: S101 - guaranteed by _apply
        return self._stream, announcement.data.title, tuple(p.parties.values())


def _in_effective_order(events: Sequence[StoredEvent]) -> list[_Applied]:
    applied = [_Applied(e.event, e.position) for e in events]
    applied.sort(key=lambda a: (a.event.effective.first_day, a.position))
    return applied


def _outline(p: _Partnership) -> Outline | None:
    if p.announced is None:
        return None
    announcement = p.announced.event
    assert isinstance(announcement, PartnershipAnnounced)  # noqa: S101 - guaranteed by _apply
    data = announcement.data
    return Outline(
        title=data.title,
        kind=data.kind,
        status="ended" if p.ended is not None else "active",
        announced=announcement.effective,
        ended=p.ended.event.effective if p.ended is not None else None,
        parties=tuple(Party(org=s.org, name=s.name, role=s.role) for s in p.parties.values()),
        former_parties=tuple(Party(org=s.org, name=s.name, role=s.role) for s in p.former.values()),
        regions=data.regions,
        summary=data.summary,
    )


def _run(applied: Iterable[_Applied], as_of: date) -> _Partnership:
    p = _Partnership()
    for item in applied:
        if item.event.effective.first_day > as_of:
            break
        _apply(p, item)
    return p


def check(events: Sequence[StoredEvent]) -> None:
    """Raise `DomainError` unless the stream folds to the end of time without one.

    The store calls this with the stream as it would be after an append.
    """
    recorded = known(events, None)
    if recorded and not isinstance(recorded[0].event, PartnershipAnnounced):
        raise DomainError(
            "announcement-first",
            f"a stream starts with PartnershipAnnounced, not {recorded[0].type}",
            recorded[0].event.id,
        )
    _run(resolve(recorded), END_OF_TIME)


def check_append(
    existing: Sequence[StoredEvent], new: Sequence[StoredEvent], folding: Folding | None = None
) -> None:
    """`check` of the stream with `new` appended. Given a `folding` that has taken in exactly
    `existing`, only what the append adds is folded (a late fact, a retraction or a correction
    still folds from the start); the folding then holds `new` too, or is cleared by the
    `DomainError` (its next advance folds from the start).
    """
    if folding is None or folding.version != len(existing):
        check([*existing, *new])
        return
    if not existing and not isinstance(new[0].event, PartnershipAnnounced):
        check(new)  # says so as `check` does
    try:
        if not folding.extend(new):  # a late fact, a retraction or a correction
            folding.advance([*existing, *new])
    except DomainError:
        folding.clear()
        raise


def check_new(existing: Sequence[StoredEvent], new: Sequence[StoredEvent]) -> None:
    """Rules only new events must keep: a correction states nothing its target cannot hold.

    Stored corrections are never re-judged by this, so a stricter rule never
    makes an existing stream unreadable.
    """
    corrections = [s.event for s in new if isinstance(s.event, EventCorrected)]
    if not corrections:  # the common append: nothing to look up in the stream
        return
    wanted = {correction.data.event_id for correction in corrections}
    types = {s.event.id: type_name(s.event) for s in (*existing, *new) if s.event.id in wanted}
    for event in corrections:
        target = types.get(event.data.event_id)
        if target is None or target not in DATA_TYPES:
            continue  # an unknown target is `unknown-event`, said by `check`
        unknown = wire.unknown_fields(event.data.data, DATA_TYPES[target], "data")
        if unknown:
            raise DomainError(
                "invalid-correction",
                f"corrected data has fields {target} does not have: {', '.join(unknown[:5])}",
                event.id,
            )


# --- a folding at rest ---------------------------------------------------------------------

SNAPSHOT_SHAPE = 7
"""The shape of `Snapshot`; a stored snapshot of another shape is ignored (the stream is folded
from its events). Raise it when `_Partnership`, `_Phase`, `_Milestone` or a state type change."""
SNAPSHOT_COMPRESSION = 1
"""zlib's fastest level: a snapshot's JSON repeats its events' keys and sources, and shrinks to
a fifth (27.6 to 5.2 KB for 100 synthetic events, in 0.08 ms; inflating takes 0.02-0.07 ms),
so one per stream costs the store a fifth of its events' bytes, not as much again. From shape
6 they are compressed: older bodies fail to inflate and are ignored like any other shape."""
EVENT_SCHEMAS = ",".join(f"{name}:{kind.SCHEMA_VERSION}" for name, kind in sorted(BY_TYPE.items()))
"""The event types' schema versions a snapshot's events are in. A snapshot holds events in the
shape of their day, and an upcast may rename or move a field that a newer type would decode
without complaint but wrongly: a snapshot from other versions is ignored."""


class _Rest(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What a snapshot holds beyond its head: decoded only when a fact other than a note is
    folded or the state is read (`Folding._whole`)."""

    parties: dict[str, PartyState]
    former: dict[str, PartyState]
    focus_areas: dict[str, FocusAreaState]
    investments: dict[str, InvestmentState]
    commitments: dict[str, CommitmentState]
    targets: dict[str, TargetState]
    risks: dict[str, RiskState]
    governance: dict[str, GovernanceState]
    phases: tuple[_Phase, ...]
    milestones: tuple[_Milestone, ...]
    stages: tuple[tuple[date, Outline], ...]


class Snapshot(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A `Folding` at rest: what a stream folds to at the end of time, and what the domain
    checks and the facets need to go on from there (`Folding.restore`). Its head is what a
    note (statement, background, forecast) is checked against; the rest stays JSON until
    needed."""

    shape: int = SNAPSHOT_SHAPE
    schemas: str = EVENT_SCHEMAS
    stream: str
    version: int
    last_position: int
    key: tuple[date, int]
    """(first day, position) of the last fact folded: a new fact before it folds from the start."""
    announced: _Applied | None
    ended: _Applied | None
    sources: tuple[Source, ...]
    statements: msgspec.Raw
    """JSON arrays of `StatementState`, `BackgroundState` and `ForecastState`, decoded only
    when the state is read (`_Notes`)."""
    background: msgspec.Raw
    forecasts: msgspec.Raw
    rest: msgspec.Raw
    """`_Rest` as JSON."""


_snapshot_decoder = msgspec.json.Decoder(Snapshot, dec_hook=wire.dec_hook)
_rest_decoder = msgspec.json.Decoder(_Rest, dec_hook=wire.dec_hook)
_notes_decoders: dict[type, msgspec.json.Decoder[Any]] = {
    kind: msgspec.json.Decoder(list[kind], dec_hook=wire.dec_hook)  # type: ignore[valid-type]
    for kind in (StatementState, BackgroundState, ForecastState)
}


def _thaw(s: Snapshot) -> _Partnership:
    """The head of a snapshot as a working state; the rest comes with `Folding._whole`."""
    return _Partnership(
        announced=s.announced,
        ended=s.ended,
        statements=_Notes(StatementState, bytes(s.statements)),
        background=_Notes(BackgroundState, bytes(s.background)),
        forecasts=_Notes(ForecastState, bytes(s.forecasts)),
        sources={(source.title, source.url): source for source in s.sources},
    )
