"""The curated streams in events/: complete, sourced, and reproduced byte for byte."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from curated_facts import PASSAGES

from timeline.events import BackgroundNoted, InvestmentCommitted, StatementMade
from timeline.fold import check, fold
from timeline.money import Money
from timeline.quotes import ELISION
from timeline.sources import fingerprint, normalised
from timeline.store import EventStore
from timeline.transfer import export_lines, import_file, load_curated

EVENTS = Path(__file__).resolve().parent.parent / "events"
SEEDS = Path(__file__).resolve().parent / "fixtures" / "seeds"
ORGANIZATIONS = "organizations"
"""`events/organizations.ndjson`: the organizations the partnerships name, loaded last."""
"""The three source articles (a copy of ../shared/seeds/), to read the curated data against."""
VODAFONE = "vodafone-microsoft"
TELEFONICA = "telefonica-microsoft"


@pytest.fixture
async def curated(store: EventStore) -> EventStore:
    report = await load_curated(store, EVENTS)
    assert report is not None
    assert report.streams == 6  # two partnerships, four organizations
    return store


async def test_export_reproduces_the_files_byte_for_byte(curated: EventStore) -> None:
    """`timeline export STREAM` of a freshly loaded store gives back each file exactly: the
    registered articles the stream cites, then its events."""
    for path in sorted(EVENTS.glob("*.ndjson")):
        if path.stem == ORGANIZATIONS:  # its streams cite the articles the others register
            continue
        exported = b"".join([line async for line in export_lines(curated, path.stem)])
        assert exported == path.read_bytes()
    organizations = path.with_stem(ORGANIZATIONS).read_bytes().splitlines(keepends=True)
    streams = dict.fromkeys(json.loads(line)["stream"] for line in organizations)
    exported = [
        line
        for stream in streams
        async for line in export_lines(curated, stream)
        if not line.startswith(b'{"source":')
    ]
    assert sorted(exported) == sorted(organizations)
    whole = b"".join([line async for line in export_lines(curated)])
    assert sum(line.startswith(b'{"source":') for line in whole.splitlines()) == 3


async def test_loading_is_once_and_reimport_is_idempotent(curated: EventStore) -> None:
    """An empty store loads events/ once; importing the same file again stores nothing."""
    total = (await curated.stats()).events
    assert await load_curated(curated, EVENTS) is None
    report = await import_file(curated, EVENTS / f"{VODAFONE}.ndjson")
    assert (report.appended, report.replayed) == (0, 12)
    assert (await curated.stats()).events == total


async def test_vodafone_state_in_february_2024(curated: EventStore) -> None:
    """On 1 Feb 2024: USD 1.5 bn committed (~EUR 1.37 bn); IoT spin-off due by April, pending."""
    events = [e async for e in curated.read_stream(VODAFONE)]
    state = fold(events, as_of=date(2024, 2, 1))
    assert state is not None
    vodafone = next(i for i in state.investments if i.investor == "vodafone")
    assert vodafone.amount == Money(amount=Decimal(1500000000), currency="USD")
    assert vodafone.equivalents == (
        Money(amount=Decimal(1370000000), currency="EUR", approximate=True),
    )
    microsoft = next(i for i in state.investments if i.investor == "microsoft")
    assert microsoft.amount == "undisclosed"
    (iot,) = state.milestones
    assert (str(iot.due), iot.deadline, iot.status) == ("2024-04", date(2024, 4, 30), "pending")
    assert state.term is not None
    assert state.term.years == 10
    assert {p.org for p in state.parties} == {"vodafone", "microsoft"}
    later = fold(events, as_of=date(2024, 6, 1))
    assert later is not None
    assert later.milestones[0].status == "unreported"


async def test_sources_languages_and_quotes(curated: EventStore) -> None:
    """Every event cites its article; the French one is `fr`, its quotes stay in French."""
    events = [e async for e in curated.read_all()]
    assert all(e.event.sources for e in events)
    languages = {s.title: s.language for e in events for s in e.event.sources}
    assert languages["Vodafone et Microsoft conviennent d’un partenariat"] == "fr"
    french = [
        e.event.data
        for e in events
        if isinstance(e.event, StatementMade) and e.event.data.language == "fr"
    ]
    assert french == []  # « La nouvelle société attirera … » names no speaker: a citation's
    cited = [q.quote.exact for e in events for q in e.event.sources if q.quote is not None]
    assert any("« La nouvelle société attirera" in words for words in cited)
    speakers = {e.event.data.speaker for e in events if isinstance(e.event, StatementMade)}
    assert {"Margherita Della Valle", "Satya Nadella", "José María Álvarez-Pallete",
            "Judson Althoff", "Maria Rodriguez"} <= speakers  # fmt: skip


async def test_telefonica_phases_keep_the_article_precision(curated: EventStore) -> None:
    """2023-2024, 2025 and the open-ended 2026+ are phases at year precision."""
    events = [e async for e in curated.read_stream(TELEFONICA)]
    check(events)
    state = fold(events, as_of=date(2025, 6, 1))
    assert state is not None
    assert [(str(p.period), p.schedule) for p in state.phases] == [
        ("2023/2024", "past_window"),
        ("2025", "in_window"),
        ("2026/..", "upcoming"),
    ]
    revenue = next(f for f in state.forecasts if f.value is not None and f.value.is_money)
    assert (revenue.value.min, revenue.value.max, revenue.value.currency) == (
        Decimal(3_000_000_000),
        Decimal(5_000_000_000),
        "USD",
    )
    assert str(revenue.horizon) == "2027"
    (workloads,) = state.targets
    assert (workloads.value, workloads.comparator) == (Decimal(1_000_000), ">=")


def _flat(text: str) -> str:
    """An article with its list markers and line breaks as plain spaces."""
    return re.sub(r"\s+", " ", re.sub(r"(^|\n)(- |\d\. )", " ", text)).strip()


def _fragments(text: str) -> list[str]:
    """The verbatim pieces of a quote or excerpt: elisions `[…]` and list joins `; ` apart."""
    pieces = re.split(r"\[…\]|; ", text)
    return [piece.strip().rstrip(",").strip() for piece in pieces if piece.strip()]


def test_every_quote_narration_and_excerpt_is_in_its_article_word_for_word() -> None:
    """Statements, background and source excerpts are the articles' exact words (an elision
    marked `[…]`): nothing reworded, nothing joined that the article keeps apart."""
    articles = [_flat(path.read_text(encoding="utf-8")) for path in sorted(SEEDS.glob("*.txt"))]
    assert len(articles) == 3
    checked = 0
    for path in EVENTS.glob("*.ndjson"):
        for line in path.read_text(encoding="utf-8").splitlines():
            event = json.loads(line)
            if "source" in event:  # a registered article, not an event
                continue
            texts = [s["quote"]["exact"] for s in event.get("sources", ()) if s.get("quote")]
            if event["type"] in ("StatementMade", "BackgroundNoted"):
                texts.append(event["data"]["text"])
            for text in texts:
                for piece in _fragments(text):
                    assert any(piece in article for article in articles), (event["version"], piece)
                    checked += 1
    assert checked >= 45  # the curated data quotes this much


async def test_each_citation_is_the_words_of_the_registered_article_it_names(
    curated: EventStore,
) -> None:
    """Every citation names its registered article by id and quotes it, found where its
    position says in that article's text; each statement and narration is the words of the
    article it cites, each part between `[…]` in order, compared as quotes are (Unicode NFC,
    white space runs as one space). Nothing is cited by a free excerpt."""
    texts: dict[str, str] = {}
    for record in await curated.sources.page(words=None, language=None, after=None, limit=10):
        whole = await curated.sources.get(record.id)
        assert whole is not None
        assert whole.text is not None
        assert whole.sha256 == fingerprint(whole.text)
        texts[record.id] = normalised(whole.text)
    assert sorted(texts) == [
        "telefonica-microsoft-en",
        "vodafone-microsoft-en",
        "vodafone-microsoft-fr",
    ]
    quotes = narrations = 0
    async for stored in curated.read_all():
        event = stored.event
        where = (stored.stream, stored.version)
        for cited in event.sources:
            assert cited.source in texts, where
            assert cited.excerpt is None, where
            if cited.quote is not None:
                assert cited.position is not None, where
                text = texts[cited.source]
                assert text[cited.position.start : cited.position.end] == cited.quote.exact
                quotes += 1
        if isinstance(event, StatementMade | BackgroundNoted):
            source = event.sources[0].source
            assert source is not None
            assert _in_order(texts[source], event.data.text), where
            narrations += 1
    assert quotes >= 40  # the curated data quotes this much
    assert narrations >= 7


def _in_order(text: str, words: str) -> bool:
    at = 0
    for piece in ELISION.split(words):
        part = normalised(piece)
        if not part:
            continue
        at = text.find(part, at)
        if at < 0:
            return False
        at += len(part)
    return True


async def test_quotes_have_named_speakers_and_narration_is_background(
    curated: EventStore,
) -> None:
    """No statement is the article's own voice; its narration is `BackgroundNoted`."""
    events = [e.event async for e in curated.read_all()]
    speakers = {e.data.speaker for e in events if isinstance(e, StatementMade)}
    assert not any("article" in speaker for speaker in speakers)
    background = [e.data for e in events if isinstance(e, BackgroundNoted)]
    assert [(b.language, b.text[:30]) for b in background] == [
        ("en", "This partnership reflects broa"),
        ("fr", "Microsoft est actuellement con"),
    ]


