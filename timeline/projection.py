"""Read models kept in memory: decoded streams and folded states, refreshed incrementally.

Events are immutable and streams only grow, so a cached stream is brought up
to date by reading the events after its last cached version. Folded states
are cached by everything they depend on: stream, known version, `as_of`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import NamedTuple

import msgspec

from timeline.events import StoredEvent
from timeline.fold import fold, known
from timeline.knowledge import SUMMARY_NAMED, ItemChange, diff, summary
from timeline.lru import LRU
from timeline.readside.incremental import Folding
from timeline.state import Basis, PartnershipState
from timeline.store import EventStore, StreamInfo

EVENTS_KEPT = 2_000
"""Decoded events kept across streams (~1.6 KB each): enough for the streams a page or a knowledge
diff reads more than once in a request, and a few busy ones. Kept few on purpose: every kept
object is walked by the collector's young collections until it grows old, and at 10,000
partnerships a read seldom finds its stream kept anyway (`STATES_KEPT`)."""
STATES_KEPT = 64
"""Folded states kept: a repeated URL is answered by the replay cache before it gets here. With
1,024 kept, random state reads at 1M events made each young collection walk ~200,000 kept
objects (dates, UUIDs, tuples): 90-150 ms pauses, p99 130 ms at 460 req/s; with 64 (and
`wire.DATES_KEPT`), p99 49-57 ms at the same throughput, and no pause above 3 ms under load."""


class _Fold:
    """Said by `Projector._from_snapshot` when a stream must be folded from its first event."""


_FOLD = _Fold()


class NotKnownError(LookupError):
    """No such partnership, nothing known of it at that instant, or not yet announced then."""

    @classmethod
    def unknown(cls, stream: str, known_at: datetime | None) -> NotKnownError:
        if known_at is not None:
            return cls(f"nothing was known of partnership {stream!r} at {known_at.isoformat()}")
        return cls(f"no partnership {stream!r}")

    @classmethod
    def unannounced(cls, stream: str, day: date) -> NotKnownError:
        return cls(f"partnership {stream!r} was not yet announced on {day}")


class Kept(NamedTuple):
    """A stream's events as read, and beside each its stored body when in the current schema
    (None otherwise): an answer that lists them splices the body (`encode_stored`)."""

    events: tuple[StoredEvent, ...]
    bodies: tuple[bytes | None, ...]


_NOTHING_KEPT = Kept((), ())


class Projector:
    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._streams: LRU[str, Kept] = LRU(EVENTS_KEPT, weight=lambda kept: len(kept.events))
        self._states: LRU[tuple[str, int, date], PartnershipState | None] = LRU(STATES_KEPT)

    async def events(self, info: StreamInfo) -> tuple[StoredEvent, ...]:
        """The stream's events up to `info.version`, reading only what the cache lacks."""
        kept = self._streams.get(info.stream) or _NOTHING_KEPT
        if len(kept.events) < info.version:
            kept = await self._read_after(info.stream, kept)
        return kept.events[: info.version]

    async def latest(self, stream: str) -> Kept:
        """Every event of the stream, reading only those after what is kept: one query where a
        view and then its events take two."""
        return await self._read_after(stream, self._streams.get(stream) or _NOTHING_KEPT)

    async def _read_after(self, stream: str, kept: Kept) -> Kept:
        after = len(kept.events) + 1
        fresh = [pair async for pair in self._store.read_stream_bodies(stream, from_version=after)]
        if fresh:
            events, bodies = zip(*fresh, strict=True)
            kept = Kept(kept.events + events, kept.bodies + bodies)
            self._streams[stream] = kept
        return kept

    async def view(self, stream: str, known_at: datetime | None) -> StreamInfo | None:
        """The stream as known at `known_at` (None: now); None when nothing was known."""
        return await self._store.stream_info(stream, known_at=known_at)

    async def state(
        self, view: StreamInfo, *, as_of: date, known_at: datetime
    ) -> PartnershipState | None:
        """The state at `as_of` of the stream as `view` knows it, with its basis stated."""
        key = (view.stream, view.version, as_of)
        if key in self._states:
            state = self._states[key]
        else:
            restored = await self._from_snapshot(view, as_of)
            if isinstance(restored, _Fold):
                state = fold(known(await self.events(view), None), as_of=as_of)
            else:
                state = restored
            self._states[key] = state
        if state is None:
            return None
        basis = Basis(
            as_of=as_of, known_at=known_at, version=view.version, last_position=view.last_position
        )
        return msgspec.structs.replace(state, basis=basis)

    async def _from_snapshot(
        self, view: StreamInfo, as_of: date
    ) -> PartnershipState | _Fold | None:
        """The state from the stream's stored snapshot and the events after it, when the events
        are not kept here already; `_FOLD` when it must be folded from the first event: no
        snapshot, one past `view`, an event after it that comes late (or retracts or corrects),
        or a fact that takes effect after `as_of`."""
        cached = self._streams.get(view.stream)
        if cached is not None and len(cached.events) >= view.version:
            return _FOLD
        found = await self._store.read_models.snapshot(view.stream)
        if found is None or found[0] > view.version:
            return _FOLD
        folding = Folding.restore(found[1])
        if folding is None or folding.version != found[0]:
            return _FOLD
        tail: list[StoredEvent] = []
        if folding.version < view.version:  # else the snapshot is the stream as viewed
            tail = [
                e
                async for e in self._store.read_stream(
                    view.stream, from_version=folding.version + 1, to_version=view.version
                )
            ]
        if not folding.extend(tail) or not folding.covers(as_of):
            return _FOLD
        return folding.state_on(as_of)

    async def pair(
        self,
        events: Sequence[StoredEvent],
        earlier: StreamInfo | None,
        later: StreamInfo,
        *,
        as_of: date,
        known_at: tuple[datetime, datetime],
    ) -> tuple[PartnershipState | None, PartnershipState | None]:
        """The states on `as_of` as `earlier` (None: nothing known yet) and `later` know the
        stream whose `events` (up to `later`) the caller holds, at the two instants of
        `known_at`: one fold that goes on from the earlier to the
        later where the events between allow it (`Folding.extend`), not two from the first
        event. Items the events between leave alone are then the same objects in both."""
        first = 0 if earlier is None else earlier.version
        keys = ((later.stream, first, as_of), (later.stream, later.version, as_of))
        if keys[1] not in self._states or (earlier is not None and keys[0] not in self._states):
            both = folded_pair(events, first, as_of)
            if both is not None:
                if earlier is not None:
                    self._states[keys[0]] = both[0]
                self._states[keys[1]] = both[1]
        since, until = known_at
        before = None
        if earlier is not None:
            before = await self.state(earlier, as_of=as_of, known_at=since)
        return before, await self.state(later, as_of=as_of, known_at=until)

    async def answer(
        self, stream: str, *, as_of: date, known_at: datetime | None
    ) -> PartnershipState:
        """The state on `as_of` as known at `known_at` (None: now), or why there is none."""
        view = await self.view(stream, known_at)
        if view is None:
            raise NotKnownError.unknown(stream, known_at)
        state = await self.state(view, as_of=as_of, known_at=known_at or datetime.now(UTC))
        if state is None:
            raise NotKnownError.unannounced(stream, as_of)
        return state


