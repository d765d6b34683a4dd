"""NDJSON in and out of a store: `timeline import`, `timeline export`, curated data on first start.

An exported line is a stored event without its global position (the store it
is imported into assigns that); `recorded_at`, `actor` and `version` are kept,
so exporting what was imported gives the same bytes back.
"""

from __future__ import annotations

import asyncio
import gc
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from timeline import collector, wire
from timeline.events import AnyEvent
from timeline.fold import DomainError
from timeline.formats import ImportHead, UnreadableLineError, encode_export, read_import
from timeline.sources import (
    SourceConflictError,
    SourceLine,
    SourceRecord,
    UnknownSourceError,
    is_source_line,
    record_problems,
)
from timeline.store import AppendChain, AppendResult, EventStore, StoreError, token_registry

DEFAULT_ACTOR = "import"


class ImportLineError(ValueError):
    """A line that cannot be imported; the message says where."""


@dataclass(slots=True)
class ImportReport:
    appended: int = 0
    replayed: int = 0
    streams: int = 0
    sources: int = 0
    """Sources registered from the file (not those registered already)."""


@dataclass(slots=True)
class _Run:
    """Consecutive lines of one stream with the same recording: one atomic append."""

    head: ImportHead
    first_line: int
    events: list[AnyEvent]

    def continues(self, head: ImportHead) -> bool:
        return (head.stream, head.recorded_at, head.actor) == (
            self.head.stream,
            self.head.recorded_at,
            self.head.actor,
        )


@dataclass(slots=True)
class _Registered:
    """A source line: the record, and its line number."""

    record: SourceRecord
    line: int


_source_line = msgspec.json.Decoder(SourceLine, dec_hook=wire.dec_hook)


def _source(line: bytes, where: str) -> SourceRecord:
    try:
        record = _source_line.decode(line).source
    except (msgspec.DecodeError, UnicodeDecodeError) as error:
        raise ImportLineError(f"{where}: {wire.why_not(line, error)}") from None
    found = record_problems(record)
    if found:
        path, message = found[0]
        raise ImportLineError(f"{where}: {message} - at `{path}`")
    return record


def _runs(lines: Iterable[bytes], origin: str) -> Iterable[_Run | _Registered]:
    run: _Run | None = None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if is_source_line(line):
            if run is not None:
                yield run
                run = None
            yield _Registered(_source(line, f"{origin}:{number}"), number)
            continue
        try:
            head, event, _body = read_import(line)
        except UnreadableLineError as why:
            raise ImportLineError(f"{origin}:{number}: {why}") from None
        if run is not None and run.continues(head):
            expected = None if run.head.version is None else run.head.version + len(run.events)
            if head.version is not None and head.version != expected:
                raise ImportLineError(
                    f"{origin}:{number}: version {head.version} does not follow {expected}"
                )
            run.events.append(event)
            continue
        if run is not None:
            yield run
        run = _Run(head, number, [event])
    if run is not None:
        yield run


IN_FLIGHT = 128
"""Runs an import keeps queued: the store's writer takes them in groups, one transaction each.
A group reads the streams it lands on that are not in the writer's cache, all at once: 512
runs made an import of 100,000 events peak at 284 MB, 128 at 159 MB, 15 to 25% slower."""
COLLECT_EVERY = 8
"""Young objects are collected every `IN_FLIGHT` runs; everything every this many times that
(settled appends in cycles that lived long enough to grow old)."""