async def test_the_undated_article_is_bounded_not_dated(curated: EventStore) -> None:
    """Telefónica's article gives no date. It plans phases for "2023-2024", so it was written
    by the end of 2024 at the latest, and that is all it supports: every fact is no later
    than 2024, holds on any earlier day and says so, and nothing claims a year of its own."""
    events = [e async for e in curated.read_stream(TELEFONICA)]
    assert {str(e.event.effective) for e in events} == {"../2024"}
    early = fold(events, as_of=date(2021, 6, 1))
    assert early is not None
    assert str(early.announced) == "../2024"
    assert early.announced.describe() == "no later than 2024"
    assert [p.schedule for p in early.phases] == ["upcoming"] * 3


async def test_unstated_fields_are_absent_and_the_term_runs_out_where_the_sources_put_it(
    curated: EventStore,
) -> None:
    """Vodafone's investment names no recipient, none being stated; Microsoft's goes to
    Vodafone's IoT platform, registered as an organization of its own (a planned spin-off, in
    `events/organizations.ndjson`); the USD 1.5 bn is "a substantial
    commitment" in English and "son intention d'investir" in French, so the record says what
    each says and, as firmness, what both support; "over the next decade" has no first or last
    day; the ten-year term from 16 January 2024 runs out after 15 January 2034."""
    events = [e async for e in curated.read_stream(VODAFONE)]
    investments = {
        e.event.data.id: e.event.data for e in events if isinstance(e.event, InvestmentCommitted)
    }
    cloud, iot = investments["vodafone-cloud-ai"], investments["microsoft-iot-platform"]
    assert (cloud.recipient, iot.recipient) == (None, "vodafone-iot-platform")
    assert "IoT" in iot.purpose
    assert cloud.firmness == "planned"
    assert [(s.source, s.firmness) for s in cloud.firmness_said] == [
        ("vodafone-microsoft-en", "committed"),
        ("vodafone-microsoft-fr", "planned"),
    ]
    assert str(cloud.period) == "2024-01~/2034-01~"
    assert iot.firmness == "planned"
    last = fold(events, as_of=date(2034, 1, 15))
    after = fold(events, as_of=date(2034, 1, 16))
    assert last is not None
    assert after is not None
    assert (last.term_ends, last.term_status) == (date(2034, 1, 15), "running")
    assert (after.term_status, after.status) == ("run_out", "active")  # nobody said it ended


