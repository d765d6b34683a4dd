"""Read models derived from a stream: what cross-partnership reads filter and render on. Pure.

Two kinds of rows, kept per stream and rebuilt from its events at will:

- **facets**, bitemporal: a partnership's outline (`summary`), each party it
  has (`party`), each region (`region`) and each word of its outline (`word`),
  each valid over a range of world days `[valid_from, valid_to)` and known over
  a range of recording instants
  `[recorded_from, recorded_to)`. "Party X on day D as known at T" is one
  indexed lookup; a retraction or correction closes rows and opens others.
- **calendar items**, current: every milestone, phase marker, investment and
  announcement the stream's feeds ever showed, with `SEQUENCE` and last change
  by exactly the rules of `calendar.stream_items`.

`StreamModel.advance` moves both over one recording instant's events; the
store's writer calls it inside the append's transaction and the rebuild calls
it over every stream's history, so both write the same rows.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from itertools import groupby
from typing import Literal

import msgspec

from timeline import calendar, wire
from timeline.calendar import CalendarItem, FeedOptions
from timeline.events import (
    ORGANIZATION_TYPES,
    AnyEvent,
    EventCorrected,
    EventRetracted,
    InvestmentCommitted,
    PartnershipAnnounced,
    PartnershipEnded,
    PartyJoined,
    PartyLeft,
    StoredEvent,
    is_organization_stream,
)
from timeline.organization import KeyRow, keys_of, names_over_time
from timeline.readside import incremental, item_memo
from timeline.state import Outline

VERSION = 3
"""The read models' shape; a database holding an older one is rebuilt before serving.
2: calendar items keep their category and partnership label apart from the summary, and
their UID without a domain (a feed adds the deployment's).
3: the words of each outline are facets too (`word`), so a search is an index lookup."""

FacetKind = Literal["summary", "party", "region", "word", "name"]
"""`name`: an organization's name over world time (its stream's only facet)."""

OUTLINE_TYPES: tuple[type, ...] = (
    PartnershipAnnounced,
    PartyJoined,
    PartyLeft,
    PartnershipEnded,
    EventRetracted,
    EventCorrected,
)
"""Event types that can change an outline; other appends leave the facets alone."""

CALENDAR_TYPES: tuple[type, ...] = (*calendar.CALENDAR_TYPES, InvestmentCommitted)
ROW_TYPES = (*OUTLINE_TYPES, *CALENDAR_TYPES, *ORGANIZATION_TYPES)
"""Event types whose append may change any row; the others change only the state."""
EVERY_ITEM = FeedOptions(announcements=True, investments=True)
"""Rows hold every item; a feed's options choose among them by kind."""

_outline_decoder = msgspec.json.Decoder(Outline, dec_hook=wire.dec_hook)


class FacetRow(msgspec.Struct, frozen=True, order=True):
    """One fact lists filter on, true over world days `[valid_from, valid_to)` (None: for good)."""

    kind: FacetKind
    value: str
    valid_from: date
    valid_to: date | None
    detail: bytes | None = None
    """The outline as JSON, on `summary` rows."""


def encode_outline(outline: Outline) -> bytes:
    return wire.encoder.encode(outline)


def decode_outline(detail: bytes) -> Outline:
    return _outline_decoder.decode(detail)


def facet_rows(stages: Sequence[tuple[date, Outline]]) -> list[FacetRow]:
    """The stream's facets over world time, from its outlines (`fold.outlines`)."""
    rows: list[FacetRow] = []
    runs: dict[tuple[FacetKind, str], date] = {}
    for index, (day, outline) in enumerate(stages):
        until = stages[index + 1][0] if index + 1 < len(stages) else None
        rows.append(FacetRow("summary", outline.status, day, until, encode_outline(outline)))
        holds: set[tuple[FacetKind, str]] = {("party", party.org) for party in outline.parties}
        holds |= {("region", region.casefold()) for region in outline.regions}
        holds |= {("word", word) for word in outline_words(outline)}
        ended = [key for key in runs if key not in holds]
        rows.extend(FacetRow(kind, value, runs.pop((kind, value)), day) for kind, value in ended)
        for key in holds:
            runs.setdefault(key, day)
    rows.extend(FacetRow(kind, value, since, None) for (kind, value), since in runs.items())
    rows.sort()
    return rows


