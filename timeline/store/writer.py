"""One writer per process, for every backend: concurrent appends decided in one transaction.

The writer task takes every append waiting in its queue and decides them
together inside one write transaction of the backend: read what the
decisions need (the streams touched, the events already stored under the
incoming ids, the last position and recording time), decide each append on
its own with `plan_append`, write all accepted events with one batched
insert, commit. Awaited calls per group, not per event: each round trip to
the database thread or server costs far more than the decision itself.

A recently written stream's folding and read models are kept between groups
and checked against the database's version of each stream inside the
transaction, so another process writing to the same database is seen; an
append to it reads no event. A stream the writer does not keep costs its
snapshot and the events after it (`Tail`), not its history, and its rows
only when the append may change them. An
append that needs the history (a late fact, a retraction, a correction)
reads it, and the group is decided again. No events are kept: a kept folding
does not need them, and an import interleaving thousands of streams missed
a cache of them every time (48 MB for nothing at 1,000,000 events).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, Unpack
from uuid import UUID

from timeline import organization
from timeline.events import AnyEvent, StoredEvent, is_organization_stream
from timeline.fold import DomainError
from timeline.ids import DrawnId
from timeline.lru import LRU
from timeline.organization import Directory
from timeline.quotes import QuoteError, anchored
from timeline.readside.readmodels import StreamModel, touches_rows
from timeline.store.base import (
    AppendChain,
    AppendOptions,
    AppendResult,
    SkippedAppendError,
    StoreError,
)
from timeline.store.plan import plan_append, recording_time
from timeline.store.tail import HistoryNeededError, Tail

GROUP_LIMIT = 512
MODELLED_EVENTS = 20_000
"""Events of recently written streams whose read models are kept folded: a model holds its
stream's state, items and their text, ~3 KB an event (100,000 of them made an import of
10,000 interleaved streams peak at 520 MB)."""


class WriteTransaction(Protocol):
    """What the writer needs from a backend inside one write transaction."""

    async def stream_versions(self, streams: Sequence[str]) -> dict[str, int]: ...

    async def stream_tails(self, after: Mapping[str, int]) -> list[StoredEvent]:
        """Each stream's events after version `after[stream]`, in position order."""
        ...

    async def events_by_id(self, ids: Sequence[UUID]) -> list[StoredEvent]: ...

    async def source_texts(self, ids: Collection[str]) -> dict[str, str | None]:
        """Registered sources' texts, normalised (None: registered without text)."""
        ...

    async def insert_citations(self, events: Sequence[StoredEvent]) -> None: ...

    async def last(self) -> tuple[int, datetime | None]:
        """The last position and its recording time (0, None when empty)."""
        ...

    async def insert(self, events: Sequence[StoredEvent]) -> None: ...

    async def generation(self) -> int:
        """The read models' live generation."""
        ...

    async def load_models(
        self, streams: Collection[str], rows: Collection[str]
    ) -> dict[str, StreamModel]:
        """The snapshots of `streams` and the rows of `rows`, as stored."""
        ...

    async def save_models(self, models: Iterable[StreamModel]) -> None: ...

    async def organization_keys(
        self, generation: int, claimed: Sequence[tuple[str, str]], orgs: Sequence[str]
    ) -> list[tuple[str, str, str]]:
        """(kind, key, org) of the aliases and identifiers in `claimed` that an organization
        holds, and every key of the organizations in `orgs`."""
        ...


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
    decoded: bool
    done: asyncio.Future[AppendResult] = field(repr=False)

    def sent_ids(self) -> Iterator[UUID]:
        """The ids that may be stored already: all but those drawn for these events."""
        for event in self.events:
            if not (self.decoded and type(event.id) is DrawnId):
                yield event.id


TEXTS_KEPT = 64
"""Registered texts the writer keeps normalised (each at most 1 MB)."""


