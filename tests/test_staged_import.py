"""A staged import stores what run by run stores, or nothing at all (both backends)."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import msgspec
import pytest
from helpers import SOURCE, T0, achieved, announce, d, milestone, phase, recorded, started

from timeline.events import AnyEvent, Statement, StatementMade, StoredEvent
from timeline.formats import encode_export
from timeline.store import EventStore, NotStagedError, open_store, staged, token_registry, verify
from timeline.store.mapper import INSERT_COLUMNS, Query
from timeline.transfer import (
    ImportLineError,
    export_lines,
    import_lines,
    import_staged,
    load_curated,
)

EVENTS = Path(__file__).resolve().parent.parent / "events"


def interleaved(streams: int, runs: int = 3) -> list[bytes]:
    """`streams` partnerships of `runs` runs each, one run of each stream in turn, each run
    recorded a minute after the one before: how a pipeline's export interleaves them."""
    out: list[bytes] = []
    minute = 0
    for round_ in range(runs):
        for n in range(streams):
            minute += 1
            events = _shape(round_)
            at = [T0 + timedelta(minutes=minute)] * len(events)
            before = sum(len(_shape(r)) for r in range(round_))
            out.extend(
                encode_export(_at_version(stored, before + stored.version)) + b"\n"
                for stored in recorded(events, stream=f"s{n:03d}", at=at)
            )
    return out


def _shape(round_: int) -> list[AnyEvent]:
    """The facts of a stream's run in a round (new ids each time)."""
    return [
        [announce(), milestone("m1", due="2024-06"), phase("p1")],
        [started("p1"), _said("the first words"), milestone("m2", due="2025")],
        [achieved("m1", effective="2024-05-02"), _said("more words")],
    ][round_ % 3]


def _said(words: str) -> StatementMade:
    return StatementMade(
        effective=d("2024-03-01"),
        sources=(SOURCE,),
        data=Statement(speaker="A spokesperson", text=words, language="en"),
    )


def _at_version(stored: StoredEvent, version: int) -> StoredEvent:
    return msgspec.structs.replace(stored, version=version, position=version)


async def _exported(store: EventStore) -> bytes:
    return b"".join([line async for line in export_lines(store)])


async def _run_by_run(tmp_path: Path, lines: list[bytes]) -> bytes:
    reference = await open_store(f"sqlite:///{tmp_path / 'reference.db'}")
    try:
        await import_lines(reference, lines)
        return await _exported(reference)
    finally:
        await reference.close()


def _file(tmp_path: Path, lines: list[bytes]) -> Path:
    path = tmp_path / "import.ndjson"
    path.write_bytes(b"".join(lines))
    return path


def _as_v1(line: bytes) -> bytes:
    """A statement's line as schema version 1 wrote it (`quote`, `lang`)."""
    raw = json.loads(line)
    data = raw["data"]
    raw["data"] = {"speaker": data["speaker"], "quote": data["text"], "lang": data["language"]}
    return json.dumps({**raw, "schema_version": 1}).encode() + b"\n"


