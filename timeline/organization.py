"""An organization's stream folded: its name on a date, former names, aliases, identifiers and
what it came from or went into, as known at an instant; and the keys that name it.

Pure, like `fold`: retractions and corrections are resolved the same way (`fold.resolve`), and
facts apply in effective order up to `as_of`. What spans organizations (a spin-off's parent
exists, an alias is not another's, a merger makes no cycle) is checked by the writer against
the keys of the others (`KeyRow`), which this module derives.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal
from uuid import UUID

from timeline.dates import PartialDate
from timeline.events import (
    AliasAdded,
    AliasRemoved,
    AnyEvent,
    Country,
    EventCorrected,
    Firmness,
    IdentifierAdded,
    Model,
    OrganizationAcquired,
    OrganizationMerged,
    OrganizationRegistered,
    OrganizationRenamed,
    OrganizationSpunOff,
    Source,
    StoredEvent,
    type_name,
)
from timeline.fold import END_OF_TIME, DomainError, _Applied, known, resolve
from timeline.state import Basis


class Named(Model, frozen=True, kw_only=True, omit_defaults=False):
    """A name the organization had: from the day it took effect to the day the next one did."""

    name: str
    since: PartialDate
    until: PartialDate | None
    event_id: UUID


class AliasState(Model, frozen=True, kw_only=True, omit_defaults=False):
    alias: str
    since: PartialDate
    event_id: UUID


class IdentifierState(Model, frozen=True, kw_only=True, omit_defaults=False):
    scheme: str
    value: str
    key: str
    """How it is written where an organization is named: `scheme:value`."""
    since: PartialDate
    event_id: UUID


class Relation(Model, frozen=True, kw_only=True, omit_defaults=False):
    """Another organization this one came out of or went into, on `effective`."""

    org: str
    effective: PartialDate
    event_id: UUID
    firmness: Firmness = "committed"
    due: PartialDate | None = None
    """For a spin-off, the date the source says it is due by."""


class OrganizationState(Model, frozen=True, kw_only=True, omit_defaults=False):
    """An organization on `basis.as_of` as known at `basis.known_at`."""

    org: str
    name: str
    kind: str
    country: Country | None
    since: PartialDate
    """When its registration takes effect."""
    former_names: tuple[Named, ...]
    aliases: tuple[AliasState, ...]
    identifiers: tuple[IdentifierState, ...]
    spun_off_from: Relation | None
    merged_into: Relation | None
    acquired_by: Relation | None
    status: Literal["planned", "active", "merged"]
    """`planned` while its spin-off is only an intention; `merged` once it merged into another."""
    sources: tuple[Source, ...]
    basis: Basis


def name_key(name: str) -> str:
    """A name or alias as it is looked up: its letters' case, accents written apart or together
    and runs of white space do not matter."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def identifier_key(scheme: str, value: str) -> str:
    return f"{scheme}:{value}"


@dataclass(slots=True)
class _Organization:
    registered: _Applied | None = None
    names: list[tuple[str, _Applied]] = field(default_factory=list)
    aliases: dict[str, tuple[str, _Applied]] = field(default_factory=dict)
    identifiers: dict[str, tuple[IdentifierAdded, _Applied]] = field(default_factory=dict)
    spun_off: _Applied | None = None
    merged: _Applied | None = None
    acquired: _Applied | None = None
    sources: dict[tuple[str, str | None], Source] = field(default_factory=dict)