async def import_lines(
    store: EventStore, lines: Iterable[bytes], *, origin: str = "<input>"
) -> ImportReport:
    """Append every line, in order; stops at the first line that cannot be stored.

    Each run of lines (one stream, one recording, one actor) is one atomic
    append. Up to `IN_FLIGHT` runs are queued at once, so the writer stores
    many in each transaction; they form one `AppendChain`, so once a run is
    refused none after it is stored. Runs already appended stay; importing
    the same lines again replays them (idempotency by event id), so a fixed
    file can simply be imported again.
    """
    names = {token.name for token in await token_registry(store).tokens()}
    importer = _Importer(store, origin, names)
    with collector.paused():  # the writer's kept streams are many long-lived objects
        try:
            for number, run in enumerate(_runs(lines, origin), start=1):
                if isinstance(run, _Registered):
                    await importer.restore(run)
                    continue
                await importer.admit(run)
                importer.queue(run)
                await importer.settle(IN_FLIGHT)
                if importer.refused:
                    break
                if number % IN_FLIGHT == 0:  # what these runs left in cycles
                    gc.collect(1 if number % (COLLECT_EVERY * IN_FLIGHT) else 2)
        except ImportLineError as error:
            await importer.settle(0)  # a run before this line may have been refused first
            importer.refused.append(error)
        finally:
            importer.chain.broken = importer.chain.broken or bool(importer.refused)
            await importer.settle(0)
    if importer.refused:
        raise importer.refused[0]
    importer.report.streams = len(importer.streams)
    return importer.report


class _Importer:
    """The runs of one import queued on the store, and what became of them."""

    def __init__(self, store: EventStore, origin: str, token_names: set[str]) -> None:
        self.store = store
        self.origin = origin
        self.token_names = token_names
        self.chain = AppendChain()
        self.queued: deque[tuple[_Run, asyncio.Future[AppendResult]]] = deque()
        self.refused: list[ImportLineError] = []
        self.report = ImportReport()
        self.streams: set[str] = set()

    async def admit(self, run: _Run) -> None:
        """Raise `ImportLineError` for a run no store may take from an import."""
        head, where = run.head, f"{self.origin}:{run.first_line}"
        if head.recorded_at is not None and head.recorded_at > datetime.now(UTC):
            raise ImportLineError(
                f"{where}: recorded_at {head.recorded_at.isoformat()} is in the future; "
                "a store cannot have learned it yet"
            )
        if head.actor in self.token_names:
            await self.settle(0)  # what is queued may be what makes this run a replay
            if not self.refused and not await _stored_before(self.store, run):
                raise ImportLineError(
                    f"{where}: actor {head.actor!r} is the name of a token of this store; "
                    "an import cannot append in a token's name"
                )

    async def restore(self, registered: _Registered) -> None:
        """Register a source as exported, before the runs after it that may cite it."""
        try:
            if await self.store.sources.restore(registered.record):
                self.report.sources += 1
        except (SourceConflictError, UnknownSourceError) as error:
            raise ImportLineError(f"{self.origin}:{registered.line}: {error}") from None

    def queue(self, run: _Run) -> None:
        head = run.head
        appended = self.store.append(
            head.stream,
            run.events,
            actor=head.actor or DEFAULT_ACTOR,
            expected_version=None if head.version is None else head.version - 1,
            recorded_at=head.recorded_at,
            chain=self.chain,
        )
        self.queued.append((run, asyncio.ensure_future(appended)))

    async def settle(self, until: int) -> None:
        """Await the oldest queued runs until at most `until` are left."""
        while len(self.queued) > until:
            run, appended = self.queued.popleft()
            try:
                result = await appended
            except (StoreError, DomainError) as error:
                if not self.refused:  # the ones after it were skipped because of it
                    self.refused.append(ImportLineError(f"{self.origin}:{run.first_line}: {error}"))
                continue
            self.streams.add(run.head.stream)
            if result.replayed:
                self.report.replayed += len(result.events)
            else:
                self.report.appended += len(result.events)


async def _stored_before(store: EventStore, run: _Run) -> bool:
    """Whether the run's first event is already stored where the line says (a replay)."""
    version = run.head.version
    if version is None:
        return False
    found = [e async for e in store.read_stream(run.head.stream, from_version=version, limit=1)]
    return bool(found) and found[0].version == version and found[0].event.id == run.events[0].id


