"""No value from the data becomes markup or a script: hostile text in every field a page
shows, appended through the API, read in Chromium on every page."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from browser_helpers import browser_page, needs_browser
from server_helpers import Server, free_port, request

from timeline.events import PartnershipAnnounced, StatementMade
from timeline.formats import decode_event
from timeline.store import open_store, token_registry

PWN = "window.__pwned = (window.__pwned || 0) + 1"
HOSTILE = (
    f"'\"><script>{PWN}</script><img src=x onerror=\"{PWN}\"><svg onload='{PWN}'>"
    f"</title></textarea><a href='javascript:{PWN}'>x</a>{{{{7*7}}}}"
)
"""Breaks out of text, either quote of an attribute, a title, SVG; and a template's braces."""
LINK = "https://example.org/a?b='><script>window.__pwned=1</script>&c=\"x"
"""A web address whose query tries to leave its attribute."""
STREAM = "hostile-partnership"


def _text(name: str) -> str:
    return f"{name} {HOSTILE}"


def _source(n: int) -> dict[str, Any]:
    return {
        "title": _text(f"source {n}"),
        "language": "en",
        "publisher": _text("publisher"),
        "url": LINK,
        "excerpt": _text("excerpt"),
    }


def _events() -> list[dict[str, Any]]:
    sources = [_source(1)]
    parties = [
        {"org": "acme", "name": _text("Acme"), "role": _text("role")},
        {"org": "evil", "name": _text("Evil")},
    ]
    day = "2024-01-10"
    return [
        {"type": "PartnershipAnnounced", "effective": day, "sources": sources,
         "data": {"title": _text("title"), "parties": parties, "kind": _text("kind"),
                  "regions": [_text("region")], "summary": _text("summary")}},
        {"type": "PhaseScheduled", "effective": day, "sources": sources,
         "data": {"id": "p", "name": _text("phase"), "period": "2024/2025",
                  "goals": [_text("goal")]}},
        {"type": "MilestoneScheduled", "effective": day, "sources": sources,
         "data": {"id": "m", "title": _text("milestone"), "due": "2024-06",
                  "description": _text("description")}},
        {"type": "InvestmentCommitted", "effective": day, "sources": sources,
         "data": {"id": "i", "investor": "acme", "amount": {"amount": "5", "currency": "USD"},
                  "purpose": _text("purpose")}},
        {"type": "CommitmentMade", "effective": day, "sources": sources,
         "data": {"id": "c", "by": "acme", "to": "evil", "description": _text("commitment")}},
        {"type": "TargetSet", "effective": day, "sources": sources,
         "data": {"id": "t", "metric": _text("metric"), "value": "3", "unit": _text("unit"),
                  "comparator": ">"}},
        {"type": "FocusAreaDefined", "effective": day, "sources": sources,
         "data": {"id": "f", "name": _text("area"), "description": _text("area description"),
                  "objectives": [_text("objective")]}},
        {"type": "StatementMade", "effective": day, "sources": sources,
         "data": {"speaker": _text("speaker"), "text": _text("said"), "language": "en",
                  "role": _text("speaker role")}},
        {"type": "ForecastPublished", "effective": day, "sources": sources,
         "data": {"by": _text("forecaster"), "claim": _text("claim")}},
        {"type": "BackgroundNoted", "effective": day, "sources": sources,
         "data": {"text": _text("background"), "language": "en", "topic": _text("topic")}},
        {"type": "RiskIdentified", "effective": day, "sources": sources,
         "data": {"id": "r", "description": _text("risk"), "mitigations": [_text("mitigation")]}},
        {"type": "GovernanceEstablished", "effective": day, "sources": sources,
         "data": {"id": "g", "body": _text("board"), "responsibilities": [_text("duty")]}},
    ]  # fmt: skip


async def _seed(database_url: str) -> str:
    """A store with one event stored before links were checked (a `javascript:` source),
    and a token; the API refuses such a link now, but a page must not trust old rows."""
    store = await open_store(database_url)
    try:
        legacy = decode_event(
            b'{"type": "StatementMade", "effective": "2023-12-01", "sources": [{"title": '
            b'"old", "language": "en", "url": "javascript:window.__pwned=1"}], "data": '
            b'{"speaker": "legacy", "text": "stored long ago", "language": "en"}}'
        )
        assert isinstance(legacy, StatementMade)
        await store.append("legacy-partnership", [_announced(), legacy], actor="import")
        return await token_registry(store).create_token("writer", ("append", "read"))
    finally:
        await store.close()


def _organization(spun_off: str | None = None) -> list[dict[str, Any]]:
    """An organization whose every word is hostile, spun off from another that is too."""
    registered = {
        "type": "OrganizationRegistered", "effective": "2020", "sources": [_source(3)],
        "data": {"name": _text("organization"), "kind": _text("organization kind"),
                 "aliases": [_text(f"alias of {spun_off}")],
                 "identifiers": [{"scheme": "wikidata", "value": "Q42"}] if spun_off else []},
    }  # fmt: skip
    renamed = {"type": "OrganizationRenamed", "effective": "2022",
               "data": {"name": _text(f"renamed {spun_off}")}}  # fmt: skip
    spun = {"type": "OrganizationSpunOff", "effective": "2023",
            "data": {"parent": spun_off, "firmness": "planned", "due": "2024-04"}}  # fmt: skip
    return [registered, renamed, *([spun] if spun_off else [])]


