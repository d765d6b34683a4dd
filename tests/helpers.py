"""Builders for events used across the tests; every default is a plain, valid fact."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

from timeline.dates import PartialDate, Period
from timeline.events import (
    Announcement,
    AnyEvent,
    Correction,
    EventCorrected,
    EventRetracted,
    Investment,
    InvestmentCommitted,
    Milestone,
    MilestoneAchieved,
    MilestoneScheduled,
    MilestoneStep,
    PartnershipAnnounced,
    Party,
    Phase,
    PhaseScheduled,
    PhaseStarted,
    PhaseStep,
    Retraction,
    Source,
    StoredEvent,
)
from timeline.money import Money

T0 = datetime(2024, 1, 16, 12, 0, tzinfo=UTC)
SOURCE = Source(title="Test article", language="en")


def d(text: str) -> PartialDate:
    return PartialDate.parse(text)


def announce(effective: str = "2024-01-16") -> PartnershipAnnounced:
    return PartnershipAnnounced(
        effective=d(effective),
        sources=(SOURCE,),
        data=Announcement(
            title="Vodafone–Microsoft",
            kind="strategic",
            parties=(
                Party(org="vodafone", name="Vodafone"),
                Party(org="microsoft", name="Microsoft"),
            ),
        ),
    )


def invest(item: str = "cloud", effective: str = "2024-01-16", amount: str = "1500000000"):
    return InvestmentCommitted(
        effective=d(effective),
        data=Investment(
            id=item,
            investor="vodafone",
            recipient="microsoft",
            amount=Money(amount=Decimal(amount), currency="USD"),
            purpose="cloud and AI",
        ),
    )


def milestone(item: str = "iot", due: str = "2024-04", effective: str = "2024-01-16"):
    return MilestoneScheduled(
        effective=d(effective), data=Milestone(id=item, title=f"milestone {item}", due=d(due))
    )


def achieved(item: str = "iot", effective: str = "2024-05-02"):
    return MilestoneAchieved(effective=d(effective), data=MilestoneStep(id=item))


def phase(item: str = "pilot", period: str = "2024-02/2024-03", effective: str = "2024-01-16"):
    return PhaseScheduled(
        effective=d(effective),
        data=Phase(id=item, name=f"phase {item}", period=Period.parse(period)),
    )


def started(item: str = "pilot", effective: str = "2024-02-05"):
    return PhaseStarted(effective=d(effective), data=PhaseStep(id=item))


def retract(target: UUID, effective: str = "2025-06-01"):
    return EventRetracted(effective=d(effective), data=Retraction(event_id=target, reason="wrong"))


def correct(target: UUID, data: dict[str, object], effective: str = "2025-06-01"):
    return EventCorrected(
        effective=d(effective), data=Correction(event_id=target, data=data, reason="typo")
    )


def recorded(
    events: Sequence[AnyEvent],
    *,
    stream: str = "vm",
    at: Sequence[datetime] | None = None,
) -> list[StoredEvent]:
    """Events as a store would have kept them: version i, position i, one hour apart."""
    times = list(at) if at is not None else [T0 + timedelta(hours=i) for i in range(len(events))]
    return [
        StoredEvent(
            stream=stream,
            version=i,
            position=i,
            recorded_at=times[i - 1],
            actor="test",
            schema_version=type(event).SCHEMA_VERSION,
            event=event,
        )
        for i, event in enumerate(events, start=1)
    ]