async def import_staged(
    store: EventStore, path: Path, advance: Callable[[int], None] | None = None
) -> ImportReport:
    """Import a file of new streams staged (`store/staged.py`): the same outcome as
    `import_lines`, several times faster for a large file; raises `NotStagedError` (nothing
    stored) when it must go run by run instead."""
    names = {token.name for token in await token_registry(store).tokens()}
    registered = await _leading_sources(store, path)
    done = await store.import_staged(
        path, token_names=names, default_actor=DEFAULT_ACTOR, advance=advance
    )
    return ImportReport(appended=done.events, streams=done.streams, sources=registered)


async def _leading_sources(store: EventStore, path: Path) -> int:
    """Register the source lines a file begins with (an export writes them first), as the
    run-by-run import would; the staged stages then pass them by. How many were new."""
    registered = 0
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            if not is_source_line(line):
                break
            record = _source(line, f"{path}:{number}")
            try:
                registered += await store.sources.restore(record)
            except (SourceConflictError, UnknownSourceError) as error:
                raise ImportLineError(f"{path}:{number}: {error}") from None
    return registered


async def import_file(store: EventStore, path: Path) -> ImportReport:
    with path.open("rb") as handle:
        return await import_lines(store, handle, origin=str(path))


SOURCES_EXPORTED = 100
"""Sources read per query by an export (each with its text)."""


async def export_lines(store: EventStore, stream: str | None = None) -> AsyncGenerator[bytes, None]:
    """NDJSON lines (newline included): one stream in version order, or all in position order,
    after the registered sources (every one, or those the stream cites): an import registers
    them before the events that cite them."""
    async for line in _source_lines(store, stream):
        yield line
    events = store.read_all() if stream is None else store.read_stream(stream)
    async for stored in events:
        yield encode_export(stored) + b"\n"


async def _source_lines(store: EventStore, stream: str | None) -> AsyncGenerator[bytes, None]:
    if stream is not None:
        wanted = sorted(
            {s.source async for e in store.read_stream(stream) for s in e.event.sources if s.source}
        )
    else:
        wanted = []
        after: str | None = None
        while True:
            page = await store.sources.page(
                words=None, language=None, after=after, limit=SOURCES_EXPORTED
            )
            wanted += [listed.id for listed in page]
            if len(page) < SOURCES_EXPORTED:
                break
            after = page[-1].id
    for source_id in await _with_what_they_supersede(store, wanted):
        record = await store.sources.get(source_id)  # with its text, one at a time
        if record is not None:
            yield wire.encode(SourceLine(source=record)) + b"\n"


async def _with_what_they_supersede(store: EventStore, cited: list[str]) -> list[str]:
    """The sources cited and every one they supersede, each after what it supersedes."""
    ordered: list[str] = []
    for source_id in cited:
        chain: list[str] = []
        at: str | None = source_id
        while at is not None and at not in ordered and at not in chain:
            chain.append(at)
            record = await store.sources.get(at)
            at = None if record is None else record.supersedes
        ordered += reversed(chain)
    return ordered


async def load_curated(store: EventStore, directory: Path | None) -> ImportReport | None:
    """Import `directory/*.ndjson` (sorted by name, `organizations.ndjson` last: its events cite
    the sources the partnerships' files register) into an empty store; None if not empty."""
    if directory is None or (await store.stats()).events > 0:
        return None
    if not await asyncio.to_thread(directory.is_dir):
        raise ImportLineError(f"TIMELINE_CURATED_DIR={directory} is not a folder")
    total = ImportReport()
    paths = await asyncio.to_thread(
        lambda: sorted(
            directory.glob("*.ndjson"), key=lambda p: (p.stem == "organizations", p.name)
        )
    )
    for path in paths:
        report = await import_file(store, path)
        total.appended += report.appended
        total.streams += report.streams
        total.sources += report.sources
    return total
