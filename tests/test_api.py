"""The HTTP API through litestar's test client: every endpoint and status of DESIGN.md §6."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from api_helpers import running, services_of, settings_for
from litestar.testing import AsyncTestClient

from timeline.api.app import create_app
from timeline.api.auth import feed_guard, read_guard, subscribe_guard
from timeline.store import token_registry

VODAFONE = "/partnerships/vodafone-microsoft"
PROBLEM = "application/problem+json"


def milestone(item: str = "launch", due: str = "2025-06", **extra: Any) -> dict[str, Any]:
    return {
        "type": "MilestoneScheduled",
        "effective": "2024-03-01",
        "data": {"id": item, "title": f"Milestone {item}", "due": due},
        "sources": [{"title": "Press release", "language": "en"}],
        **extra,
    }


async def event_count(client: AsyncTestClient[Any]) -> int:
    return (await client.get("/health")).json()["events"]


async def test_curated_state_over_http(client: AsyncTestClient[Any]) -> None:
    """On 1 Feb 2024 the Vodafone partnership shows the USD 1.5 bn and the pending IoT milestone."""
    response = await client.get(VODAFONE, params={"as_of": "2024-02-01"})
    assert response.status_code == 200
    state = response.json()
    vodafone = next(i for i in state["investments"] if i["investor"] == "vodafone")
    assert vodafone["amount"] == {"amount": "1500000000", "currency": "USD"}
    assert vodafone["equivalents"] == [
        {"amount": "1370000000", "currency": "EUR", "approximate": True}
    ]
    assert [(m["id"], m["status"], m["deadline"]) for m in state["milestones"]] == [
        ("iot-platform-independent", "pending", "2024-04-30")
    ]
    basis = state["basis"]
    assert (basis["as_of"], basis["version"]) == ("2024-02-01", 12)
    assert basis["known_at"].endswith("Z")
    unreported = (await client.get(VODAFONE, params={"as_of": "2024-06-01"})).json()
    assert unreported["milestones"][0]["status"] == "unreported"


async def test_state_etag_and_304(client: AsyncTestClient[Any], auth: dict[str, str]) -> None:
    """The state's ETag answers 304 while unchanged, and moves when the stream does."""
    first = await client.get(VODAFONE, params={"as_of": "2024-02-01"})
    tag = first.headers["etag"]
    again = await client.get(
        VODAFONE, params={"as_of": "2024-02-01"}, headers={"If-None-Match": tag}
    )
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", tag)
    other_day = await client.get(
        VODAFONE, params={"as_of": "2024-02-02"}, headers={"If-None-Match": tag}
    )
    assert other_day.status_code == 200
    await client.post(f"{VODAFONE}/events", json={"events": [milestone()]}, headers=auth)
    changed = await client.get(
        VODAFONE, params={"as_of": "2024-02-01"}, headers={"If-None-Match": tag}
    )
    assert changed.status_code == 200
    assert changed.headers["etag"] != tag


async def test_known_at_answers_what_was_believed(client: AsyncTestClient[Any], auth) -> None:
    """`known_at` before an append shows the state without it; before curation, a 404."""
    before = (await client.get(VODAFONE)).json()["basis"]["known_at"]
    await client.post(f"{VODAFONE}/events", json={"events": [milestone()]}, headers=auth)
    now = (await client.get(VODAFONE, params={"as_of": "2024-04-01"})).json()
    then = (await client.get(VODAFONE, params={"as_of": "2024-04-01", "known_at": before})).json()
    assert len(now["milestones"]) == 2
    assert len(then["milestones"]) == 1
    assert then["basis"]["version"] == 12
    gone = await client.get(VODAFONE, params={"known_at": "2020-01-01T00:00:00Z"})
    assert gone.status_code == 404
    assert "nothing was known" in gone.json()["detail"]


