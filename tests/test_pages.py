"""The pages people read, in a real browser against a real `timeline serve`: the index, a
partnership's timeline, its sliders, sources and permalink; nothing loaded from elsewhere.

Screenshots and timings go to `.artifacts/` (ignored by git), for people to look at."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from browser_helpers import browser_page, needs_browser
from litestar.testing import AsyncTestClient
from server_helpers import Server, request

ARTIFACTS = Path(__file__).resolve().parent.parent / ".artifacts"
VM = "/partnerships/vodafone-microsoft/timeline"
IOT = "IoT connectivity platform becomes a separate, independent company"


async def test_what_changed_since_an_instant_is_marked_item_by_item(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    before = datetime.now(UTC)
    event = {"type": "MilestoneAchieved", "effective": "2024-05-02",
             "data": {"id": "iot-platform-independent"}}  # fmt: skip
    stored = await client.post(
        "/partnerships/vodafone-microsoft/events", json={"events": [event]}, headers=auth
    )
    assert stored.status_code == 201
    page = await client.get(VM, params={"as_of": "2024-06-01", "since": before.isoformat()})
    assert "1 change in what we know since" in page.text
    assert "<mark class='change'>changed: status, achieved</mark>" in page.text
    assert "stroke='#dd6b20' stroke-width='3'/></svg>changed</li>" in page.text  # in the legend
    assert "class='changed'><title>" in page.text
    ended = {"type": "PartnershipEnded", "effective": "2024-05-20", "data": {"reason": "test"}}
    assert (
        await client.post(
            "/partnerships/vodafone-microsoft/events", json={"events": [ended]}, headers=auth
        )
    ).status_code == 201
    page = await client.get(VM, params={"as_of": "2024-06-01", "since": before.isoformat()})
    assert "2 changes in what we know since" in page.text
    assert "changed: status, ended, end_reason." in page.text  # the partnership's own fields
    quiet = await client.get(VM, params={"as_of": "2024-04-01", "since": before.isoformat()})
    assert "0 changes in what we know since" in quiet.text  # achieved after that day
    assert "<mark class='change'>" not in quiet.text


async def test_retracted_and_corrected_facts_say_so_as_known_then(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    before = datetime.now(UTC)
    amend = [
        {"type": "EventRetracted", "effective": "2024-01-16",
         "data": {"event_id": "654a3e45-7450-5c66-84fc-a869b4840edd",
                  "reason": "the article says the investment is planned, not made"},
         "sources": [{"title": "Our own review", "language": "en"}]},
        {"type": "EventCorrected", "effective": "2024-01-16",
         "data": {"event_id": "ace35dd0-81e3-5108-b0d2-7c7bb454b9dd", "reason": "due in May",
                  "data": {"id": "iot-platform-independent", "title": IOT, "due": "2024-05"}}},
    ]  # fmt: skip
    stored = await client.post(
        "/partnerships/vodafone-microsoft/events", json={"events": amend}, headers=auth
    )
    assert stored.status_code == 201, stored.text
    day = datetime.now(UTC).date().isoformat()
    page = (await client.get(VM, params={"as_of": "2024-03-01"})).text
    iot = "Microsoft → Vodafone IoT connectivity platform: undisclosed amount"
    assert iot not in page  # taken back
    retracted = (
        f"<li class='item amended'>Retracted on {day}: <del>investment microsoft-iot-platform "
        "committed</del> — the article says the investment is planned, not made"
    )
    assert retracted in page
    assert "<cite>Our own review</cite>" in page  # the retraction's own source
    milestone = page[page.index("id='item-milestone-iot-platform-independent'") :]
    assert milestone.index("due May 2024") < milestone.index("</li>")
    corrected = (
        f"<span class='amended'>Corrected on {day}: milestone iot-platform-independent "
        "scheduled — due in May (due: 2024-04 → 2024-05; description: "
    )
    assert corrected in milestone[: milestone.index("</li>")]
    assert "href='#item-milestone-iot-platform-independent' aria-label=" in page
    assert "class='amended'><title>" in page  # outlined on the drawing too
    assert "retracted or corrected</li></ul>" in page  # and the legend says what that means
    then = await client.get(VM, params={"as_of": "2024-03-01", "known_at": before.isoformat()})
    assert iot in then.text  # not yet taken back
    assert "due April 2024" in then.text
    assert "Retracted and corrected" not in then.text
    assert "amended" not in then.text


async def test_the_index_and_a_timeline_are_html_with_their_facts(
    client: AsyncTestClient[Any],
) -> None:
    index = await client.get("/")
    assert index.headers["content-type"] == "text/html; charset=utf-8"
    assert f"href='{VM}'" in index.text
    assert "Telefónica–Microsoft cloud and AI partnership" in index.text
    only = await client.get("/", params={"party": "vodafone", "status": "active", "region": ""})
    assert "telefonica-microsoft/timeline" not in only.text
    assert f"href='{VM}'" in only.text
    page = await client.get(VM, params={"as_of": "2024-03-01"})
    assert "<svg class='timeline'" in page.text
    assert f"<strong>{IOT}</strong> <span class='status status-pending'>pending</span>" in page.text
    assert "Vodafone → recipient not stated: USD 1.5 billion" in page.text
    assert "Microsoft → Vodafone IoT connectivity platform: undisclosed amount" in page.text
    body = await client.get(VM, params={"as_of": "2024-06-01", "part": "body"})
    assert "<html" not in body.text
    assert f"<strong>{IOT}</strong> <span class='status status-unreported'>" in body.text
    early = await client.get(
        "/partnerships/telefonica-microsoft/timeline", params={"as_of": "2019-01-01"}
    )
    assert "announced no later than 2024" in early.text
    found = await client.get("/", params={"q": "TELEFÓNICA"})
    assert "telefonica-microsoft/timeline" in found.text
    assert f"href='{VM}'" not in found.text
    listed = (await client.get("/partnerships", params={"q": "azure"})).json()["partnerships"]
    assert [p["id"] for p in listed] == ["telefonica-microsoft"]  # in its summary
    assert (await client.get("/", params={"party": "Not An Org"})).status_code == 400
    late = await client.get(VM, params={"since": "2030-01-01"})
    assert late.status_code == 400
    assert late.headers["content-type"] == "text/html; charset=utf-8"  # said to a person
    assert "<code>query.since</code>: since 2030-01-01T00:00:00+00:00 is after until" in late.text
    missing = await client.get("/partnerships/nobody/timeline")
    assert missing.status_code == 404
    assert "<h1>404 Not Found</h1>" in missing.text
    assert "no partnership &#39;nobody&#39;" in missing.text


def _set(slider: Any, value: int) -> None:
    slider.evaluate(
        "(el, v) => { el.value = v; el.dispatchEvent(new Event('input', {bubbles: true})); }",
        value,
    )


def _status(page: Any) -> str:
    item = page.locator("li.item", has_text=IOT)
    return str(item.locator(".status").inner_text()) if item.locator(".status").count() else ""


def _compare_with_what_was_known_first(page: Any) -> None:
    """Choose the first recording instant: the achievement appended since is marked."""
    page.locator("#since").select_option(index=1)
    iot = page.locator("li.item", has_text=IOT)
    iot.locator("mark.change").wait_for()
    assert iot.locator("mark.change").inner_text() == "changed: status, achieved"
    page.locator("#since").select_option(index=0)
    iot.locator("mark.change").wait_for(state="detached")
    assert "since=" not in page.url


def _on_a_narrow_screen(base: str) -> Any:
    """At 360 px: screenshots; nothing wider than the screen; the drawing scrolls sideways
    in its frame and the lanes' names stay in view."""
    with browser_page(width=360, height=780) as (narrow, watched):
        narrow.goto(f"{base}/")  # type: ignore[attr-defined]
        narrow.screenshot(path=ARTIFACTS / "index-360.png", full_page=True)  # type: ignore[attr-defined]
        narrow.goto(f"{base}{VM}?as_of=2024-06-01")  # type: ignore[attr-defined]
        narrow.screenshot(path=ARTIFACTS / "vodafone-360.png", full_page=True)  # type: ignore[attr-defined]
        width = narrow.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
        assert width <= 360  # nothing wider than the screen
        drawing = narrow.locator(".drawing")  # type: ignore[attr-defined]
        drawing.evaluate("el => { el.scrollLeft = 400; }")
        assert drawing.evaluate("el => el.scrollLeft") > 0  # it does scroll sideways
        name = narrow.locator(".lane-names li", has_text="Milestones").bounding_box()  # type: ignore[attr-defined]
        assert 0 <= name["x"] - drawing.bounding_box()["x"] <= 2  # the lanes' names stay
    return watched


