"""Read-model rows in SQL, for every backend: loaded and saved by the writer, queried by the API.

Rows carry a `generation`; readers see the one `read_model_state` names, so a
rebuild writes the next generation beside the live one and switches with one
update (`rebuild.py`). Queries are written once through the `Dialect`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import msgspec

from timeline import wire
from timeline.calendar import CalendarItem, ItemContent
from timeline.events import ORGANIZATION_STREAM
from timeline.organization import name_key
from timeline.readside.incremental import Folding
from timeline.readside.readmodels import (
    FacetKind,
    FacetRow,
    KnownFacet,
    StreamModel,
    decode_outline,
    item_kind,
    search_words,
    snapshot_due,
)
from timeline.state import Outline
from timeline.store.mapper import Dialect, Query, Row

Fetch = Callable[[Query], Awaitable[list[Row]]]
Execute = Callable[[str, list[tuple[Any, ...]]], Awaitable[None]]
"""Runs one statement for each parameter row (`executemany`)."""

_content = msgspec.json.Decoder(ItemContent, dec_hook=wire.dec_hook)

GENERATION = "(SELECT generation FROM read_model_state)"
STATE = "SELECT generation, version, changes FROM read_model_state"
FACET_COLUMNS = (
    "generation, stream, kind, value, valid_from, valid_to, recorded_from, recorded_to, detail"
)
ITEM_COLUMNS = "generation, stream, uid, kind, day, sequence, changed_at, content"


@dataclass(frozen=True, slots=True)
class ModelState:
    generation: int
    version: int
    changes: int


def facet_key(known: KnownFacet) -> tuple[object, ...]:
    """A facet row with its ranges, comparable across a fold and the database."""
    row = known.row
    return (row.kind, row.value, row.valid_from, row.valid_to, known.recorded_from,
            known.recorded_to, row.detail)  # fmt: skip


def _placeholders(dialect: Dialect, count: int) -> str:
    return ", ".join(dialect.placeholder(n) for n in range(1, count + 1))


# --- the writer's side ----------------------------------------------------------------------


async def model_state(fetch: Fetch, dialect: Dialect) -> ModelState:
    rows = await fetch(Query(dialect, STATE))
    generation, version, changes = rows[0]
    return ModelState(int(generation), int(version), int(changes))


FACET_READ = "stream, kind, value, valid_from, valid_to, recorded_from, recorded_to, detail"
ITEM_READ = "stream, uid, sequence, changed_at, content"


def known_facet(row: Row, dialect: Dialect) -> tuple[str, KnownFacet]:
    """A stored facet (`FACET_READ` columns) with the stream it belongs to."""
    stream, kind, value, valid_from, valid_to, recorded_from, recorded_to, detail = row
    facet = FacetRow(
        kind=kind,
        value=value,
        valid_from=dialect.read_day(valid_from),
        valid_to=None if valid_to is None else dialect.read_day(valid_to),
        detail=None if detail is None else bytes(detail),
    )
    until = None if recorded_to is None else dialect.read_instant(recorded_to)
    return str(stream), KnownFacet(facet, dialect.read_instant(recorded_from), until, stored=True)


def calendar_item(row: Row, dialect: Dialect) -> CalendarItem:
    """A stored calendar item (`ITEM_READ` columns)."""
    return CalendarItem(
        content=_content.decode(bytes(row[4])),
        sequence=int(row[2]),
        changed_at=dialect.read_instant(row[3]),
    )


async def load(
    fetch: Fetch, dialect: Dialect, generation: int, streams: Collection[str], rows: Collection[str]
) -> dict[str, StreamModel]:
    """The snapshots of `streams`, and the open facets and every calendar item of `rows`, as
    stored: a model of a stream outside `rows` has none read (`StreamModel.rows_read`)."""
    restored: dict[str, tuple[int, Folding]] = {}
    if streams:
        q = Query(dialect)
        q.sql = (
            f"SELECT stream, version, body FROM snapshots WHERE generation = {q.param(generation)}"
            f" AND stream {dialect.any_text(q.param, sorted(streams))}"
        )
        for stream, version, body in await fetch(q):
            folding = Folding.restore(bytes(body))
            if folding is not None:  # one of another shape is replaced when the next is due
                restored[str(stream)] = (int(version), folding)
    models: dict[str, StreamModel] = {}
    for stream in {*streams, *rows}:
        snapshot = restored.get(stream)
        if snapshot is None:
            models[stream] = StreamModel(stream, rows_read=stream in rows)
        else:  # built around the restored folding: a fresh one would be thrown away
            version, folding = snapshot
            models[stream] = StreamModel(
                stream, folding=folding, snapshot_version=version, rows_read=stream in rows
            )
    if rows:
        q = Query(dialect)
        q.sql = (
            f"SELECT {FACET_READ} FROM facets WHERE generation = {q.param(generation)}"
            f" AND stream {dialect.any_text(q.param, sorted(rows))} AND recorded_to IS NULL"
        )
        for row in await fetch(q):
            stream, known = known_facet(row, dialect)
            models[stream].open[known.row] = known
        q = Query(dialect)
        q.sql = (
            f"SELECT {ITEM_READ} FROM calendar_items WHERE generation = {q.param(generation)}"
            f" AND stream {dialect.any_text(q.param, sorted(rows))}"
        )
        for row in await fetch(q):
            item = calendar_item(row, dialect)
            models[str(row[0])].items[item.content.uid] = item
    return models


def _facet_values(
    dialect: Dialect, generation: int, stream: str, known: KnownFacet
) -> tuple[Any, ...]:
    row = known.row
    return (
        generation,
        stream,
        row.kind,
        row.value,
        dialect.day(row.valid_from),
        None if row.valid_to is None else dialect.day(row.valid_to),
        dialect.instant(known.recorded_from),
        None if known.recorded_to is None else dialect.instant(known.recorded_to),
        row.detail,
    )


def _item_values(
    dialect: Dialect, generation: int, stream: str, item: CalendarItem
) -> tuple[Any, ...]:
    content = item.content
    return (
        generation,
        stream,
        content.uid,
        item_kind(content.uid),
        dialect.day(content.day),
        item.sequence,
        dialect.instant(item.changed_at),
        wire.encoder.encode(content),
    )


@dataclass(slots=True)
class Writes:
    """The statements' parameters of one save (plain values: they cross processes)."""

    inserts: list[tuple[Any, ...]]
    closes: list[tuple[Any, ...]]
    deletes: list[tuple[Any, ...]]
    items: list[tuple[Any, ...]]
    snapshots: list[tuple[Any, ...]]
    keyed: list[tuple[Any, ...]] = field(default_factory=list)
    """(generation, org) of each organization whose keys are written anew."""
    keys: list[tuple[Any, ...]] = field(default_factory=list)