_WORD = re.compile(r"[^\W_]+")
"""Runs of letters and digits: `_`, `-`, `%` and spaces all part words."""
WORD_MAX = 64
"""Longer runs of letters are cut: no one types them, and they would bloat the index."""


@lru_cache(maxsize=1 << 14)
def search_words(text: str) -> tuple[str, ...]:
    """The words of `text` as searches compare them: in any case, with or without accents
    ("Telefónica", "TELEFONICA" and "telefonica" are one word). Cached: a stream's outlines
    are folded again at each change, and their titles and names rarely change."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return tuple(word[:WORD_MAX] for word in _WORD.findall(plain.casefold()))


def outline_words(outline: Outline) -> set[str]:
    """What a search finds a partnership by: its title, kind, parties (names, ids, roles),
    former parties, regions and summary."""
    texts = [outline.title, outline.kind, *outline.regions, outline.summary or ""]
    for party in (*outline.parties, *outline.former_parties):
        texts += [party.name, party.org, party.role or ""]
    return {word for text in texts for word in search_words(text)}


def item_kind(uid: str) -> str:
    """`milestone`, `phase`, `investment` or `announcement`: the UID's second part."""
    return uid.split(".", 2)[1].split("@", 1)[0]


def shown(options: FeedOptions) -> tuple[str, ...]:
    """Item kinds a feed with these options shows."""
    kinds = ["milestone", "phase"]
    if options.investments:
        kinds.append("investment")
    if options.announcements:
        kinds.append("announcement")
    return tuple(kinds)


@dataclass(slots=True)
class KnownFacet:
    """A facet row with the recording instants it was known over.

    While open (`recorded_to` None), (kind, value, valid_from) names it among
    its stream's rows, so a stored row is closed by that key.
    """

    row: FacetRow
    recorded_from: datetime
    recorded_to: datetime | None = None
    stored: bool = False


@dataclass(slots=True)
class StreamModel:
    """One stream's read-model rows, moved forward one recording instant at a time.

    Load it with what is stored (open facets, every calendar item), `advance`
    it, then write `closed`, the entries of `open` not yet `stored`, and
    `changed`. Kept between appends, it costs each append what it adds.
    """

    stream: str
    open: dict[FacetRow, KnownFacet] = field(default_factory=dict)
    items: dict[str, CalendarItem] = field(default_factory=dict)
    closed: list[KnownFacet] = field(default_factory=list)
    changed: dict[str, CalendarItem] = field(default_factory=dict)
    folding: incremental.Folding = field(default_factory=incremental.Folding, repr=False)
    """The stream folded so far: each batch after the first costs what it adds. An append's
    domain check may take it past `version` (`incremental.check_append`)."""
    memo: item_memo.ItemMemo = field(default_factory=item_memo.ItemMemo, repr=False)
    """Calendar items already written for this stream (`item_memo.items_of`)."""
    version: int = 0
    """How many events of the stream its rows take in."""
    snapshot_version: int = 0
    """How many events the stream's stored snapshot takes in (0: none stored)."""
    keys: list[KeyRow] | None = None
    """An organization's keys as of its last advance, not yet written (`organization.keys_of`);
    None for a partnership's stream and once written."""
    rows_read: bool = True
    """Whether `open` and `items` hold the stored rows. The writer reads them only for appends
    that may change them (`touches_rows`): most appends state a fact that changes neither, and
    reading a stream's rows cost a cold append more than restoring its snapshot."""

    def advance(self, events: Sequence[StoredEvent], batch: Sequence[StoredEvent]) -> None:
        """`events` is the stream up to and including `batch`, recorded at one instant."""
        if is_organization_stream(self.stream):  # its keys and names; no items, no folding
            if not self.rows_read:
                raise RuntimeError(
                    f"the rows of {self.stream!r} were not read before changing them"
                )
            self.keys = keys_of(events)
            self.version = len(events)
            rows = [FacetRow("name", *named) for named in names_over_time(events)]
            self._advance_facets(rows, batch[-1].recorded_at)
            return
        at = batch[-1].recorded_at
        outlined = any(isinstance(stored.event, OUTLINE_TYPES) for stored in batch)
        itemised = any(isinstance(stored.event, CALENDAR_TYPES) for stored in batch)
        if (outlined or itemised) and not self.rows_read:
            raise RuntimeError(f"the rows of {self.stream!r} were not read before changing them")
        self.folding.advance(events)
        self.version = len(events)
        if outlined:
            self._advance_facets(facet_rows(self.folding.stages), at)
        if itemised:
            self._advance_items(at)

    def resume(self) -> None:
        """Go on with the rows as stored, once the folding holds the events they take in (from
        the stream's snapshot and the events after it, or from every event): the next appends
        rewrite only the items they touch."""
        folding = self.folding
        folding.changes()  # what it took in is in the rows already
        framing = folding.framing()
        if framing is not None:
            item_memo.prime(self.memo, *framing)

    def _advance_facets(self, fresh: list[FacetRow], at: datetime) -> None:
        keep = set(fresh)
        for row in [row for row in self.open if row not in keep]:
            known = self.open.pop(row)
            known.recorded_to = at
            self.closed.append(known)
        for row in fresh:
            if row not in self.open:
                self.open[row] = KnownFacet(row, at)

    def _advance_items(self, at: datetime) -> None:
        """Every item again after anything that may change them all (a fold from the start,
        the title or parties); otherwise only those of the facts taken in since last time."""
        everything, touched = self.folding.changes()
        headline = self.folding.headline()
        if everything or self.memo.frame is None or headline is None:
            state = self.folding.state()
            now = item_memo.items_of(state, EVERY_ITEM, self.memo) if state else {}
            changed = calendar.advance(self.items, now, at)
        else:
            now, gone = item_memo.touched_items(
                self.memo, *self.folding.touched_states(touched), calendar.Headline(*headline)
            )
            changed = calendar.advance_some(self.items, now, gone, at)
        for uid in changed:
            self.changed[uid] = self.items[uid]


