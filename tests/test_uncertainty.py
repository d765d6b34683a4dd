"""Uncertain, approximate and bounded dates through the API: kept, ordered, said in words."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from icalendar import Calendar
from litestar.testing import AsyncTestClient

from timeline.dates import PARTIAL_DATE_FORMS

STREAM = "/partnerships/acme-globex"


def _announcement(effective: str) -> dict[str, Any]:
    return {
        "type": "PartnershipAnnounced",
        "effective": effective,
        "data": {"title": "Acme–Globex", "kind": "joint venture",
                 "parties": [{"org": "acme", "name": "Acme"}, {"org": "globex", "name": "Globex"}]},
        "sources": [{"title": "Undated article", "language": "en"}],
    }  # fmt: skip


async def test_a_bounded_announcement_holds_on_every_earlier_day_and_says_so(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    events = [
        _announcement("../2023"),
        {"type": "MilestoneScheduled", "effective": "../2023",
         "data": {"id": "launch", "title": "Launch", "due": "2024-06?"}},
        {"type": "PhaseScheduled", "effective": "../2023",
         "data": {"id": "pilot", "name": "Pilot", "period": "2023~/2024"}},
    ]  # fmt: skip
    stored = await client.post(f"{STREAM}/events", json={"events": events}, headers=auth)
    assert stored.status_code == 201, stored.text
    early = (await client.get(STREAM, params={"as_of": "2019-05-01"})).json()
    assert early["announced"] == "../2023"
    assert early["milestones"][0]["due"] == "2024-06?"
    assert early["milestones"][0]["deadline"] == "2024-06-30"
    assert early["phases"][0]["period"] == "2023~/2024"
    history = (await client.get(f"{STREAM}/events")).json()["events"]
    assert [e["effective"] for e in history] == ["../2023"] * 3
    within = await client.get(f"{STREAM}/events", params={"effective_to": "2010"})
    assert len(within.json()["events"]) == 3  # its widest reading reaches back that far
    july = (await client.get(STREAM, params={"as_of": "2024-07-01"})).json()
    assert july["milestones"][0]["status"] == "unreported"

    feed = Calendar.from_ical((await client.get("/calendars/partnerships/acme-globex.ics")).text)
    items = {str(v["SUMMARY"]): v for v in feed.walk("VEVENT")}
    launch = next(v for summary, v in items.items() if "Launch" in summary)
    assert launch.decoded("DTSTART") == date(2024, 6, 30)
    assert "Due by end of June 2024 (month precision, uncertain)." in str(launch["DESCRIPTION"])
    assert str(launch["STATUS"]) == "TENTATIVE"
    pilot = next(v for summary, v in items.items() if summary.startswith("Pilot (phase starts"))
    assert "starts in about 2023 (year precision)" in str(pilot["DESCRIPTION"])


@pytest.mark.parametrize("effective", ["2024??", "2024-04~?", "../", "..2023", "2023/..", "~2024"])
async def test_a_malformed_qualifier_is_a_422_naming_the_field_and_the_forms(
    client: AsyncTestClient[Any], auth: dict[str, str], effective: str
) -> None:
    answer = await client.post(
        f"{STREAM}/events", json={"events": [_announcement(effective)]}, headers=auth
    )
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["errors"][0]["path"] == "$.events[0].effective"
    assert PARTIAL_DATE_FORMS in problem["errors"][0]["message"]
    assert (await client.get(STREAM)).status_code == 404  # nothing stored


async def test_a_malformed_qualifier_in_a_query_is_a_400_naming_the_parameter(
    client: AsyncTestClient[Any],
) -> None:
    answer = await client.get(
        "/partnerships/vodafone-microsoft/events", params={"effective_from": "2024?~"}
    )
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["path"] == "query.effective_from"
