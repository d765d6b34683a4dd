"""The lean append path (`timeline/api/lean_append.py`): it answers a clean append as the
handler would, and hands everything else to the handler, with the body, storing nothing twice."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from api_helpers import running, services_of, settings_for
from litestar.testing import AsyncTestClient

from timeline import metrics
from timeline.api import lean_append
from timeline.events import StoredEvent
from timeline.store.recorder import SQLTransaction

VODAFONE = "/partnerships/vodafone-microsoft"
EVENT_ID = "0b8f6c2e-6b1b-4b7a-9d0c-2f1f3e4d5c6b"


def milestone(item: str = "launch", **extra: Any) -> dict[str, Any]:
    return {
        "type": "MilestoneScheduled",
        "effective": "2024-03-01",
        "data": {"id": item, "title": f"Milestone {item}", "due": "2025-06"},
        "sources": [{"title": "Press release", "language": "en"}],
        **extra,
    }


@pytest.fixture
def handed_over(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the requests the lean path handed to litestar."""
    paths: list[str] = []
    real = lean_append._hand_over

    async def spy(scope: Any, *args: Any) -> int:
        paths.append(scope["path"])
        return await real(scope, *args)

    monkeypatch.setattr(lean_append, "_hand_over", spy)
    return paths


async def _count(client: AsyncTestClient[Any]) -> int:
    return (await services_of(client).store.stats()).events


async def test_a_clean_append_is_answered_as_the_handler_answers_it(
    tmp_path: Path, handed_over: list[str]
) -> None:
    """The same append to two fresh stores: through the lean path, and through litestar's
    handler (an `Origin` header sends it there). Same status, headers and body."""
    answers = []
    for name, extra in (("lean", {}), ("handler", {"Origin": "https://example.org"})):
        (tmp_path / name).mkdir()
        async with running(settings_for(tmp_path / name)) as client:
            secret = await services_of(client).tokens.create_token("pipeline", ("append",))
            headers = {"Authorization": f"Bearer {secret}", **extra}
            payload = {"expected_version": 12, "events": [milestone(id=EVENT_ID)]}
            answers.append(await client.post(f"{VODAFONE}/events", json=payload, headers=headers))
    lean, handler = answers
    assert handed_over == [f"{VODAFONE}/events"]  # the handler's, not the lean one
    assert (lean.status_code, handler.status_code) == (201, 201)
    assert lean.json() | {"events": None} == handler.json() | {"events": None}
    lean_events, handler_events = lean.json()["events"], handler.json()["events"]
    for events in (lean_events, handler_events):
        for event in events:
            event.pop("recorded_at")
    assert lean_events == handler_events
    assert lean_events[0]["id"] == EVENT_ID
    assert lean_events[0]["version"] == 13
    for header in ("content-type", "location"):
        assert lean.headers[header] == handler.headers[header], header
    assert lean.headers["location"] == f"{VODAFONE}/events?from_version=13"
    assert lean.headers["x-request-id"]