def _open_key(dialect: Dialect, generation: int, stream: str, known: KnownFacet) -> tuple[Any, ...]:
    row = known.row
    return (generation, stream, row.kind, row.value, dialect.day(row.valid_from))


OPEN_ROW = "generation = {} AND stream = {} AND kind = {} AND value = {} AND valid_from = {}"
"""An open facet row by its key (unique among its stream's open rows)."""


def writes(dialect: Dialect, generation: int, models: Iterable[StreamModel]) -> Writes:
    """The rows `advance` changed, as statements' parameters; the models forget them."""
    w = Writes([], [], [], [], [])
    for model in models:
        for known in model.closed:
            at = known.recorded_to
            if at is None or at == known.recorded_from:  # an empty range: never visible
                if known.stored:
                    w.deletes.append(_open_key(dialect, generation, model.stream, known))
            elif not known.stored:
                w.inserts.append(_facet_values(dialect, generation, model.stream, known))
            else:
                key = _open_key(dialect, generation, model.stream, known)
                w.closes.append((dialect.instant(at), *key))
        for known in model.open.values():
            if not known.stored:
                w.inserts.append(_facet_values(dialect, generation, model.stream, known))
                known.stored = True
        w.items.extend(
            _item_values(dialect, generation, model.stream, item) for item in model.changed.values()
        )
        model.closed.clear()
        model.changed.clear()
        if model.keys is not None:
            org = model.stream.partition(":")[2]
            w.keyed.append((generation, org))
            w.keys.extend((generation, org, *key) for key in model.keys)
            model.keys = None
        snapshot = snapshot_due(model)
        if snapshot is not None:
            w.snapshots.append((generation, model.stream, model.version, snapshot))
    return w


async def save(
    execute: Execute, dialect: Dialect, generation: int, models: Iterable[StreamModel]
) -> bool:
    """Write what `advance` changed; True when anything did (the feeds' ETags move)."""
    return await write(execute, dialect, writes(dialect, generation, models))


