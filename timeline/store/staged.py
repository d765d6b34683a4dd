"""A large NDJSON file of new streams into a store, staged: every line checked and stored in
file order, then each stream folded once, by worker processes reading its lines from the file,
and its read models and snapshot written, all in one transaction (`timeline import`).

Appended run by run (`transfer.import_lines`), 10,000 interleaved streams of 100 events
restore and snapshot each stream once per run of it, 3.5k events/s. Here each stream is
folded once from its first line to its last by the writer's own rules (`plan_append` with a
folding, `StreamModel.advance` per recording instant), so the rows are what a rebuild writes.

Whatever this path would not store as the run-by-run one does (a line without `recorded_at`,
a stream the store already holds, a replay, a refused fact, a duplicate id) rolls the whole
transaction back with `NotStagedError`; the caller then imports run by run, which stores the
runs before the first bad line and names it. The answer is always the run-by-run one.
"""

from __future__ import annotations

import asyncio
import importlib
import io
import os
from array import array
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from timeline import collector
from timeline.events import AnyEvent, StatementMade, StoredEvent, is_organization_stream
from timeline.fold import DomainError
from timeline.formats import (
    Imported,
    ImportHead,
    UnreadableLineError,
    decode_event,
    import_head,
    read_import,
)
from timeline.quotes import QuoteError, anchored
from timeline.readside.readmodels import StreamModel
from timeline.sources import is_source_line, normalised
from timeline.store import mapper, read_models
from timeline.store.base import StoreError, refused
from timeline.store.mapper import Query
from timeline.store.plan import plan_append
from timeline.store.rebuild import BACKENDS, WORKERS, worker_pool
from timeline.store.writer import read_directory

if TYPE_CHECKING:
    from timeline.store.recorder import Recorder, SQLTransaction

T = TypeVar("T")

STAGED_FROM = 1 << 20
"""Bytes from which `timeline import` tries a file staged: below, run by run costs less than
starting the workers, and a small file is over in a moment either way."""
PARALLEL_BYTES = 8 << 20
"""File size from which worker processes decode and fold (starting them takes about a second)."""
BLOCK = 2 << 20
"""Bytes of lines decoded at a time (by a worker, from `PARALLEL_BYTES`)."""
INSERTED = 5_000
"""Events stored per statement batch."""
PAGE = 5_000
"""Events of whole streams a worker folds at a time (a page's models are held at once)."""
VERSIONS_ASKED = 1_000
"""Streams whose existence one query checks."""


class NotStagedError(Exception):
    """Why a file goes run by run instead; nothing of it was stored."""


@dataclass(frozen=True, slots=True)
class StagedReport:
    events: int
    streams: int


@dataclass(slots=True)
class _Lines:
    """Where a stream's lines are in the file, their positions, and what is marked of each."""

    offsets: array[int] = field(default_factory=lambda: array("q"))
    positions: array[int] = field(default_factory=lambda: array("q"))
    marks: bytearray = field(default_factory=bytearray)
    """`STARTS` a run, `UPCAST` (written in an older schema): the second stage reads only
    these lines' heads (a tenth of its decoding went to heads it did not need)."""


STARTS = 1
UPCAST = 2

Page = list[tuple[str, bytes, bytes, bytes]]
"""Streams as a worker gets them: (stream, offsets, positions, marks), the arrays as bytes."""