def _announced() -> PartnershipAnnounced:
    event = decode_event(
        b'{"type": "PartnershipAnnounced", "effective": "2023-12-01", "data": {"title": '
        b'"Legacy", "parties": [{"org": "a", "name": "A"}, {"org": "b", "name": "B"}], '
        b'"kind": "k"}}'
    )
    assert isinstance(event, PartnershipAnnounced)
    return event


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Server]:
    token = asyncio.run(_seed(f"sqlite:///{tmp_path / 'served.db'}"))
    server = Server(tmp_path, free_port(), env={"TIMELINE_CURATED_DIR": ""})
    try:
        server.read_banner()
        server.wait_healthy()
        status, answer = request(
            f"{server.base}/partnerships/{STREAM}/events", body={"events": _events()}, token=token
        )
        assert status == 201, answer
        for org, more in (("evil", {}), ("acme", {"spun_off": "evil"})):
            status, answer = request(
                f"{server.base}/organizations/{org}/events", body={"events": _organization(**more)},
                token=token,
            )  # fmt: skip
            assert status == 201, answer
        bad = {"events": [{**_events()[1], "sources": [{**_source(2), "url": "javascript:1"}]}]}
        status, answer = request(
            f"{server.base}/partnerships/{STREAM}/events", body=bad, token=token
        )
        assert status == 422, answer
        assert answer["errors"][0]["path"] == "$.events[0].sources[0].url"
        yield server
    finally:
        server.stop()


@needs_browser
def test_hostile_values_stay_text_on_every_page(served: Server) -> None:
    """Every page that shows the hostile values runs no script of theirs, has no
    `javascript:` link, logs no console error, and shows the values as plain text."""
    timeline = f"/partnerships/{STREAM}/timeline"
    pages = [
        "/",
        f"/?q={quote(HOSTILE)}",
        f"/?region={quote(_text('region'))}",
        timeline,
        f"{timeline}?as_of=2024-03-01&since=2020-01-01T00:00:00Z",
        "/partnerships/legacy-partnership/timeline",
        f"/partnerships/legacy-partnership/timeline?as_of={quote(HOSTILE)}",
        f"{timeline}/milestone/m",  # a fact's lineage
        f"{timeline}/party/acme",
        f"{timeline}/risk/r?as_of=2024-03-01",
        f"{timeline}/{quote('<img src=x onerror=alert(1)>', safe='')}/m",  # no such kind
        "/organizations/acme/page",
        "/organizations/evil/page?as_of=2021-01-01",
    ]
    with browser_page() as (page, watched):
        for path in pages:
            answer = page.goto(f"{served.base}{path}")  # type: ignore[attr-defined]
            headers = answer.headers
            assert "script-src 'self'" in headers["content-security-policy"], path
            assert "frame-ancestors 'none'" in headers["content-security-policy"], path
            assert headers["x-content-type-options"] == "nosniff", path
            assert headers["referrer-policy"] == "no-referrer", path
            page.wait_for_load_state("load")  # type: ignore[attr-defined]
            assert page.evaluate("window.__pwned") is None, path  # type: ignore[attr-defined]
            links = page.eval_on_selector_all(  # type: ignore[attr-defined]
                "a[href]", "links => links.map(a => a.getAttribute('href'))"
            )
            assert [h for h in links if not h.startswith(("/", "#", "http", "webcal"))] == []
            assert page.locator("script:not([src])").count() == 0, path  # type: ignore[attr-defined]
            assert page.locator("[onerror], [onload]").count() == 0, path  # type: ignore[attr-defined]
        page.set_viewport_size({"width": 360, "height": 800})  # type: ignore[attr-defined]
        for path in ("/organizations/acme/page", timeline, "/guide/guides/append"):
            page.goto(f"{served.base}{path}")  # type: ignore[attr-defined]
            width = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
            assert width <= 360, (path, width)  # a long hostile word wraps, never widens
        page.set_viewport_size({"width": 1440, "height": 900})  # type: ignore[attr-defined]
        page.goto(f"{served.base}/organizations/acme/page")  # type: ignore[attr-defined]
        words = page.evaluate("document.body.textContent")  # type: ignore[attr-defined]
        for name in ("renamed evil", "organization", "organization kind", "alias of evil",
                     "renamed None"):  # fmt: skip
            assert _text(name) in words, name
        page.goto(f"{served.base}{timeline}")  # type: ignore[attr-defined]
        words = page.evaluate("document.body.textContent")  # type: ignore[attr-defined]
        for name in ("title", "Acme", "region", "summary", "phase", "milestone", "speaker",
                     "said", "excerpt", "source 1", "publisher", "risk", "board"):  # fmt: skip
            assert _text(name) in words, name
        sources = page.eval_on_selector_all(  # type: ignore[attr-defined]
            "details.sources a", "links => links.map(a => a.getAttribute('href'))"
        )
        assert set(sources) == {LINK}
        lineage_links = page.eval_on_selector_all(  # type: ignore[attr-defined]
            "a.history", "links => links.map(a => a.getAttribute('href'))"
        )
        assert f"{timeline}/milestone/m?as_of=" in " ".join(lineage_links)
        page.goto(f"{served.base}{timeline}/milestone/m")  # type: ignore[attr-defined]
        history = page.evaluate("document.body.textContent")  # type: ignore[attr-defined]
        for name in ("milestone", "description", "source 1", "excerpt"):
            assert _text(name) in history, name
        page.goto(f"{served.base}/partnerships/legacy-partnership/timeline")  # type: ignore[attr-defined]
        legacy = page.evaluate("document.body.textContent")  # type: ignore[attr-defined]
        assert "link not shown: javascript:window.__pwned=1" in legacy
    assert watched.page_errors == []
    assert [e for e in watched.console_errors if "status of 400" not in e] == []