def _apply(o: _Organization, applied: _Applied) -> None:  # noqa: C901, PLR0912 - one rule a type
    event = applied.event
    if o.registered is None:
        if not isinstance(event, OrganizationRegistered):
            raise DomainError(
                "registration-first",
                f"{type_name(event)} takes effect on {event.effective}, before the organization "
                "was registered: an organization's stream starts with OrganizationRegistered",
                event.id,
            )
        o.registered = applied
        o.names.append((event.data.name, applied))
        for alias in event.data.aliases:
            o.aliases[name_key(alias)] = (alias, applied)
        for identifier in event.data.identifiers:
            key = identifier_key(identifier.scheme, identifier.value)
            o.identifiers[key] = (
                IdentifierAdded(id=event.id, effective=event.effective, data=identifier),
                applied,
            )
    elif isinstance(event, OrganizationRegistered):
        raise DomainError("registered-once", "the organization is registered already", event.id)
    elif isinstance(event, OrganizationRenamed):
        current = o.names[-1][0]
        if name_key(event.data.name) == name_key(current):
            raise DomainError(
                "rename-to-current", f"{current!r} is the organization's name already", event.id
            )
        o.names.append((event.data.name, applied))
    elif isinstance(event, AliasAdded):
        key = name_key(event.data.alias)
        if key in o.aliases:
            raise DomainError(
                "alias-present", f"{event.data.alias!r} is an alias already", event.id
            )
        o.aliases[key] = (event.data.alias, applied)
    elif isinstance(event, AliasRemoved):
        if o.aliases.pop(name_key(event.data.alias), None) is None:
            raise DomainError(
                "unknown-alias", f"{event.data.alias!r} is not an alias of it", event.id
            )
    elif isinstance(event, IdentifierAdded):
        key = identifier_key(event.data.scheme, event.data.value)
        if key in o.identifiers:
            raise DomainError("identifier-present", f"{key} is its identifier already", event.id)
        o.identifiers[key] = (event, applied)
    elif isinstance(event, OrganizationSpunOff):
        if o.spun_off is not None:
            raise DomainError("spun-off-once", "the organization was spun off already", event.id)
        o.spun_off = applied
    elif isinstance(event, OrganizationMerged):
        if o.merged is not None:
            raise DomainError("merged-once", "the organization merged already", event.id)
        o.merged = applied
    elif isinstance(event, OrganizationAcquired):
        o.acquired = applied
    else:
        raise DomainError(
            "wrong-stream",
            f"{type_name(event)} is about a partnership, not an organization",
            event.id,
        )
    for source in event.sources:
        o.sources.setdefault((source.title, source.url), source)


def _run(applied: Iterable[_Applied], as_of: date) -> _Organization:
    o = _Organization()
    for item in applied:
        if item.event.effective.first_day > as_of:
            break
        _apply(o, item)
    return o


def _relation(applied: _Applied | None, org: str) -> Relation | None:
    if applied is None:
        return None
    event = applied.event
    if isinstance(event, OrganizationSpunOff):
        return Relation(
            org=event.data.parent,
            effective=event.effective,
            event_id=event.id,
            firmness=event.data.firmness,
            due=event.data.due,
        )
    return Relation(org=org, effective=event.effective, event_id=event.id)


def fold_organization(
    events: Iterable[StoredEvent], *, as_of: date, known_at: datetime | None = None
) -> OrganizationState | None:
    """The organization on `as_of` as known at `known_at`; None before its registration (on
    that date, or as then known)."""
    recorded = known(events, known_at)
    if not recorded:
        return None
    o = _run(resolve(recorded), as_of)
    if o.registered is None:
        return None
    registered = o.registered.event
    assert isinstance(registered, OrganizationRegistered)  # noqa: S101 - `_apply` says so
    names = [
        Named(
            name=name,
            since=applied.event.effective,
            until=o.names[n + 1][1].event.effective,
            event_id=applied.event.id,
        )
        for n, (name, applied) in enumerate(o.names[:-1])
    ]
    merged = o.merged.event if o.merged else None
    acquired = o.acquired.event if o.acquired else None
    spun = o.spun_off.event if o.spun_off else None
    planned = isinstance(spun, OrganizationSpunOff) and spun.data.firmness == "planned"
    return OrganizationState(
        org=_org_of(recorded[0].stream),
        name=o.names[-1][0],
        kind=registered.data.kind,
        country=registered.data.country,
        since=registered.effective,
        former_names=tuple(reversed(names)),
        aliases=tuple(
            AliasState(alias=alias, since=applied.event.effective, event_id=applied.event.id)
            for alias, applied in o.aliases.values()
        ),
        identifiers=tuple(
            IdentifierState(
                scheme=added.data.scheme,
                value=added.data.value,
                key=key,
                since=added.effective,
                event_id=applied.event.id,
            )
            for key, (added, applied) in sorted(o.identifiers.items())
        ),
        spun_off_from=_relation(o.spun_off, ""),
        merged_into=_relation(
            o.merged, merged.data.successor if isinstance(merged, OrganizationMerged) else ""
        ),
        acquired_by=_relation(
            o.acquired, acquired.data.acquirer if isinstance(acquired, OrganizationAcquired) else ""
        ),
        status="merged" if merged is not None else "planned" if planned else "active",
        sources=tuple(o.sources.values()),
        basis=Basis(
            as_of=as_of,
            known_at=known_at,
            version=max(e.version for e in recorded),
            last_position=recorded[-1].position,
        ),
    )


