"""Registered sources: immutable records with a fingerprinted text (both backends), and the
routes that register, read and list them."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from api_helpers import services_of
from helpers import announce
from litestar.testing import AsyncTestClient

from timeline import wire
from timeline.dates import PartialDate
from timeline.events import Source, TextQuote
from timeline.sources import (
    TEXT_MAX_BYTES,
    SourceConflictError,
    SourceLine,
    SourceRegistration,
    UnknownSourceError,
    fingerprint,
    normalised,
    record_of,
    slug_of,
)
from timeline.store import EventStore, open_store, verify
from timeline.transfer import ImportLineError, export_lines, import_file, import_lines

SEEDS = Path(__file__).parent / "fixtures" / "seeds"
TITLE = "Vodafone and Microsoft sign 10-year strategic partnership"
CURATED = ["telefonica-microsoft-en", "vodafone-microsoft-en", "vodafone-microsoft-fr"]
"""The articles the curated data registers (each `events/*.ndjson` begins with those it cites)."""


def registration(**fields: Any) -> SourceRegistration:
    given = {"title": TITLE, "language": "en", **fields}
    return msgspec.convert(given, SourceRegistration, dec_hook=wire.dec_hook)


def test_the_fingerprint_is_of_the_words_not_their_spacing_or_composition() -> None:
    spaced = "La nouvelle société\u00a0«\u202fattirera\u202f»\n\n  des clients"
    plain = "La nouvelle socie\u0301te\u0301 « attirera » des clients"
    assert normalised(spaced) == "La nouvelle société « attirera » des clients"
    assert fingerprint(spaced) == fingerprint(plain)
    assert fingerprint(spaced) != fingerprint(plain.replace("des", "ses"))
    assert slug_of("Télefónica & Microsoft: « Cloud » 2023!") == "telefonica-microsoft-cloud-2023"


async def test_a_source_is_registered_once_and_replayed_as_it_was(store: EventStore) -> None:
    text = (SEEDS / "000_63054e1fb7fe6de0.txt").read_text()
    asked = registration(
        headline=True,
        publisher="Microsoft News",
        url="https://news.microsoft.com/2024/01/16/vodafone",
        published="2024-01-16",
        text=text,
    )
    stored, created = await store.sources.register(asked, actor="curator")
    assert created
    assert stored.id == "vodafone-and-microsoft-sign-10-year-strategic-partnership"
    assert stored.sha256 == fingerprint(text)
    assert stored.published == PartialDate.parse("2024-01-16")
    again, created = await store.sources.register(asked, actor="someone-else")
    assert not created
    assert again == stored  # who and when of the first registration
    assert await store.sources.get(stored.id) == stored
    other, created = await store.sources.register(registration(language="fr"), actor="curator")
    assert created
    assert other.id == f"{stored.id}-2"  # titled alike, not the same source


async def test_a_taken_id_is_a_conflict_and_a_correction_supersedes_once(
    store: EventStore,
) -> None:
    first, _ = await store.sources.register(registration(id="vm-en"), actor="curator")
    with pytest.raises(SourceConflictError, match="other content") as caught:
        await store.sources.register(registration(id="vm-en", language="fr"), actor="curator")
    assert caught.value.holder == "vm-en"
    fixed, _ = await store.sources.register(
        registration(id="vm-en-2", supersedes="vm-en", publisher="Microsoft"), actor="curator"
    )
    assert await store.sources.superseded_by("vm-en") == "vm-en-2"
    assert await store.sources.superseded_by("vm-en-2") is None
    assert await store.sources.get("vm-en") == first  # the old one stays as it was
    with pytest.raises(SourceConflictError, match="superseded by 'vm-en-2' already"):
        await store.sources.register(registration(id="vm-en-3", supersedes="vm-en"), actor="c")
    with pytest.raises(UnknownSourceError, match="no source 'nowhere'"):
        await store.sources.register(registration(id="x", supersedes="nowhere"), actor="c")
    assert fixed.supersedes == "vm-en"


@pytest.mark.parametrize("sample", [1000, 2], ids=["rare-words-drive", "common-words-walk"])
async def test_pages_by_id_filtered_by_language_and_words(
    store: EventStore, sample: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same answers whichever way a search reads: from the words index when its rarest
    word is rare (fewer sources than the sample), else walking the sources by id."""
    monkeypatch.setattr("timeline.store.sources.WORD_SAMPLE", sample)
    for n, (title, language, publisher) in enumerate(
        [
            ("Cloud deal signed", "en", "Reuters"),
            ("Accord sur le cloud", "fr", "Les Echos"),
            ("Partnership 100% renewed", "en", None),
            ("Quarterly results", "en", "Cloud Weekly"),
        ]
    ):
        asked = registration(id=f"s{n}", title=title, language=language, publisher=publisher)
        await store.sources.register(asked, actor="curator")

    async def ids(**asked: Any) -> list[str]:
        given = {"words": None, "language": None, "after": None, **asked}
        found = await store.sources.page(**given)
        return [record.id for record in found]

    assert await ids(limit=10) == ["s0", "s1", "s2", "s3"]
    assert await ids(limit=2, after="s1") == ["s2", "s3"]
    assert await ids(limit=10, language="fr") == ["s1"]
    assert await ids(limit=10, words="CLOUD") == ["s0", "s1", "s3"]  # title or publisher
    assert await ids(limit=10, words="clo week") == ["s3"]  # each word begins one of its words
    assert await ids(limit=10, words="oud") == []  # the start of a word, not any part
    assert await ids(limit=10, words="100%") == ["s2"]  # a wildcard is no word
    assert await ids(limit=10, words="échos") == ["s1"]  # with or without accents
    assert await ids(limit=10, words="_") == ["s0", "s1", "s2", "s3"]  # no word: no filter
    assert await ids(limit=1, words="cloud", after="s0") == ["s1"]  # a page after a cursor
    assert await ids(limit=10, words="cloud", after="s1", language="en") == ["s3"]
    assert await ids(limit=10, words="cloud nowhere") == []  # a word no source has


