"""Calendar feeds over HTTP: parse in two parsers, golden bytes, wire rules, caching, updates.

Golden files: `TIMELINE_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_calendar_feeds.py`
rewrites tests/golden/*.ics from the curated data; review the diff before committing.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from api_helpers import running, services_of, settings_for
from ical.calendar_stream import IcsCalendarStream
from icalendar import Calendar
from litestar.testing import AsyncTestClient

GOLDEN = Path(__file__).parent / "golden"
FEEDS = {
    "all.ics": "/calendars/all.ics",
    "vodafone-microsoft.ics": "/calendars/partnerships/vodafone-microsoft.ics",
    "telefonica-microsoft.ics": "/calendars/partnerships/telefonica-microsoft.ics",
    "organization-microsoft.ics": "/calendars/organizations/microsoft.ics",
    "vodafone-microsoft-everything.ics": (
        "/calendars/partnerships/vodafone-microsoft.ics?announcements=true&investments=true"
    ),
}
VODAFONE_FEED = FEEDS["vodafone-microsoft.ics"]
IOT = "vodafone-microsoft.milestone.iot-platform-independent@testserver.local"


def icalendar_events(body: bytes) -> dict[str, tuple[date, date, int, str]]:
    calendar = Calendar.from_ical(body)
    assert [c.errors for c in calendar.walk()] == [[] for _ in calendar.walk()]
    return {
        str(e["UID"]): (
            e.decoded("DTSTART"),
            e.decoded("DTEND"),
            int(e["SEQUENCE"]),
            str(e["STATUS"]),
        )
        for e in calendar.walk("VEVENT")
    }


def strict_events(body: bytes) -> dict[str, tuple[date, date]]:
    calendar = IcsCalendarStream.calendar_from_ics(body.decode("utf-8"))
    return {str(e.uid): (e.dtstart, e.dtend) for e in calendar.events}


@pytest.mark.parametrize("name", sorted(FEEDS))
async def test_curated_feeds_parse_in_both_parsers_and_match_golden(
    client: AsyncTestClient[Any], name: str
) -> None:
    """Each curated feed parses without errors in icalendar and in `ical`, which agree."""
    response = await client.get(FEEDS[name])
    assert response.status_code == 200
    body = response.content
    ours = icalendar_events(body)
    theirs = strict_events(body)
    assert ours
    assert {uid: dates[:2] for uid, dates in ours.items()} == theirs
    golden = GOLDEN / name
    if os.environ.get("TIMELINE_UPDATE_GOLDEN"):
        golden.write_bytes(body)
    assert body == golden.read_bytes(), f"feed changed; see {__doc__}"


async def test_wire_format(client: AsyncTestClient[Any]) -> None:
    """CRLF only, lines of at most 75 octets, UTF-8 kept, text escaped, all-day dates."""
    body = (await client.get(FEEDS["all.ics"])).content
    assert b"\n" not in body.replace(b"\r\n", b"")
    lines = body.split(b"\r\n")
    assert max(len(line) for line in lines) <= 75
    unfolded = body.replace(b"\r\n ", b"").decode("utf-8")
    assert "Vodafone et Microsoft conviennent d’un partenariat [fr]" in unfolded
    assert "Telefónica" in unfolded
    assert "Vodafone (telecommunications group)\\, Microsoft (software publisher)" in unfolded
    assert "\\n" in unfolded
    assert "\\;" in unfolded
    for line in unfolded.split("\r\n"):
        if line.startswith(("DTSTART", "DTEND")):
            assert ";VALUE=DATE:" in line
        if line.startswith(("DTSTAMP", "LAST-MODIFIED")):
            assert line.endswith("Z")
    required = ["PRODID:", "VERSION:2.0", "NAME:", "X-WR-CALNAME:", "DESCRIPTION:", "X-WR-CALDESC:",
                "REFRESH-INTERVAL;VALUE=DURATION:PT1H", "X-PUBLISHED-TTL:PT1H"]  # fmt: skip
    assert [line for line in required if line not in unfolded] == []
    assert "METHOD:" not in unfolded


async def test_http_headers_and_conditional_requests(client: AsyncTestClient[Any]) -> None:
    """text/calendar whatever Accept says; a weak ETag (the same feed goes out plain, gzip or
    brotli); 304 by ETag (which wins) or by date."""
    first = await client.get(VODAFONE_FEED, headers={"Accept": "application/json"})
    assert first.headers["content-type"] == "text/calendar; charset=utf-8"
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert etag.startswith('W/"')
    strong = etag.removeprefix("W/")
    assert (await client.get(VODAFONE_FEED, headers={"If-None-Match": strong})).status_code == 304
    assert parsedate_to_datetime(modified).year == 2026
    assert (await client.get(VODAFONE_FEED, headers={"If-None-Match": etag})).status_code == 304
    assert (
        await client.get(VODAFONE_FEED, headers={"If-Modified-Since": modified})
    ).status_code == 304
    earlier = format_datetime(parsedate_to_datetime("Sat, 21 Nov 2026 00:00:00 GMT"), usegmt=True)
    assert (
        await client.get(VODAFONE_FEED, headers={"If-Modified-Since": earlier})
    ).status_code == 200
    wins = await client.get(
        VODAFONE_FEED, headers={"If-None-Match": '"other"', "If-Modified-Since": modified}
    )
    assert wins.status_code == 200
    again = await client.get(VODAFONE_FEED)
    assert again.content == first.content


def _starts(body: bytes) -> list[str]:
    return [line.split(":")[1] for line in body.decode().splitlines() if line.startswith("DTSTART")]


async def test_windows_choose_items_by_day(client: AsyncTestClient[Any]) -> None:
    """`from`/`to` keep the items whose day is inside, in every feed; the calendar stays whole."""
    every = _starts((await client.get(FEEDS["all.ics"])).content)
    assert len(every) > 3
    assert 0 < len([d for d in every if "20240501" <= d <= "20251231"]) < len(every)
    for url in (FEEDS["all.ics"], FEEDS["organization-microsoft.ics"], VODAFONE_FEED):
        whole = _starts((await client.get(url)).content)
        inside = await client.get(url, params={"from": "2024-05", "to": "2025"})
        assert inside.status_code == 200
        assert _starts(inside.content) == [d for d in whole if "20240501" <= d <= "20251231"]
        assert inside.content.startswith(b"BEGIN:VCALENDAR")
        assert inside.content.endswith(b"END:VCALENDAR\r\n")
    empty = await client.get(FEEDS["all.ics"], params={"from": "2090"})
    assert _starts(empty.content) == []


async def test_streamed_feeds_have_validators_that_move_with_the_data(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    """`all.ics` and organization feeds: a weak ETag, 304, and a new ETag after a change."""
    for url in (FEEDS["all.ics"], FEEDS["organization-microsoft.ics"]):
        first = await client.get(url)
        tag = first.headers["etag"]
        assert tag.startswith('W/"')
        assert first.headers["last-modified"]
        assert (await client.get(url, headers={"If-None-Match": tag})).status_code == 304
        windowed = await client.get(url, params={"from": "2024"})
        assert windowed.headers["etag"] != tag
    old = (await client.get(FEEDS["all.ics"])).headers["etag"]
    moved = {
        "type": "MilestoneRescheduled",
        "effective": "2024-04-01",
        "data": {"id": "iot-platform-independent", "due": "2024-09"},
    }
    posted = await client.post(
        "/partnerships/vodafone-microsoft/events", json={"events": [moved]}, headers=auth
    )
    assert posted.status_code == 201
    fresh = await client.get(FEEDS["all.ics"], headers={"If-None-Match": old})
    assert fresh.status_code == 200
    assert b"DTSTART;VALUE=DATE:20240930" in fresh.content


async def test_a_small_streamed_feed_is_kept_by_its_etag(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    """Sent whole once, an organization's feed is answered from memory until the data moves."""
    url = FEEDS["organization-microsoft.ics"]
    first = await client.get(url)
    kept = services_of(client).calendars.streamed
    assert kept.get(first.headers["etag"]) == first.content
    again = await client.get(url)
    assert (again.headers["etag"], again.content) == (first.headers["etag"], first.content)
    moved = {
        "type": "MilestoneRescheduled",
        "effective": "2024-04-01",
        "data": {"id": "iot-platform-independent", "due": "2024-09"},
    }
    posted = await client.post(
        "/partnerships/vodafone-microsoft/events", json={"events": [moved]}, headers=auth
    )
    assert posted.status_code == 201
    fresh = await client.get(url)
    assert fresh.headers["etag"] != first.headers["etag"]
    assert b"DTSTART;VALUE=DATE:20240930" in fresh.content
    assert kept.get(fresh.headers["etag"]) == fresh.content


