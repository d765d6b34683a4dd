"""What changed in what we know: a partnership as known at two instants, on one date.

At one `as_of`, the state known at `since` and the state known at `until` differ only
by the events recorded in between, so every item that differs is compared field by
field and cites those events that touch it: the fact itself, or the retraction or
correction aimed at it (`subjects`). Pure: the caller reads the states and events.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, cast
from uuid import UUID

import msgspec

from timeline import wire
from timeline.events import (
    AnyEvent,
    BackgroundNoted,
    CommitmentMade,
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
)
from timeline.fold import DomainError, corrected
from timeline.state import PartnershipState

ItemKind = Literal[
    "partnership",
    "party",
    "focus_area",
    "investment",
    "commitment",
    "target",
    "phase",
    "milestone",
    "statement",
    "background",
    "forecast",
    "risk",
    "governance",
]
ChangeKind = Literal["added", "removed", "changed"]
Subject = tuple["ItemKind", str]
"""(item kind, item id): what an event is about."""

PARTNERSHIP_FIELDS = (
    "title",
    "kind",
    "status",
    "announced",
    "term",
    "regions",
    "reach",
    "summary",
    "ended",
    "end_reason",
)
"""The partnership's own fields; its parties and items are compared one by one."""
UNCOMPARED = frozenset({"revision"})
"""Counts of changes: a change of anything else says it better."""

_LISTS: tuple[tuple[ItemKind, str, str], ...] = (
    ("focus_area", "focus_areas", "name"),
    ("investment", "investments", "purpose"),
    ("commitment", "commitments", "description"),
    ("target", "targets", "metric"),
    ("phase", "phases", "name"),
    ("milestone", "milestones", "title"),
    ("statement", "statements", "speaker"),
    ("background", "background", "text"),
    ("forecast", "forecasts", "claim"),
    ("risk", "risks", "description"),
    ("governance", "governance", "body"),
)
"""(kind, the state's field, the item field that names it), in the order answers list them.
Statements, background and forecasts have no id of their own: the event that made them is it."""
LABEL_MAX = 100
"""A label is a name, not the text: background is named by its first words."""
KIND_ORDER: tuple[ItemKind, ...] = ("partnership", "party", *(kind for kind, _, _ in _LISTS))


class FieldChange(Model, frozen=True, omit_defaults=False):
    """One field, by its dotted path inside the item, as known before and after."""

    path: str
    before: Any = None
    after: Any = None


class ItemChange(Model, frozen=True, omit_defaults=False):
    """An item added, removed or changed, with the window's events that caused it; `before`
    and `after` are the item's JSON (`item_json`), written out: most items of a diff are
    added or removed, never compared, and converting each to dicts to be encoded again took
    ~8% of a diff."""

    kind: ItemKind
    id: str
    label: str
    change: ChangeKind
    fields: tuple[FieldChange, ...] = ()
    before: msgspec.Raw | None = None
    after: msgspec.Raw | None = None
    events: tuple[UUID, ...] = ()


def _plain(value: object) -> Any:  # noqa: ANN401 - JSON of any shape
    return msgspec.to_builtins(value, enc_hook=wire.enc_hook)


def items(state: PartnershipState | None) -> dict[Subject, tuple[str, dict[str, Any]]]:
    """Every item of `state` by (kind, id), with its label and its JSON form."""
    held = held_items(state)
    return {key: (label, item_json(key, value)) for key, (label, value) in held.items()}


def held_items(state: PartnershipState | None) -> dict[Subject, tuple[str, object]]:
    """Every item of `state` by (kind, id), with its label and its value as the state holds it
    (`item_json` makes it JSON): an item that compares equal on both sides is never converted."""
    if state is None:
        return {}
    found: dict[Subject, tuple[str, object]] = {
        ("partnership", state.id): (
            state.title,
            tuple(getattr(state, name) for name in PARTNERSHIP_FIELDS),
        )
    }
    for former, parties in ((False, state.parties), (True, state.former_parties)):
        for party in parties:
            found[("party", party.org)] = (party.name, (party, former))
    for kind, field, label in _LISTS:
        for item in getattr(state, field):
            key = getattr(item, "id", None) or str(item.event_id)
            found[(kind, key)] = (str(getattr(item, label))[:LABEL_MAX], item)
    return found


def item_json(key: Subject, value: object) -> dict[str, Any]:
    """An item's JSON form, from what `held_items` holds of it."""
    if key[0] == "partnership":
        return dict(zip(PARTNERSHIP_FIELDS, _plain(value), strict=True))
    if key[0] == "party":
        party, former = cast("tuple[object, bool]", value)
        return {**_plain(party), "former": former}
    return dict(_plain(value))


