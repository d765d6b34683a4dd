"""Deciding an append, shared by every backend: replay, version check, domain check.

A backend reads what the decision needs (the stream's events, the events
already stored under the incoming ids, the next position) inside its write
transaction, calls `plan_append`, and writes the returned events.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from uuid import UUID

from timeline import fold, organization
from timeline.events import (
    ACTOR_PATTERN,
    META_TYPES,
    ORGANIZATION_STREAM,
    ORGANIZATION_TYPES,
    SLUG_MAX,
    SLUG_PATTERN,
    AnyEvent,
    StoredEvent,
    is_organization_stream,
    type_name,
)
from timeline.formats import encode_event
from timeline.readside import incremental
from timeline.store.base import (
    AppendResult,
    ConcurrencyError,
    EmptyAppendError,
    IdempotencyError,
    InvalidAppendError,
    KeyTakenError,
    RecordingTimeError,
)

MAX_NAME = SLUG_MAX


def plan_append(
    stream: str,
    events: Sequence[AnyEvent],
    *,
    existing: Sequence[StoredEvent],
    stored_by_id: Mapping[UUID, StoredEvent],
    next_position: int,
    recorded_at: datetime,
    actor: str,
    expected_version: int | None,
    folding: incremental.Folding | None = None,
    directory: organization.Directory | None = None,
) -> AppendResult:
    """The events to store, or the original result of a replay; raises if nothing may be stored.

    `folding`, the stream folded up to `existing` and kept open, makes the
    domain check cost what the append adds (`incremental.check_append`). An organization's
    stream is checked whole, and against the other organizations in `directory`.
    """
    if not events:
        raise EmptyAppendError
    org = is_organization_stream(stream)
    name = stream.removeprefix(ORGANIZATION_STREAM) if org else stream
    if len(name) > MAX_NAME or not re.fullmatch(SLUG_PATTERN, name):
        raise InvalidAppendError(
            f"{name[:MAX_NAME]!r} is not a stream id: lowercase letters, digits and single "
            f"hyphens, at most {MAX_NAME} characters"
        )
    _of_its_kind(events, org=org)
    if not re.fullmatch(ACTOR_PATTERN, actor):
        raise InvalidAppendError(
            f"{actor[:MAX_NAME]!r} is not an actor: letters, digits and . _ @ + -, "
            f"at most {MAX_NAME} characters, starting with a letter or digit"
        )
    current = len(existing)  # versions run from 1 without gaps
    ids = [event.id for event in events]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise fold.DomainError(
            "duplicate-event-id", f"event id {duplicate} appears twice in the batch", duplicate
        )
    hits = [stored_by_id.get(event_id) for event_id in ids]
    if any(hit is not None for hit in hits):
        return _replay(stream, events, hits, current)
    if expected_version is not None and expected_version != current:
        raise ConcurrencyError(stream, expected_version, current)
    new = tuple(
        StoredEvent(
            stream=stream,
            version=current + offset,
            position=next_position + offset - 1,
            recorded_at=recorded_at,
            actor=actor,
            schema_version=type(event).SCHEMA_VERSION,
            event=event,
        )
        for offset, event in enumerate(events, start=1)
    )
    incremental.check_new(existing, new)
    if not org:
        incremental.check_append(existing, new, folding)
        return AppendResult(stream=stream, events=new)
    try:  # the caller has the directory take the append once it is stored (`Directory.took`)
        organization.check_append(stream, existing, new, directory or _NOBODY)
    except organization.TakenError as taken:
        raise KeyTakenError(stream, taken.key, taken.holder, current) from None
    return AppendResult(stream=stream, events=new)


_NOBODY = organization.Directory()
"""Where no directory was read: every other organization unknown (a test's plain append)."""


def _of_its_kind(events: Sequence[AnyEvent], *, org: bool) -> None:
    """An organization's facts in its own stream, a partnership's in a partnership's."""
    for event in events:
        if isinstance(event, META_TYPES) or isinstance(event, ORGANIZATION_TYPES) == org:
            continue
        where = "a partnership's" if org else "an organization's"
        raise fold.DomainError(
            "wrong-stream",
            f"{type_name(event)} belongs in {where} stream, not this one",
            event.id,
        )


def _replay(
    stream: str,
    events: Sequence[AnyEvent],
    hits: Sequence[StoredEvent | None],
    current: int,
) -> AppendResult:
    stored: list[StoredEvent] = []
    for event, hit in zip(events, hits, strict=True):
        if hit is None:
            raise IdempotencyError(
                stream,
                f"part of this batch was stored before, but not event {event.id}; "
                "a batch is replayed whole or not at all",
                current,
            )
        if hit.stream != stream or encode_event(hit.event) != encode_event(event):
            raise IdempotencyError(
                stream,
                f"event id {event.id} was stored before with other content"
                + (f" in stream {hit.stream!r}" if hit.stream != stream else ""),
                current,
            )
        stored.append(hit)
    return AppendResult(stream=stream, events=tuple(stored), replayed=True)


def recording_time(requested: datetime | None, now: datetime, latest: datetime | None) -> datetime:
    """When an append is recorded: never before the store's latest recording.

    Recording times rise with position, so "known at T" is always a prefix of
    every stream. A restored `requested` time older than the latest is refused.
    """
    if requested is None:
        return now if latest is None else max(now, latest)
    if latest is not None and requested < latest:
        raise RecordingTimeError(requested, latest)
    return requested