class GroupWriter:
    def __init__(self, begin: Begin, on_commit: Callable[[int], None] | None = None) -> None:
        self._begin = begin
        self._on_commit = on_commit
        self._queue: asyncio.Queue[_Append | None] = asyncio.Queue()
        self._models: LRU[str, tuple[int, StreamModel]] = LRU(
            MODELLED_EVENTS, weight=lambda kept: kept[1].version
        )
        """Each recently written stream's read models, by the generation they belong to."""
        self._texts: LRU[str, str | None] = LRU(TEXTS_KEPT)
        """Registered sources' normalised texts, by id: a source never changes, and
        normalising a long text again for every group that quotes it was work done twice."""
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
            options.get("decoded", False),
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
            results, last = await self._decided(group, chains)
        except Exception as error:  # noqa: BLE001 - a failed group is retried one by one
            for chain, broken in chains.items():  # as they were: nothing of the group was written
                chain.broken = broken
            if len(group) > 1:
                for item in group:
                    await self._write_group([item])
                return
            results, last = [error], None
            if group[0].chain is not None:
                group[0].chain.broken = True
        if last is not None and self._on_commit is not None:
            self._on_commit(last)
        _answer(group, results)

    async def _decided(
        self, group: list[_Append], chains: dict[AppendChain, bool]
    ) -> tuple[list[AppendResult | BaseException], int | None]:
        """The group decided and written; again, with that stream read whole, each time a
        decision needs a stream's history (rare: a late fact, a retraction, a correction)."""
        whole: set[str] = set()
        while True:
            try:
                return await self._decide_and_write(group, whole)
            except HistoryNeededError as needed:
                for chain, broken in chains.items():
                    chain.broken = broken
                if needed.stream is None or needed.stream in whole:
                    raise
                whole.add(needed.stream)

    async def _decide_and_write(
        self, group: list[_Append], whole: set[str]
    ) -> tuple[list[AppendResult | BaseException], int | None]:
        """Decide and write one group in one transaction; the streams in `whole` are read from
        their first event, the others from their snapshots (or not at all, when kept)."""
        async with self._begin() as tx:
            names = sorted({item.stream for item in group})
            rowed = {item.stream for item in group if touches_rows(item.events)}
            versions = await tx.stream_versions(names)
            generation = await tx.generation()
            models = await self._models_of(tx, generation, names, versions, rowed)
            existing = await self._load_streams(tx, names, versions, models, whole)
            ids = list({sent for item in group for sent in item.sent_ids()})
            stored_by_id = {e.event.id: e for e in await tx.events_by_id(ids)} if ids else {}
            last = await tx.last()
            texts = await self._texts_of(tx, group)
            directory = await _directory_of(tx, generation, group)
            results, new = _decide(
                group, existing, models, stored_by_id, last=last, texts=texts, directory=directory
            )
            if new:
                await tx.insert(new)
                if texts:  # the group cites registered sources
                    await tx.insert_citations(new)
                landed = {stored.stream for stored in new}
                await tx.save_models(models[name] for name in sorted(landed))
        for name, model in models.items():  # committed: they match the database
            if 0 < model.version == model.folding.version == len(existing[name]):
                self._models[name] = (generation, model)  # (a refused new stream is not kept)
        return results, (new[-1].position if new else None)

    async def _texts_of(self, tx: WriteTransaction, group: list[_Append]) -> dict[str, str | None]:
        """The texts of the registered sources the group cites, read only where not kept (an
        id not registered is not kept: it may be registered before the next group)."""
        cited = {s.source for i in group for e in i.events for s in e.sources if s.source}
        texts = {source: self._texts[source] for source in cited if source in self._texts}
        missing = cited - texts.keys()
        if missing:
            read = await tx.source_texts(missing)
            texts |= read  # from what was read, not the cache: a group may cite more than it keeps
            for source, text in read.items():
                self._texts[source] = text
        return texts

    async def _models_of(
        self,
        tx: WriteTransaction,
        generation: int,
        names: list[str],
        versions: dict[str, int],
        rowed: set[str],
    ) -> dict[str, StreamModel]:
        """Each stream's read models with its folding, at the stream's version: kept from the
        last group that wrote it, else as stored (the folding from its snapshot); taken out
        while the group uses them, put back once it commits. Rows are read only for the
        streams in `rowed` (appends that may change them) that do not hold them yet."""
        models: dict[str, StreamModel] = {}
        for name in names:
            kept = self._models.pop(name)
            if kept is None or kept[0] != generation:
                continue
            model = kept[1]
            if model.version == model.folding.version == versions.get(name, 0):
                models[name] = model
        stored = {name for name in names if name not in models and versions.get(name, 0)}
        rows = {
            name
            for name in rowed
            if name in stored or (name in models and not models[name].rows_read)
        }
        if stored or rows:
            for name, loaded in (await tx.load_models(stored, rows)).items():
                if name in stored:
                    loaded.version = versions[name]  # the rows take in every stored event
                    models[name] = loaded
                else:  # kept without its rows: the stored ones are at its version
                    model = models[name]
                    model.open, model.items, model.rows_read = loaded.open, loaded.items, True
        for name in names:
            if name not in models:  # begins in this group: no rows yet
                models[name] = StreamModel(name)
        return models

    async def _load_streams(
        self,
        tx: WriteTransaction,
        names: list[str],
        versions: dict[str, int],
        models: dict[str, StreamModel],
        whole: set[str],
    ) -> dict[str, Tail]:
        """Each stream's events after what its folding holds (none for a stream kept from the
        last group, the events after the snapshot for one read again); every event of those in
        `whole`. The folding is then brought to the stream's version."""
        existing: dict[str, Tail] = {}
        wanted: dict[str, int] = {}
        for name in names:
            version = versions.get(name, 0)
            folding = models[name].folding
            start = 0 if name in whole or folding.version > version else folding.version
            existing[name] = Tail(start)
            if start < version:
                wanted[name] = start
        partnerships = {n: e for n, e in existing.items() if not is_organization_stream(n)}
        if wanted:  # one query for all of them (an import reads many such streams a group)
            for stored in await tx.stream_tails(wanted):
                existing[stored.stream].events.append(stored)
        for name, events in partnerships.items():  # an organization is checked whole
            model = models[name]
            folding = model.folding
            if folding.version > len(events):  # a snapshot past these events: not theirs
                folding.clear()
            try:
                if folding.version < len(events) and not folding.extend(events[folding.version :]):
                    folding.advance(events)  # raises HistoryNeededError on a tail: read it whole
            except HistoryNeededError as needed:
                needed.stream = name
                raise
            if model.rows_read and model.memo.frame is None and model.version == len(events) > 0:
                model.resume()  # rows as read: only what comes next rewrites items (none unread)
        return existing