async def test_a_fact_dated_by_the_french_article_cites_it(curated: EventStore) -> None:
    """The English Vodafone article gives no date; 16 January 2024 is the French article's
    (« ont annoncé les deux sociétés le 16 janvier 2024 »). Every fact dated that day cites it."""
    events = [e async for e in curated.read_stream(VODAFONE)]
    dated = [e for e in events if str(e.event.effective) == "2024-01-16"]
    assert len(dated) == len(events)
    for stored in dated:
        cited = {s.source for s in stored.event.sources}
        assert "vodafone-microsoft-fr" in cited, stored.version


async def test_risks_say_what_the_article_says_addresses_them(curated: EventStore) -> None:
    """The governance teams were set up "to address these challenges": each risk says so and
    cites it, without pairing a risk with one measure, which the article does not."""
    events = [e async for e in curated.read_stream(TELEFONICA)]
    state = fold(events, as_of=date(2025, 1, 1))
    assert state is not None
    assert len(state.risks) == 4
    for risk in state.risks:
        assert risk.mitigations == (
            "Joint governance teams, established to address these challenges",
        )
        quotes = [s.quote.exact for s in risk.sources if s.quote is not None]
        assert any("joint governance teams to address these challenges" in q for q in quotes)


def _straight(text: str) -> str:
    return normalised(text).replace("’", "'")