async def test_refusals_go_to_the_handler_once_and_store_nothing(
    client: AsyncTestClient[Any],
    auth: dict[str, str],
    handed_over: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"{VODAFONE}/events"
    step = {"type": "MilestoneAchieved", "effective": "2024-05-01", "data": {"id": "nope"}}
    with caplog.at_level(logging.INFO, logger="timeline.audit"):
        refused = await client.post(url, json={"events": [step]}, headers=auth)
    assert refused.status_code == 422
    assert refused.json()["rule"] == "unknown-milestone"
    used = [r for r in caplog.records if r.getMessage() == "token used"]
    assert len(used) == 1  # the edge checked the token; the handler did not again
    stale = await client.post(
        url, json={"expected_version": 3, "events": [milestone()]}, headers=auth
    )
    assert stale.status_code == 409
    malformed = await client.post(
        url, content=b'{"events": [', headers={**auth, "Content-Type": "application/json"}
    )
    assert malformed.status_code == 400
    no_token = await client.post(url, json={"events": [milestone()]})
    assert no_token.status_code == 401
    assert handed_over == [url] * 4
    assert await _count(client) == 42
    stored = await client.post(url, json={"events": [milestone()]}, headers=auth)
    assert stored.status_code == 201
    assert handed_over == [url] * 4  # a clean append is the lean path's
    assert await _count(client) == 43


async def test_a_refusal_takes_one_turn_of_the_writer(
    client: AsyncTestClient[Any],
    auth: dict[str, str],
    handed_over: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The handler answers what the store raised when the edge tried the append: the same
    problem, counted once, and the append is not queued again."""
    store = services_of(client).store
    tried: list[str] = []
    real = store.append

    async def counted(stream: str, events: Sequence[Any], **options: Any) -> Any:
        tried.append(stream)
        return await real(stream, events, **options)

    monkeypatch.setattr(store, "append", counted)
    counted_before = metrics.APPENDS.labels("refused")._value.get()
    url = f"{VODAFONE}/events"
    step = {"type": "MilestoneAchieved", "effective": "2024-05-01", "data": {"id": "nope"}}
    refused = await client.post(url, json={"events": [step]}, headers=auth)
    assert refused.status_code == 422
    assert refused.json()["rule"] == "unknown-milestone"
    stale = await client.post(
        url, json={"expected_version": 3, "events": [milestone()]}, headers=auth
    )
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 12  # what the store said to the edge
    assert tried == ["vodafone-microsoft"] * 2  # one turn each, the edge's
    assert handed_over == [url] * 2
    assert metrics.APPENDS.labels("refused")._value.get() == counted_before + 2
    assert await _count(client) == 42


async def test_a_fault_that_is_no_refusal_is_tried_again_by_the_handler(
    client: AsyncTestClient[Any], auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What is not the store's refusal (a connection lost, say) is not answered as one: the
    handler tries the append itself."""
    store = services_of(client).store
    real = store.append
    tried: list[str] = []

    async def flaky(stream: str, events: Sequence[Any], **options: Any) -> Any:
        tried.append(stream)
        if len(tried) == 1:
            raise ConnectionResetError("the database went away")
        return await real(stream, events, **options)

    monkeypatch.setattr(store, "append", flaky)
    stored = await client.post(f"{VODAFONE}/events", json={"events": [milestone()]}, headers=auth)
    assert stored.status_code == 201
    assert tried == ["vodafone-microsoft"] * 2
    assert await _count(client) == 43


async def test_a_body_over_the_limit_is_refused_by_the_handler(
    client: AsyncTestClient[Any], auth: dict[str, str], handed_over: list[str]
) -> None:
    big = [milestone(f"m{n}", data={"id": f"m{n}", "title": "x" * 9_000, "due": "2025"})
           for n in range(3)]  # fmt: skip
    response = await client.post(f"{VODAFONE}/events", json={"events": big}, headers=auth)
    assert response.status_code == 413
    assert handed_over == [f"{VODAFONE}/events"]
    assert await _count(client) == 42


async def test_the_lean_answer_is_not_compressed(
    client: AsyncTestClient[Any], auth: dict[str, str], handed_over: list[str]
) -> None:
    """Identity is always acceptable unless refused; a client refusing it goes to litestar."""
    batch = [milestone(f"m{n}") for n in range(5)]
    response = await client.post(
        f"{VODAFONE}/events",
        json={"events": batch},
        headers={**auth, "Accept-Encoding": "gzip"},
    )
    assert response.status_code == 201
    assert "content-encoding" not in response.headers
    assert len(response.content) > 1024  # litestar would have compressed it
    assert [e["version"] for e in response.json()["events"]] == [13, 14, 15, 16, 17]
    assert handed_over == []
    refusing = await client.post(
        f"{VODAFONE}/events",
        json={"events": [milestone("n9")]},
        headers={**auth, "Accept-Encoding": "gzip, identity;q=0"},
    )
    assert refusing.status_code == 201
    assert handed_over == [f"{VODAFONE}/events"]
    assert refusing.json()["version"] == 18  # stored once, answered by litestar's handler


@pytest.mark.parametrize("path", ["lean", "handler"])
async def test_only_the_ids_a_client_sent_are_looked_up(
    client: AsyncTestClient[Any],
    auth: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    path: str,
) -> None:
    """Both HTTP paths say their events were decoded for this append: an id the server drew
    is not looked up, one the client sent is (and a second post of it is a replay)."""
    asked: list[list[str]] = []
    looked_up = SQLTransaction.events_by_id

    async def spy(self: SQLTransaction, ids: Sequence[UUID]) -> list[StoredEvent]:
        asked.append([str(i) for i in ids])
        return await looked_up(self, ids)

    monkeypatch.setattr(SQLTransaction, "events_by_id", spy)
    headers = auth if path == "lean" else {**auth, "Origin": "https://example.org"}
    url = f"{VODAFONE}/events"
    drawn = await client.post(url, json={"events": [milestone("drawn")]}, headers=headers)
    assert drawn.status_code == 201
    assert asked == []
    for status in (201, 200):
        sent = await client.post(url, json={"events": [milestone(id=EVENT_ID)]}, headers=headers)
        assert sent.status_code == status
    assert asked == [[EVENT_ID], [EVENT_ID]]