async def write(execute: Execute, dialect: Dialect, w: Writes) -> bool:
    """Run the statements of `writes`; True when there were any."""
    closes, deletes, inserts, items = w.closes, w.deletes, w.inserts, w.items
    p = dialect.placeholder
    if closes:
        where = OPEN_ROW.format(*(p(n) for n in range(2, 7)))
        await execute(
            f"UPDATE facets SET recorded_to = {p(1)} WHERE {where} AND recorded_to IS NULL", closes
        )
    if deletes:
        where = OPEN_ROW.format(*(p(n) for n in range(1, 6)))
        await execute(f"DELETE FROM facets WHERE {where} AND recorded_to IS NULL", deletes)
    if inserts:
        await execute(
            f"INSERT INTO facets ({FACET_COLUMNS}) VALUES ({_placeholders(dialect, 9)})", inserts
        )
    if items:
        await execute(
            f"INSERT INTO calendar_items ({ITEM_COLUMNS}) VALUES ({_placeholders(dialect, 8)})"
            " ON CONFLICT (generation, stream, uid) DO UPDATE SET kind = excluded.kind,"
            " day = excluded.day, sequence = excluded.sequence,"
            " changed_at = excluded.changed_at, content = excluded.content",
            items,
        )
    if w.snapshots:
        await execute(
            f"INSERT INTO snapshots (generation, stream, version, body)"
            f" VALUES ({_placeholders(dialect, 4)}) ON CONFLICT (generation, stream)"
            " DO UPDATE SET version = excluded.version, body = excluded.body",
            w.snapshots,
        )
    if w.keyed:
        await execute(
            f"DELETE FROM organization_keys WHERE generation = {p(1)} AND org = {p(2)}", w.keyed
        )
    if w.keys:
        await execute(
            "INSERT INTO organization_keys (generation, org, kind, key, value)"
            f" VALUES ({_placeholders(dialect, 5)})",
            w.keys,
        )
    changed = bool(closes or deletes or inserts or items or w.keyed)  # a snapshot changes none
    if changed:
        await execute("UPDATE read_model_state SET changes = changes + 1", [()])
    return changed


# --- the readers' side ----------------------------------------------------------------------


def _known(q: Query, alias: str, known_at: datetime | None) -> str:
    if known_at is None:
        return f"{alias}.recorded_to IS NULL"
    at = q.dialect.instant(known_at)  # one parameter per mention: SQLite's `?` are positional
    return (
        f"{alias}.recorded_from <= {q.param(at)}"
        f" AND ({alias}.recorded_to IS NULL OR {alias}.recorded_to > {q.param(at)})"
    )


def _valid(q: Query, alias: str, day: date) -> str:
    on = q.dialect.day(day)
    return (
        f"{alias}.valid_from <= {q.param(on)}"
        f" AND ({alias}.valid_to IS NULL OR {alias}.valid_to > {q.param(on)})"
    )


def _facet(q: Query, alias: str, kind: FacetKind, value: str) -> str:
    return (
        f"{alias}.generation = {GENERATION} AND {alias}.kind = {q.param(kind)}"
        f" AND {alias}.value = {q.param(value)}"
    )


PAST_EVERY_LETTER = "\U0010ffff"
"""Sorts after every text that starts alike (byte order: SQLite's, and the facets' `C`
collation in PostgreSQL), so `[word, word + this)` holds every word `word` begins."""


@dataclass(frozen=True, slots=True)
class ListFilters:
    day: date
    known_at: datetime | None = None
    party: str | None = None
    region: str | None = None
    status: str | None = None
    after: str | None = None
    text: str | None = None
    """Words of the outline (title, kind, parties, regions, summary), each found as the start
    of one of its words, in any case, with or without accents (`readmodels.search_words`);
    text with no word in it filters nothing."""


WORD_SAMPLE = 1000
"""Enough to tell a rare word from a common one."""


def word_counts(dialect: Dialect, words: Sequence[str]) -> Query:
    """How many words of the index begin with each of `words`, counted up to `WORD_SAMPLE`
    (an index-only range scan each): a search looks its rarest word up first."""
    q = Query(dialect)
    counts = [
        f"(SELECT COUNT(*) FROM (SELECT 1 FROM facets WHERE generation = {GENERATION}"
        f" AND kind = 'word' AND value >= {q.param(word)}"
        f" AND value < {q.param(word + PAST_EVERY_LETTER)} LIMIT {WORD_SAMPLE}) AS c{index})"
        for index, word in enumerate(words)
    ]
    q.sql = "SELECT " + ", ".join(counts)
    return q