def item_raw(key: Subject, value: object) -> msgspec.Raw:
    """`item_json` of an item, as JSON: the same bytes as encoding that, without the dicts."""
    kind = key[0]
    if kind == "partnership":
        return msgspec.Raw(wire.encode(item_json(key, value)))
    if kind == "party":
        party, former = cast("tuple[object, bool]", value)
        said = wire.encode(party)[:-1]
        comma = b"," if len(said) > 1 else b""
        return msgspec.Raw(said + comma + (b'"former":true}' if former else b'"former":false}'))
    return msgspec.Raw(wire.encode(value))


def field_changes(
    before: Mapping[str, Any], after: Mapping[str, Any], prefix: str = ""
) -> list[FieldChange]:
    """Fields that differ, by dotted path; nested objects compared field by field, lists whole."""
    changes: list[FieldChange] = []
    for name in [*before, *(name for name in after if name not in before)]:
        old, new = before.get(name), after.get(name)
        if old == new or (not prefix and name in UNCOMPARED):
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            changes.extend(field_changes(old, new, f"{prefix}{name}."))
        else:
            changes.append(FieldChange(path=f"{prefix}{name}", before=old, after=new))
    return changes


def subjects(event: AnyEvent, stream: str, by_id: Mapping[UUID, AnyEvent]) -> set[Subject]:  # noqa: PLR0911 - a case per type
    """The items `event` is about; a retraction or correction is about what its target is
    about, before and after the correction (which may change an id)."""
    match event:
        case PartnershipAnnounced(data=data):
            parties: set[Subject] = {("party", party.org) for party in data.parties}
            return {("partnership", stream), *parties}
        case PartnershipEnded():
            return {("partnership", stream)}
        case PartyJoined(data=party) | PartyLeft(data=party):
            return {("party", party.org)}
        case StatementMade():
            return {("statement", str(event.id))}
        case ForecastPublished():
            return {("forecast", str(event.id))}
        case BackgroundNoted():
            return {("background", str(event.id))}
        case EventRetracted(data=data):
            target = by_id.get(data.event_id)
            return set() if target is None else subjects(target, stream, by_id)
        case EventCorrected():
            return _corrected_subjects(event, stream, by_id)
    kind, item = _ID_KINDS.get(type(event)), getattr(event.data, "id", None)
    return set() if kind is None or item is None else {(kind, str(item))}


def _corrected_subjects(
    event: EventCorrected, stream: str, by_id: Mapping[UUID, AnyEvent]
) -> set[Subject]:
    """What a correction's target is about: as first stated, as this correction makes it, and
    as each earlier correction of it made it (an id one gave it, which this one may change back)."""
    target = by_id.get(event.data.event_id)
    if target is None:
        return set()
    about = subjects(target, stream, by_id)
    for each in _corrections_until(event, by_id):
        with contextlib.suppress(DomainError):  # refused when appended: it is its target's
            about |= subjects(corrected(target, each), stream, by_id)
    return about


def _corrections_until(
    correction: EventCorrected, by_id: Mapping[UUID, AnyEvent]
) -> list[EventCorrected]:
    """`correction` and the corrections of its target before it (`by_id` is in stream order)."""
    found: list[EventCorrected] = []
    for other in by_id.values():
        if other is correction or other.id == correction.id:
            break
        if isinstance(other, EventCorrected) and other.data.event_id == correction.data.event_id:
            found.append(other)
    return [*found, correction]


_ID_KINDS: dict[type, ItemKind] = {
    FocusAreaDefined: "focus_area",
    InvestmentCommitted: "investment",
    CommitmentMade: "commitment",
    TargetSet: "target",
    RiskIdentified: "risk",
    GovernanceEstablished: "governance",
    **dict.fromkeys(
        (PhaseScheduled, PhaseRescheduled, PhaseStarted, PhaseCompleted, PhaseCancelled), "phase"
    ),
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
}
"""Facts about one item with an `id` of its own, by the item's kind."""


def diff(
    stream: str,
    before: PartnershipState | None,
    after: PartnershipState | None,
    window: Sequence[StoredEvent],
    history: Iterable[StoredEvent],
) -> list[ItemChange]:
    """The items that differ between `before` and `after`, in the order answers list items.

    `window` holds the events recorded between the two states; `history` every event known
    at the later one (to find what a retraction or correction aims at).
    """
    amending = any(isinstance(stored.event, EventRetracted | EventCorrected) for stored in window)
    # only what retracts or corrects looks its target up (a UUID hashes in Python)
    by_id = {stored.event.id: stored.event for stored in history} if amending else {}
    causes: dict[Subject, list[UUID]] = {}
    for stored in window:
        for subject in subjects(stored.event, stream, by_id):
            causes.setdefault(subject, []).append(stored.event.id)
    old, new = held_items(before), held_items(after)
    rank: dict[str, int] = {kind: index for index, kind in enumerate(KIND_ORDER)}
    later = {key: index for index, key in enumerate(new)}
    earlier = {key: index for index, key in enumerate(old)}

    def place(key: Subject) -> tuple[int, int, int]:
        """By kind, then where the item stands later (or, removed, where it stood)."""
        if key in later:
            return (rank[key[0]], 0, later[key])
        return (rank[key[0]], 1, earlier[key])

    keys = sorted({*old, *new}, key=place)
    changes: list[ItemChange] = []
    for key in keys:
        was, now = old.get(key), new.get(key)
        change: ChangeKind
        was_raw: msgspec.Raw | None
        now_raw: msgspec.Raw | None
        if was is not None and now is not None:
            if was[1] == now[1]:
                continue  # the same values: nothing to say, nothing to convert
            was_json, now_json = item_json(key, was[1]), item_json(key, now[1])
            fields = field_changes(was_json, now_json)
            if not fields:
                continue
            was_raw, now_raw = (
                msgspec.Raw(wire.encode(was_json)),
                msgspec.Raw(wire.encode(now_json)),
            )
            change = "changed"
        else:
            fields, change = [], "added" if now is not None else "removed"
            was_raw = None if was is None else item_raw(key, was[1])
            now_raw = None if now is None else item_raw(key, now[1])
        label = (now or was or ("", None))[0]
        changes.append(
            ItemChange(
                kind=key[0],
                id=key[1],
                label=label,
                change=change,
                fields=tuple(fields),
                before=was_raw,
                after=now_raw,
                events=tuple(causes.get(key, ())),
            )
        )
    return changes