async def _directory_of(
    tx: WriteTransaction, generation: int, group: list[_Append]
) -> Directory | None:
    """What the group's appends to organizations need to know of the others (None when it has
    none)."""
    asked = [(item.stream, item.events) for item in group if is_organization_stream(item.stream)]
    return await read_directory(tx, generation, asked) if asked else None


async def read_directory(
    tx: WriteTransaction, generation: int, appends: Iterable[tuple[str, Sequence[AnyEvent]]]
) -> Directory:
    """For appends to organizations (stream, events): who holds the keys they claim, which
    organizations they name are registered, and each one's successors, followed to the end
    (the writer's groups and the staged import alike)."""
    claimed: set[tuple[str, str]] = set()
    named: set[str] = set()
    for stream, events in appends:
        more_claimed, more_named = organization.asked(stream, events)
        claimed |= more_claimed
        named |= more_named
    directory = Directory()
    for kind, key, org in await tx.organization_keys(generation, sorted(claimed), []):
        directory.holders[(kind, key)] = org
    asked = named
    while asked:
        found = await tx.organization_keys(generation, [], sorted(asked))
        directory.registered |= {org for _kind, _key, org in found}
        successors = {org: key for kind, key, org in found if kind == "successor"}
        directory.successors |= successors
        asked = set(successors.values()) - directory.registered - asked
    return directory


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
    existing: dict[str, Tail],
    models: dict[str, StreamModel],
    stored_by_id: dict[UUID, StoredEvent],
    *,
    last: tuple[int, datetime | None],
    texts: Mapping[str, str | None],
    directory: Directory | None = None,
) -> tuple[list[AppendResult | BaseException], list[StoredEvent]]:
    """Each append on its own, in queue order, each seeing the ones accepted before it.

    A stream's folding checks its appends (`incremental.check_append`: what each adds,
    not the stream). Its rows move one recording instant at a time, as a
    replay moves them: the events accepted at one instant are taken into the
    rows before the folding checks an append recorded at another.
    """
    decision = _Decision(existing, models, stored_by_id, last[0] + 1, last[1], texts, directory)
    results = [decision.take(item) for item in group]
    for stream, held in decision.waiting.items():
        models[stream].advance(existing[stream], held)
    return results, decision.new