SNAPSHOT_EVERY = 8
"""Events a stream takes in before its first snapshot is stored, and at least that many
between two: a cold read or append restores the snapshot and folds at most this many events
after it, or an eighth of the stream (`SNAPSHOT_SHARE`) when that is more. Reading and
folding the events of a stream costs ~10 µs an event, restoring its snapshot ~2 µs an event
(0.2 ms for 100 synthetic events, against 1.3 ms to read and fold them); compressed, a
snapshot is an eighth of its events' bytes (`incremental.SNAPSHOT_COMPRESSION`), so writing
one every 16 events of a stream adds about 1% to what the appends write. At 256, streams of
100 events never had one and every cold append read and folded its whole stream (~300/s)."""
SNAPSHOT_SHARE = 32
"""A snapshot costs what the state holds (100 ms for a stream of 20,000 milestones and
statements): writing one every eighth of the stream keeps that a small share of appends."""


def touches_rows(events: Iterable[AnyEvent]) -> bool:
    """Whether appending these may change a stream's facets or calendar items."""
    return any(isinstance(event, ROW_TYPES) for event in events)


def snapshot_due(model: StreamModel) -> bytes | None:
    """The model's folding as a snapshot to store, when it has gone far enough past the stored
    one (and is at the model's rows, not past them by an unsaved check)."""
    folding = model.folding
    gap = max(SNAPSHOT_EVERY, model.snapshot_version // SNAPSHOT_SHARE)
    if folding.version != model.version or model.version - model.snapshot_version < gap:
        return None
    body = folding.snapshot()
    if body is not None:
        model.snapshot_version = model.version
    return body


def batches(events: Sequence[StoredEvent]) -> Iterable[tuple[int, list[StoredEvent]]]:
    """(count so far, events) per recording instant, in position order."""
    count = 0
    for _at, batch in groupby(events, key=lambda stored: stored.recorded_at):
        chosen = list(batch)
        count += len(chosen)
        yield count, chosen


def replay(stream: str, events: Sequence[StoredEvent]) -> StreamModel:
    """The rows a stream's whole history leaves: what a rebuild writes and `verify` expects."""
    model = StreamModel(stream)
    for count, batch in batches(events):
        model.advance(events[:count], batch)
    return model
