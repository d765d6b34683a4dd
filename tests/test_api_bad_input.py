"""Bad input through the real app: each gets its documented 4xx problem and stores nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from api_helpers import running, services_of, settings_for
from litestar.testing import AsyncTestClient

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


CASES: list[tuple[str, str, str, bytes | None, int, str]] = [
    # name, method, url, body, status, fragment of the problem (detail or an error path)
    ("malformed JSON", "POST", URL, b'{"events": [', 400, "not valid JSON"),
    ("body not an object", "POST", URL, b"[]", 422, "Expected `object`"),
    ("events not a list", "POST", URL, b'{"events": "many"}', 422, "$.events"),
    ("no events", "POST", URL, body(), 422, "$.events"),
    ("unknown event type", "POST", URL, body(event(type="PartnershipMerged")), 422, "$.events[0].type"),
    ("unknown envelope field", "POST", URL, body(event(), colour="red"), 422, "unknown field `colour`"),
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
]  # fmt: skip


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[AsyncTestClient[Any], dict[str, str]]]:
    async with running(settings_for(tmp_path)) as test_client:
        secret = await services_of(test_client).store.create_token("t", ("append", "read"))
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