def _search(q: Query, filters: ListFilters, rarest_first: Sequence[str]) -> list[str]:
    """Each word begins a word of the outline that day, as known then. The streams with a
    word that begins like the first are read from the index alone, in stream order, so a
    common word stops at the page's end; each candidate is then checked word by word among
    its own few facets (`|| ''` keeps the planner off the value index there)."""
    words = rarest_first or sorted(set(search_words(filters.text or "")), key=len, reverse=True)
    if not words:
        return []
    drive = (
        f"s.stream IN (SELECT w.stream FROM facets w WHERE w.generation = {GENERATION}"
        f" AND w.kind = 'word' AND w.value >= {q.param(words[0])}"
        f" AND w.value < {q.param(words[0] + PAST_EVERY_LETTER)})"
    )
    checks = [
        f"EXISTS (SELECT 1 FROM facets w WHERE w.generation = {GENERATION}"
        f" AND w.stream = s.stream AND w.kind = 'word'"
        f" AND w.value || '' >= {q.param(word)}"
        f" AND w.value || '' < {q.param(word + PAST_EVERY_LETTER)}"
        f" AND {_valid(q, 'w', filters.day)} AND {_known(q, 'w', filters.known_at)})"
        for word in words
    ]
    return [drive, *checks]


def partnerships(
    dialect: Dialect,
    filters: ListFilters,
    limit: int,
    rarest_first: Sequence[str] = (),
) -> Query:
    """One page of (stream, outline) on a day as known at an instant, by stream id.

    The most selective facet drives (party, else region, else the outlines; a search's
    words as `rarest_first` orders them, else the longest first);
    `CROSS JOIN` keeps that order in SQLite, and PostgreSQL plans it freely.
    """
    q = Query(dialect)
    tables = "facets s"
    where: list[str] = []
    drive: tuple[FacetKind, str] | None = None
    if filters.party is not None:
        drive = ("party", filters.party)
    elif filters.region is not None:
        drive = ("region", filters.region.casefold())
    if drive is not None:
        tables = "facets f CROSS JOIN facets s"
        where += [
            _facet(q, "f", drive[0], drive[1]),
            _valid(q, "f", filters.day),
            _known(q, "f", filters.known_at),
        ]
        if filters.after is not None:
            where.append(f"f.stream > {q.param(filters.after)}")
        where.append("s.stream = f.stream")
    where += [f"s.generation = {GENERATION}", "s.kind = 'summary'"]
    if filters.status is not None:
        where.append(f"s.value = {q.param(filters.status)}")
    if filters.text is not None:
        where += _search(q, filters, rarest_first)
    where += [_valid(q, "s", filters.day), _known(q, "s", filters.known_at)]
    if filters.after is not None:
        where.append(f"s.stream > {q.param(filters.after)}")
    if filters.party is not None and filters.region is not None:
        where.append(
            "EXISTS (SELECT 1 FROM facets r WHERE r.stream = s.stream AND "
            + " AND ".join(
                [
                    _facet(q, "r", "region", filters.region.casefold()),
                    _valid(q, "r", filters.day),
                    _known(q, "r", filters.known_at),
                ]
            )
            + ")"
        )
    order = "f.stream" if drive is not None else "s.stream"
    q.sql = (
        f"SELECT s.stream, s.detail FROM {tables} WHERE {' AND '.join(where)}"
        f" ORDER BY {order} LIMIT {q.param(limit)}"
    )
    return q


def versions(dialect: Dialect, streams: Sequence[str], known_at: datetime | None) -> Query:
    """Each listed stream's version (as known at `known_at`): one index probe a stream, where
    a GROUP BY read every version of each."""
    q = Query(dialect)  # parameters in the order they appear: SQLite's `?` are positional
    known = "" if known_at is None else f" AND recorded_at <= {q.param(dialect.instant(known_at))}"
    values = ", ".join(f"({q.param(stream)})" for stream in streams)
    q.sql = (
        f"SELECT column1, (SELECT MAX(version) FROM events WHERE stream = column1{known})"
        f" FROM (VALUES {values}) AS wanted"
    )
    return q


def stream_outline(dialect: Dialect, stream: str, day: date) -> Query:
    q = Query(dialect)
    q.sql = (
        f"SELECT s.stream, s.detail FROM facets s WHERE s.generation = {GENERATION}"
        f" AND s.stream = {q.param(stream)} AND s.kind = 'summary'"
        f" AND {_valid(q, 's', day)} AND s.recorded_to IS NULL"
    )
    return q


def _member_streams(q: Query, org: str, day: date, *, distinct: bool = False) -> str:
    """Streams `org` is or was a party to on `day`, as known now (each once if `distinct`)."""
    return (
        f"SELECT {'DISTINCT ' if distinct else ''}f.stream FROM facets f WHERE "
        + _facet(q, "f", "party", org)
        + f" AND f.valid_from <= {q.param(q.dialect.day(day))} AND f.recorded_to IS NULL"
    )