async def test_the_database_refuses_to_change_a_source(store: EventStore, store_url: str) -> None:
    await store.sources.register(registration(id="kept"), actor="curator")
    if store_url.startswith("sqlite"):
        path = store_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as conn, pytest.raises(sqlite3.IntegrityError):
            conn.execute("UPDATE sources SET title = 'forged' WHERE id = 'kept'")
        with sqlite3.connect(path) as conn, pytest.raises(sqlite3.IntegrityError):
            conn.execute("DELETE FROM sources")
        return
    conn = await asyncpg.connect(store_url)
    try:
        with pytest.raises(asyncpg.RaiseError, match="sources are immutable"):
            await conn.execute("UPDATE sources SET title = 'forged'")
        with pytest.raises(asyncpg.RaiseError, match="sources are immutable"):
            await conn.execute("TRUNCATE sources")
    finally:
        await conn.close()


async def test_concurrent_registrations_of_one_title_take_distinct_ids(store: EventStore) -> None:
    asked = [registration(publisher=f"Outlet {n}") for n in range(5)]
    stored = await asyncio.gather(*(store.sources.register(a, actor="c") for a in asked))
    assert sorted(record.id for record, _ in stored) == sorted(
        [slug_of(TITLE), *(f"{slug_of(TITLE)}-{n}" for n in range(2, 6))]
    )


# --- the routes -------------------------------------------------------------------------