def _org_of(stream: str) -> str:
    return stream.partition(":")[2]


def check_organization(events: Sequence[StoredEvent]) -> None:
    """Raise `DomainError` unless the stream folds to the end of time without one (the writer
    calls it with the stream as it would be after an append)."""
    recorded = known(events, None)
    if recorded and not isinstance(recorded[0].event, OrganizationRegistered):
        raise DomainError(
            "registration-first",
            f"an organization's stream starts with OrganizationRegistered, not {recorded[0].type}",
            recorded[0].event.id,
        )
    for stored in recorded:
        merged = stored.event
        if isinstance(merged, OrganizationMerged) and merged.data.successor == _org_of(
            stored.stream
        ):
            raise DomainError("merger-cycle", "an organization cannot merge into itself", merged.id)
    _run(resolve(recorded), END_OF_TIME)


def names_over_time(events: Sequence[StoredEvent]) -> list[tuple[str, date, date | None]]:
    """(name, from, until) over world days, as now known: what a partnership's party is called
    on a date (`until` None: for good)."""
    recorded = known(events, None)
    if not recorded:
        return []
    names = _run(resolve(recorded), END_OF_TIME).names
    return [
        (
            name,
            applied.event.effective.first_day,
            names[n + 1][1].event.effective.first_day if n + 1 < len(names) else None,
        )
        for n, (name, applied) in enumerate(names)
    ]


KeyKind = Literal["name", "alias", "identifier", "parent", "successor", "acquirer"]
KeyRow = tuple[KeyKind, str, str]
"""(kind, key, value): a name, former name or alias by `name_key` (value: as written), an
identifier by `scheme:value`, or a relation to another organization by its id."""
HELD: frozenset[str] = frozenset({"alias", "identifier"})
"""Kinds of key one organization alone may hold."""


def keys_of(events: Sequence[StoredEvent]) -> list[KeyRow]:
    """What names the organization as now known, for lookups: every name it ever had, its
    aliases and identifiers, and the organizations it came from or went into."""
    recorded = known(events, None)
    if not recorded:
        return []
    o = _run(resolve(recorded), END_OF_TIME)
    rows: dict[tuple[KeyKind, str], str] = {}
    for name, _applied in o.names:
        rows.setdefault(("name", name_key(name)), name)
    for key, (alias, _applied) in o.aliases.items():
        rows[("alias", key)] = alias
    for key in o.identifiers:
        rows[("identifier", key)] = key
    relations: list[tuple[KeyKind, AnyEvent | None]] = [
        ("parent", o.spun_off.event if o.spun_off else None),
        ("successor", o.merged.event if o.merged else None),
        ("acquirer", o.acquired.event if o.acquired else None),
    ]
    for kind, event in relations:
        if isinstance(event, OrganizationSpunOff):
            rows[(kind, event.data.parent)] = event.data.parent
        elif isinstance(event, OrganizationMerged):
            rows[(kind, event.data.successor)] = event.data.successor
        elif isinstance(event, OrganizationAcquired):
            rows[(kind, event.data.acquirer)] = event.data.acquirer
    return [(kind, key, value) for (kind, key), value in sorted(rows.items())]


RELATIONS: frozenset[str] = frozenset({"parent", "successor", "acquirer"})


@dataclass(slots=True)
class Directory:
    """What the writer read of other organizations for one group's appends, and what the
    group's accepted appends added: who holds each alias and identifier asked about, which
    organizations are registered, and whom each merged into."""

    holders: dict[tuple[str, str], str] = field(default_factory=dict)
    registered: set[str] = field(default_factory=set)
    successors: dict[str, str] = field(default_factory=dict)

    def took(self, stream: str, events: Sequence[StoredEvent]) -> None:
        """An organization's stream as it is after an accepted append, for the next appends
        to see: its keys replace what it held."""
        self.take(_org_of(stream), keys_of(events))

    def take(self, org: str, keys: Iterable[KeyRow]) -> None:
        """An organization's keys, replacing what it held."""
        self.registered.add(org)
        for (kind, key), holder in list(self.holders.items()):
            if holder == org and kind in HELD:
                del self.holders[(kind, key)]
        for kind, key, _value in keys:
            if kind in HELD:
                self.holders[(kind, key)] = org
            elif kind == "successor":
                self.successors[org] = key


class TakenError(Exception):
    """A key another organization holds (the store answers it as a conflict)."""

    def __init__(self, key: str, holder: str) -> None:
        super().__init__(key, holder)
        self.key = key
        self.holder = holder