async def test_list_filters_and_pages(client: AsyncTestClient[Any]) -> None:
    """`GET /partnerships` filters by party, status and region, and pages with a cursor."""

    async def ids(**params: Any) -> list[str]:
        body = (await client.get("/partnerships", params=params)).json()
        return [p["id"] for p in body["partnerships"]]

    assert await ids() == ["telefonica-microsoft", "vodafone-microsoft"]
    assert await ids(party="vodafone") == ["vodafone-microsoft"]
    assert await ids(region="africa") == ["vodafone-microsoft"]
    assert await ids(status="ended") == []
    answer = await client.get("/partnerships", params={"limit": 1, "party": "microsoft"})
    first = answer.json()
    assert [p["id"] for p in first["partnerships"]] == ["telefonica-microsoft"]
    assert first["next"].startswith("/partnerships?limit=1&party=microsoft&cursor=")
    assert answer.headers["link"] == f'<{first["next"]}>; rel="next"'
    second = await client.get(first["next"])
    assert [p["id"] for p in second.json()["partnerships"]] == ["vodafone-microsoft"]
    assert second.json()["next"] is None
    assert "link" not in second.headers
    assert (await client.get("/partnerships", params={"cursor": "%%%"})).status_code == 400


async def test_list_answers_as_known_at_an_instant(client: AsyncTestClient[Any], auth) -> None:
    """A party that joined later is listed for `known_at` after its append, not before."""
    before = (await client.get(VODAFONE)).json()["basis"]["known_at"]
    joined = {
        "type": "PartyJoined",
        "effective": "2024-06-01",
        "data": {"org": "nokia", "name": "Nokia"},
        "sources": [{"title": "Press release", "language": "en"}],
    }
    assert (
        await client.post(f"{VODAFONE}/events", json={"events": [joined]}, headers=auth)
    ).status_code == 201

    async def ids(**params: Any) -> list[tuple[str, int]]:
        body = (await client.get("/partnerships", params=params)).json()
        return [(p["id"], p["version"]) for p in body["partnerships"]]

    assert await ids(party="nokia", as_of="2024-07-01") == [("vodafone-microsoft", 13)]
    assert await ids(party="nokia", as_of="2024-05-01") == []
    assert await ids(party="nokia", as_of="2024-07-01", known_at=before) == []
    assert await ids(party="vodafone", known_at=before) == [("vodafone-microsoft", 12)]
    assert await ids(known_at="2020-01-01T00:00:00Z") == []


async def test_history_filters_pages_and_etag(client: AsyncTestClient[Any]) -> None:
    """History filters by type, version, effective range and pages with `next`."""
    statements = (await client.get(f"{VODAFONE}/events", params={"type": "StatementMade"})).json()
    assert {e["type"] for e in statements["events"]} == {"StatementMade"}
    assert len(statements["events"]) == 2  # the article's narration is BackgroundNoted
    page = await client.get(f"{VODAFONE}/events", params={"limit": 5})
    body = page.json()
    assert [e["version"] for e in body["events"]] == [1, 2, 3, 4, 5]
    assert body["events"][0]["position"] > 0
    assert body["events"][0]["sources"][1]["language"] == "fr"
    rest = (await client.get(body["next"])).json()
    assert [e["version"] for e in rest["events"]][:2] == [6, 7]
    none = await client.get(f"{VODAFONE}/events", params={"effective_to": "2023"})
    assert none.json()["events"] == []
    again = await client.get(
        f"{VODAFONE}/events", params={"limit": 5}, headers={"If-None-Match": page.headers["etag"]}
    )
    assert again.status_code == 304
    assert (await client.get("/partnerships/nobody/events")).status_code == 404
    assert (await client.get(f"{VODAFONE}/events", params={"type": "Nope"})).status_code == 400


