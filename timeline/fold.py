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

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Generic, Literal, TypeVar, cast
from uuid import UUID

import msgspec

from timeline import wire
from timeline.dates import PartialDate, Period
from timeline.events import (
    DATA_TYPES,
    ORGANIZATION_TYPES,
    AnyEvent,
    BackgroundNoted,
    Commitment,
    CommitmentMade,
    Event,
    EventCorrected,
    EventRetracted,
    FocusArea,
    FocusAreaDefined,
    ForecastPublished,
    Governance,
    GovernanceEstablished,
    Investment,
    InvestmentCommitted,
    MilestoneAchieved,
    MilestoneCancelled,
    MilestoneMissed,
    MilestoneRescheduled,
    MilestoneScheduled,
    Model,
    PartnershipAnnounced,
    PartnershipEnded,
    PartyJoined,
    PartyLeft,
    PhaseCancelled,
    PhaseCompleted,
    PhaseRescheduled,
    PhaseScheduled,
    PhaseStarted,
    Risk,
    RiskIdentified,
    Source,
    StatementMade,
    StoredEvent,
    Target,
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
    "alias-present",
    "already-retracted",
    "announced-once",
    "announcement-first",
    "correct-meta-event",
    "duplicate-event-id",
    "duplicate-id",
    "identifier-present",
    "invalid-correction",
    "merged-once",
    "merger-cycle",
    "milestone-closed",
    "milestone-missed",
    "party-present",
    "phase-closed",
    "phase-started",
    "quote-ambiguous",
    "quote-not-in-source",
    "registered-once",
    "registration-first",
    "rename-to-current",
    "retract-retraction",
    "source-has-no-text",
    "source-not-registered",
    "spun-off-once",
    "unknown-alias",
    "unknown-event",
    "unknown-milestone",
    "unknown-organization",
    "unknown-party",
    "unknown-phase",
    "wrong-stream",
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
    # nothing to resolve (most streams): each fact as stated, its id hashed once, not five
    # times (UUIDs hash in Python: a tenth of a 120-event knowledge diff went there); a
    # repeated id falls through to be refused below
    plain = not any(isinstance(stored.event, EventRetracted | EventCorrected) for stored in events)
    if plain and len({stored.event.id for stored in events}) == len(events):
        applied = [_Applied(stored.event, stored.position) for stored in events]
        applied.sort(key=lambda a: (a.event.effective.first_day, a.position))
        return applied
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

    def encoded(self) -> bytes:
        """All of them as a JSON array, without decoding the stored ones."""
        stored = self._stored
        if stored is not None and not self._items:
            return stored
        added = wire.encoder.encode(self._items)
        if stored is None or stored == b"[]":
            return added
        return stored[:-1] + b"," + added[1:]


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

    def announcement(self) -> PartnershipAnnounced | None:
        """The announcement folded, if any (what every state and outline starts from)."""
        if self.announced is None:
            return None
        announcement = self.announced.event
        assert isinstance(announcement, PartnershipAnnounced)  # noqa: S101 - guaranteed by _apply
        return announcement

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


def _apply_fact(p: _Partnership, applied: _Applied) -> None:
    """Apply one fact after the announcement: the rule of its type (a table lookup, where a
    `match` of 25 classes tried them one by one: a tenth of folding a synthetic stream)."""
    _FACT_RULES[type(applied.event)](p, applied)


def _announced_again(_p: _Partnership, applied: _Applied) -> None:
    raise DomainError("announced-once", "the partnership is already announced", applied.event.id)


def _party_joined(p: _Partnership, applied: _Applied) -> None:
    event = cast("PartyJoined", applied.event)
    party = event.data
    if party.org in p.parties:
        raise DomainError("party-present", f"{party.org!r} is already a party", event.id)
    p.former.pop(party.org, None)
    p.parties[party.org] = _sourced(PartyState, party, applied)


def _party_left(p: _Partnership, applied: _Applied) -> None:
    event = cast("PartyLeft", applied.event)
    party = event.data
    if party.org not in p.parties:
        raise DomainError("unknown-party", f"{party.org!r} is not a party", event.id)
    p.former[party.org] = p.parties.pop(party.org)


_Item = FocusArea | Investment | Commitment | Target | Risk | Governance
"""The data of a fact that adds one item with an id of its own."""


def _item(
    bucket: Callable[[_Partnership], dict[str, Any]], kind: str, state: type[Any]
) -> Callable[[_Partnership, _Applied], None]:
    """The rule of a fact that adds one item with an id of its own to `bucket`."""

    def rule(p: _Partnership, applied: _Applied) -> None:
        data = cast("_Item", applied.event.data)
        _add(bucket(p), kind, data.id, _sourced(state, data, applied), applied.event)

    return rule


def _note(
    notes: Callable[[_Partnership], _Notes[Any]], state: type[Any]
) -> Callable[[_Partnership, _Applied], None]:
    """The rule of a statement, background or forecast: kept in order, consulted by none."""

    def rule(p: _Partnership, applied: _Applied) -> None:
        notes(p).append(_sourced(state, applied.event.data, applied))

    return rule


def _phase_scheduled(p: _Partnership, applied: _Applied) -> None:
    event = cast("PhaseScheduled", applied.event)
    data = event.data
    _add(p.phases, "phase", data.id, _Phase(applied, data.id, data.period), event)


def _phase_changed(p: _Partnership, applied: _Applied) -> None:
    event = cast("PhaseRescheduled | PhaseStarted | PhaseCompleted | PhaseCancelled", applied.event)
    _apply_phase(p.phase(event.data.id, event), event)


def _milestone_scheduled(p: _Partnership, applied: _Applied) -> None:
    event = cast("MilestoneScheduled", applied.event)
    data = event.data
    _add(p.milestones, "milestone", data.id, _Milestone(applied, data.id, data.due), event)


def _milestone_changed(p: _Partnership, applied: _Applied) -> None:
    event = cast(
        "MilestoneRescheduled | MilestoneAchieved | MilestoneMissed | MilestoneCancelled",
        applied.event,
    )
    _apply_milestone(p.milestone(event.data.id, event), event)


def _ended(p: _Partnership, applied: _Applied) -> None:
    p.ended = applied


def _resolved_before(_p: _Partnership, _applied: _Applied) -> None:
    """Retractions and corrections are applied before the fold, in `resolve`."""


def _about_an_organization(_p: _Partnership, applied: _Applied) -> None:
    raise DomainError(
        "wrong-stream",
        f"{type_name(applied.event)} is about an organization: append it to "
        "/organizations/{org}/events",
        applied.event.id,
    )


_FACT_RULES: dict[type, Callable[[_Partnership, _Applied], None]] = {
    PartnershipAnnounced: _announced_again,
    PartyJoined: _party_joined,
    PartyLeft: _party_left,
    FocusAreaDefined: _item(lambda p: p.focus_areas, "focus area", FocusAreaState),
    InvestmentCommitted: _item(lambda p: p.investments, "investment", InvestmentState),
    CommitmentMade: _item(lambda p: p.commitments, "commitment", CommitmentState),
    TargetSet: _item(lambda p: p.targets, "target", TargetState),
    RiskIdentified: _item(lambda p: p.risks, "risk", RiskState),
    GovernanceEstablished: _item(lambda p: p.governance, "governance body", GovernanceState),
    StatementMade: _note(lambda p: p.statements, StatementState),
    BackgroundNoted: _note(lambda p: p.background, BackgroundState),
    ForecastPublished: _note(lambda p: p.forecasts, ForecastState),
    PhaseScheduled: _phase_scheduled,
    **dict.fromkeys(
        (PhaseRescheduled, PhaseStarted, PhaseCompleted, PhaseCancelled), _phase_changed
    ),
    MilestoneScheduled: _milestone_scheduled,
    **dict.fromkeys(
        (MilestoneRescheduled, MilestoneAchieved, MilestoneMissed, MilestoneCancelled),
        _milestone_changed,
    ),
    PartnershipEnded: _ended,
    EventRetracted: _resolved_before,
    EventCorrected: _resolved_before,
    **dict.fromkeys(ORGANIZATION_TYPES, _about_an_organization),
}
"""The rule of each event type once the partnership is announced (`_apply_fact`)."""


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
    announcement = p.announcement()
    if announcement is None:
        return None
    as_of = basis.as_of
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


def _run(applied: Iterable[_Applied], as_of: date) -> _Partnership:
    p = _Partnership()
    for item in applied:
        if item.event.effective.first_day > as_of:
            break
        _apply(p, item)
    return p


def sweep(
    events: Sequence[StoredEvent], keep: Callable[[AnyEvent], bool]
) -> Iterator[tuple[date, date | None, Callable[[date], PartnershipState | None]]]:
    """The stream as its facts take effect, day by day, folding only the announcement and the
    facts `keep` chooses (after retractions and corrections): for each first day on which one
    takes effect, that day, the next such day (None after the last) and the state on any day
    from the one to the other. A fact's lineage asks this once per recording instant, where a
    fold per day would fold the stream again for each. The state is good until the next step.
    """
    recorded = known(events, None)
    if not recorded:
        return
    basis = Basis(
        as_of=END_OF_TIME,
        known_at=None,
        version=max(e.version for e in recorded),
        last_position=recorded[-1].position,
    )
    chosen = [
        a for a in resolve(recorded) if isinstance(a.event, PartnershipAnnounced) or keep(a.event)
    ]
    p = _Partnership()
    stream = recorded[0].stream

    def state_on(day: date) -> PartnershipState | None:
        return _state(p, stream, msgspec.structs.replace(basis, as_of=day))

    for index, applied in enumerate(chosen):
        _apply(p, applied)
        day = applied.event.effective.first_day
        following = chosen[index + 1].event.effective.first_day if index + 1 < len(chosen) else None
        if following != day:
            yield day, following, state_on


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


_notes_decoders: dict[type, msgspec.json.Decoder[Any]] = {
    kind: msgspec.json.Decoder(list[kind], dec_hook=wire.dec_hook)  # type: ignore[valid-type]
    for kind in (StatementState, BackgroundState, ForecastState)
}