SUMMARY_NAMED = 3
"""Events a digest line names; the rest are counted."""
_WORDS = re.compile(r"[A-Z][a-z]*")


def phrase(event: AnyEvent) -> str:
    """One event in a few words: "milestone iot-rollout achieved", "statement by Satya Nadella"."""
    *noun, verb = (word.lower() for word in _WORDS.findall(type(event).__name__))
    match event:
        case StatementMade(data=statement):
            said = f"statement by {statement.speaker}"
        case ForecastPublished(data=forecast):
            said = f"forecast by {forecast.by}"
        case PartyJoined(data=party) | PartyLeft(data=party):
            said = f"{party.name} {verb}"
        case PartnershipAnnounced(data=announcement):
            said = f"announced: {announcement.title}"
        case EventRetracted(data=retraction):
            said = f"event {retraction.event_id} retracted: {retraction.reason}"
        case EventCorrected(data=correction):
            why = f": {correction.reason}" if correction.reason else ""
            said = f"event {correction.event_id} corrected{why}"
        case _:
            named = getattr(event.data, "id", None)
            said = " ".join([*noun, *([str(named)] if named else []), verb])
    return said


def summary(events: Sequence[StoredEvent], count: int) -> str:
    """A digest's line for a partnership: how many events, the first few in words."""
    named = [phrase(stored.event) for stored in events[:SUMMARY_NAMED]]
    rest = count - len(named)
    more = [f"and {rest} more"] if rest > 0 else []
    return f"{count} event{'s' if count != 1 else ''}: " + "; ".join([*named, *more])


class Amendment(Model, frozen=True):
    """A fact taken back or put right: what it said, when that was recorded, and why."""

    kind: Literal["retracted", "corrected"]
    event_id: UUID
    """The retraction or correction."""
    target: UUID
    what: str
    """The target as first stated, in a few words ("milestone iot-rollout achieved")."""
    recorded_at: datetime
    reason: str | None = None
    about: tuple[Subject, ...] = ()
    """The items it touches, as `subjects` finds them."""
    sources: tuple[Source, ...] = ()
    fields: tuple[FieldChange, ...] = ()
    """What a correction changed in its target's data (and `effective`), as it stood then."""


def amendments(stream: str, history: Sequence[StoredEvent]) -> list[Amendment]:
    """Every retraction and correction in `history` (a stream as known at some instant), in
    recording order, so a page can say which facts were taken back or put right."""
    by_id = {stored.event.id: stored.event for stored in history}
    standing: dict[UUID, AnyEvent] = {}
    """Each corrected event as its corrections so far leave it."""
    found: list[Amendment] = []
    for stored in history:
        event = stored.event
        if not isinstance(event, EventRetracted | EventCorrected):
            continue
        target = by_id.get(event.data.event_id)
        fields: list[FieldChange] = []
        if isinstance(event, EventCorrected) and target is not None:
            was = standing.get(target.id, target)
            with contextlib.suppress(DomainError):  # refused when appended: it cannot be here
                now = corrected(was, event)
                standing[target.id] = now
                fields = field_changes(_plain(was.data), _plain(now.data))
                if now.effective != was.effective:
                    fields.append(
                        FieldChange(
                            path="effective",
                            before=_plain(was.effective),
                            after=_plain(now.effective),
                        )
                    )
        found.append(
            Amendment(
                kind="retracted" if isinstance(event, EventRetracted) else "corrected",
                event_id=event.id,
                target=event.data.event_id,
                what=str(event.data.event_id) if target is None else phrase(target),
                recorded_at=stored.recorded_at,
                reason=event.data.reason,
                about=tuple(sorted(subjects(event, stream, by_id))),
                sources=tuple(event.sources),
                fields=tuple(fields),
            )
        )
    return found
