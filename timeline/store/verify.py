"""`timeline verify`: what a store must hold true, checked from its events, one stream at a time.

Memory holds one stream. The read models are compared with a fresh replay
of each stream's events; run it on a store nobody appends to meanwhile, or
streams appended to during the check may be reported as differing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from timeline import fold
from timeline.calendar import CalendarItem
from timeline.events import StoredEvent, is_organization_stream
from timeline.lru import LRU
from timeline.organization import check_organization, keys_of
from timeline.quotes import QuoteError, find
from timeline.readside import incremental, readmodels
from timeline.sources import fingerprint, normalised
from timeline.store.protocol import EventStore
from timeline.store.read_models import facet_key

SHOWN_DIFFERENCES = 5
"""Differences named per stream; the rest are counted."""


@dataclass(slots=True)
class Findings:
    """How many events and streams were read, and every broken invariant, in words."""

    events: int = 0
    streams: int = 0
    sources: int = 0
    problems: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    """What is true but not wrong, said once (snapshots of an older shape)."""
    older_snapshots: int = 0


async def verify(store: EventStore) -> Findings:
    """Positions gapless from 1, versions consecutive per stream, every stream folds, the
    read models equal a fresh replay of the events, and every source's text is the one its
    fingerprint was taken of."""
    found = Findings()
    last = (await store.stats()).last_position
    built = (await store.read_models.state()).version
    current = built == readmodels.VERSION
    if not current and last:  # one finding, not one per row an older version never wrote
        found.problems.append(
            f"the read models were built by an older version of timeline (read models "
            f"version {built}; this one builds {readmodels.VERSION}): run `timeline projections "
            "rebuild` (or start `timeline serve`, which rebuilds them first); they are not "
            "compared until then"
        )
    positions = 0
    texts: LRU[str, str | None] = LRU(TEXTS_KEPT)
    async for events in store.read_by_stream(last):
        stream = events[0].stream
        found.streams += 1
        positions += len(events)
        for index, stored in enumerate(events, start=1):
            if stored.version != index:
                found.problems.append(f"{stream}: version {stored.version}, expected {index}")
                break
        found.problems += await _quote_problems(store, stream, events, texts)
        if is_organization_stream(stream):
            found.problems += await _organization_problems(store, events, found, current=current)
            continue
        try:
            fold.check(events)
        except fold.DomainError as error:
            found.problems.append(f"{stream}: {error}")
            continue
        if current:
            found.problems += await _read_model_differences(store, stream, events, found)
    if positions != last:
        found.problems.append(f"{positions} events under last position {last}: positions have gaps")
    found.events = positions
    found.problems += await _source_problems(store, found)
    if found.older_snapshots:
        found.notices.append(
            f"{found.older_snapshots} stream(s) have a snapshot of an older shape: it is ignored,"
            " so their cold reads and appends fold every event until their next append stores a"
            " new one; `timeline projections rebuild` writes them all now"
        )
    return found


TEXTS_KEPT = 16
"""Registered texts kept while checking the quotes of one stream after another."""


async def _quote_problems(
    store: EventStore, stream: str, events: list[StoredEvent], texts: LRU[str, str | None]
) -> list[str]:
    """Every quote of a registered source is where its stored position says, in that
    source's text as registered."""
    problems: list[str] = []
    for stored in events:
        for n, cited in enumerate(stored.event.sources):
            if cited.source is None or cited.quote is None:
                continue
            where = f"{stream} v{stored.version} sources[{n}]"
            if cited.source not in texts:
                record = await store.sources.get(cited.source)
                texts[cited.source] = None if record is None else normalised(record.text or "")
            text = texts[cited.source]
            if text is None:
                problems.append(f"{where}: cites {cited.source!r}, which is not registered")
                continue
            try:
                start, end = find(text, cited.quote, stored.event.id, "$.quote")
            except QuoteError as error:
                problems.append(f"{where}: {error.message}")
                continue
            if cited.position is None or (cited.position.start, cited.position.end) != (
                start,
                end,
            ):
                problems.append(f"{where}: the quote is at {start}-{end}, not where it says")
    return problems


SOURCES_READ = 100
"""Sources checked per query (each with its text: at most 100 MB)."""