async def test_append_created_replayed_and_conflicts(client: AsyncTestClient[Any], auth) -> None:
    """201 on append, 200 with the same body on replay, 409 naming the current version."""
    event = milestone(id="8d6f6c2e-6b1b-4b7a-9d0c-2f1f3e4d5c6b")
    created = await client.post(
        f"{VODAFONE}/events", json={"expected_version": 12, "events": [event]}, headers=auth
    )
    assert created.status_code == 201
    body = created.json()
    assert (body["version"], body["events"][0]["actor"], body["events"][0]["version"]) == (
        13,
        "pipeline",
        13,
    )
    assert created.headers["location"] == f"{VODAFONE}/events?from_version=13"
    replay = await client.post(
        f"{VODAFONE}/events", json={"expected_version": 12, "events": [event]}, headers=auth
    )
    assert (replay.status_code, replay.json()) == (200, body)
    stale = await client.post(
        f"{VODAFONE}/events",
        json={"expected_version": 12, "events": [milestone("x")]},
        headers=auth,
    )
    assert stale.status_code == 409
    assert stale.headers["content-type"] == PROBLEM
    assert stale.json()["current_version"] == 13
    reused = dict(event, data={"id": "other", "title": "Other", "due": "2026"})
    conflict = await client.post(f"{VODAFONE}/events", json={"events": [reused]}, headers=auth)
    assert conflict.status_code == 409
    assert "other content" in conflict.json()["detail"]
    assert await event_count(client) == 43


async def test_domain_rule_is_named(client: AsyncTestClient[Any], auth) -> None:
    """A broken domain rule is a 422 that names the rule and the event."""
    step = {"type": "MilestoneAchieved", "effective": "2024-05-01", "data": {"id": "nope"}}
    response = await client.post(f"{VODAFONE}/events", json={"events": [step]}, headers=auth)
    assert response.status_code == 422
    problem = response.json()
    assert problem["rule"] == "unknown-milestone"
    assert problem["event_id"]
    new = await client.post(
        "/partnerships/new-one/events", json={"events": [milestone()]}, headers=auth
    )
    assert new.json()["rule"] == "announcement-first"
    assert await event_count(client) == 42


async def test_auth_statuses(client: AsyncTestClient[Any]) -> None:
    """No token: 401 with a challenge; unknown token: 401; a read-only token: 403."""
    url, payload = f"{VODAFONE}/events", {"events": [milestone()]}
    missing = await client.post(url, json=payload)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = await client.post(url, json=payload, headers={"Authorization": "Bearer tl_nope"})
    assert wrong.status_code == 401
    store = services_of(client).store
    reader = await token_registry(store).create_token("reader", ("read",))
    denied = await client.post(url, json=payload, headers={"Authorization": f"Bearer {reader}"})
    assert denied.status_code == 403
    assert "insufficient_scope" in denied.headers["www-authenticate"]
    writer = await token_registry(store).create_token("writer", ("append",))
    assert await token_registry(store).revoke_token("writer")
    revoked = await client.post(url, json=payload, headers={"Authorization": f"Bearer {writer}"})
    assert revoked.status_code == 401
    assert await event_count(client) == 42


async def test_private_reads_need_a_read_token(tmp_path: Path) -> None:
    """With TIMELINE_PUBLIC_READ=false every read needs a `read` token; health stays open."""
    async with running(settings_for(tmp_path, public_read=False)) as client:
        assert (await client.get(VODAFONE)).status_code == 401
        assert (await client.get("/events")).status_code == 401
        assert (await client.get("/health")).status_code == 200
        secret = await services_of(client).tokens.create_token("analyst", ("read",))
        allowed = await client.get(VODAFONE, headers={"Authorization": f"Bearer {secret}"})
        assert allowed.status_code == 200


async def test_global_feed_pages_in_position_order(client: AsyncTestClient[Any]) -> None:
    """`GET /events` pages through every stream in position order."""
    first = (await client.get("/events", params={"limit": 10})).json()
    assert [e["position"] for e in first["events"]] == list(range(1, 11))
    following = (await client.get(first["next"])).json()
    assert [e["position"] for e in following["events"]] == list(range(11, 21))
    end = (await client.get("/events", params={"after": 42})).json()
    assert (end["events"], end["last_position"]) == ([], 42)


