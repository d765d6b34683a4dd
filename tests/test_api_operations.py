"""What operators and attackers meet at the HTTP edge: probes, metrics, logs, links, limits."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, get_args

import pytest
from api_helpers import running, services_of, settings_for
from icalendar import Calendar
from litestar.testing import AsyncTestClient

from timeline.events import SLUG_PATTERN
from timeline.fold import Rule

VODAFONE = "/partnerships/vodafone-microsoft"
APPEND = f"{VODAFONE}/events"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[AsyncTestClient[Any]]:
    async with running(
        settings_for(tmp_path, max_batch=100, max_body_bytes=1_000_000)
    ) as test_client:
        yield test_client


@pytest.fixture
async def auth(client: AsyncTestClient[Any]) -> dict[str, str]:
    secret = await services_of(client).tokens.create_token("pipeline", ("append",))
    return {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}


def events(*items: dict[str, Any]) -> bytes:
    return json.dumps({"events": list(items)}).encode()


def far_milestone(due: str) -> dict[str, Any]:
    return {
        "type": "MilestoneScheduled",
        "effective": "2024-03-01",
        "data": {"id": "far", "title": "Far away", "due": due},
    }


@pytest.mark.parametrize("due", ["9999", "9999-Q4", "9999-12-31"])
async def test_the_last_day_of_the_calendar_breaks_no_feed(
    client: AsyncTestClient[Any], auth: dict[str, str], due: str
) -> None:
    """A milestone due in 9999 is shown on 9999-12-31 (DURATION, no DTEND), also once retracted."""
    appended = await client.post(APPEND, content=events(far_milestone(due)), headers=auth)
    assert appended.status_code == 201
    feeds = [
        "/calendars/all.ics",
        f"/calendars{VODAFONE}.ics",
        "/calendars/organizations/microsoft.ics",
    ]
    for feed in feeds:
        response = await client.get(feed)
        assert response.status_code == 200, response.text
        far = [
            c for c in Calendar.from_ical(response.content).walk("VEVENT") if "far" in str(c["UID"])
        ]
        assert [str(c.decoded("DTSTART")) for c in far] == ["9999-12-31"]
        assert "DTEND" not in far[0]
        assert str(far[0].decoded("DURATION")) == "1 day, 0:00:00"
    retract = {
        "type": "EventRetracted",
        "effective": "2024-03-02",
        "data": {"event_id": appended.json()["events"][0]["id"], "reason": "a typo"},
    }
    assert (await client.post(APPEND, content=events(retract), headers=auth)).status_code == 201
    assert (await client.get("/calendars/all.ics")).status_code == 200


@pytest.mark.parametrize("header", ["²", "١٢", "18446744073709551616", "-1", "1e3", "abc"])
async def test_last_event_id_that_is_no_position_is_a_400(
    client: AsyncTestClient[Any], header: str
) -> None:
    """Unicode digits, 64-bit overflow and signs are refused before the stream opens."""
    response = await client.get("/events/stream", headers={"Last-Event-ID": header.encode()})
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "header.Last-Event-ID"


async def test_a_form_body_is_415(client: AsyncTestClient[Any], auth: dict[str, str]) -> None:
    """A form-encoded append is told which media type to send, not that its JSON is bad."""
    headers = auth | {"Content-Type": "application/x-www-form-urlencoded"}
    response = await client.post(APPEND, content=b"events=1", headers=headers)
    assert response.status_code == 415
    assert "application/json" in response.json()["detail"]


async def test_head_answers_like_get_without_a_body(client: AsyncTestClient[Any]) -> None:
    """HEAD works wherever GET does: same status and validators, no body."""
    for path in (VODAFONE, "/partnerships", "/calendars/all.ics", "/health", "/nowhere"):
        got, head = await client.get(path), await client.head(path)
        assert head.status_code == got.status_code, path
        assert head.content == b""
        assert head.headers.get("etag") == got.headers.get("etag")


async def test_append_only_token_appends_in_a_private_deployment(tmp_path: Path) -> None:
    """TIMELINE_PUBLIC_READ=false guards reads; an `append` token still appends (and reads 401)."""
    async with running(settings_for(tmp_path, public_read=False)) as client:
        secret = await services_of(client).tokens.create_token("writer", ("append",))
        auth = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
        appended = await client.post(APPEND, content=events(far_milestone("2030")), headers=auth)
        assert appended.status_code == 201, appended.text
        assert (await client.get(VODAFONE, headers=auth)).status_code == 403
        assert (await client.get("/docs/openapi.json")).status_code == 200


async def test_links_come_from_the_public_url_not_the_host_header(tmp_path: Path) -> None:
    """A forged Host changes no link; TIMELINE_PUBLIC_URL decides scheme and host."""
    settings = settings_for(tmp_path, public_url="https://timeline.example.org/")
    async with running(settings) as client:
        state = (await client.get(VODAFONE, headers={"Host": "evil.example"})).json()
        assert state["calendar"] == {
            "url": "https://timeline.example.org/calendars/partnerships/vodafone-microsoft.ics",
            "webcal": "webcal://timeline.example.org/calendars/partnerships/vodafone-microsoft.ics",
        }
        assert (
            state["page"] == "https://timeline.example.org/partnerships/vodafone-microsoft/timeline"
        )
        feed = await client.get(f"/calendars{VODAFONE}.ics", headers={"Host": "evil.example"})
        assert b"evil.example" not in feed.content
        assert b"URL:https://timeline.example.org/partnerships/" in feed.content


async def test_private_feed_links_carry_the_readers_token(tmp_path: Path) -> None:
    """In a private deployment the handed-out webcal link works in a calendar app as it is."""
    async with running(settings_for(tmp_path, public_read=False)) as client:
        secret = await services_of(client).tokens.create_token("reader", ("read",))
        state = (await client.get(VODAFONE, headers={"Authorization": f"Bearer {secret}"})).json()
        link = state["calendar"]["url"]
        assert link.endswith(f"?token={secret}")
        path = link.removeprefix("http://testserver.local")
        assert (await client.get(path)).status_code == 200
        assert (await client.get(path.split("?")[0])).status_code == 401


async def test_request_ids_are_echoed_and_logged(
    client: AsyncTestClient[Any], caplog: pytest.LogCaptureFixture
) -> None:
    """One access line per request with status and duration; X-Request-ID is echoed or made."""
    caplog.set_level(logging.INFO, logger="timeline.access")
    given = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    made = await client.get("/nowhere")
    forged = await client.get("/health", headers={"X-Request-ID": ("a\u00e9 b" * 50).encode()})
    assert given.headers["x-request-id"] == "abc-123"
    assert len(made.headers["x-request-id"]) == 32
    assert forged.headers["x-request-id"] != "a\u00e9 b" * 50
    assert len(forged.headers["x-request-id"]) == 32  # one of ours, not the forged one
    lines = [r for r in caplog.records if r.name == "timeline.access"]
    assert [(r.method, r.path, r.status, r.request_id) for r in lines[:2]] == [  # type: ignore[attr-defined]
        ("GET", "/health", 200, "abc-123"),
        ("GET", "/nowhere", 404, made.headers["x-request-id"]),
    ]
    assert all(r.duration_ms >= 0 for r in lines)  # type: ignore[attr-defined]


async def test_appends_and_token_use_are_audited_without_the_secret(
    client: AsyncTestClient[Any], auth: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """The audit log names the token and what it appended, never the secret itself."""
    caplog.set_level(logging.INFO, logger="timeline.audit")
    await client.post(APPEND, content=events(far_milestone("2030")), headers=auth)
    audit = [r for r in caplog.records if r.name == "timeline.audit"]
    assert [r.getMessage() for r in audit] == ["token used", "append"]
    assert audit[1].actor == "pipeline"  # type: ignore[attr-defined]
    assert audit[1].events == 1  # type: ignore[attr-defined]
    secret = auth["Authorization"].split()[1]
    assert secret not in caplog.text


async def test_liveness_readiness_and_metrics(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    """Probes answer; /metrics counts requests by route, appends, events and the store."""
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["events"] == 42
    await client.get(VODAFONE)
    await client.post(APPEND, content=events(far_milestone("2030")), headers=auth)
    text = (await client.get("/metrics")).text
    assert (
        'timeline_requests_total{method="GET",route="/partnerships/{stream_id}",status="200"}'
        in text
    )
    assert "timeline_request_duration_seconds_bucket" in text
    assert 'timeline_appends_total{outcome="stored"}' in text
    assert "timeline_store_last_position 43.0" in text
    assert "timeline_store_writable 1.0" in text
    assert "timeline_live_subscribers 0.0" in text


async def test_a_full_store_is_507_and_not_ready_until_it_writes_again(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    """Disk full: the append is a 507 problem, readiness says why; both recover by themselves."""
    writer = services_of(client).store.recorder.writer  # type: ignore[attr-defined]
    pages = next(iter(await writer.execute_fetchall("PRAGMA page_count")))[0]
    await writer.execute(f"PRAGMA max_page_count = {pages}")
    big = far_milestone("2030")
    big["data"]["title"] = "x" * 60_000
    full = await client.post(APPEND, content=events(big), headers=auth)
    assert full.status_code == 507, full.text
    assert full.headers["content-type"] == "application/problem+json"
    assert "cannot write" in full.json()["detail"]
    assert full.headers["retry-after"] == "5"
    not_ready = await client.get("/health/ready")
    assert not_ready.status_code == 503
    assert "cannot write" in not_ready.json()["detail"]
    assert "timeline_store_writable 0.0" in (await client.get("/metrics")).text
    await writer.execute("PRAGMA max_page_count = 1073741823")
    assert (await client.post(APPEND, content=events(big), headers=auth)).status_code == 201
    assert (await client.get("/health/ready")).status_code == 200


async def test_cors_only_for_configured_origins(tmp_path: Path) -> None:
    """No CORS headers by default; with TIMELINE_CORS_ORIGINS, those origins and no others."""
    async with running(settings_for(tmp_path)) as client:
        plain = await client.get("/health", headers={"Origin": "https://app.example"})
        assert "access-control-allow-origin" not in plain.headers
    settings = settings_for(tmp_path, cors_origins="https://app.example")
    async with running(settings) as client:
        allowed = await client.get("/health", headers={"Origin": "https://app.example"})
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        other = await client.get("/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


async def test_large_answers_are_compressed(client: AsyncTestClient[Any]) -> None:
    """Lists, history, feeds and the spec are brotli or gzip as the client asks."""
    for path in (f"{VODAFONE}/events", "/calendars/all.ics", "/docs/openapi.json"):
        brotli = await client.get(path, headers={"Accept-Encoding": "br"})
        assert brotli.headers["content-encoding"] == "br", path
        gzip = await client.get(path, headers={"Accept-Encoding": "gzip"})
        assert gzip.headers["content-encoding"] == "gzip", path
        assert gzip.content == brotli.content  # decoded by the client


@pytest.mark.parametrize("path", ["/partnerships", "/events?after=30", "/organizations"])
async def test_list_and_feed_pages_have_etags(
    client: AsyncTestClient[Any], auth: dict[str, str], path: str
) -> None:
    """A page answers 304 to its own ETag until an append changes what it shows."""
    first = await client.get(path)
    tag = first.headers["etag"]
    again = await client.get(path, headers={"If-None-Match": tag})
    assert (again.status_code, again.content) == (304, b"")
    await client.post(APPEND, content=events(far_milestone("2030")), headers=auth)
    changed = await client.get(path, headers={"If-None-Match": tag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != tag


async def test_organizations_are_paged(client: AsyncTestClient[Any]) -> None:
    """`limit` and `next` (and the `Link` header, the same address) walk every organization
    once, in id order."""
    everyone = (await client.get("/organizations")).json()
    assert everyone["next"] is None
    seen, url = [], "/organizations?limit=1"
    while url is not None:
        answer = await client.get(url)
        page = answer.json()
        seen += [org["org"] for org in page["organizations"]]
        url = page["next"]
        assert answer.headers.get("link") == (None if url is None else f'<{url}>; rel="next"')
    assert seen == [org["org"] for org in everyone["organizations"]]
    assert seen == ["microsoft", "telefonica", "vodafone", "vodafone-iot-platform"]


async def test_the_spec_resolves_every_ref_and_declares_bearer_auth(
    client: AsyncTestClient[Any],
) -> None:
    """Generated clients and fuzzers see the append body and how to authenticate."""
    spec = (await client.get("/docs/openapi.json")).json()
    refs: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    refs.add(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    schemas = spec["components"]["schemas"]
    assert "#/components/schemas/AppendRequest" in refs
    for ref in refs:  # every reference names a component that exists
        _, _, kind, name = ref.split("/")
        assert name in spec["components"][kind], ref
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A token from `timeline tokens create`",
    }
    append = spec["paths"]["/partnerships/{stream_id}/events"]["post"]
    assert append["security"] == [{"bearer": []}]
    rule = json.dumps(schemas["Rule"])
    assert all(f'"{name}"' in rule for name in get_args(Rule))  # clients see every rule name
    assert len(get_args(Rule)) == 33
    (path,) = [p for p in append["parameters"] if p["in"] == "path"]
    assert (path["schema"]["pattern"], path["schema"]["maxLength"]) == (SLUG_PATTERN, 100)