@needs_browser
def test_a_partnership_in_the_browser_sliders_sources_and_permalink(
    served: tuple[Server, str],
) -> None:
    server, token = served
    status, _ = request(
        f"{server.base}/partnerships/vodafone-microsoft/events",
        token=token,
        body={"events": [{"type": "MilestoneAchieved", "effective": "2024-05-02",
                          "data": {"id": "iot-platform-independent"}}]},
    )  # fmt: skip
    assert status == 201
    timings: dict[str, float] = {}
    ARTIFACTS.mkdir(exist_ok=True)
    with browser_page() as (page, watched):
        page.goto(f"{server.base}/")  # type: ignore[attr-defined]
        page.screenshot(path=ARTIFACTS / "index-1440.png", full_page=True)  # type: ignore[attr-defined]
        page.get_by_role("link", name="Vodafone–Microsoft strategic partnership").click()  # type: ignore[attr-defined]
        page.wait_for_url(f"**{VM}")  # type: ignore[attr-defined]
        timings["interactive_ms"] = page.evaluate(  # type: ignore[attr-defined]
            "performance.getEntriesByType('navigation')[0].domInteractive"
        )
        start = page.locator("form.sliders").get_attribute("data-start")  # type: ignore[attr-defined]
        as_of = page.locator("#as-of")  # type: ignore[attr-defined]

        def day(text: str) -> int:
            from datetime import date  # noqa: PLC0415

            return (date.fromisoformat(text) - date.fromisoformat(start)).days

        _set(as_of, day("2024-03-01"))
        page.wait_for_function(
            "document.getElementById('as-of-value').textContent === '2024-03-01'"
        )  # type: ignore[attr-defined]
        page.locator("li.item", has_text=IOT).locator(".status-pending").wait_for()  # type: ignore[attr-defined]
        assert _status(page) == "pending"
        began = time.perf_counter()
        _set(as_of, day("2024-06-01"))
        page.locator("li.item", has_text=IOT).locator(".status-achieved").wait_for()  # type: ignore[attr-defined]
        timings["slider_update_ms"] = round((time.perf_counter() - began) * 1000, 1)
        assert page.url.endswith("as_of=2024-06-01")  # type: ignore[attr-defined]
        _compare_with_what_was_known_first(page)

        known = page.locator("#known-at")  # type: ignore[attr-defined]
        known.focus()
        known.press("Home")  # by keyboard: back to what the store knew at first
        page.locator("li.item", has_text=IOT).locator(".status-unreported").wait_for()  # type: ignore[attr-defined]
        assert "known_at=2026-11-22" in page.url  # type: ignore[attr-defined]
        permalink = page.locator("#permalink").get_attribute("href")  # type: ignore[attr-defined]

        sources = page.locator("li.item", has_text=IOT).locator("details.sources")  # type: ignore[attr-defined]
        sources.locator("summary").click()
        assert "Vodafone et Microsoft conviennent d’un partenariat" in sources.inner_text()

        page.goto(f"{server.base}{permalink}")  # type: ignore[attr-defined]
        assert _status(page) == "unreported"
        assert page.locator("#as-of-value").inner_text() == "2024-06-01"  # type: ignore[attr-defined]
        page.goto(f"{server.base}{VM}?as_of=2024-06-01")  # type: ignore[attr-defined]
        page.screenshot(path=ARTIFACTS / "vodafone-1440.png", full_page=True)  # type: ignore[attr-defined]
    narrow_watched = _on_a_narrow_screen(server.base)
    (ARTIFACTS / "page-timings.json").write_text(json.dumps(timings))
    for seen in (watched, narrow_watched):
        assert seen.foreign(server.base) == []
        assert seen.page_errors == []
        assert seen.console_errors == []