@dataclass(slots=True)
class _Decision:
    """What one group's appends accepted so far, as each next one sees it."""

    existing: dict[str, Tail]
    models: dict[str, StreamModel]
    stored_by_id: dict[UUID, StoredEvent]
    next_position: int
    latest: datetime | None
    texts: Mapping[str, str | None]
    """The texts of the registered sources the group cites, normalised (`quotes.anchored`)."""
    directory: Directory | None = None
    """Other organizations, as the group's appends to organizations need them."""
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    new: list[StoredEvent] = field(default_factory=list)
    waiting: dict[str, list[StoredEvent]] = field(default_factory=dict)
    """Each stream's accepted events not yet in its rows, all of one recording instant."""

    def _admitted(self, item: _Append) -> Sequence[AnyEvent] | BaseException:
        """The append's events with their quotes found in the sources they cite, or why it is
        not taken (a chain broken before it, a quote its source does not hold)."""
        if item.chain is not None and item.chain.broken:
            return SkippedAppendError()
        try:
            return anchored(item.events, self.texts)
        except QuoteError as error:
            if item.chain is not None:
                item.chain.broken = True
            return error

    def take(self, item: _Append) -> AppendResult | BaseException:
        appended = self._admitted(item)
        if isinstance(appended, BaseException):
            return appended
        events, model = self.existing[item.stream], self.models[item.stream]
        recorded_at = item.recorded_at or recording_time(None, self.now, self.latest)
        held = self.waiting.get(item.stream)
        if held and held[-1].recorded_at != recorded_at:
            model.advance(events, self.waiting.pop(item.stream))
        folding = model.folding if model.folding.version == len(events) else None
        try:
            result = plan_append(
                item.stream,
                appended,
                existing=events,
                stored_by_id=self.stored_by_id,
                next_position=self.next_position,
                recorded_at=recorded_at,
                actor=item.actor,
                expected_version=item.expected_version,
                folding=folding,
                directory=self.directory,
            )
            if not result.replayed:
                recording_time(item.recorded_at, self.now, self.latest)
        except HistoryNeededError as needed:  # a late fact, a retraction, a correction
            needed.stream = item.stream
            raise
        except (StoreError, DomainError) as error:
            if folding is not None and folding.version != len(events):  # holds what was refused
                folding.clear()
            if item.chain is not None:
                item.chain.broken = True
            return error
        if not result.replayed:
            self._accepted(item.stream, events, result, recorded_at)
        return result

    def _accepted(
        self, stream: str, events: Tail, result: AppendResult, recorded_at: datetime
    ) -> None:
        """What the group's next appends see of a stored one."""
        events.extend(result.events)
        if self.directory is not None and is_organization_stream(stream):
            self.directory.took(stream, events)
        self.waiting.setdefault(stream, []).extend(result.events)
        for stored in result.events:
            self.stored_by_id[stored.event.id] = stored
        self.new.extend(result.events)
        self.next_position += len(result.events)
        self.latest = recorded_at
