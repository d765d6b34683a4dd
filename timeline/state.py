"""What a partnership looked like at (`as_of`, `known_at`): the fold's answer.

Answers keep every field, empty or not (`omit_defaults=False`), so that
clients see one shape. Every item carries `since` (the effective date of the event that
brought it), `event_id` (that event, to cite, link or retract it) and the `sources` of that
event; msgspec Structs take one base, so these fields are repeated rather than mixed in.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from timeline.dates import PartialDate
from timeline.events import (
    Background,
    Commitment,
    Figure,
    FocusArea,
    Forecast,
    Governance,
    Investment,
    Milestone,
    Model,
    Party,
    Phase,
    Risk,
    Source,
    Statement,
    Target,
    Term,
)

PhaseStatus = Literal["planned", "started", "completed", "cancelled"]
PhaseSchedule = Literal["upcoming", "in_window", "past_window"]
MilestoneStatus = Literal["pending", "achieved", "missed", "unreported", "cancelled"]
"""`unreported`: the deadline has passed and no source says what happened (not "missed",
which a source must report: `MilestoneMissed`)."""
PartnershipStatus = Literal["active", "ended"]
TermStatus = Literal["running", "run_out"]


class Basis(Model, frozen=True, kw_only=True, omit_defaults=False):
    """Everything an answer depends on, so that it can be repeated and cached."""

    as_of: date
    known_at: datetime | None
    version: int
    last_position: int


class PartyState(Party, frozen=True, kw_only=True, omit_defaults=False):
    since: PartialDate
    event_id: UUID
    sources: tuple[Source, ...] = ()


class FocusAreaState(FocusArea, frozen=True, kw_only=True, omit_defaults=False):
    since: PartialDate
    event_id: UUID
    sources: tuple[Source, ...] = ()


class InvestmentState(Investment, frozen=True, kw_only=True, omit_defaults=False):
    since: PartialDate
    event_id: UUID
    sources: tuple[Source, ...] = ()


class CommitmentState(Commitment, frozen=True, kw_only=True, omit_defaults=False):
    since: PartialDate
    event_id: UUID
    sources: tuple[Source, ...] = ()


class TargetState(Target, frozen=True, kw_only=True, omit_defaults=False):
    since: PartialDate
    event_id: UUID
    sources: tuple[Source, ...] = ()


class StatementState(Statement, frozen=True, kw_only=True, omit_defaults=False):
    since: PartialDate
    event_id: UUID
    sources: tuple[Source, ...] = ()


class BackgroundState(Background, frozen=True, kw_only=True, omit_defaults=False):
    since: PartialDate
    event_id: UUID
    sources: tuple[Source, ...] = ()


class ForecastState(Forecast, frozen=True, kw_only=True, omit_defaults=False):
    since: PartialDate
    event_id: UUID
    sources: tuple[Source, ...] = ()


class RiskState(Risk, frozen=True, kw_only=True, omit_defaults=False):
    since: PartialDate
    event_id: UUID
    sources: tuple[Source, ...] = ()


class GovernanceState(Governance, frozen=True, kw_only=True, omit_defaults=False):
    since: PartialDate
    event_id: UUID
    sources: tuple[Source, ...] = ()


class PhaseState(Phase, frozen=True, kw_only=True, omit_defaults=False):
    """`revision` counts changes of dates or status (a calendar's SEQUENCE)."""

    since: PartialDate
    event_id: UUID
    sources: tuple[Source, ...] = ()
    status: PhaseStatus
    schedule: PhaseSchedule
    started: PartialDate | None = None
    completed: PartialDate | None = None
    cancelled: PartialDate | None = None
    reason: str | None = None
    revision: int = 0


class MilestoneState(Milestone, frozen=True, kw_only=True, omit_defaults=False):
    """`deadline` is the last day of `due`; `revision` counts changes of date or status."""

    since: PartialDate
    event_id: UUID
    sources: tuple[Source, ...] = ()
    deadline: date
    status: MilestoneStatus
    achieved: PartialDate | None = None
    missed: PartialDate | None = None
    cancelled: PartialDate | None = None
    reason: str | None = None
    revision: int = 0


class PartnershipState(Model, frozen=True, kw_only=True, omit_defaults=False):
    id: str
    title: str
    kind: str
    status: PartnershipStatus
    announced: PartialDate
    parties: tuple[PartyState, ...]
    former_parties: tuple[PartyState, ...] = ()
    term: Term | None = None
    term_ends: date | None = None
    """The term's last day: its period's, or `years` from an announcement dated to the day."""
    term_status: TermStatus | None = None
    """On `as_of`: `running`, or `run_out` after `term_ends`; None when no end is known."""
    regions: tuple[str, ...] = ()
    reach: Figure | None = None
    summary: str | None = None
    ended: PartialDate | None = None
    end_reason: str | None = None
    focus_areas: tuple[FocusAreaState, ...] = ()
    investments: tuple[InvestmentState, ...] = ()
    commitments: tuple[CommitmentState, ...] = ()
    targets: tuple[TargetState, ...] = ()
    phases: tuple[PhaseState, ...] = ()
    milestones: tuple[MilestoneState, ...] = ()
    statements: tuple[StatementState, ...] = ()
    background: tuple[BackgroundState, ...] = ()
    forecasts: tuple[ForecastState, ...] = ()
    risks: tuple[RiskState, ...] = ()
    governance: tuple[GovernanceState, ...] = ()
    sources: tuple[Source, ...] = ()
    basis: Basis


class Outline(Model, frozen=True, kw_only=True, omit_defaults=False):
    """What lists and organization pages show of a partnership on one day (a read model's row)."""

    title: str
    kind: str
    status: PartnershipStatus
    announced: PartialDate
    ended: PartialDate | None = None
    parties: tuple[Party, ...]
    former_parties: tuple[Party, ...] = ()
    regions: tuple[str, ...] = ()
    summary: str | None = None