def folded_pair(
    events: Sequence[StoredEvent], first: int, as_of: date
) -> tuple[PartnershipState | None, PartnershipState | None] | None:
    """`fold` on `as_of` of the first `first` events and of all of them, from one `Folding`
    that takes in the first ones, then the rest; None when the rest need the stream from its
    start (a late fact, a retraction, a correction) or a fact takes effect after `as_of`."""
    folding = Folding()
    before = None
    if first:
        folding.advance(events[:first])
        if not folding.covers(as_of):
            return None
        before = folding.state_on(as_of)
        if not folding.extend(events[first:]):
            return None
    else:
        folding.advance(events)
    if not folding.covers(as_of):
        return None
    return before, folding.state_on(as_of)


@dataclass(frozen=True, slots=True)
class KnowledgeDiff:
    """A partnership as known at `since` against as known at `until`, on `as_of`.

    `window` is every event recorded in between; `until_recorded` is when the last event known
    at `until` was recorded (the same answer as `until` itself, for a link that must not move).
    """

    stream: str
    since: datetime
    until: datetime | None
    as_of: date
    before: Basis | None
    after: Basis
    changes: list[ItemChange]
    window: tuple[StoredEvent, ...]
    window_bodies: tuple[bytes | None, ...]
    """Each of `window`'s stored bodies in the current schema, or None (`Kept`)."""
    until_recorded: datetime


