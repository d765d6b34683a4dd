"""The lineage of one fact: every version of it the store has held, on both time axes.

A fact's value at (`as_of`, `known_at`) changes only where what we know of it changes (an event
about it, or the announcement it hangs on, is recorded) or where the world moves past a date
(it takes effect; a phase's window opens or closes; a milestone's deadline passes). So at each
recording instant that touches it, one sweep through effective time gives its value on every
day, and its versions are the rectangles on which one value held, like a bitemporal table's
rows: each stays open until a later recording changes what holds on its days. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

import msgspec

from timeline import fold, wire
from timeline.events import (
    AnyEvent,
    EventCorrected,
    EventRetracted,
    Model,
    Source,
    StoredEvent,
)
from timeline.knowledge import ItemKind, Subject, held_items, item_json, subjects
from timeline.state import MilestoneState, PhaseState

FactKind = Literal[
    "milestone",
    "phase",
    "investment",
    "commitment",
    "target",
    "focus-area",
    "risk",
    "governance",
    "party",
    "statement",
    "background",
    "forecast",
]
KINDS: dict[str, ItemKind] = {
    "milestone": "milestone",
    "phase": "phase",
    "investment": "investment",
    "commitment": "commitment",
    "target": "target",
    "focus-area": "focus_area",
    "risk": "risk",
    "governance": "governance",
    "party": "party",
    "statement": "statement",
    "background": "background",
    "forecast": "forecast",
}
"""The kinds of fact as a path names them, and as the state and the knowledge diff do."""
PATH_KINDS: dict[ItemKind, str] = {item: path for path, item in KINDS.items()}


class Version(Model, frozen=True, kw_only=True, omit_defaults=False):
    """One value the fact had, on the days `effective_from` to `effective_to` (inclusive; None:
    from then on), while it was the latest knowledge: from `recorded_from` until `recorded_to`
    (exclusive; None: it still is)."""

    value: dict[str, Any]
    recorded_from: datetime
    recorded_to: datetime | None
    effective_from: date
    effective_to: date | None
    events: tuple[UUID, ...]
    """The events behind the value, in stream order: the facts about it that had taken effect,
    and the retractions and corrections aimed at facts about it."""
    sources: tuple[Source, ...]
    superseded_by: tuple[UUID, ...] = ()
    """The events recorded at `recorded_to` that changed what holds on these days."""


class Learned(Model, frozen=True, kw_only=True):
    """When the store came to know the value a field has now (and has known it ever since)."""

    field: str
    learned_at: datetime


class Lineage(Model, frozen=True, kw_only=True, omit_defaults=False):
    partnership: str
    kind: str
    id: str
    label: str
    as_of: date
    known_at: datetime | None
    first_recorded: datetime
    """When the store first held any version of the fact."""
    current: dict[str, Any] | None
    """The value at (`as_of`, `known_at`), as the state gives it; None if it does not hold then."""
    learned: tuple[Learned, ...]
    """For each field of `current`, when the store learned that value."""
    versions: tuple[Version, ...]

    def at(self, as_of: date, known_at: datetime | None) -> dict[str, Any] | None:
        """The value that held on `as_of` as known at `known_at` (None: the latest knowledge)."""
        return value_at(self.versions, as_of, known_at)


def value_at(
    versions: Sequence[Version], as_of: date, known_at: datetime | None
) -> dict[str, Any] | None:
    for version in versions:
        if known_at is None:
            if version.recorded_to is not None:
                continue
        elif version.recorded_from > known_at or (
            version.recorded_to is not None and version.recorded_to <= known_at
        ):
            continue
        if version.effective_from <= as_of and (
            version.effective_to is None or as_of <= version.effective_to
        ):
            return version.value
    return None


@dataclass(slots=True)
class _Open:
    version: Version
    label: str


def lineage(
    stream: str,
    events: Sequence[StoredEvent],
    kind: str,
    fact_id: str,
    *,
    as_of: date,
    known_at: datetime | None = None,
) -> Lineage | None:
    """The lineage of the fact (`kind` as a path names it) from `events`, the stream as known at
    `known_at` in version order; None if no version of it was ever held."""
    key: Subject = (KINDS[kind], fact_id)
    by_id = {stored.event.id: stored.event for stored in events}

    # the events that can change the fact's value on some day, each asked once. Not the
    # announcement's date: no fact takes effect before it, so moving it moves no fact
    touching = {s.event.id for s in events if key in subjects(s.event, stream, by_id)}
    instants = sorted({s.recorded_at for s in events if s.event.id in touching})
    held = _versions(stream, events, key, instants=instants, touching=touching)
    if not held:
        return None
    versions = tuple(o.version for o in held)
    current = value_at(versions, as_of, known_at)
    return Lineage(
        partnership=stream,
        kind=kind,
        id=fact_id,
        label=held[-1].label,
        as_of=as_of,
        known_at=known_at,
        first_recorded=versions[0].recorded_from,
        current=current,
        learned=_learned(versions, instants, current, as_of),
        versions=versions,
    )


def _versions(
    stream: str,
    events: Sequence[StoredEvent],
    key: Subject,
    *,
    instants: Sequence[datetime],
    touching: set[UUID],
) -> list[_Open]:
    """Every version, by when it was recorded and the first day it holds: at each instant that
    touches the fact, the pieces no longer held are closed and the new ones opened."""
    opened: dict[tuple[date, date | None, bytes], _Open] = {}
    closed: list[_Open] = []
    count = 0
    for instant in instants:
        while count < len(events) and events[count].recorded_at <= instant:
            count += 1
        known = events[:count]
        pieces = _pieces(stream, known, key, touching)
        ending = tuple(
            s.event.id for s in known if s.recorded_at == instant and s.event.id in touching
        )
        for piece_key in [k for k in opened if k not in pieces]:
            was = opened.pop(piece_key)
            ended = msgspec.structs.replace(was.version, recorded_to=instant, superseded_by=ending)
            closed.append(_Open(ended, was.label))
        for piece_key, (label, value, behind) in pieces.items():
            if piece_key in opened:
                continue
            first, last, _ = piece_key
            sources: list[Source] = []
            for event in behind:
                sources.extend(s for s in event.sources if s not in sources)
            version = Version(
                value=value,
                recorded_from=instant,
                recorded_to=None,
                effective_from=first,
                effective_to=last,
                events=tuple(event.id for event in behind),
                sources=tuple(sources),
            )
            opened[piece_key] = _Open(version, label)
    return sorted(
        [*closed, *opened.values()],
        key=lambda o: (o.version.recorded_from, o.version.effective_from),
    )


def _pieces(
    stream: str,
    known: Sequence[StoredEvent],
    key: Subject,
    touching: set[UUID],
) -> dict[tuple[date, date | None, bytes], tuple[str, dict[str, Any], list[AnyEvent]]]:
    """What held of the fact on each run of days, as `known` says: by (first day, last day or
    None, the value's JSON), its label, value and the events behind it."""

    def about(event: AnyEvent) -> bool:
        """A fact about it as corrections left it (a correction may give it the fact's id)."""
        return key in subjects(event, stream, {})

    runs: list[tuple[date, tuple[str, object] | None]] = []
    for day, following, state_on in fold.sweep(known, about):
        starts = {day}
        here = held_items(state_on(day)).get(key)
        for turn in _turns(None if here is None else here[1]):
            if day < turn and (following is None or turn < following):
                starts.add(turn)
        for start in sorted(starts):
            value = here if start == day else held_items(state_on(start)).get(key)
            if not runs or runs[-1][1] != value:
                runs.append((start, value))
    facts = [a.event for a in fold.resolve(known) if about(a.event)]
    meta = [
        s.event
        for s in known
        if isinstance(s.event, EventRetracted | EventCorrected) and s.event.id in touching
    ]
    order = {s.event.id: s.position for s in known}
    found: dict[tuple[date, date | None, bytes], tuple[str, dict[str, Any], list[AnyEvent]]] = {}
    for index, (start, value) in enumerate(runs):
        if value is None:
            continue
        end = runs[index + 1][0] - timedelta(days=1) if index + 1 < len(runs) else None
        plain = item_json(key, value[1])
        behind = [e for e in facts if e.effective.first_day <= start] + meta
        behind.sort(key=lambda e: order[e.id])
        found[(start, end, wire.encoder.encode(plain))] = (value[0], plain, behind)
    return found


def _turns(value: object) -> tuple[date, ...]:
    """Days on which a fact's value turns by the calendar alone: a phase's window opens and
    closes, a milestone's deadline passes."""
    if isinstance(value, PhaseState):
        return (value.period.first_day, *_after(value.period.last_day))
    if isinstance(value, MilestoneState):
        return _after(value.deadline)
    return ()


def _after(day: date | None) -> tuple[date, ...]:
    return () if day is None or day == date.max else (day + timedelta(days=1),)


def _learned(
    versions: Sequence[Version],
    instants: Sequence[datetime],
    current: dict[str, Any] | None,
    as_of: date,
) -> tuple[Learned, ...]:
    """For each field of `current`, the first instant from which every later recording held
    the same value for it on `as_of`."""
    if current is None:
        return ()
    since: dict[str, datetime] = {}
    tracked = set(current)
    for instant in reversed(instants):
        then = value_at(versions, as_of, instant)
        if then is None:
            break
        tracked = {name for name in tracked if then.get(name) == current[name]}
        since.update(dict.fromkeys(tracked, instant))
        if not tracked:
            break
    return tuple(Learned(field=name, learned_at=since[name]) for name in current if name in since)