def memberships(dialect: Dialect, org: str, day: date, after: str | None, limit: int) -> Query:
    """(stream, outline) of every partnership `org` is or was in on `day`, by stream id."""
    q = Query(dialect)
    members = _member_streams(q, org, day, distinct=True)
    if after is not None:
        members += f" AND f.stream > {q.param(after)}"
    where = [
        "s.stream = m.stream",
        f"s.generation = {GENERATION}",
        "s.kind = 'summary'",
        _valid(q, "s", day),
        "s.recorded_to IS NULL",
    ]
    # driven by the organization's party facets: PostgreSQL's generic plan walked every
    # outline in id order instead, probing each for membership (1,188 rows for 1 of 1,000)
    q.sql = (
        f"SELECT s.stream, s.detail FROM ({members}) AS m CROSS JOIN facets s"
        f" WHERE {' AND '.join(where)} ORDER BY m.stream LIMIT {q.param(limit)}"
    )
    return q


def recorded_at(dialect: Dialect, position: int) -> Query:
    """When the event at `position` was recorded (one primary-key probe)."""
    q = Query(dialect)
    q.sql = f"SELECT recorded_at FROM events WHERE position = {q.param(position)}"
    return q


@dataclass(frozen=True, slots=True)
class ChangedStream:
    """A stream with events at positions in (`low`, `high`]: how many, first and last."""

    stream: str
    events: int
    first_position: int
    last_position: int


def changed_streams(
    dialect: Dialect,
    low: int,
    high: int,
    *,
    party: str | None,
    day: date,
    after: str | None,
    limit: int,
) -> Query:
    """Partnerships with events at positions in (`low`, `high`], by stream id (organizations'
    streams left out: their events are in the feed); with `party`, only the partnerships it is
    or was in on `day`."""
    q = Query(dialect)
    window = (  # ordered, so that SQLite scans the window by position rather than every stream
        "SELECT stream, position FROM events"
        f" WHERE position > {q.param(low)} AND position <= {q.param(high)} ORDER BY position"
    )
    where = [f"e.stream NOT LIKE '{ORGANIZATION_STREAM}%'"]
    if after is not None:
        where.append(f"e.stream > {q.param(after)}")
    if party is not None:
        where.append(f"e.stream IN ({_member_streams(q, party, day)})")
    q.sql = (
        f"SELECT e.stream, COUNT(*), MIN(e.position), MAX(e.position) FROM ({window}) e"
        f" WHERE {' AND '.join(where)} GROUP BY e.stream ORDER BY e.stream"
        f" LIMIT {q.param(limit)}"
    )
    return q


def organizations(dialect: Dialect, day: date, after: str | None, limit: int) -> Query:
    """One page of organization ids that are or were parties on `day`, or are registered."""
    q = Query(dialect)
    where = [
        f"generation = {GENERATION}",
        "kind = 'party'",
        f"valid_from <= {q.param(dialect.day(day))}",
        "recorded_to IS NULL",
    ]
    if after is not None:
        where.append(f"value > {q.param(after)}")
    parties = (  # SQLite's `?` are positional: the parameters are made in the text's order
        f"SELECT DISTINCT value FROM facets WHERE {' AND '.join(where)}"
        f" ORDER BY value LIMIT {q.param(limit)}"
    )
    registered = [f"generation = {GENERATION}", "kind = 'name'"]
    if after is not None:
        registered.append(f"org > {q.param(after)}")
    q.sql = (
        f"SELECT value FROM ({parties}) AS parties UNION SELECT org FROM (SELECT DISTINCT org"
        f" FROM organization_keys WHERE {' AND '.join(registered)} ORDER BY org"
        f" LIMIT {q.param(limit)}) AS registered ORDER BY 1 LIMIT {q.param(limit)}"
    )
    return q


def organization_memberships(dialect: Dialect, orgs: Sequence[str], day: date) -> Query:
    """(org, stream, outline) for each of `orgs`, by org then stream (duplicates possible)."""
    q = Query(dialect)
    q.sql = (
        "SELECT f.value, s.stream, s.detail FROM facets f CROSS JOIN facets s"
        f" WHERE f.generation = {GENERATION} AND f.kind = 'party'"
        f" AND f.value {dialect.any_text(q.param, orgs)}"
        f" AND f.valid_from <= {q.param(dialect.day(day))} AND f.recorded_to IS NULL"
        f" AND s.generation = {GENERATION} AND s.stream = f.stream AND s.kind = 'summary'"
        f" AND {_valid(q, 's', day)} AND s.recorded_to IS NULL ORDER BY f.value, s.stream"
    )
    return q


