"""The curated streams in events/: complete, sourced, and reproduced byte for byte."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from timeline.events import StatementMade
from timeline.fold import check, fold
from timeline.money import Money
from timeline.store import EventStore
from timeline.transfer import export_lines, import_file, load_curated

EVENTS = Path(__file__).resolve().parent.parent / "events"
VODAFONE = "vodafone-microsoft"
TELEFONICA = "telefonica-microsoft"


@pytest.fixture
async def curated(store: EventStore) -> EventStore:
    report = await load_curated(store, EVENTS)
    assert report is not None
    assert report.streams == 2
    return store


async def test_export_reproduces_the_files_byte_for_byte(curated: EventStore) -> None:
    """`timeline export STREAM` of a freshly loaded store gives back each file exactly."""
    for path in sorted(EVENTS.glob("*.ndjson")):
        exported = b"".join([line async for line in export_lines(curated, path.stem)])
        assert exported == path.read_bytes()


async def test_loading_is_once_and_reimport_is_idempotent(curated: EventStore) -> None:
    """An empty store loads events/ once; importing the same file again stores nothing."""
    total = (await curated.stats()).events
    assert await load_curated(curated, EVENTS) is None
    report = await import_file(curated, EVENTS / f"{VODAFONE}.ndjson")
    assert (report.appended, report.replayed) == (0, 13)
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
    assert any(s.text.startswith("La nouvelle société attirera") for s in french)
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