async def test_organizations(client: AsyncTestClient[Any]) -> None:
    """Organizations list the partnerships they are party to."""
    listed = (await client.get("/organizations")).json()["organizations"]
    assert [o["org"] for o in listed] == [
        "microsoft",
        "telefonica",
        "vodafone",
        "vodafone-iot-platform",  # registered, in no partnership
    ]
    microsoft = (await client.get("/organizations/microsoft")).json()
    assert {p["id"] for p in microsoft["partnerships"]} == {
        "vodafone-microsoft",
        "telefonica-microsoft",
    }
    assert (await client.get("/organizations/nobody")).status_code == 404
    first = (await client.get("/organizations/microsoft", params={"limit": 1})).json()
    assert [p["id"] for p in first["partnerships"]] == ["telefonica-microsoft"]
    assert first["name"] == "Microsoft"
    rest = await client.get(first["next"])
    assert [p["id"] for p in rest.json()["partnerships"]] == ["vodafone-microsoft"]
    assert rest.json()["next"] is None
    unchanged = await client.get(first["next"], headers={"If-None-Match": rest.headers["etag"]})
    assert unchanged.status_code == 304
    paged = (await client.get("/organizations", params={"limit": 2})).json()
    assert [o["org"] for o in paged["organizations"]] == ["microsoft", "telefonica"]
    assert [p["id"] for p in paged["organizations"][1]["partnerships"]] == ["telefonica-microsoft"]


async def test_schemas_and_health(client: AsyncTestClient[Any]) -> None:
    """The schemas of the catalogue are served; health states backend and counts."""
    index = (await client.get("/schemas")).json()["types"]
    assert len(index) == 33  # 25 about partnerships, 8 about organizations
    schema = await client.get("/schemas/StatementMade")
    assert schema.headers["content-type"].startswith("application/schema+json")
    assert json.loads(schema.content)["x-schema-version"] == 2
    assert (await client.get("/schemas/Nope")).status_code == 404
    assert (await client.get("/health")).json() == {
        "status": "ok", "backend": "sqlite", "events": 42, "last_position": 42,
    }  # fmt: skip


async def test_openapi_documents_every_route_and_problem(client: AsyncTestClient[Any]) -> None:
    """The spec lists every endpoint with its problem responses and curated examples."""
    spec = (await client.get("/docs/openapi.json")).json()
    assert set(spec["paths"]) >= {
        "/partnerships", "/partnerships/{stream_id}", "/partnerships/{stream_id}/events",
        "/events", "/organizations", "/organizations/{org}", "/schemas",
        "/schemas/{event_type}", "/health",
    }  # fmt: skip
    post = spec["paths"]["/partnerships/{stream_id}/events"]["post"]
    assert set(post["responses"]) >= {"200", "201", "400", "401", "403", "409", "413", "422"}
    assert PROBLEM in post["responses"]["422"]["content"]
    example = post["requestBody"]["content"]["application/json"]["examples"]
    assert "iot-platform-independent" in json.dumps(example)
    state = spec["paths"]["/partnerships/{stream_id}"]["get"]["responses"]["200"]
    assert "Vodafone" in json.dumps(state["content"]["application/json"]["examples"])
    assert (await client.get("/docs")).status_code == 200


async def test_unknown_route_and_method_are_problems(client: AsyncTestClient[Any]) -> None:
    """Even the framework's own errors are problem documents."""
    missing = await client.get("/nowhere")
    assert (missing.status_code, missing.headers["content-type"]) == (404, PROBLEM)
    wrong = await client.delete(VODAFONE)
    assert (wrong.status_code, wrong.headers["content-type"]) == (405, PROBLEM)


def test_every_read_of_ours_is_guarded(tmp_path: Path) -> None:
    """Every GET handler of ours but health and metrics runs `read_guard` (the calendars
    `feed_guard`, the subscriptions `subscribe_guard`): the guard sits on each read, not on a
    router, so a new read without it would be public in a private deployment, and this says
    so."""
    app = create_app(settings_for(tmp_path))
    checked = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if "GET" not in handler.http_methods or not handler.fn.__module__.startswith(
                "timeline."
            ):
                continue
            if route.path.startswith(("/health", "/metrics")):
                continue
            guards = handler.resolve_guards()
            if route.path.startswith("/subscriptions"):  # receivers' URLs: a scope of their own
                assert subscribe_guard in guards, route.path
                continue
            assert read_guard in guards or feed_guard in guards, route.path
            checked.append(route.path)
    assert len(checked) >= 10
    assert "/partnerships/{stream_id:str}/events" in checked