async def import_staged(
    recorder: Recorder,
    path: Path,
    *,
    token_names: set[str],
    default_actor: str,
    advance: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> StagedReport:
    """Store every line of `path` (all its streams new to the store) in one transaction, or
    raise `NotStagedError` with nothing stored. `advance` is called with the bytes read.

    From `PARALLEL_BYTES` on, worker processes decode the lines and fold the streams while
    this process checks what spans lines and writes."""
    large = recorder.dialect.large_write
    size = (await asyncio.to_thread(path.stat)).st_size
    workers = WORKERS if workers is None else workers
    workers = min(workers, os.cpu_count() or 1) if size >= PARALLEL_BYTES else 0
    pool = worker_pool(workers) if workers else None
    in_flight = 2 * max(workers, 1)
    try:
        async with recorder.transaction() as tx:
            if large is not None:
                await tx.fetch(Query(tx.dialect, large[0]))
            try:
                base, latest = await tx.last()
                stage = _Stage(tx, recorder.backend, base, latest, token_names, default_actor)
                paused = recorder.dialect.bulk_paused
                checks = await _dropped(tx, paused.checks if paused else ())
                with path.open("rb") as handle:
                    await stage.lines(handle, (pool, in_flight), advance or (lambda _bytes: None))
                if checks:
                    await _in_sequence(tx, base, stage.position)
                    await _made(tx, checks)
                doubled = stage.position - base >= base
                indexes = await _dropped(tx, paused.indexes if paused and doubled else ())
                await _fold_streams(tx, recorder.backend, str(path), stage, (pool, in_flight))
                await _fold_organizations(tx, str(path), stage)
                if large is not None and indexes:  # the sort takes the cache's size, added to it
                    await tx.fetch(Query(tx.dialect, large[1]))
                await _made(tx, indexes)
            finally:
                if large is not None:
                    await tx.fetch(Query(tx.dialect, large[1]))
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    if recorder.dialect.after_bulk_load is not None:
        await recorder.fetch(Query(recorder.dialect, recorder.dialect.after_bulk_load))
    return StagedReport(stage.position - base, len(stage.streams))


async def _dropped(tx: SQLTransaction, names: Sequence[str]) -> list[str]:
    """Drop the named schema objects (`Dialect.bulk_paused`); the statements that make them."""
    if not names:
        return []
    paused = tx.dialect.bulk_paused
    assert paused is not None  # names come from it  # noqa: S101
    q = Query(tx.dialect)
    q.sql = paused.definitions(q.param, names)
    found = await tx.fetch(q)
    for drop, _make in found:
        await tx.fetch(Query(tx.dialect, str(drop)))
    return [str(make) for _drop, make in found]


async def _made(tx: SQLTransaction, statements: Sequence[str]) -> None:
    for statement in statements:
        await tx.fetch(Query(tx.dialect, statement))


async def _in_sequence(tx: SQLTransaction, base: int, last: int) -> None:
    """What the events' paused triggers would have refused, checked once over what was written:
    positions from `base` to `last` without a gap, and each stream's versions from 1 without one
    (with `(stream, version)` unique, a smallest of 1 and a largest of the count say so)."""
    q = Query(tx.dialect)
    q.sql = (
        "SELECT COUNT(*), MIN(position), MAX(position) FROM events"
        f" WHERE position > {q.param(base)}"
    )
    [(count, low, high)] = await tx.fetch(q)
    if last > base and (count, low, high) != (last - base, base + 1, last):
        raise NotStagedError(f"positions {low}-{high} ({count}) are not {base + 1}-{last}")
    q = Query(tx.dialect)
    q.sql = (
        "SELECT COUNT(*) FROM (SELECT stream FROM events"
        f" WHERE position > {q.param(base)} GROUP BY stream"
        " HAVING MIN(version) <> 1 OR MAX(version) <> COUNT(*)) AS broken"
    )
    [(broken,)] = await tx.fetch(q)
    if broken:
        raise NotStagedError(f"{broken} stream(s) written with versions out of sequence")


Workers = tuple[ProcessPoolExecutor | None, int]
"""The pool (None: work here) and how many jobs to keep in flight."""
Decoded = tuple[int, int, str, int | None, int, str | None, bool, tuple[Any, ...], AnyEvent | None]
"""A line decoded: its number, offset, stream, version and recording instant (`micros`) as
written, its actor as written, whether it was upcast, its row (`mapper.to_row`) with position
and version still 0, and its event when it quotes registered sources (checked where the texts
are)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def micros(instant: datetime) -> int:
    """An instant as microseconds since 1970, exact and ordered as instants are: a block's
    decoded lines cross to this process pickled, and an aware `datetime` took half of that."""
    return (instant - _EPOCH) // _MICROSECOND


class _Stage:
    """The first stage: each line checked on its own and stored at its position."""

    def __init__(  # noqa: PLR0917 - one caller, each a different thing
        self,
        tx: SQLTransaction,
        backend: str,
        base: int,
        latest: datetime | None,
        token_names: set[str],
        default_actor: str,
    ) -> None:
        self.tx = tx
        self.backend = backend
        self.base = base
        self.position = base
        self.latest = None if latest is None else micros(latest)
        self.token_names = token_names
        self.default_actor = default_actor
        self.streams: dict[str, _Lines] = {}
        self.fresh: list[str] = []
        """Streams first met since the last batch was stored."""
        self.batch: list[tuple[Any, ...]] = []
        self.run: tuple[str, int, str | None] | None = None
        self.now = micros(datetime.now(UTC))
        self.texts: dict[str, str | None] = {}
        """Registered sources' texts (normalised) that the lines quote, read once each."""
        self.citations: list[tuple[str, int, int]] = []
        """The batch's citations of registered sources: (source, position, citation)."""

    async def lines(
        self, handle: IO[bytes], workers: Workers, advance: Callable[[int], None]
    ) -> None:
        """Blocks of lines decoded here or in workers, taken in file order."""

        def jobs() -> Iterator[tuple[Any, ...]]:
            for number, offset, data in _blocks(handle):
                advance(len(data))
                yield self.backend, self.default_actor, number, offset, data

        await _in_order(decode_block, jobs(), workers, self._take)
        if self.batch:
            await self._store()

    async def _take(self, decoded: list[Decoded]) -> None:
        for number, offset, stream, written, recorded, actor, upcast, row, cites in decoded:
            self._check(number, recorded, actor)
            lines = self.streams.get(stream)
            if lines is None:
                lines = self.streams[stream] = _Lines()
                self.fresh.append(stream)
            version = len(lines.offsets) + 1
            if written is not None and written != version:
                raise NotStagedError(f"line {number}: version {written}, not {version}")
            run = (stream, recorded, actor)
            self.position += 1
            lines.offsets.append(offset)
            lines.positions.append(self.position)
            lines.marks.append((run != self.run) * STARTS | upcast * UPCAST)
            self.run, self.latest = run, recorded
            # `mapper.INSERT_COLUMNS`: position and version are the first and the fourth
            self.batch.append((self.position, row[1], row[2], version, *row[4:]))
            if cites is not None:
                await self._cite(number, cites)
            if len(self.batch) >= INSERTED:
                await self._store()

    async def _cite(self, number: int, event: AnyEvent) -> None:
        """A line quoting registered sources: each quote's words where its stated position
        says in the text (what `timeline verify` checks: the position was found unique in that
        same text when the event was appended), a statement's words in order as an append's
        are; anything else (no position, words elsewhere, a source not registered) goes run
        by run, which says why. Its citations are indexed as an append's are."""
        wanted = {s.source for s in event.sources if s.source is not None} - self.texts.keys()
        if wanted:
            self.texts |= await self.tx.source_texts(wanted)
        for n, source in enumerate(event.sources):
            if source.source is None:
                continue
            if source.quote is not None:
                text, at = self.texts.get(source.source), source.position
                if (
                    text is None
                    or at is None
                    or text[at.start : at.end] != normalised(source.quote.exact)
                ):
                    raise NotStagedError(f"line {number}: a quote is not where its position says")
            self.citations.append((source.source, self.position, n))
        if isinstance(event, StatementMade):
            try:
                anchored([event], self.texts)
            except QuoteError as error:
                raise NotStagedError(f"line {number}: {error}") from None

    def _check(self, number: int, recorded: int, actor: str | None) -> None:
        """What the run-by-run path checks across lines: recording instants rise and are past,
        and no line speaks in a token's name."""
        if recorded > self.now or (self.latest is not None and recorded < self.latest):
            raise NotStagedError(f"line {number}: recorded_at out of order or in the future")
        if actor in self.token_names:
            raise NotStagedError(f"line {number}: the actor is a token's name")

    async def _store(self) -> None:
        """Insert a batch, its new streams checked first: one the store holds is folded from
        its stored events (run by run), and an event id stored before is a replay or a clash."""
        fresh, self.fresh = self.fresh, []
        batch, self.batch = self.batch, []
        if self.base:  # an empty store holds none
            for start in range(0, len(fresh), VERSIONS_ASKED):
                held = await self.tx.stream_versions(fresh[start : start + VERSIONS_ASKED])
                if held:
                    raise NotStagedError(f"the store holds stream {next(iter(held))!r} already")
        try:
            await self.tx.insert_rows(batch, many=True)
        except Exception as error:
            if refused(error):  # an id met twice or stored before, or a row out of sequence
                taken = "out of sequence" not in str(error)
                why = "an event id is taken" if taken else "out of sequence"
                raise NotStagedError(f"{why}: {error}") from None
            raise
        if self.citations:
            citations, self.citations = self.citations, []
            await self.tx.insert_citation_rows(citations, many=True)


def _blocks(handle: IO[bytes]) -> Iterator[tuple[int, int, bytes]]:
    """(first line's number, its offset, whole lines) of about `BLOCK` bytes each, after the
    file's leading source lines (registered before staging, `transfer.import_staged`): they
    may fill many blocks, and a block decoded in a worker cannot know what came before it."""
    number = offset = 0
    leading = True
    while lines := handle.readlines(BLOCK):
        if leading:
            skipped = 0
            while skipped < len(lines) and (
                not lines[skipped].strip() or is_source_line(lines[skipped])
            ):
                skipped += 1
            number += skipped
            offset += sum(len(line) for line in lines[:skipped])
            lines = lines[skipped:]
            if not lines:
                continue
            leading = False
        data = b"".join(lines)
        yield number + 1, offset, data
        number += len(lines)
        offset += len(data)


def decode_block(
    backend: str, default_actor: str, first: int, offset: int, data: bytes
) -> list[Decoded]:
    """In a worker (or here): each line of a block decoded, admitted and made a row."""
    dialect = importlib.import_module(BACKENDS[backend]).DIALECT
    decoded: list[Decoded] = []
    with collector.paused():
        # split as a file is, on newlines alone
        for number, line in enumerate(io.BytesIO(data), start=first):
            here = offset
            offset += len(line)
            if not line.strip():
                continue
            if is_source_line(line):  # the leading ones are not in any block (`_blocks`)
                raise NotStagedError(f"line {number} registers a source after events")
            head, event, body = _decoded(line, number)
            if head.recorded_at is None:
                raise NotStagedError(f"line {number} has no recorded_at")
            cites = any(source.source is not None for source in event.sources)
            stored = StoredEvent(
                stream=head.stream,
                version=0,
                position=0,
                recorded_at=head.recorded_at,
                actor=head.actor or default_actor,
                schema_version=type(event).SCHEMA_VERSION,
                event=event,
            )
            row = mapper.to_row(stored, dialect, body)
            upcast = head.schema_version is not None and head.schema_version < stored.schema_version
            cited = event if cites else None
            written = head.version
            decoded.append(
                (
                    number,
                    here,
                    head.stream,
                    written,
                    micros(head.recorded_at),
                    head.actor,
                    upcast,
                    row,
                    cited,
                )
            )
    return decoded


def _decoded(line: bytes, number: int) -> Imported:
    try:
        return read_import(line)
    except UnreadableLineError as why:
        raise NotStagedError(f"line {number}: {why}") from None


async def _fold_streams(
    tx: SQLTransaction, backend: str, path: str, stage: _Stage, workers: Workers
) -> None:
    """The second stage: each stream folded whole (here, or in workers), its read models and
    snapshot written in the same transaction, pages in order as they come back."""
    generation = await tx.generation()
    jobs = (
        (backend, path, generation, stage.default_actor, page) for page in _pages(stage.streams)
    )

    async def write(writes: read_models.Writes) -> None:
        await read_models.write(tx.run, tx.dialect, writes)

    await _in_order(fold_page, jobs, workers, write)


async def _in_order(
    function: Callable[..., T],
    jobs: Iterable[tuple[Any, ...]],
    workers: Workers,
    take: Callable[[T], Awaitable[None]],
) -> None:
    """`function(*job)` for each job, here or in the workers with a few in flight, each result
    taken in the jobs' order (the first stage stores positions in file order)."""
    loop = asyncio.get_running_loop()
    pool, in_flight = workers
    pending: deque[asyncio.Future[T]] = deque()
    for job in jobs:
        if pool is None:
            await take(function(*job))
            continue
        pending.append(loop.run_in_executor(pool, function, *job))
        if len(pending) >= in_flight:
            await take(await pending.popleft())
    while pending:
        await take(await pending.popleft())


def _pages(streams: dict[str, _Lines]) -> Iterator[Page]:
    page: Page = []
    size = 0
    for stream, lines in streams.items():
        if is_organization_stream(stream):  # `_fold_organizations`
            continue
        arrays = (lines.offsets.tobytes(), lines.positions.tobytes(), bytes(lines.marks))
        page.append((stream, *arrays))
        size += len(lines.offsets)
        if size >= PAGE:
            yield page
            page, size = [], 0
    if page:
        yield page


def fold_page(
    backend: str, path: str, generation: int, default_actor: str, page: Page
) -> read_models.Writes:
    """In a worker (or here): the read-model rows and snapshots of a page of streams, each
    checked run by run as the writer checks appends."""
    dialect = importlib.import_module(BACKENDS[backend]).DIALECT
    fd = os.open(path, os.O_RDONLY)
    try:
        with collector.paused():
            models = (
                _folded(stream, _runs(fd, offsets, positions, marks), default_actor)
                for stream, offsets, positions, marks in page
            )
            return read_models.writes(dialect, generation, models)
    finally:
        os.close(fd)


Run = tuple[ImportHead, list[AnyEvent], int]
"""A run's first line's head, its events, and the position of its first."""


def _runs(fd: int, offsets: bytes, positions: bytes, marks: bytes) -> Iterator[Run]:
    where, at = array("q"), array("q")
    where.frombytes(offsets)
    at.frombytes(positions)
    run: Run | None = None
    for offset, position, mark in zip(where, at, marks, strict=True):
        line = _line_at(fd, offset)
        if mark:
            head = import_head(line)
            event = decode_event(line, head.schema_version)
        else:  # within a run, in the current schema: the event alone
            event = decode_event(line)
        if run is None or mark & STARTS:
            if run is not None:
                yield run
            run = (head, [event], position)
        else:
            run[1].append(event)
    if run is not None:
        yield run


LINE_READ = 1024
"""Bytes read at once for a line of the file (most are shorter; a longer one reads on)."""


def _line_at(fd: int, offset: int) -> bytes:
    """The line at `offset`, read where it is: a stream's lines lie far apart in the file, and
    each seek of a buffered reader read 8 KB for one line (2.7 against 1.7 us)."""
    line = os.pread(fd, LINE_READ, offset)
    end = line.find(b"\n")
    while end < 0:
        more = os.pread(fd, 8 * len(line), offset + len(line))
        if not more:
            return line
        found = more.find(b"\n")
        end = -1 if found < 0 else len(line) + found
        line += more
    return line[: end + 1]


async def _fold_organizations(tx: SQLTransaction, path: str, stage: _Stage) -> None:
    """The organizations' streams, here: each run checked as the writer checks it, against the
    organizations registered before it in the file or in the store, all runs in file order."""
    orgs = {name: lines for name, lines in stage.streams.items() if is_organization_stream(name)}
    if not orgs:
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        runs = sorted(
            (position, name, head, run)
            for name, lines in orgs.items()
            for head, run, position in _runs(
                fd, lines.offsets.tobytes(), lines.positions.tobytes(), bytes(lines.marks)
            )
        )
    finally:
        os.close(fd)
    generation = await tx.generation()
    directory = await read_directory(tx, generation, [(name, run) for _p, name, _h, run in runs])
    models = {name: StreamModel(name) for name in orgs}
    events: dict[str, list[StoredEvent]] = {name: [] for name in orgs}
    for position, name, head, run in runs:
        recorded_at = head.recorded_at
        assert recorded_at is not None  # the first stage refused lines without  # noqa: S101
        try:
            result = plan_append(
                name,
                run,
                existing=events[name],
                stored_by_id={},
                next_position=position,
                recorded_at=recorded_at,
                actor=head.actor or stage.default_actor,
                expected_version=None if head.version is None else head.version - 1,
                directory=directory,
            )
        except (StoreError, DomainError) as error:
            raise NotStagedError(f"{name}: {error}") from None
        events[name].extend(result.events)
        directory.took(name, events[name])
        models[name].advance(events[name], result.events)
    writes = read_models.writes(tx.dialect, generation, models.values())
    await read_models.write(tx.run, tx.dialect, writes)


def _folded(stream: str, runs: Iterator[Run], default_actor: str) -> StreamModel:
    """The stream's model after every run, each appended as the writer appends (`_Decision`):
    checked against the folding, rows moved one recording instant at a time."""
    model = StreamModel(stream)
    events: list[StoredEvent] = []
    by_id: dict[UUID, StoredEvent] = {}
    waiting: list[StoredEvent] = []
    for head, run, position in runs:
        recorded_at = head.recorded_at
        assert recorded_at is not None  # the first stage refused lines without  # noqa: S101
        if waiting and waiting[-1].recorded_at != recorded_at:
            model.advance(events, waiting)
            waiting = []
        folding = model.folding if model.folding.version == len(events) else None
        try:
            result = plan_append(
                stream,
                run,
                existing=events,
                stored_by_id=by_id,
                next_position=position,
                recorded_at=recorded_at,
                actor=head.actor or default_actor,
                expected_version=None if head.version is None else head.version - 1,
                folding=folding,
            )
        except (StoreError, DomainError) as error:
            raise NotStagedError(f"{stream}: {error}") from None
        if result.replayed:
            raise NotStagedError(f"{stream}: a run is stored twice")
        events.extend(result.events)
        waiting.extend(result.events)
        by_id.update((stored.event.id, stored) for stored in result.events)
    if waiting:
        model.advance(events, waiting)
    return model