def organizations_named(dialect: Dialect, text: str) -> Query:
    """The registered organizations `text` names: an id, an identifier (`scheme:value`), an
    alias or a name it has or had (by `name_key`). Each an index probe: an `OR` across kinds
    read every key of the generation (0.6 ms at 2,000 organizations, growing with them)."""
    q = Query(dialect)
    keys = f"SELECT org FROM organization_keys WHERE generation = {GENERATION}"
    if ":" in text:
        q.sql = f"{keys} AND kind = 'identifier' AND key = {q.param(text)} ORDER BY org"
        return q
    key = name_key(text)
    q.sql = (
        f"{keys} AND kind = 'name' AND key = {q.param(key)}"
        f" UNION {keys} AND kind = 'alias' AND key = {q.param(key)}"
        f" UNION {keys} AND org = {q.param(text)} AND kind = 'name' ORDER BY 1"
    )
    return q


def held_keys(dialect: Dialect, generation: int, keys: Sequence[str]) -> Query:
    """(kind, key, org) of the aliases and identifiers among `keys`."""
    q = Query(dialect)
    q.sql = (
        "SELECT kind, key, org FROM organization_keys"
        f" WHERE generation = {q.param(generation)} AND kind IN ('alias', 'identifier')"
        f" AND key {dialect.any_text(q.param, keys)}"
    )
    return q


def keys_of_organizations(dialect: Dialect, generation: int, orgs: Sequence[str]) -> Query:
    """(kind, key, org) of every key of `orgs`."""
    q = Query(dialect)
    q.sql = (
        "SELECT kind, key, org FROM organization_keys"
        f" WHERE generation = {q.param(generation)} AND org {dialect.any_text(q.param, orgs)}"
    )
    return q


def outline(row: Row) -> tuple[str, Outline]:
    return str(row[0]), decode_outline(bytes(row[1]))


@dataclass(frozen=True, slots=True)
class Window:
    """Calendar items whose day is within `[start, end]` (either open)."""

    start: date | None = None
    end: date | None = None


def calendar_items(
    dialect: Dialect,
    *,
    kinds: Sequence[str],
    window: Window,
    stream: str | None = None,
    org: str | None = None,
    day: date | None = None,
    after: tuple[str, str] | None = None,
    limit: int | None = None,
) -> Query:
    """Calendar rows by (stream, uid): of one stream, of an organization's, or of all."""
    q = Query(dialect)
    where = [f"c.generation = {GENERATION}", f"c.kind {dialect.any_text(q.param, kinds)}"]
    if stream is not None:
        where.append(f"c.stream = {q.param(stream)}")
    if org is not None and day is not None:
        where.append(f"c.stream IN ({_member_streams(q, org, day)})")
    if window.start is not None:
        where.append(f"c.day >= {q.param(dialect.day(window.start))}")
    if window.end is not None:
        where.append(f"c.day <= {q.param(dialect.day(window.end))}")
    if after is not None:
        stream_after = f"c.stream > {q.param(after[0])}"
        where.append(
            f"({stream_after} OR (c.stream = {q.param(after[0])} AND c.uid > {q.param(after[1])}))"
        )
    q.sql = (
        f"SELECT {ITEM_READ} FROM calendar_items c"
        f" WHERE {' AND '.join(where)} ORDER BY c.stream, c.uid"
    )
    if limit is not None:
        q.sql += f" LIMIT {q.param(limit)}"
    return q


def last_change(dialect: Dialect, org: str | None, day: date) -> Query:
    """The latest change of any item of all feeds, or of an organization's."""
    q = Query(dialect)
    q.sql = f"SELECT MAX(c.changed_at) FROM calendar_items c WHERE c.generation = {GENERATION}"
    if org is not None:
        q.sql += f" AND c.stream IN ({_member_streams(q, org, day)})"
    return q


CHUNK = 1000
"""Calendar rows read per query while a feed streams: memory stays flat, no connection is held."""