async def test_post_get_and_list_sources(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    text = (SEEDS / "001_30cf3419a4757e4c.txt").read_text()
    body = {
        "id": "vm-fr",
        "title": "Vodafone et Microsoft signent un partenariat",
        "headline": True,
        "publisher": "Microsoft",
        "url": "https://news.microsoft.com/fr-fr/vodafone",
        "published": "2024-01",
        "language": "fr",
        "text": text,
    }
    created = await client.post("/sources", json=body, headers=auth)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/sources/vm-fr"
    answer = created.json()
    assert answer["sha256"] == fingerprint(text)
    assert answer["actor"] == "pipeline"
    assert "text" not in answer  # the text is read at its own address
    assert (await client.post("/sources", json=body, headers=auth)).status_code == 200
    one = (await client.get("/sources/vm-fr")).json()
    assert one["text"] == text
    assert one["superseded_by"] is None
    assert one["published"] == "2024-01"
    fixed = {**body, "id": "vm-fr-2", "supersedes": "vm-fr", "published": "2024-01-16"}
    assert (await client.post("/sources", json=fixed, headers=auth)).status_code == 201
    assert (await client.get("/sources/vm-fr")).json()["superseded_by"] == "vm-fr-2"
    page = (await client.get("/sources?language=fr&q=signent+PARTENARIAT&limit=1")).json()
    assert [s["id"] for s in page["sources"]] == ["vm-fr"]
    assert all("text" not in s for s in page["sources"])
    assert page["next"] is not None
    second = (await client.get(page["next"])).json()
    assert [s["id"] for s in second["sources"]] == ["vm-fr-2"]
    assert second["next"] is None


@pytest.mark.parametrize(
    ("fields", "status", "path"),
    [
        ({"url": "javascript:alert(1)"}, 422, "$.url"),
        ({"url": "/relative"}, 422, "$.url"),
        ({"text": "x" * (TEXT_MAX_BYTES + 1)}, 422, "$.text"),
        ({"text": " \u00a0\n"}, 422, "$.text"),
        ({"language": "qq"}, 422, "$.language"),
        ({"published": "2024-13"}, 422, "$.published"),
        ({"title": ""}, 422, "$.title"),
        ({"id": "Not A Slug"}, 422, "$.id"),
        ({"headlin": True}, 422, "$.headlin"),
        ({"supersedes": "nowhere"}, 422, "$.supersedes"),
        ({"text": "a\u0000b"}, 422, "$.text"),
        ({"title": "two\nlines"}, 422, "$.title"),
    ],
    ids=[
        "javascript link",
        "relative link",
        "text over 1 MB",
        "blank text",
        "unknown language",
        "bad date",
        "empty title",
        "bad id",
        "unknown field",
        "supersedes nothing",
        "NUL in the text",
        "line break in the title",
    ],
)
async def test_bad_registrations_name_the_field(
    client: AsyncTestClient[Any],
    auth: dict[str, str],
    fields: dict[str, Any],
    status: int,
    path: str,
) -> None:
    before = (await client.get("/sources")).json()["sources"]
    assert [s["id"] for s in before] == CURATED
    answer = await client.post(
        "/sources", json={"title": TITLE, "language": "en", **fields}, headers=auth
    )
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert [e["path"] for e in answer.json()["errors"]] == [path]
    assert (await client.get("/sources")).json()["sources"] == before


async def test_registering_needs_the_append_scope_and_reading_an_unknown_source_is_404(
    client: AsyncTestClient[Any],
) -> None:
    body = {"title": TITLE, "language": "en"}
    assert (await client.post("/sources", json=body)).status_code == 401
    secret = await services_of(client).tokens.create_token("reader", ("read",))
    reader = {"Authorization": f"Bearer {secret}"}
    assert (await client.post("/sources", json=body, headers=reader)).status_code == 403
    missing = await client.get("/sources/nowhere")
    assert missing.status_code == 404
    assert "nowhere" in missing.json()["detail"]
    assert (await client.get("/sources/Bad_Id")).status_code == 400
    assert (await client.get("/sources?limit=0")).status_code == 400


async def test_a_taken_id_answers_409_naming_the_holder(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    body = {"id": "vm", "title": TITLE, "language": "en"}
    assert (await client.post("/sources", json=body, headers=auth)).status_code == 201
    taken = await client.post("/sources", json={**body, "language": "fr"}, headers=auth)
    assert taken.status_code == 409
    assert taken.json()["holder"] == "vm"
    assert "supersedes" in taken.json()["detail"]


async def test_verify_finds_a_text_changed_behind_its_fingerprint(
    store: EventStore, store_url: str
) -> None:
    text = (SEEDS / "002_13eb816a9ec96373.txt").read_text()
    await store.sources.register(registration(id="tm", text=text), actor="curator")
    await store.sources.register(registration(id="tm-2", supersedes="tm"), actor="curator")
    clean = await verify(store)
    assert (clean.sources, clean.problems) == (2, [])
    forged = text.replace("Telefónica", "Telefonica")
    if store_url.startswith("sqlite"):
        with sqlite3.connect(store_url.removeprefix("sqlite:///")) as conn:
            conn.execute("DROP TRIGGER sources_no_update")  # as a hand on the file could
            conn.execute("UPDATE sources SET text = ? WHERE id = 'tm'", (forged,))
            orphan = record_of(
                registration(id="orphan", supersedes="gone"),
                "orphan",
                registered_at=datetime.now(UTC),
                actor="hand",
            )
            conn.execute(
                "INSERT INTO sources (id, language, title, registered_at, body, supersedes)"
                " VALUES ('orphan', 'en', 'x', '2026', ?, 'gone')",
                (wire.encode(orphan),),
            )
        expected = [
            "source tm: its text is not the one fingerprinted",
            "source orphan: supersedes 'gone', which is not registered",
        ]
    else:
        conn = await asyncpg.connect(store_url)
        try:
            await conn.execute("ALTER TABLE sources DISABLE TRIGGER sources_no_change")
            await conn.execute("UPDATE sources SET text = $1 WHERE id = 'tm'", forged)
        finally:
            await conn.close()
        expected = ["source tm: its text is not the one fingerprinted"]
    assert (await verify(store)).problems == expected


async def test_an_export_carries_the_sources_before_the_events_that_cite_them(
    store: EventStore, tmp_path: Path
) -> None:
    """A store's export imported into an empty store registers its sources as they were
    (time and actor kept) before any event cites them; importing it again changes nothing."""
    text = (SEEDS / "000_63054e1fb7fe6de0.txt").read_text()
    await store.sources.register(registration(id="zz-first", text=text), actor="curator")
    await store.sources.register(registration(id="aa-fix", supersedes="zz-first"), actor="c")
    await store.sources.register(registration(id="unused"), actor="curator")
    quote = TextQuote(exact="more than 300 million businesses")
    cited = Source(title=TITLE, language="en", source="zz-first", quote=quote)
    await store.append("vm", [msgspec.structs.replace(announce(), sources=(cited,))], actor="a")
    whole = b"".join([line async for line in export_lines(store)])
    one = b"".join([line async for line in export_lines(store, "vm")])
    assert [line[:22] for line in one.splitlines()][:1] == [b'{"source":{"id":"zz-fi']
    assert one.count(b'{"source":') == 1  # what the stream cites, not every source
    lines = whole.splitlines()
    ids = [msgspec.json.decode(line)["source"]["id"] for line in lines[:3]]
    assert ids.index("zz-first") < ids.index("aa-fix")  # what it supersedes first
    assert b'"position":{"start":' in lines[3]
    other = await open_store(f"sqlite:///{tmp_path / 'copy.db'}")
    try:
        report = await import_lines(other, whole.splitlines(keepends=True))
        assert (report.sources, report.appended) == (3, 1)
        assert await other.sources.get("zz-first") == await store.sources.get("zz-first")
        assert b"".join([line async for line in export_lines(other)]) == whole
        again = await import_lines(other, whole.splitlines(keepends=True))
        assert (again.sources, again.replayed) == (0, 1)
    finally:
        await other.close()


async def test_an_imported_source_that_is_not_what_it_says_is_refused(
    store: EventStore, tmp_path: Path
) -> None:
    record = record_of(
        registration(id="s", text="Words"), "s", registered_at=datetime.now(UTC), actor="c"
    )
    forged = msgspec.structs.replace(record, text="Other words")
    path = tmp_path / "forged.ndjson"
    path.write_bytes(wire.encode(SourceLine(source=forged)) + b"\n")
    with pytest.raises(ImportLineError, match=r"forged\.ndjson:1: not the fingerprint"):
        await import_file(store, path)
    assert await store.sources.get("s") is None


async def test_verify_finds_a_quote_no_longer_where_it_was_found(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    store = await open_store(f"sqlite:///{path}")
    try:
        text = (SEEDS / "000_63054e1fb7fe6de0.txt").read_text()
        await store.sources.register(registration(id="vm", text=text), actor="curator")
        quote = TextQuote(exact="more than 300 million businesses")
        cited = Source(title=TITLE, language="en", source="vm", quote=quote)
        await store.append("vm", [msgspec.structs.replace(announce(), sources=(cited,))], actor="a")
        assert (await verify(store)).problems == []
        with sqlite3.connect(path) as conn:
            conn.execute("DROP TRIGGER sources_no_update")
            conn.execute("UPDATE sources SET text = 'Moved: ' || text WHERE id = 'vm'")
        found = (await verify(store)).problems
        assert "source vm: its text is not the one fingerprinted" in found
        assert any(p.startswith("vm v1 sources[0]: the quote is at ") for p in found), found
    finally:
        await store.close()