async def test_every_kind_of_fact_on_record_is_in_the_words(
    client: AsyncTestClient[Any],
) -> None:
    """The drawing has four lanes; the words carry everything else a source stated too:
    parties, commitments, targets, focus areas with their objectives, background, risks and
    governance, each with its sources."""
    page = (await client.get("/partnerships/telefonica-microsoft/timeline")).text
    words = page[page.index("</svg>") :]
    for expected in (
        "<h3>Parties</h3>",
        (
            "<strong>Telefónica → Microsoft: Microsoft Azure is Telefónica&#39;s preferred "
            "cloud platform</strong>"
        ),
        "<strong>workloads migrated to Azure: at least 1 million workloads</strong>",
        "<strong>Azure as preferred cloud platform</strong>",
        "<li>Migrate 1 million+ workloads to Azure</li>",
        "<strong>Competitive responses from other cloud providers</strong>",
        "<strong>Joint governance teams</strong>",
        "<li>Innovation labs for rapid prototyping</li>",
        "“This partnership reflects broader trends in telecommunications: […]",
    ):
        assert expected in words, expected
    assert words.count("<summary>Sources</summary>") >= 25  # an entry a fact
    vodafone = (await client.get(VM)).text
    assert "USD 1.5 billion (≈ EUR 1.37 billion)</strong>" in vodafone
    assert (  # the drawn point says it too, to a screen reader or in its tooltip
        "aria-label='Investment, Vodafone → recipient not stated: USD 1.5 billion (≈ EUR 1.37 "
        "billion): Cloud and AI services" in vodafone
    )
    assert "Period: about January 2024 to about January 2034" in vodafone