def _leaves(value: object, path: str) -> list[tuple[str, object]]:
    if isinstance(value, dict):
        return [leaf for key, inner in value.items() for leaf in _leaves(inner, f"{path}.{key}")]
    if isinstance(value, list):
        return [leaf for n, inner in enumerate(value) for leaf in _leaves(inner, f"{path}[{n}]")]
    return [(path, value)]


def _in_words(value: object, texts: list[str]) -> bool:
    """A field written as the article writes it: two words or more, found as they stand."""
    if not isinstance(value, str) or len(value.split()) < 2:
        return False
    return any(_straight(value) in text for text in texts)


SELF_EVIDENT = re.compile(r"(^|\.)(id|language)$")
"""Our own names for things (ids) and the language a quote is in."""


def test_nothing_in_events_is_stated_by_none_of_the_sources() -> None:
    """Each field of each curated event is either the words of an article it cites (two words
    or more, as written) or listed in `curated_facts.PASSAGES` with the words that state it, in
    an article it cites. Statements and narration are held to their words elsewhere. Every
    listed field is one the events have: the list is not stale."""
    texts: dict[str, str] = {}
    events: dict[tuple[str, int], dict[str, Any]] = {}
    for path in sorted(EVENTS.glob("*.ndjson")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if "source" in row:
                texts[row["source"]["id"]] = _straight(row["source"]["text"])
            else:
                events[(row["stream"], row["version"])] = row
    unlisted: list[tuple[str, int, str, object]] = []
    unfounded: list[tuple[str, int, str]] = []
    used: set[tuple[str, int, str]] = set()
    for (stream, version), row in events.items():
        cited = [texts[s["source"]] for s in row["sources"]]
        listed = {
            **{(0, p): words for p, words in PASSAGES.get((stream, 0), {}).items()},
            **{(version, p): words for p, words in PASSAGES.get((stream, version), {}).items()},
        }
        narration = row["type"] in ("StatementMade", "BackgroundNoted")
        for path, value in [("effective", row["effective"]), *_leaves(row["data"], "data")]:
            if SELF_EVIDENT.search(path) or (narration and path == "data.text"):
                continue
            if _in_words(value, cited):
                continue
            covering = [
                key
                for key in listed
                if key[1] == path or (key[1].endswith("*") and path.startswith(key[1][:-1]))
            ]
            if not covering:
                unlisted.append((stream, version, path, value))
            for key in covering:
                used.add((stream, *key))
                unfounded += [
                    (stream, version, words)
                    for words in listed[key]
                    if not any(_straight(words) in text for text in cited)
                ]
    assert unlisted == [], "fields no passage states"
    assert unfounded == [], "passages not in an article the event cites"
    stale = [
        (stream, version, path)
        for (stream, version), paths in PASSAGES.items()
        for path in paths
        if (stream, version, path) not in used
    ]
    assert stale == []