async def _source_problems(store: EventStore, found: Findings) -> list[str]:
    """Each registered source's text has the fingerprint stored with it, and what it
    supersedes is registered."""
    problems: list[str] = []
    registered: set[str] = set()
    supersedes: list[tuple[str, str]] = []
    after: str | None = None
    while True:
        page = await store.sources.page(words=None, language=None, after=after, limit=SOURCES_READ)
        for listed in page:
            found.sources += 1
            registered.add(listed.id)
            if listed.supersedes is not None:
                supersedes.append((listed.id, listed.supersedes))
            if listed.sha256 is None:
                continue
            record = await store.sources.get(listed.id)
            text = None if record is None else record.text
            if text is None or fingerprint(text) != listed.sha256:
                problems.append(f"source {listed.id}: its text is not the one fingerprinted")
        if len(page) < SOURCES_READ:
            break
        after = page[-1].id
    problems += [
        f"source {source}: supersedes {target!r}, which is not registered"
        for source, target in supersedes
        if target not in registered
    ]
    return problems


async def _read_model_differences(
    store: EventStore, stream: str, events: list[StoredEvent], found: Findings
) -> list[str]:
    expected = readmodels.replay(stream, events)
    want = {facet_key(known) for known in (*expected.open.values(), *expected.closed)}
    have, items = await store.read_models.stream_rows(stream)
    differences = [f"read model lacks facet {_facet(key)}" for key in sorted(want - have, key=str)]
    differences += [
        f"read model has extra facet {_facet(key)}" for key in sorted(have - want, key=str)
    ]
    for uid in sorted(expected.items.keys() | items.keys()):
        differences += _item_difference(uid, expected.items.get(uid), items.get(uid))
    differences += await _snapshot_difference(store, stream, events, found)
    named = [f"{stream}: {difference}" for difference in differences[:SHOWN_DIFFERENCES]]
    if len(differences) > SHOWN_DIFFERENCES:
        named.append(f"{stream}: … and {len(differences) - SHOWN_DIFFERENCES} more differences")
    return named


async def _snapshot_difference(
    store: EventStore, stream: str, events: list[StoredEvent], findings: Findings
) -> list[str]:
    """A stored snapshot must be what its events fold to (one of another shape is ignored by
    every reader, so it is no problem: it is counted, and said once)."""
    found = await store.read_models.snapshot(stream)
    if found is None:
        return []
    version, body = found
    if version > len(events):
        return [f"snapshot at version {version} is past the stream's {len(events)} events"]
    restored = incremental.Folding.restore(body)
    if restored is None:
        findings.older_snapshots += 1
        return []
    folded = incremental.Folding()
    folded.advance(events[:version])
    if restored.version != version or restored.state() != folded.state():
        return [f"snapshot at version {version} differs from what its events fold to"]
    if restored.stages != folded.stages:
        return [f"snapshot at version {version} has other outlines than its events give"]
    return []


def _facet(key: tuple[object, ...]) -> str:
    kind, value, valid_from, valid_to, recorded_from, recorded_to, _detail = key
    return (
        f"{kind} {value!r} valid {valid_from}..{valid_to or ''}"
        f" known {recorded_from}..{recorded_to or ''}"
    )


def _item_difference(uid: str, want: CalendarItem | None, have: CalendarItem | None) -> list[str]:
    if want == have:
        return []
    if want is None:
        return [f"read model has extra calendar item {uid}"]
    if have is None:
        return [f"read model lacks calendar item {uid}"]
    return [
        f"calendar item {uid} differs: stored SEQUENCE {have.sequence} changed "
        f"{have.changed_at.isoformat()}, expected SEQUENCE {want.sequence} changed "
        f"{want.changed_at.isoformat()}"
        + ("" if have.content == want.content else " (content differs)")
    ]


async def _organization_problems(
    store: EventStore, events: list[StoredEvent], found: Findings, *, current: bool
) -> list[str]:
    """An organization's stream folds, its keys are what a fresh replay makes of it, and so
    are its names over time (facets, compared as a partnership's are)."""
    stream = events[0].stream
    try:
        check_organization(events)
    except fold.DomainError as error:
        return [f"{stream}: {error}"]
    if not current:
        return []
    if sorted(await store.read_models.keys(stream)) != keys_of(events):
        return [f"{stream}: its keys differ from a fresh replay's"]
    return await _read_model_differences(store, stream, events, found)
