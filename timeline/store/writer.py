"""One writer per process, for every backend: concurrent appends decided in one transaction.

The writer task takes every append waiting in its queue and decides them
together inside one write transaction of the backend: read what the
decisions need (the streams touched, the events already stored under the
incoming ids, the last position and recording time), decide each append on
its own with `plan_append`, write all accepted events with one batched
insert, commit. Awaited calls per group, not per event: each round trip to
the database thread or server costs far more than the decision itself.

Decoded streams are kept between groups and checked against the database's
version of each stream inside the transaction, so another process writing
to the same database is seen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, Unpack
from uuid import UUID

from timeline import fold
from timeline.events import AnyEvent, StoredEvent
from timeline.fold import DomainError
from timeline.lru import LRU
from timeline.readmodels import StreamModel, batches
from timeline.store.base import (
    AppendChain,
    AppendOptions,
    AppendResult,
    SkippedAppendError,
    StoreError,
)
from timeline.store.plan import plan_append, recording_time

GROUP_LIMIT = 512
CACHED_EVENTS = 30_000
"""Events of recently written streams kept decoded (~1.6 KB each), so a group rarely reads a
stream again: hundreds of busy streams. An import interleaving more streams than this holds
reads them again whatever the size (#12: snapshots), so a larger cache only costs memory."""
MODELLED_EVENTS = 20_000
"""Events of recently written streams whose read models are kept folded: a model holds its
stream's state, items and their text, ~3 KB an event (100,000 of them made an import of
10,000 interleaved streams peak at 520 MB)."""


class WriteTransaction(Protocol):
    """What the writer needs from a backend inside one write transaction."""

    async def stream_versions(self, streams: Sequence[str]) -> dict[str, int]: ...

    async def stream_events(self, streams: Sequence[str]) -> list[StoredEvent]:
        """Every event of these streams, in position order."""
        ...

    async def events_by_id(self, ids: Sequence[UUID]) -> list[StoredEvent]: ...

    async def last(self) -> tuple[int, datetime | None]:
        """The last position and its recording time (0, None when empty)."""
        ...

    async def insert(self, events: Sequence[StoredEvent]) -> None: ...

    async def generation(self) -> int:
        """The read models' live generation."""
        ...

    async def load_models(self, streams: Sequence[str]) -> dict[str, StreamModel]:
        """The read-model rows of these streams, as stored."""
        ...

    async def save_models(self, models: Iterable[StreamModel]) -> None: ...


Begin = Callable[[], AbstractAsyncContextManager[WriteTransaction]]
"""Opens a write transaction that commits on exit, rolls back on error."""


@dataclass(slots=True)
class _Append:
    stream: str
    events: Sequence[AnyEvent]
    actor: str
    expected_version: int | None
    recorded_at: datetime | None
    chain: AppendChain | None
    done: asyncio.Future[AppendResult] = field(repr=False)


class GroupWriter:
    def __init__(self, begin: Begin, on_commit: Callable[[int], None] | None = None) -> None:
        self._begin = begin
        self._on_commit = on_commit
        self._queue: asyncio.Queue[_Append | None] = asyncio.Queue()
        self._cache: LRU[str, tuple[StoredEvent, ...]] = LRU(CACHED_EVENTS, weight=len)
        self._models: LRU[str, tuple[int, StreamModel]] = LRU(
            MODELLED_EVENTS, weight=lambda kept: kept[1].version
        )
        """Each recently written stream's read models, by the generation they belong to."""
        self._task = asyncio.create_task(self._loop(), name="event-writer")
        self._closed = False

    async def append(
        self, stream: str, events: Sequence[AnyEvent], **options: Unpack[AppendOptions]
    ) -> AppendResult:
        if self._closed:
            raise StoreError("the store is closed")
        done: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        append = _Append(
            stream,
            tuple(events),
            options["actor"],
            options.get("expected_version"),
            options.get("recorded_at"),
            options.get("chain"),
            done,
        )
        self._queue.put_nowait(append)
        return await asyncio.shield(done)

    async def close(self) -> None:
        """Finish every append already queued, then stop."""
        if self._closed:
            return
        self._closed = True
        await self._queue.put(None)
        await self._task

    async def _loop(self) -> None:
        closing = False
        while not closing:
            first = await self._queue.get()
            if first is None:
                break
            group = [first]
            while len(group) < GROUP_LIMIT and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    closing = True
                    break
                group.append(item)
            await self._write_group(group)

    async def _write_group(self, group: list[_Append]) -> None:
        chains = {item.chain: item.chain.broken for item in group if item.chain is not None}
        try:
            results, streams, last = await self._decide_and_write(group)
        except Exception as error:  # noqa: BLE001 - a failed group is retried one by one
            for chain, broken in chains.items():  # as they were: nothing of the group was written
                chain.broken = broken
            if len(group) > 1:
                for item in group:
                    await self._write_group([item])
                return
            results, streams, last = [error], {}, None
            if group[0].chain is not None:
                group[0].chain.broken = True
        for name, events in streams.items():
            self._remember(name, tuple(events))
        if last is not None and self._on_commit is not None:
            self._on_commit(last)
        _answer(group, results)

    def _remember(self, stream: str, events: tuple[StoredEvent, ...]) -> None:
        self._cache[stream] = events

    async def _decide_and_write(
        self, group: list[_Append]
    ) -> tuple[list[AppendResult | BaseException], dict[str, list[StoredEvent]], int | None]:
        async with self._begin() as tx:
            existing = await self._load_streams(tx, sorted({item.stream for item in group}))
            ids = list({event.id for item in group for event in item.events})
            stored_by_id = {e.event.id: e for e in await tx.events_by_id(ids)}
            last_position, latest = await tx.last()
            taken = self._take_models(existing)
            foldings = {stream: model.folding for stream, (_, model) in taken.items()}
            results, new = _decide(
                group, existing, stored_by_id, last_position + 1, latest, foldings=foldings
            )
            models: dict[str, StreamModel] = {}
            generation = 0
            if new:
                await tx.insert(new)
                generation = await tx.generation()
                models = await self._update_models(tx, generation, existing, new, taken)
        for stream, (kept_in, model) in taken.items():  # nothing landed on them: as they were
            if stream not in models and model.folding.version == model.version:
                self._models[stream] = (kept_in, model)
        for stream, model in models.items():  # committed: they match the database again
            self._models[stream] = (generation, model)
        return results, existing, (new[-1].position if new else None)

    def _take_models(
        self, existing: dict[str, list[StoredEvent]]
    ) -> dict[str, tuple[int, StreamModel]]:
        """The kept models of these streams that hold all their events, with the generation
        of their rows, taken out while a group uses them: their foldings check the appends
        (`fold.check_append`), whatever generation their rows are of."""
        taken: dict[str, tuple[int, StreamModel]] = {}
        for stream, events in existing.items():
            kept = self._models.pop(stream)
            if kept is not None and kept[1].version == kept[1].folding.version == len(events):
                taken[stream] = kept
        return taken

    async def _update_models(
        self,
        tx: WriteTransaction,
        generation: int,
        existing: dict[str, list[StoredEvent]],
        new: list[StoredEvent],
        taken: dict[str, tuple[int, StreamModel]],
    ) -> dict[str, StreamModel]:
        """Move the read models of the streams `new` lands on, in the same transaction.

        A stream's model is kept between groups (taken out while a group uses
        it, put back once that group commits), so an append costs what it adds.
        """
        by_stream: dict[str, list[StoredEvent]] = {}
        for stored in new:
            by_stream.setdefault(stored.stream, []).append(stored)
        models: dict[str, StreamModel] = {}
        for stream, added in by_stream.items():
            kept_in, model = taken.get(stream, (0, None))
            # its folding is at its rows, past them by the first append it checked, or cleared
            if (
                model is not None
                and kept_in == generation
                and model.version == added[0].version - 1
            ):
                models[stream] = model
        missing = sorted(by_stream.keys() - models.keys())
        for stream in missing:  # a stream that begins here has no rows yet: nothing to read
            if by_stream[stream][0].version == 1:
                models[stream] = StreamModel(stream)
        missing = [stream for stream in missing if stream not in models]
        if missing:
            models.update(await tx.load_models(missing))
        for stream, added in by_stream.items():
            before = added[0].version - 1
            for count, batch in batches(added):
                models[stream].advance(existing[stream][: before + count], batch)
        await tx.save_models(models.values())
        return models

    async def _load_streams(
        self, tx: WriteTransaction, streams: list[str]
    ) -> dict[str, list[StoredEvent]]:
        """The streams' events, from the cache where it still matches the database."""
        versions = await tx.stream_versions(streams)
        existing: dict[str, list[StoredEvent]] = {}
        stale: list[str] = []
        for name in streams:
            cached = self._cache.get(name) or ()
            existing[name] = list(cached)
            if len(cached) != versions.get(name, 0):
                stale.append(name)
                existing[name] = []
        if stale:
            for stored in await tx.stream_events(stale):
                existing[stored.stream].append(stored)
        return existing


def _answer(group: list[_Append], results: list[AppendResult | BaseException]) -> None:
    for item, result in zip(group, results, strict=True):
        if item.done.done():
            continue
        if isinstance(result, BaseException):
            item.done.set_exception(result)
        else:
            item.done.set_result(result)


def _decide(
    group: list[_Append],
    existing: dict[str, list[StoredEvent]],
    stored_by_id: dict[UUID, StoredEvent],
    next_position: int,
    latest: datetime | None,
    *,
    foldings: dict[str, fold.Folding],
) -> tuple[list[AppendResult | BaseException], list[StoredEvent]]:
    """Each append on its own, in queue order, each seeing the ones accepted before it.

    A stream's kept folding checks the first append to it only: rows are
    written per recording instant, so it must not run past a second one.
    """
    now = datetime.now(UTC)
    results: list[AppendResult | BaseException] = []
    new: list[StoredEvent] = []
    for item in group:
        if item.chain is not None and item.chain.broken:
            results.append(SkippedAppendError())
            continue
        folding = foldings.pop(item.stream, None)
        try:
            recorded_at = item.recorded_at or recording_time(None, now, latest)
            result = plan_append(
                item.stream,
                item.events,
                existing=existing[item.stream],
                stored_by_id=stored_by_id,
                next_position=next_position,
                recorded_at=recorded_at,
                actor=item.actor,
                expected_version=item.expected_version,
                folding=folding,
            )
            if not result.replayed:
                recording_time(item.recorded_at, now, latest)
        except (StoreError, DomainError) as error:
            if folding is not None:  # it may hold what was refused: fold again from the start
                folding.clear()
            if item.chain is not None:
                item.chain.broken = True
            results.append(error)
            continue
        results.append(result)
        if not result.replayed:
            existing[item.stream].extend(result.events)
            for stored in result.events:
                stored_by_id[stored.event.id] = stored
            new.extend(result.events)
            next_position += len(result.events)
            latest = recorded_at
    return results, new