class ReadModels:
    """What the API asks of the read models; every answer costs what it returns."""

    def __init__(self, fetch: Fetch, dialect: Dialect) -> None:
        self._fetch = fetch
        self._dialect = dialect

    async def state(self) -> ModelState:
        return await model_state(self._fetch, self._dialect)

    async def partnerships(
        self, filters: ListFilters, limit: int
    ) -> list[tuple[str, Outline, int]]:
        """(stream, outline, version as known then) for one page."""
        words = sorted(set(search_words(filters.text or "")))
        if len(words) > 1:
            counted = (await self._fetch(word_counts(self._dialect, words)))[0]
            words = [word for _count, word in sorted(zip(counted, words, strict=True))]
        query = partnerships(self._dialect, filters, limit, rarest_first=words)
        page = [outline(row) for row in await self._fetch(query)]
        if not page:
            return []
        found = await self._fetch(versions(self._dialect, [s for s, _ in page], filters.known_at))
        known = {str(row[0]): int(row[1]) for row in found if row[1] is not None}
        return [(stream, about, known.get(stream, 0)) for stream, about in page]

    async def outline(self, stream: str, day: date) -> Outline | None:
        """The stream's outline on `day` as known now (None: not announced by then)."""
        rows = await self._fetch(stream_outline(self._dialect, stream, day))
        return outline(rows[0])[1] if rows else None

    async def named(self, text: str) -> list[str]:
        """The organizations `text` names: a registered id, an identifier (`lei:...`), an alias,
        or a name it has or had; by id. Empty when none is registered under it (or `text` could
        not be a name: a control character, which PostgreSQL would not even compare)."""
        if not text.isprintable():
            return []
        q = organizations_named(self._dialect, text)
        return [str(row[0]) for row in await self._fetch(q)]

    async def names_on(
        self, orgs: Collection[str], day: date, known_at: datetime | None
    ) -> dict[str, str]:
        """Each registered organization's name on `day` as known at `known_at`, by id."""
        if not orgs:
            return {}
        q = Query(self._dialect)
        streams = [ORGANIZATION_STREAM + org for org in sorted(orgs)]
        q.sql = (
            f"SELECT f.stream, f.value FROM facets f WHERE f.generation = {GENERATION}"
            f" AND f.stream {self._dialect.any_text(q.param, streams)} AND f.kind = 'name'"
            f" AND {_valid(q, 'f', day)} AND {_known(q, 'f', known_at)}"
        )
        return {str(stream).partition(":")[2]: str(name) for stream, name in await self._fetch(q)}

    async def unregistered(self, after: str | None, limit: int) -> list[tuple[str, str, int]]:
        """(id, name its first partnership gives it, partnerships) of each party that no
        registered organization is, by id: a page for curators."""
        q = Query(self._dialect)
        where = [
            f"f.generation = {GENERATION}",
            "f.kind = 'party'",
            "f.recorded_to IS NULL",
            (
                "NOT EXISTS (SELECT 1 FROM organization_keys k WHERE k.generation = f.generation"
                " AND k.org = f.value AND k.kind = 'name')"
            ),
        ]
        if after is not None:
            where.append(f"f.value > {q.param(after)}")
        q.sql = (
            f"SELECT f.value, COUNT(DISTINCT f.stream) FROM facets f WHERE {' AND '.join(where)}"
            f" GROUP BY f.value ORDER BY f.value LIMIT {q.param(limit)}"
        )
        counted = [(str(org), int(n)) for org, n in await self._fetch(q)]
        if not counted:
            return []
        names = await self._fetch(
            organization_memberships(self._dialect, [org for org, _n in counted], date.max)
        )
        first: dict[str, str] = {}
        for org, _stream, detail in names:
            outline = decode_outline(bytes(detail))
            for party in (*outline.parties, *outline.former_parties):
                if party.org == org:
                    first.setdefault(str(org), party.name)
        return [(org, first.get(org, org), n) for org, n in counted]

    async def registered_names(self) -> list[tuple[str, str]]:
        """(id, name or alias key) of every registered organization: what a party's id or
        name is compared with to find a near-duplicate."""
        q = Query(self._dialect)
        q.sql = (
            "SELECT org, key FROM organization_keys"
            f" WHERE generation = {GENERATION} AND kind IN ('name', 'alias') ORDER BY org, key"
        )
        return [(str(org), str(key)) for org, key in await self._fetch(q)]

    async def keys(self, stream: str) -> list[tuple[str, str, str]]:
        """(kind, key, value) of an organization's stream, as `organization.keys_of` orders them."""
        q = Query(self._dialect)
        q.sql = (
            f"SELECT kind, key, value FROM organization_keys WHERE generation = {GENERATION}"
            f" AND org = {q.param(stream.partition(':')[2])} ORDER BY kind, key"
        )
        return [(str(k), str(key), str(v)) for k, key, v in await self._fetch(q)]

    async def related(self, org: str) -> list[tuple[str, str]]:
        """(kind, other) of each organization that names `org` as its parent, successor or
        acquirer: its spin-offs, predecessors and acquisitions."""
        q = Query(self._dialect)
        q.sql = (
            f"SELECT kind, org FROM organization_keys WHERE generation = {GENERATION}"
            f" AND kind IN ('parent', 'successor', 'acquirer') AND key = {q.param(org)}"
            " ORDER BY kind, org"
        )
        return [(str(kind), str(other)) for kind, other in await self._fetch(q)]

    async def memberships(
        self, org: str, day: date, after: str | None, limit: int
    ) -> list[tuple[str, Outline]]:
        query = memberships(self._dialect, org, day, after, limit)
        return [outline(row) for row in await self._fetch(query)]

    async def organizations(
        self, day: date, after: str | None, limit: int
    ) -> dict[str, list[tuple[str, Outline]]]:
        """One page of organizations, each with every partnership it is or was in."""
        orgs = [
            str(row[0])
            for row in await self._fetch(organizations(self._dialect, day, after, limit))
        ]
        found: dict[str, list[tuple[str, Outline]]] = {org: [] for org in orgs}
        if not orgs:
            return found
        seen: set[tuple[str, str]] = set()
        for org, stream, detail in await self._fetch(
            organization_memberships(self._dialect, orgs, day)
        ):
            if (org, stream) not in seen:
                seen.add((org, stream))
                found[org].append((stream, decode_outline(bytes(detail))))
        return found

    async def calendar(
        self,
        kinds: Sequence[str],
        window: Window,
        *,
        stream: str | None = None,
        org: str | None = None,
        day: date | None = None,
    ) -> AsyncIterator[list[CalendarItem]]:
        """A feed's items in (stream, uid) order, a chunk at a time."""
        after: tuple[str, str] | None = None
        while True:
            query = calendar_items(
                self._dialect,
                kinds=kinds,
                window=window,
                stream=stream,
                org=org,
                day=day,
                after=after,
                limit=CHUNK,
            )
            rows = await self._fetch(query)
            if not rows:
                return
            yield [calendar_item(row, self._dialect) for row in rows]
            if len(rows) < CHUNK:
                return
            after = (str(rows[-1][0]), str(rows[-1][1]))

    async def stream_rows(
        self, stream: str
    ) -> tuple[set[tuple[object, ...]], dict[str, CalendarItem]]:
        """Every facet (with its ranges) and calendar item stored for a stream: for `verify`."""
        q = Query(self._dialect)
        q.sql = (
            f"SELECT {FACET_READ} FROM facets"
            f" WHERE generation = {GENERATION} AND stream = {q.param(stream)}"
        )
        facets = {facet_key(known_facet(row, self._dialect)[1]) for row in await self._fetch(q)}
        every = ("milestone", "phase", "investment", "announcement")
        items = [
            item async for chunk in self.calendar(every, Window(), stream=stream) for item in chunk
        ]
        return facets, {item.content.uid: item for item in items}

    async def position_known_at(self, instant: datetime | None) -> int:
        """The last position recorded at or before `instant` (None: now); 0 when none was.

        Recording times rise with position and positions have no gaps, so this is a binary
        search of primary-key probes: about 20 at a million events, whatever `instant`.
        """
        q = Query(self._dialect)
        q.sql = "SELECT MAX(position) FROM events"
        rows = await self._fetch(q)
        high = int(rows[0][0]) if rows and rows[0][0] is not None else 0
        if instant is None:
            return high
        low = 0  # invariant: every position <= low is known at `instant`, every one > high not
        while low < high:
            middle = (low + high + 1) // 2
            found = await self._fetch(recorded_at(self._dialect, middle))
            if self._dialect.read_instant(found[0][0]) <= instant:
                low = middle
            else:
                high = middle - 1
        return low

    async def window(self, since: datetime, until: datetime | None) -> tuple[int, int]:
        """(last position known at `since`, last known at `until`): what was recorded between
        is every position after the first, up to the second."""
        return await self.position_known_at(since), await self.position_known_at(until)

    async def changed(
        self,
        low: int,
        high: int,
        *,
        party: str | None,
        day: date,
        after: str | None,
        limit: int,
    ) -> list[ChangedStream]:
        """One page of the streams with events at positions in (`low`, `high`]."""
        query = changed_streams(
            self._dialect, low, high, party=party, day=day, after=after, limit=limit
        )
        return [
            ChangedStream(str(stream), int(count), int(first), int(last))
            for stream, count, first, last in await self._fetch(query)
        ]

    async def snapshot(self, stream: str) -> tuple[int, bytes] | None:
        """(version, body) of the stream's stored snapshot (`Folding.snapshot`), if any."""
        q = Query(self._dialect, one_stream=True)
        q.sql = (
            "SELECT version, body FROM snapshots"
            f" WHERE generation = {GENERATION} AND stream = {q.param(stream)}"
        )
        rows = await self._fetch(q)
        return (int(rows[0][0]), bytes(rows[0][1])) if rows else None

    async def last_change(self, org: str | None, day: date) -> datetime | None:
        rows = await self._fetch(last_change(self._dialect, org, day))
        value = rows[0][0] if rows else None
        return None if value is None else self._dialect.read_instant(value)