async def test_update_story(client: AsyncTestClient[Any], auth: dict[str, str]) -> None:
    """Reschedule: same UID, SEQUENCE+1, new ETag, old ETag gets 200; cancel: CANCELLED."""
    old = await client.get(VODAFONE_FEED)
    assert icalendar_events(old.content)[IOT] == (
        date(2024, 4, 30),
        date(2024, 5, 1),
        0,
        "TENTATIVE",
    )
    moved = {
        "type": "MilestoneRescheduled",
        "effective": "2024-03-01",
        "data": {"id": "iot-platform-independent", "due": "2024-06-15", "reason": "delay"},
    }
    url = "/partnerships/vodafone-microsoft/events"
    assert (await client.post(url, json={"events": [moved]}, headers=auth)).status_code == 201
    new = await client.get(VODAFONE_FEED, headers={"If-None-Match": old.headers["etag"]})
    assert new.status_code == 200
    assert new.headers["etag"] != old.headers["etag"]
    assert new.headers.get("last-modified") != old.headers["last-modified"]  # none this second
    assert icalendar_events(new.content)[IOT] == (
        date(2024, 6, 15),
        date(2024, 6, 16),
        1,
        "CONFIRMED",
    )
    cancel = {"type": "MilestoneCancelled", "effective": "2024-05-01",
              "data": {"id": "iot-platform-independent"}}  # fmt: skip
    assert (await client.post(url, json={"events": [cancel]}, headers=auth)).status_code == 201
    cancelled = await client.get(VODAFONE_FEED)
    assert icalendar_events(cancelled.content)[IOT][2:] == (2, "CANCELLED")
    modified = cancelled.headers.get("last-modified")  # none while the second of the change lasts
    assert modified is None or parsedate_to_datetime(modified) <= datetime.now(UTC)


