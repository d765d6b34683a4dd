"""Bad input through the real app: each gets its documented 4xx problem and stores nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from api_helpers import running, settings_for
from litestar.testing import AsyncTestClient

from timeline.store import open_store, token_registry

URL = "/partnerships/vodafone-microsoft/events"
EVENT_ID = "8d6f6c2e-6b1b-4b7a-9d0c-2f1f3e4d5c6b"


def event(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "InvestmentCommitted",
        "effective": "2024-03-01",
        "data": {
            "id": "more",
            "investor": "microsoft",
            "recipient": "vodafone",
            "amount": {"amount": "100", "currency": "USD"},
            "purpose": "test",
        },
    }
    data = changes.pop("data", {})
    return base | changes | {"data": base["data"] | data}


def body(*events: dict[str, Any], **envelope: Any) -> bytes:
    return json.dumps({"events": list(events), **envelope}).encode()


CURATED_INVESTMENT = "e104693c-d709-5fab-b93a-14216dd6fcb1"
"""`vodafone-cloud-ai`, an InvestmentCommitted of the curated data."""
DEEP = (
    b'{"events": [{"type": "EventCorrected", "effective": "2024-05-02", "data": {"event_id": "'
    + CURATED_INVESTMENT.encode()
    + b'", "data": '
    + b'{"a": ' * 1000
    + b"1"
    + b"}" * 1000
    + b"}}]}"
)


def correction(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "EventCorrected",
        "effective": "2024-05-02",
        "data": {"event_id": CURATED_INVESTMENT, "data": data},
    }


def target(value: str) -> dict[str, Any]:
    return {
        "type": "TargetSet",
        "effective": "2024-03-01",
        "data": {"id": "t", "metric": "m", "value": value, "unit": "u", "comparator": ">="},
    }


def announced(**data: Any) -> dict[str, Any]:
    parties = [{"org": "a", "name": "A"}, {"org": "b", "name": "B"}]
    return {
        "type": "PartnershipAnnounced",
        "effective": "2024-01-01",
        "data": {"title": "T", "parties": parties, "kind": "k", **data},
    }


CASES: list[tuple[str, str, str, bytes | None, int, str]] = [
    # name, method, url, body, status, fragment of the problem (detail or an error path)
    ("malformed JSON", "POST", URL, b'{"events": [', 400, "not valid JSON"),
    ("body not an object", "POST", URL, b"[]", 422, "Expected `object`"),
    ("events not a list", "POST", URL, b'{"events": "many"}', 422, "$.events"),
    ("no events", "POST", URL, body(), 422, "$.events"),
    ("unknown event type", "POST", URL, body(event(type="PartnershipMerged")), 422, "$.events[0].type"),
    ("unknown envelope field", "POST", URL, body(event(), colour="red"), 422, "unknown field `colour`"),
    ("misspelled envelope field", "POST", URL, body(event(), expected_versoin=3), 422, "did you mean `expected_version`?"),
    ("unknown field in data", "POST", URL, body(event(data={"firmnes": "planned"})), 422,
     "$.events[0].data.firmnes"),
    ("unknown field in a nested object", "POST", URL,
     body(event(data={"amount": {"amount": "1", "currency": "USD", "aprox": True}})), 422,
     "$.events[0].data.amount.aprox"),
    ("unknown field in a source", "POST", URL,
     body(event(sources=[{"title": "t", "language": "en", "exerpt": "x"}])), 422,
     "$.events[0].sources[0].exerpt"),
    ("unknown field beside the event's own", "POST", URL, body(event(sorces=[])), 422,
     "$.events[0].sorces"),
    ("javascript link in a source", "POST", URL,
     body(event(sources=[{"title": "t", "language": "en", "url": "javascript:alert(6)"}])), 422,
     "$.events[0].sources[0].url"),
    ("relative link in a source", "POST", URL,
     body(event(sources=[{"title": "t", "language": "en", "url": "/elsewhere"}])), 422,
     "absolute http or https URL"),
    ("data link in a source", "POST", URL,
     body(event(sources=[{"title": "t", "language": "en", "url": "data:text/html,<script>1</script>"}])),
     422, "$.events[0].sources[0].url"),
    ("wrong type in data", "POST", URL, body(event(data={"purpose": 5})), 422, "$.events[0].data.purpose"),
    ("invalid partial date", "POST", URL, body(event(effective="2024-13")), 422, "$.events[0].effective"),
    ("partial date text", "POST", URL, body(event(effective="spring")), 422, "expected YYYY, YYYY-Qn"),
    ("invalid period", "POST", URL, body(event(data={"period": "2025/2024"})), 422, "$.events[0].data.period"),
    ("invalid currency", "POST", URL,
     body(event(data={"amount": {"amount": "1", "currency": "XYZ"}})), 422, "ISO 4217"),
    ("negative amount", "POST", URL,
     body(event(data={"amount": {"amount": "-1", "currency": "USD"}})), 422, "must not be negative"),
    ("non-numeric amount", "POST", URL,
     body(event(data={"amount": {"amount": "lots", "currency": "USD"}})), 422, "Invalid decimal"),
    ("bad characters in stream id", "POST", "/partnerships/Vodafone_MS/events", body(event()),
     400, "is not a stream id"),
    ("stream id over 100 characters", "POST", f"/partnerships/{'a' * 101}/events", body(event()),
     400, "at most 100"),
    ("stream id bad on read", "GET", "/partnerships/Voda%20fone", None, 400, "path.stream_id"),
    ("as_of wrong format", "GET", "/partnerships/vodafone-microsoft?as_of=2024-02", None,
     400, "query.as_of"),
    ("known_at wrong format", "GET", "/partnerships/vodafone-microsoft?known_at=yesterday", None,
     400, "query.known_at"),
    ("effective_from wrong", "GET", f"{URL}?effective_from=soon", None, 400, "query.effective_from"),
    ("limit not a number", "GET", "/events?limit=many", None, 400, "query.limit"),
    ("limit zero", "GET", "/events?limit=0", None, 400, "query.limit"),
    ("oversized body", "POST", URL, body(event(data={"purpose": "x" * 30_000})), 413,
     "TIMELINE_MAX_BODY_BYTES"),
    ("oversized batch", "POST", URL, body(*(event(data={"id": f"i{n}"}) for n in range(6))), 413,
     "TIMELINE_MAX_BATCH"),
    ("duplicate ids in one batch", "POST", URL,
     body(event(id=EVENT_ID), event(id=EVENT_ID, data={"id": "other"})), 422, "duplicate-event-id"),
    ("expected_version negative", "POST", URL, body(event(), expected_version=-1), 422,
     "$.expected_version"),
    ("expected_version not a number", "POST", URL, body(event(), expected_version="13"), 422,
     "$.expected_version"),
    ("unknown partnership", "GET", "/partnerships/nobody", None, 404, "no partnership 'nobody'"),
    # numbers beyond what a store can hold
    ("feed position beyond 64 bits", "GET", "/events?after=9223372036854775808", None, 400, "query.after"),
    ("live position beyond 64 bits", "GET", "/events/stream?after=9223372036854775808", None, 400, "query.after"),
    ("from_version beyond 64 bits", "GET", f"{URL}?from_version=9223372036854775808", None, 400, "query.from_version"),
    ("known_at after the last instant", "GET", "/partnerships/vodafone-microsoft?known_at=9999-12-31T23:59:59-14:00",
     None, 400, "outside the instants"),
    ("known_at before the first instant", "GET", "/partnerships/vodafone-microsoft?known_at=0001-01-01T00:00:00%2B14:00",
     None, 400, "outside the instants"),
    # bodies that are not JSON a person meant
    ("invalid UTF-8 inside a string", "POST", URL,
     b'{"events": [{"type": "MilestoneAchieved", "effective": "2024-05-02", "data": {"id": "\xff"}}]}', 400, "not UTF-8"),
    ("JSON nested 1,000 deep", "POST", URL, DEEP, 400, "nested too deeply"),
    ("correction with a field its target lacks", "POST", URL,
     body(correction({"id": "vodafone-cloud-ai", "colour": {"any": ["shape"]}})), 422, "data.colour"),
    ("correction with a nested field its target lacks", "POST", URL,
     body(correction({"amount": {"amount": "2", "currency": "USD", "junk": 1}})), 422, "data.amount.junk"),
    # quantities no source states
    *[(f"target value {v}", "POST", URL, body(target(v)), 422, "$.events[0].data") for v in ("NaN", "sNaN", "Infinity", "-Infinity", "1e999999999", "-5")],
    ("term of 10^30 years", "POST", "/partnerships/new-one/events", body(announced(term={"years": 10**30})), 422, "$.events[0].data.term.years"),
    ("reach of NaN", "POST", "/partnerships/new-one/events",
     body(announced(reach={"value": "NaN", "unit": "people", "comparator": ">"})), 422, "finite"),
    # a misspelled parameter must not silently answer something else
    ("misspelled query parameter", "GET", "/partnerships/vodafone-microsoft?asof=2020-01-01", None, 400, "did you mean 'as_of'"),
    ("query parameter of another path", "GET", "/events?known_at=2024-01-01", None, 400, "query.known_at"),
    # read models: lists at an instant, feeds in a window
    ("list known_at not an instant", "GET", "/partnerships?known_at=yesterday", None, 400, "query.known_at"),
    ("list known_at out of range", "GET", "/partnerships?known_at=99999-01-01T00:00:00Z", None, 400, "query.known_at"),
    ("feed from not a date", "GET", "/calendars/all.ics?from=soon", None, 400, "from"),
    ("feed to not a date", "GET", "/calendars/partnerships/vodafone-microsoft.ics?to=2024-13", None, 400, "to"),
    ("feed window reversed", "GET", "/calendars/all.ics?from=2025&to=2024-06", None, 400, "query.to"),
    ("org feed window reversed", "GET", "/calendars/organizations/microsoft.ics?from=2024-02-02&to=2024-02-01", None, 400, "ends (2024-02-01) before it starts (2024-02-02)"),
    ("list party not an organization id", "GET", "/partnerships?party=%00", None, 400, "is not an organization id"),
    ("list region with a control character", "GET", "/partnerships?region=a%00b", None, 400, "query.region"),
    ("organization page limit", "GET", "/organizations/microsoft?limit=0", None, 400, "limit"),
    ("organization page cursor", "GET", "/organizations/microsoft?cursor=%%%", None, 400, "cursor"),
]  # fmt: skip


@pytest.fixture
async def client(
    tmp_path: Path, store_url: str
) -> AsyncIterator[tuple[AsyncTestClient[Any], dict[str, str]]]:
    """The app on each backend, with a token that may append and read."""
    store = await open_store(store_url)  # the token is made before: the app runs on its own loop
    try:
        secret = await token_registry(store).create_token("t", ("append", "read"))
    finally:
        await store.close()
    async with running(settings_for(tmp_path, database_url=store_url)) as test_client:
        yield test_client, {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("method", "url", "content", "status", "fragment"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_bad_input_is_a_problem_and_stores_nothing(
    client: tuple[AsyncTestClient[Any], dict[str, str]],
    method: str,
    url: str,
    content: bytes | None,
    status: int,
    fragment: str,
) -> None:
    """Each bad input gets its 4xx as application/problem+json, no trace, and nothing is stored."""
    test_client, headers = client
    before = (await test_client.get("/health")).json()["events"]
    response = await test_client.request(method, url, content=content, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert problem["title"]
    assert fragment in response.text
    assert "Traceback" not in response.text
    assert (await test_client.get("/health")).json()["events"] == before


async def test_every_unknown_field_is_named_with_a_likely_name(
    client: tuple[AsyncTestClient[Any], dict[str, str]],
) -> None:
    """Unknown fields anywhere in an appended event are one 422 that names each by its path
    and suggests the field meant; nothing is stored, so no fact is silently dropped."""
    test_client, headers = client
    bad = body(
        event(
            data={"recipent": "vodafone", "firmnes": "planned"},
            sources=[{"title": "t", "language": "en", "exerpt": "x"}],
        )
    )
    response = await test_client.post(URL, content=bad, headers=headers)
    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"] == [
        {
            "path": "$.events[0].data.recipent",
            "message": "unknown field `recipent`; did you mean `recipient`?",
        },
        {
            "path": "$.events[0].data.firmnes",
            "message": "unknown field `firmnes`; did you mean `firmness`?",
        },
        {
            "path": "$.events[0].sources[0].exerpt",
            "message": "unknown field `exerpt`; did you mean `excerpt`?",
        },
    ]
    assert problem["detail"].startswith("unknown field `recipent`")
    assert "and 2 more" in problem["detail"]


async def test_web_links_are_taken(client: tuple[AsyncTestClient[Any], dict[str, str]]) -> None:
    """A source linked by an absolute http or https URL is stored as sent."""
    test_client, headers = client
    link = "https://example.org/news?id=1#p2"
    sent = body(event(sources=[{"title": "t", "language": "en", "url": link}]))
    response = await test_client.post(URL, content=sent, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["events"][0]["sources"][0]["url"] == link


async def test_validation_problems_list_path_and_message(
    client: tuple[AsyncTestClient[Any], dict[str, str]],
) -> None:
    """A 422 for a bad field lists `{path, message}`."""
    test_client, headers = client
    bad = body(event(data={"amount": {"amount": "1", "currency": "XYZ"}}))
    problem = (await test_client.post(URL, content=bad, headers=headers)).json()
    assert problem["errors"] == [
        {"path": "$.events[0].data.amount", "message": "'XYZ' is not an ISO 4217 currency code"}
    ]
