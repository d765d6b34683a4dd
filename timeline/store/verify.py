"""`timeline verify`: what a store must hold true, checked from its events alone."""

from __future__ import annotations

from dataclasses import dataclass, field

from timeline import fold
from timeline.events import StoredEvent
from timeline.store.base import EventStore


@dataclass(slots=True)
class Findings:
    """How many events and streams were read, and every broken invariant, in words."""

    events: int = 0
    streams: int = 0
    problems: list[str] = field(default_factory=list)


async def verify(store: EventStore) -> Findings:
    """Positions gapless from 1, versions consecutive per stream, every stream folds."""
    found = Findings()
    expected = 1
    versions: dict[str, int] = {}
    streams: dict[str, list[StoredEvent]] = {}
    async for stored in store.read_all():
        if stored.position != expected:
            found.problems.append(f"position {stored.position} where {expected} was expected")
        expected = stored.position + 1
        want = versions.get(stored.stream, 0) + 1
        if stored.version != want:
            found.problems.append(f"{stored.stream}: version {stored.version}, expected {want}")
        versions[stored.stream] = stored.version
        streams.setdefault(stored.stream, []).append(stored)
    for name, events in streams.items():
        try:
            fold.check(events)
        except fold.DomainError as error:
            found.problems.append(f"{name}: {error}")
    found.events, found.streams = expected - 1, len(streams)
    return found
