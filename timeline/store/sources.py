"""Registered sources kept beside the events, written once for every SQL backend.

A source row is never updated or deleted (the backends' triggers refuse it, as for
events); registering under a taken id is a replay when it says the same, else a conflict.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import msgspec

from timeline import wire
from timeline.events import StoredEvent
from timeline.readside.readmodels import search_words
from timeline.sources import (
    SourceConflictError,
    SourceRecord,
    SourceRegistration,
    UnknownSourceError,
    candidate_ids,
    record_of,
)
from timeline.store import mapper
from timeline.store.mapper import Query
from timeline.store.read_models import PAST_EVERY_LETTER, WORD_SAMPLE

if TYPE_CHECKING:
    from timeline.store.recorder import Recorder, SQLTransaction

_decoder = msgspec.json.Decoder(SourceRecord, dec_hook=wire.dec_hook)
COLUMNS = "id, language, title, publisher, supersedes, registered_at, body, text"
"""`body` is the record without its text, which has a column of its own: a list reads no text."""
PAGE_MAX = 500


class SQLSources:
    """The registered sources of one store."""

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self._dialect = recorder.dialect

    async def register(
        self, registration: SourceRegistration, *, actor: str
    ) -> tuple[SourceRecord, bool]:
        """The record stored, and whether it is new (False: the same registration, replayed).

        Raises `SourceConflictError` when the id it names holds another registration or what
        it supersedes is superseded already, `UnknownSourceError` when that is not registered.
        """
        now = datetime.now(UTC)
        async with self._recorder.transaction() as tx:
            if registration.supersedes is not None:
                await self._supersedable(tx.fetch, registration.supersedes, "$.supersedes")
            for source_id in candidate_ids(registration):
                record = record_of(registration, source_id, registered_at=now, actor=actor)
                held = await self._one(tx.fetch, source_id)
                if held is None:
                    await self._insert_record(tx, record)
                    return record, True
                if held.same_registration(record):
                    return held, False
                if registration.id is not None:
                    raise SourceConflictError(
                        f"source {source_id!r} is registered with other content; sources are"
                        " immutable: register the correction under another id with"
                        f' "supersedes": "{source_id}"',
                        source_id,
                    )
        raise SourceConflictError(f"too many sources titled like {registration.title!r}", None)

    async def restore(self, record: SourceRecord) -> bool:
        async with self._recorder.transaction() as tx:
            held = await self._one(tx.fetch, record.id)
            if held is not None:
                if held != record:
                    raise SourceConflictError(
                        f"source {record.id!r} is registered here with other content", record.id
                    )
                return False
            if record.supersedes is not None:
                await self._supersedable(tx.fetch, record.supersedes, "$.source.supersedes")
            await self._insert_record(tx, record)
            return True

    async def citations(
        self, source_id: str, *, after: int, limit: int
    ) -> list[tuple[int, StoredEvent]]:
        """(which of its sources, the event) for each event citing the source after position
        `after`, in position order: by the citations index, never a scan of the events."""
        q = Query(self._dialect)
        columns = ", ".join(f"e.{column.strip()}" for column in mapper.COLUMNS.split(","))
        q.sql = (
            f"SELECT c.citation, {columns} FROM citations c"
            " JOIN events e ON e.position = c.position"
            f" WHERE c.source = {q.param(source_id)} AND c.position > {q.param(after)}"
            f" ORDER BY c.position, c.citation LIMIT {q.param(min(limit, PAGE_MAX))}"
        )
        rows = await self._recorder.fetch(q)
        cited = [tuple(row) for row in rows]
        return [(int(row[0]), mapper.from_row(row[1:], self._dialect)) for row in cited]

    async def get(self, source_id: str) -> SourceRecord | None:
        return await self._one(self._recorder.fetch, source_id)

    async def superseded_by(self, source_id: str) -> str | None:
        return await self._superseding(self._recorder.fetch, source_id)

    async def page(
        self, *, words: str | None, language: str | None, after: str | None, limit: int
    ) -> list[SourceRecord]:
        """Sources by id after `after`, of a language, each word of `words` the start of a word
        of the title or publisher (any case, with or without accents: `search_words`), by the
        words index; without their texts (`sha256` says whether there is one).

        The rarest word drives. Fewer than `WORD_SAMPLE` sources with it: those are read from
        the words index and paged (a word of one source reads one, not every source by id).
        More: the sources are walked by id and each checked, which stops at the page's end."""
        rarest = await self._rarest_first(sorted(set(search_words(words or ""))))
        if rarest is not None and not rarest:
            return []
        q = Query(self._dialect)  # parameters in the order the text takes them (SQLite's `?`)
        limit = min(limit, PAGE_MAX)
        if rarest and rarest[0][1] < WORD_SAMPLE:  # from the index: a few sources, then each
            kept = self._kept(q, language, [word for word, _count in rarest[1:]])
            hits = (
                f"SELECT DISTINCT source FROM source_words WHERE word >= {q.param(rarest[0][0])}"
                f" AND word < {q.param(rarest[0][0] + PAST_EVERY_LETTER)}"
            )
            if after is not None:
                hits += f" AND source > {q.param(after)}"
            q.sql = (
                "SELECT body FROM (SELECT hits.source, (SELECT s.body FROM sources s"
                f" WHERE s.id = hits.source{kept}) AS body FROM ({hits}) AS hits) AS found"
                f" WHERE body IS NOT NULL ORDER BY source LIMIT {q.param(limit)}"
            )
        else:  # every source by id, each checked, until the page is full
            past = "" if after is None else f" AND s.id > {q.param(after)}"
            kept = self._kept(q, language, [word for word, _count in rarest or []])
            q.sql = (
                f"SELECT s.body FROM sources s WHERE TRUE{past}{kept}"
                f" ORDER BY s.id LIMIT {q.param(limit)}"
            )
        return [_decoder.decode(bytes(row[0])) for row in await self._recorder.fetch(q)]

    @staticmethod
    def _kept(q: Query, language: str | None, words: list[str]) -> str:
        """The conditions on a source `s` of `language` with each of `words`. Each word is a
        subquery per source, never a join: a generic plan joins by sorting every match."""
        kept = "" if language is None else f" AND s.language = {q.param(language)}"
        for word in words:
            kept += (
                f" AND (SELECT 1 FROM source_words w WHERE w.source = s.id"
                f" AND w.word >= {q.param(word)}"
                f" AND w.word < {q.param(word + PAST_EVERY_LETTER)} LIMIT 1) IS NOT NULL"
            )
        return kept

    async def _rarest_first(self, words: list[str]) -> list[tuple[str, int]] | None:
        """Each word with how many words of the index it begins (counted up to
        `WORD_SAMPLE`), rarest first; [] when one begins none (nothing can match); None for
        no words. An index range in key order, so no plan reads every match to count them."""
        if not words:
            return None
        q = Query(self._dialect)
        q.sql = "SELECT " + ", ".join(
            f"(SELECT COUNT(*) FROM (SELECT 1 FROM source_words WHERE word >= {q.param(word)}"
            f" AND word < {q.param(word + PAST_EVERY_LETTER)} ORDER BY word"
            f" LIMIT {WORD_SAMPLE}) AS c{n})"
            for n, word in enumerate(words)
        )
        counts = [int(count) for count in (await self._recorder.fetch(q))[0]]
        if 0 in counts:
            return []
        return sorted(zip(words, counts, strict=True), key=lambda pair: (pair[1], pair[0]))

    async def _supersedable(self, fetch: Fetch, source_id: str, path: str) -> None:
        """Raise unless `source_id` is registered and superseded by nothing yet."""
        if await self._one(fetch, source_id) is None:
            raise UnknownSourceError(source_id, path)
        holder = await self._superseding(fetch, source_id)
        if holder is not None:
            raise SourceConflictError(
                f"source {source_id!r} is superseded by {holder!r} already; supersede that one"
                " instead",
                holder,
            )

    async def _one(self, fetch: Fetch, source_id: str) -> SourceRecord | None:
        q = Query(self._dialect)
        q.sql = f"SELECT body, text FROM sources WHERE id = {q.param(source_id)}"
        rows = await fetch(q)
        if not rows:
            return None
        body, text = rows[0]
        record = _decoder.decode(bytes(body))
        return record if text is None else msgspec.structs.replace(record, text=str(text))

    async def _superseding(self, fetch: Fetch, source_id: str) -> str | None:
        q = Query(self._dialect)
        q.sql = f"SELECT id FROM sources WHERE supersedes = {q.param(source_id)}"
        rows = await fetch(q)
        return str(rows[0][0]) if rows else None

    async def _insert_record(self, tx: SQLTransaction, record: SourceRecord) -> None:
        await tx.run(self._insert(), [self._row(record)])
        named = f"{record.title} {record.publisher or ''}"
        words = sorted(set(search_words(named)))
        if words:
            p = self._dialect.placeholder
            await tx.run(
                f"INSERT INTO source_words (word, source) VALUES ({p(1)}, {p(2)})",
                [(word, record.id) for word in words],
            )

    def _insert(self) -> str:
        values = ", ".join(self._dialect.placeholder(n) for n in range(1, 9))
        return f"INSERT INTO sources ({COLUMNS}) VALUES ({values})"

    def _row(self, record: SourceRecord) -> tuple[object, ...]:
        return (
            record.id,
            record.language,
            record.title,
            record.publisher,
            record.supersedes,
            self._dialect.instant(record.registered_at),
            wire.encode(msgspec.structs.replace(record, text=None)),
            record.text,
        )


if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from timeline.store.mapper import Row

    Fetch = Callable[[Query], Awaitable[list[Row]]]