async def knowledge_diff(
    projector: Projector,
    stream: str,
    *,
    since: datetime,
    until: datetime | None,
    as_of: date,
) -> KnowledgeDiff:
    """What changed in what was known of `stream` between `since` and `until` (None: now)."""
    kept = await projector.latest(stream)  # both views are read off its events: one query
    every = kept.events
    later = _known_at(stream, every, until)
    if later is None:
        raise NotKnownError.unknown(stream, until)
    earlier = _known_at(stream, every, since)
    events = every[: later.version]
    instants = (since, until or datetime.now(UTC))
    before, after = await projector.pair(events, earlier, later, as_of=as_of, known_at=instants)
    if after is None and before is None:
        raise NotKnownError.unannounced(stream, as_of)
    start = earlier.version if earlier is not None else 0
    window = events[start:]
    return KnowledgeDiff(
        stream=stream,
        since=since,
        until=until,
        as_of=as_of,
        before=None if earlier is None else _basis(earlier, as_of, since),
        after=_basis(later, as_of, until),
        changes=diff(stream, before, after, window, events),
        window=window,
        window_bodies=kept.bodies[start : later.version],
        until_recorded=events[-1].recorded_at,
    )


@dataclass(frozen=True, slots=True)
class Changed:
    """A partnership with events recorded in a window: how many, where, and in a line."""

    stream: str
    title: str | None
    events: int
    first_position: int
    last_position: int
    summary: str


async def changed_partnerships(
    store: EventStore,
    low: int,
    high: int,
    *,
    party: str | None,
    after: str | None,
    limit: int,
) -> list[Changed]:
    """One page, by stream id, of the partnerships with events at positions in (`low`,
    `high`] (`ReadModels.window`); with `party`, those it is or was in. Titles are today's."""
    models = store.read_models
    today = datetime.now(UTC).date()
    page = await models.changed(low, high, party=party, day=today, after=after, limit=limit)
    found: list[Changed] = []
    for each in page:
        named = min(SUMMARY_NAMED, each.events)  # the stream's first events after `low`
        first = [e async for e in store.read_stream(each.stream, after_position=low, limit=named)]
        outline = await models.outline(each.stream, today)
        found.append(
            Changed(
                stream=each.stream,
                title=None if outline is None else outline.title,
                events=each.events,
                first_position=each.first_position,
                last_position=each.last_position,
                summary=summary(first, each.events),
            )
        )
    return found


def _known_at(
    stream: str, events: Sequence[StoredEvent], known_at: datetime | None
) -> StreamInfo | None:
    """The stream as `EventStore.stream_info` gives it at `known_at`, from all its events (in
    version order): its last version recorded by then."""
    count = len(events)
    while known_at is not None and count and events[count - 1].recorded_at > known_at:
        count -= 1
    if count == 0:
        return None
    return StreamInfo(stream=stream, version=count, last_position=events[count - 1].position)


def _basis(view: StreamInfo, as_of: date, known_at: datetime | None) -> Basis:
    return Basis(
        as_of=as_of, known_at=known_at, version=view.version, last_position=view.last_position
    )