async def test_a_line_in_an_older_schema_within_a_run_is_upcast_as_run_by_run_does(
    store: EventStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second stage reads heads only where a run starts or a line names an older schema."""
    monkeypatch.setattr(staged, "PARALLEL_BYTES", 1 << 40)  # folded here, where it is seen
    lines = [_as_v1(line) if b'"StatementMade"' in line else line for line in interleaved(12)]
    assert sum(b'"quote"' in line for line in lines) == 24
    report = await import_staged(store, _file(tmp_path, lines))
    assert report.appended == len(lines)
    exported = await _exported(store)
    assert exported == await _run_by_run(tmp_path, lines)
    assert exported.count(b'"text":"the first words"') == 12
    assert (await verify(store)).problems == []


@pytest.mark.parametrize("workers", [0, 2])
async def test_a_staged_import_stores_what_run_by_run_stores(
    store: EventStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """The same events at the same positions (the export is byte for byte the same), and read
    models and snapshots equal to a fresh replay, folded here or in worker processes."""
    monkeypatch.setattr(staged, "WORKERS", workers)
    monkeypatch.setattr(staged, "PARALLEL_BYTES", 1)  # workers even for a small file
    monkeypatch.setattr(staged, "BLOCK", 4000)  # several blocks of lines
    monkeypatch.setattr(staged, "PAGE", 50)  # several pages, in flight at once
    monkeypatch.setattr(staged, "INSERTED", 70)  # several batches
    lines = interleaved(40)
    report = await import_staged(store, _file(tmp_path, lines))
    assert (report.appended, report.streams) == (len(lines), 40)
    assert await _exported(store) == await _run_by_run(tmp_path, lines)
    found = await verify(store)
    assert found.problems == []
    assert (found.events, found.streams) == (len(lines), 40)
    state = await store.read_models.outline("s007", T0.date() + timedelta(days=900))
    assert state is not None
    assert state.title == "Vodafone–Microsoft"


@pytest.mark.parametrize("blocks", ["one block", "small blocks in workers"])
async def test_the_curated_data_imports_staged_as_it_was_recorded(
    store: EventStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, blocks: str
) -> None:
    """Corrections, retractions, uncertain dates and quotes of registered articles: exported
    from a store loaded run by run, imported staged into an empty one, the export is the same
    bytes, each quote checked where its position says and the citations index the same. In
    small blocks decoded by workers, the leading registered articles fill several blocks."""
    if blocks != "one block":
        monkeypatch.setattr(staged, "PARALLEL_BYTES", 1)
        monkeypatch.setattr(staged, "BLOCK", 4000)
    reference = await open_store(f"sqlite:///{tmp_path / 'curated.db'}")
    try:
        await load_curated(reference, EVENTS)  # the organizations last: they cite the articles
        exported = await _exported(reference)
        cited = await _citations(reference)
    finally:
        await reference.close()
    path = tmp_path / "curated.ndjson"
    path.write_bytes(exported)
    report = await import_staged(store, path)
    assert report.streams == 6  # two partnerships, four organizations
    assert await _exported(store) == exported
    assert await _citations(store) == cited
    assert len(cited["vodafone-microsoft-fr"]) >= 10
    assert (await verify(store)).problems == []


async def _citations(store: EventStore) -> dict[str, list[tuple[int, int, str | None]]]:
    """Each registered source's citations: (position, which citation, the words quoted)."""
    found: dict[str, list[tuple[int, int, str | None]]] = {}
    for record in await store.sources.page(words=None, language=None, after=None, limit=50):
        page = await store.sources.citations(record.id, after=0, limit=500)
        found[record.id] = [
            (stored.position, n, quote.exact if (quote := stored.event.sources[n].quote) else None)
            for n, stored in page
        ]
    return found


def _forged(quoted: dict[str, Any]) -> dict[str, Any]:
    return {**quoted, "position": {"start": 0, "end": len(quoted["quote"]["exact"])}}


def _unplaced(quoted: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in quoted.items() if key != "position"}


@pytest.mark.parametrize("change", [_forged, _unplaced], ids=["a forged position", "no position"])
async def test_a_quote_staged_cannot_bear_out_goes_run_by_run(
    store: EventStore, tmp_path: Path, change: Any
) -> None:
    """A quote whose position is not where its words are, or that states none, is not stored
    staged; run by run then names the line of the forged one, and anchors the other where
    the store found it before."""
    lines = (EVENTS / "vodafone-microsoft.ndjson").read_bytes().splitlines(keepends=True)
    event = json.loads(lines[4])
    stated = event["sources"][0]["position"]
    event["sources"][0] = change(event["sources"][0])
    lines[4] = json.dumps(event, ensure_ascii=False).encode() + b"\n"
    path = _file(tmp_path, lines)
    with pytest.raises(NotStagedError, match="not where its position says"):
        await import_staged(store, path)
    assert (await store.stats()).events == 0
    if change is _forged:
        # one run (one recording) from line 3: it is named, with the event, and none of it kept
        with pytest.raises(ImportLineError, match=r"import.ndjson:3: quote-not-in-source.*event"):
            await import_lines(store, lines, origin=str(path))
        assert (await store.stats()).events == 0
        return
    await import_lines(store, lines, origin=str(path))
    stored = [e async for e in store.read_stream("vodafone-microsoft")][2].event
    assert stored.sources[0].position is not None
    assert msgspec.to_builtins(stored.sources[0].position) == stated


def _without_recorded_at(lines: list[bytes]) -> list[bytes]:
    line = json.loads(lines[5])
    del line["recorded_at"]  # recorded when appended: now, after every line before it
    return [*lines[:5], json.dumps(line).encode() + b"\n", *lines[6:]]


def _refused_fact(lines: list[bytes]) -> list[bytes]:
    bad = recorded([achieved("never")], stream="s001", at=[T0 + timedelta(days=1)])[0]
    version = sum(b'"stream":"s001"' in line for line in lines) + 1
    return [*lines, encode_export(_at_version(bad, version)) + b"\n"]


def _recorded(lines: list[bytes], at: str) -> list[bytes]:
    """The last line recorded at `at` instead (its stream's run goes on, its order may not)."""
    line = json.loads(lines[-1])
    line["recorded_at"] = at
    return [*lines[:-1], json.dumps(line).encode() + b"\n"]


def _recorded_earlier(lines: list[bytes]) -> list[bytes]:
    first = json.loads(lines[0])["recorded_at"]
    return _recorded(lines, first.replace(first[:4], str(int(first[:4]) - 1), 1))


def _recorded_later_than_now(lines: list[bytes]) -> list[bytes]:
    return _recorded(lines, "2999-01-01T00:00:00.000001Z")


def _taken_id(lines: list[bytes]) -> list[bytes]:
    """A run of another stream carrying an event id stored before in the file."""
    twin = lines[0].replace(b'"stream":"s000"', b'"stream":"s999"')
    return [*lines, twin.replace(b'"recorded_at":"2024-01-16', b'"recorded_at":"2024-01-17')]


@pytest.mark.parametrize(
    ("spoil", "why"),
    [
        (_without_recorded_at, "has no recorded_at"),
        (_refused_fact, "^s001: .*never"),
        (_taken_id, "an event id is taken"),
        (_recorded_earlier, "recorded_at out of order"),
        (_recorded_later_than_now, "in the future"),
    ],
)
async def test_what_run_by_run_would_refuse_or_decide_stores_nothing(
    store: EventStore, tmp_path: Path, spoil, why: str
) -> None:
    """Anything the staged path would not store as run by run does rolls it all back, and
    run by run then gives its own answer."""
    lines = spoil(interleaved(4))
    with pytest.raises(NotStagedError, match=why):
        await import_staged(store, _file(tmp_path, lines))
    assert (await store.stats()).events == 0
    assert await store.streams() == []


async def test_no_line_may_speak_in_a_tokens_name(store: EventStore, tmp_path: Path) -> None:
    """An actor named as one of the store's tokens is refused run by run unless a replay; the
    staged path leaves that to it and stores nothing."""
    await token_registry(store).create_token("test", ("append",))  # the lines' actor
    with pytest.raises(NotStagedError, match="line 1: the actor is a token's name"):
        await import_staged(store, _file(tmp_path, interleaved(2)))
    assert (await store.stats()).events == 0


async def test_a_stream_the_store_holds_goes_run_by_run(store: EventStore, tmp_path: Path) -> None:
    """A stream with stored events is folded from them: staged refuses, run by run appends."""
    lines = interleaved(3)
    await import_lines(store, lines[:3])  # s000's first run
    before = await _exported(store)
    with pytest.raises(NotStagedError, match="holds stream 's000' already"):
        await import_staged(store, _file(tmp_path, lines))
    assert await _exported(store) == before
    report = await import_lines(store, lines)
    assert (report.replayed, report.appended) == (3, len(lines) - 3)


async def test_a_refused_fact_is_named_by_the_run_by_run_import_after(
    store: EventStore, tmp_path: Path
) -> None:
    """What a user sees: the line that is refused, the runs before it stored."""
    lines = _refused_fact(interleaved(4))
    with pytest.raises(NotStagedError):
        await import_staged(store, _file(tmp_path, lines))
    with pytest.raises(ImportLineError, match=rf"^<input>:{len(lines)}: "):
        await import_lines(store, lines)
    assert (await store.stats()).events == len(lines) - 1


async def _schema(store: EventStore) -> list[tuple[str, ...]]:
    """The schema's objects as the database keeps them (SQLite: every one, with its SQL)."""
    recorder = store.recorder  # type: ignore[attr-defined]
    if recorder.dialect.bulk_paused is None:
        return []
    rows = await recorder.fetch(
        Query(recorder.dialect, "SELECT type, name, sql FROM sqlite_master ORDER BY name")
    )
    return [tuple(row) for row in rows]


@pytest.mark.parametrize(
    "outcome", ["stored", "refused while inserting events", "refused while folding"]
)
async def test_what_a_staged_import_drops_while_it_writes_is_back_when_it_ends(
    store: EventStore, tmp_path: Path, outcome: str
) -> None:
    """The events' sequence triggers (while events are inserted) and the read models' indexes
    (while streams are folded) are dropped inside the import's transaction and made again
    before it commits; a refused import rolls the drop back with the rest. Either way the
    schema is what it was, and the triggers still refuse."""
    before = await _schema(store)
    spoil = {"stored": list, "refused while inserting events": _taken_id}
    lines = spoil.get(outcome, _refused_fact)(interleaved(6))
    if outcome == "stored":
        await import_staged(store, _file(tmp_path, lines))
    else:
        with pytest.raises(NotStagedError):
            await import_staged(store, _file(tmp_path, lines))
    assert await _schema(store) == before
    if store.recorder.dialect.bulk_paused is not None:  # type: ignore[attr-defined]
        assert {"events_gapless", "events_no_replace", "facets_by_value"} <= {
            row[1] for row in before
        }
    if outcome == "stored":  # a row out of sequence is refused as before the import
        stored = (await store.stats()).events
        with pytest.raises(Exception, match="out of sequence"):
            await _insert_a_copy_at(store, stored + 5)
        assert (await store.stats()).events == stored
    assert (await verify(store)).problems == []


async def _insert_a_copy_at(store: EventStore, position: int) -> None:
    """A stored event's row as the first of a new stream, at `position`."""
    async with store.recorder.transaction() as tx:  # type: ignore[attr-defined]
        query = Query(tx.dialect, f"SELECT {INSERT_COLUMNS} FROM events LIMIT 1")  # noqa: S608
        row = (await tx.fetch(query))[0]
        await tx.insert_rows([(position, tx.dialect.event_id(uuid4()), "new", 1, *row[4:])])


async def test_a_gap_the_paused_triggers_would_have_refused_is_found_after_the_inserts(
    store: EventStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the triggers paused the written range is checked once: a batch that never
    reached the table (a bug) leaves a gap, and nothing is stored."""
    monkeypatch.setattr(staged, "INSERTED", 10)
    batches = 0
    store_batch = staged._Stage._store

    async def losing_one(self: staged._Stage) -> None:
        nonlocal batches
        batches += 1
        if batches == 2:
            del self.batch[3]
        await store_batch(self)

    monkeypatch.setattr(staged._Stage, "_store", losing_one)
    with pytest.raises(NotStagedError, match=r"positions .* are not 1-|out of sequence"):
        await import_staged(store, _file(tmp_path, interleaved(6)))
    assert (await store.stats()).events == 0


def test_a_line_is_read_whole_at_its_offset_whatever_its_length(tmp_path: Path) -> None:
    lines = [b"a" * 10 + b"\n", b"b" * 5000 + b"\n", b"c" * 70000 + b"\n", b"", b"d" * 3]
    path = tmp_path / "lines"
    path.write_bytes(b"".join(lines))
    fd = os.open(path, os.O_RDONLY)
    try:
        offset = 0
        for line in lines:
            if line:
                assert staged._line_at(fd, offset) == line
            offset += len(line)
    finally:
        os.close(fd)