def asked(stream: str, events: Sequence[AnyEvent]) -> tuple[set[tuple[str, str]], set[str]]:
    """What an append to `stream` needs the directory to answer: the aliases and identifiers
    it claims, and the organizations it names (and their successors, followed by the writer)."""
    claimed: set[tuple[str, str]] = set()
    named: set[str] = {_org_of(stream)}
    for event in events:
        if isinstance(event, OrganizationRegistered):
            claimed |= {("alias", name_key(alias)) for alias in event.data.aliases}
            claimed |= {
                ("identifier", identifier_key(i.scheme, i.value)) for i in event.data.identifiers
            }
        elif isinstance(event, AliasAdded):
            claimed.add(("alias", name_key(event.data.alias)))
        elif isinstance(event, IdentifierAdded):
            claimed.add(("identifier", identifier_key(event.data.scheme, event.data.value)))
        elif isinstance(event, OrganizationSpunOff):
            named.add(event.data.parent)
        elif isinstance(event, OrganizationMerged):
            named.add(event.data.successor)
        elif isinstance(event, OrganizationAcquired):
            named.add(event.data.acquirer)
        elif isinstance(event, EventCorrected):  # its data may name anything: ask for each
            for text in _texts(event.data.data):
                named.add(text)
                claimed.add(("alias", name_key(text)))
            claimed |= {("identifier", key) for key in _identifiers(event.data.data)}
    return claimed, named


def _texts(value: object) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for inner in value.values():
            yield from _texts(inner)
    elif isinstance(value, list | tuple):
        for inner in value:
            yield from _texts(inner)


def _identifiers(value: object) -> Iterable[str]:
    if isinstance(value, dict):
        scheme, code = value.get("scheme"), value.get("value")
        if isinstance(scheme, str) and isinstance(code, str):
            yield identifier_key(scheme, code)
        for inner in value.values():
            yield from _identifiers(inner)
    elif isinstance(value, list | tuple):
        for inner in value:
            yield from _identifiers(inner)


def check_append(
    stream: str,
    existing: Sequence[StoredEvent],
    new: Sequence[StoredEvent],
    directory: Directory,
) -> list[KeyRow]:
    """`check_organization` of the stream after an append, and what spans organizations for
    what the append adds: each organization it newly names is registered and not itself, a
    merger makes no cycle, and no alias or identifier it claims is another's. The stream's
    keys, for the directory to take."""
    events = [*existing, *new]
    check_organization(events)
    org = _org_of(stream)
    keys = keys_of(events)
    before = set(keys_of(existing)) if existing else set()
    last = events[-1].event.id
    for row in keys:
        kind, key, _value = row
        if row in before:  # checked when it was appended
            continue
        if kind in HELD:
            holder = directory.holders.get((kind, key))
            if holder is not None and holder != org:
                raise TakenError(key, holder)
        elif kind in RELATIONS:
            _check_relation(org, kind, key, directory, last)
    return keys


def _check_relation(org: str, kind: str, key: str, directory: Directory, event: UUID) -> None:
    if key == org:
        raise DomainError("merger-cycle", f"{org!r} cannot be its own {kind}", event)
    if key not in directory.registered:
        raise DomainError(
            "unknown-organization",
            f"no organization {key!r} is registered (its {kind} must be)",
            event,
        )
    if kind != "successor":
        return
    seen = {org}
    at: str | None = key
    while at is not None:
        if at in seen:
            raise DomainError(
                "merger-cycle", f"{key!r} merged into {org!r} already (directly or not)", event
            )
        seen.add(at)
        at = directory.successors.get(at)


NEAR = 0.8
"""How alike (difflib's ratio) a party's id or name must be to a registered organization's id,
name or alias to be flagged as perhaps that organization misspelt (`microsfot`)."""


def near_duplicates(org: str, name: str, registered: Sequence[tuple[str, str]]) -> list[str]:
    """The registered organizations an unregistered party's id or name is close to."""
    ids = sorted({other for other, _key in registered})
    by_key: dict[str, set[str]] = {}
    for other, key in registered:
        by_key.setdefault(key, set()).add(other)
    found = set(difflib.get_close_matches(org, ids, n=3, cutoff=NEAR))
    for key in difflib.get_close_matches(name_key(name), list(by_key), n=3, cutoff=NEAR):
        found |= by_key[key]
    return sorted(found)