async def test_retracted_milestone_stays_cancelled(client: AsyncTestClient[Any], auth) -> None:
    """Retracting the event that created a milestone leaves it in the feed as CANCELLED."""
    history = (await client.get("/partnerships/vodafone-microsoft/events",
                                params={"type": "MilestoneScheduled"})).json()  # fmt: skip
    creating = history["events"][0]["id"]
    before = await client.get(VODAFONE_FEED)
    retraction = {"type": "EventRetracted", "effective": "2024-02-01",
                  "data": {"event_id": creating, "reason": "misreported"}}  # fmt: skip
    url = "/partnerships/vodafone-microsoft/events"
    assert (await client.post(url, json={"events": [retraction]}, headers=auth)).status_code == 201
    after = await client.get(
        VODAFONE_FEED, headers={"If-Modified-Since": before.headers["last-modified"]}
    )
    assert after.status_code == 200
    assert icalendar_events(after.content)[IOT] == (
        date(2024, 4, 30),
        date(2024, 5, 1),
        1,
        "CANCELLED",
    )
    assert (await client.get("/partnerships/vodafone-microsoft")).json()["milestones"] == []


async def test_private_feeds_take_a_token_in_the_query(tmp_path: Path) -> None:
    """With private reads a feed needs a `read` token, which calendar apps pass as ?token=."""
    async with running(settings_for(tmp_path, public_read=False)) as client:
        assert (await client.get(VODAFONE_FEED)).status_code == 401
        secret = await services_of(client).tokens.create_token("calendar", ("read",))
        writer = await services_of(client).tokens.create_token("writer", ("append",))
        assert (await client.get(VODAFONE_FEED, params={"token": secret})).status_code == 200
        assert (await client.get(VODAFONE_FEED, params={"token": writer})).status_code == 403
        headers = {"Authorization": f"Bearer {secret}"}
        assert (await client.get(VODAFONE_FEED, headers=headers)).status_code == 200
        other = await services_of(client).tokens.create_token("other", ("read",))
        for token in (secret, other):  # each subscriber's feed names their own token, no other
            body = (await client.get(VODAFONE_FEED, params={"token": token})).text
            source = f"SOURCE;VALUE=URI:http://testserver.local{VODAFONE_FEED}?token={token}"
            assert source in body.replace("\r\n ", "")