async def test_far_dates_draw_a_readable_axis_and_the_icon_is_found(
    client: AsyncTestClient[Any],
) -> None:
    """An `as_of` in year 9999 (or year 1) spans millennia: the axis marks a dozen years, not
    thousands; browsers asking for /favicon.ico are sent to the app's icon."""
    for day in ("9999-12-31", "0001-01-01"):
        page = await client.get(VM, params={"as_of": day})
        assert page.status_code == 200
        assert 1 <= page.text.count("<text class='year'") <= 12
    icon = await client.get("/favicon.ico", follow_redirects=False)
    assert icon.status_code == 301
    assert icon.headers["location"].startswith("/static/app/icon.svg?v=")
    assert (
        (await client.get(icon.headers["location"]))
        .headers["content-type"]
        .startswith("image/svg+xml")
    )


def _violations(page: Any) -> list[str]:
    """What axe-core (the engine behind Lighthouse's accessibility audit) finds against
    WCAG 2.1 A and AA on the page as it stands."""
    from axe_playwright_python.sync_playwright import Axe  # noqa: PLC0415 - browser tests only

    found = Axe().run(page, options={"runOnly": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]})
    return [
        f"{v['id']}: {v['help']} ({', '.join(str(n['target']) for n in v['nodes'][:3])})"
        for v in found.response["violations"]
    ]


@needs_browser
def test_by_keyboard_and_for_screen_readers(served: tuple[Server, str]) -> None:
    """Every drawn item is a link the keyboard reaches, and it leads to the item's words and
    sources; the sliders and the drawing are named; axe finds nothing against WCAG 2.1 AA."""
    server, _token = served
    with browser_page() as (page, watched):
        organizations = (
            "/organizations/vodafone/page",
            "/organizations/vodafone-iot-platform/page",
            "/guide/",  # the documentation, as the app serves it
            "/guide/guides/append",
            "/guide/reference/rules",
        )
        for path in ("/", "/?q=nothing-matches-this", f"{VM}?as_of=2024-06-01", *organizations,
                     VM + "?as_of=x"):  # fmt: skip
            page.goto(f"{server.base}{path}")  # type: ignore[attr-defined]
            assert _violations(page) == [], path
        assert watched.console_errors == [  # the last page answers a 400, as it should
            "Failed to load resource: the server responded with a status of 400 (Bad Request)"
        ]
        watched.console_errors.clear()
        page.goto(f"{server.base}{VM}?as_of=2024-06-01")  # type: ignore[attr-defined]
        assert page.get_by_role("slider", name="World date (as of)").count() == 1  # type: ignore[attr-defined]
        assert page.get_by_role("slider", name="What we knew (known at)").count() == 1  # type: ignore[attr-defined]
        assert page.get_by_role("combobox", name="Show what changed since").count() == 1  # type: ignore[attr-defined]
        page.locator("#since").focus()  # type: ignore[attr-defined]
        for _ in range(40):  # on through the links and the drawing, as a keyboard user would
            page.keyboard.press("Tab")  # type: ignore[attr-defined]
            focused = page.evaluate("document.activeElement.getAttribute('aria-label') || ''")  # type: ignore[attr-defined]
            if focused.startswith(IOT):
                break
        assert focused == f"{IOT}: unreported, due April 2024"
        page.keyboard.press("Enter")  # type: ignore[attr-defined]
        page.wait_for_function(  # type: ignore[attr-defined]
            "document.activeElement.id === 'item-milestone-iot-platform-independent'"
        )
        assert page.url.endswith("#item-milestone-iot-platform-independent")  # type: ignore[attr-defined]
        page.keyboard.press("Tab")  # type: ignore[attr-defined]
        assert page.evaluate("document.activeElement.textContent") == "Sources"  # type: ignore[attr-defined]
        page.keyboard.press("Enter")  # type: ignore[attr-defined]
        sources = page.locator("#item-milestone-iot-platform-independent details.sources")  # type: ignore[attr-defined]
        assert sources.get_attribute("open") == ""
        assert "Vodafone et Microsoft conviennent d’un partenariat" in sources.inner_text()
    assert watched.foreign(server.base) == []
    assert watched.console_errors == []