async def test_a_change_within_the_second_never_looks_unchanged(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    """`Last-Modified` is to the second: a feed whose last change is in the current second
    gives none (its ETag serves), so a second change in that second cannot be hidden
    behind an `If-Modified-Since` a client got between the two."""
    url = "/partnerships/vodafone-microsoft/events"
    first = {"type": "MilestoneRescheduled", "effective": "2024-03-01",
             "data": {"id": "iot-platform-independent", "due": "2024-06"}}  # fmt: skip
    assert (await client.post(url, json={"events": [first]}, headers=auth)).status_code == 201
    seen = await client.get(VODAFONE_FEED)
    if "last-modified" in seen.headers:  # the second of the change was already over
        changed = parsedate_to_datetime(seen.headers["last-modified"])
        assert datetime.now(UTC) >= changed + timedelta(seconds=1)
    now = format_datetime(datetime.now(UTC), usegmt=True)
    second = {**first, "data": {"id": "iot-platform-independent", "due": "2024-07"}}
    assert (await client.post(url, json={"events": [second]}, headers=auth)).status_code == 201
    again = await client.get(VODAFONE_FEED, headers={"If-Modified-Since": now})
    assert again.status_code == 200
    assert again.content != seen.content


async def test_source_is_the_feed_as_fetched(client: AsyncTestClient[Any]) -> None:
    """`SOURCE` is the feed's own address with the subscriber's query, so a refresh of a
    windowed feed stays windowed; a feed without a query names none."""
    query = "from=2024&investments=true"
    windowed = (await client.get(f"{VODAFONE_FEED}?{query}")).text.replace("\r\n ", "")
    assert f"SOURCE;VALUE=URI:http://testserver.local{VODAFONE_FEED}?{query}\r\n" in windowed
    plain = (await client.get(VODAFONE_FEED)).text.replace("\r\n ", "")
    assert f"SOURCE;VALUE=URI:http://testserver.local{VODAFONE_FEED}\r\n" in plain
    everything = (await client.get("/calendars/all.ics?to=2030")).text.replace("\r\n ", "")
    assert "SOURCE;VALUE=URI:http://testserver.local/calendars/all.ics?to=2030\r\n" in everything


async def test_feed_links_and_unknown_feeds(client: AsyncTestClient[Any]) -> None:
    """States and organizations link to their feeds; unknown feeds are 404 problems."""
    state = (await client.get("/partnerships/vodafone-microsoft")).json()
    assert state["calendar"] == {
        "url": "http://testserver.local/calendars/partnerships/vodafone-microsoft.ics",
        "webcal": "webcal://testserver.local/calendars/partnerships/vodafone-microsoft.ics",
    }
    org = (await client.get("/organizations/microsoft")).json()
    assert org["calendar"]["webcal"].endswith("/calendars/organizations/microsoft.ics")
    for url in ("/calendars/partnerships/nobody.ics", "/calendars/organizations/nobody.ics",
                "/calendars/partnerships/vodafone-microsoft"):  # fmt: skip
        response = await client.get(url)
        assert (response.status_code, response.headers["content-type"]) == (
            404,
            "application/problem+json",
        )
    bad = await client.get(VODAFONE_FEED, params={"announcements": "perhaps"})
    assert bad.status_code == 400
