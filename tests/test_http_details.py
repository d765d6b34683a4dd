"""HTTP as clients and caches read it: codings, validators, methods, parameters, tokens."""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_helpers import running, services_of, settings_for
from litestar.testing import AsyncTestClient
from server_helpers import EventStreamReader, Server, free_port, request

from timeline.api.edge import acceptable
from timeline.api.http import feed_links

STATE = "/partnerships/vodafone-microsoft"
FEED = "/calendars/partnerships/vodafone-microsoft.ics"


@pytest.mark.parametrize(
    ("said", "left"),
    [
        (b"gzip;q=0", b"identity"),
        (b"gzip;q=0, br", b"br"),
        (b"br;q=0.0, gzip;q=0.5", b"gzip;q=0.5"),
        (b"gzip; q=0.000, br;level=1", b"br;level=1"),
        (b"gzip, deflate, br", b"gzip, deflate, br"),
        (b"identity;q=0, gzip", b"identity;q=0, gzip"),
    ],
)
def test_refused_codings_are_dropped_before_compression_chooses(said: bytes, left: bytes) -> None:
    """A coding the client refuses with `q=0` is not one litestar may choose by its name."""
    assert acceptable(said) == left


@pytest.mark.parametrize("path", [STATE, FEED, "/events"])
async def test_q0_is_honoured_and_every_variant_says_vary(
    client: AsyncTestClient[Any], path: str
) -> None:
    """`gzip;q=0` gets no gzip; plain and compressed answers alike say
    `Vary: Accept-Encoding`, so a shared cache keeps them apart."""
    for said, coding in (("gzip;q=0", None), ("gzip", "gzip"), ("identity", None)):
        answer = await client.get(path, headers={"Accept-Encoding": said})
        assert answer.status_code == 200
        assert answer.headers.get("content-encoding") == coding, said
        varies = [name.strip() for name in answer.headers["vary"].split(",")]
        assert "Accept-Encoding" in varies, said  # the feed varies on Accept too


async def test_a_304_repeats_the_cache_control_of_its_200(client: AsyncTestClient[Any]) -> None:
    """A JSON 304 carries the `Cache-Control` its 200 had."""
    first = await client.get(STATE)
    again = await client.get(STATE, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["cache-control"] == first.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", STATE, "GET, HEAD, OPTIONS"),
        ("PUT", "/events", "GET, HEAD, OPTIONS"),
        ("DELETE", f"{STATE}/events", "GET, HEAD, OPTIONS, POST"),
    ],
)
async def test_a_405_allows_head_wherever_get_is(
    client: AsyncTestClient[Any], method: str, path: str, allow: str
) -> None:
    answer = await client.request(method, path)
    assert answer.status_code == 405
    assert answer.headers["allow"] == allow


async def test_an_encoded_body_is_a_415(client: AsyncTestClient[Any], auth: dict[str, str]) -> None:
    """A gzip body is an unsupported content coding (415), not malformed JSON (400)."""
    body = gzip.compress(b'{"events": []}')
    answer = await client.post(
        f"{STATE}/events",
        content=body,
        headers={**auth, "Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert answer.status_code == 415
    assert "gzip-encoded" in answer.json()["detail"]


async def test_a_repeated_single_valued_parameter_is_refused(
    client: AsyncTestClient[Any],
) -> None:
    """`?as_of=a&as_of=b` is a 400 naming it, not an answer for the last one; a repeatable
    parameter (`type`) still repeats."""
    answer = await client.get(STATE, params=[("as_of", "2024-01-01"), ("as_of", "2025-01-01")])
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["path"] == "query.as_of"
    types = [("type", "MilestoneScheduled"), ("type", "PhaseScheduled")]
    assert (await client.get("/events", params=types)).status_code == 200


async def test_a_fact_dated_before_the_announcement_says_so(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    said = {
        "type": "StatementMade",
        "effective": "2020-01-01",
        "data": {"speaker": "someone", "text": "words", "language": "en"},
    }
    answer = await client.post(f"{STATE}/events", json={"events": [said]}, headers=auth)
    assert answer.status_code == 422
    problem = answer.json()
    assert problem["rule"] == "announcement-first"
    assert "takes effect on 2020-01-01, before the partnership was announced" in problem["detail"]


async def test_live_streams_take_a_read_token_in_the_query(tmp_path: Path) -> None:
    """A browser's `EventSource` sends no header: a private deployment's live streams take a
    `read` token as `?token=` (an append-only one is refused), and no log line holds it."""
    server = Server(tmp_path, free_port(), first_start=True, env={"TIMELINE_PUBLIC_READ": "false"})
    try:
        both = server.first_token()
        server.wait_healthy()
        status, created = request(f"{server.base}/health")
        assert status == 200, created
        for path in ("/events/stream", f"{STATE}/events/stream"):
            async with EventStreamReader(f"{server.base}{path}") as anonymous:
                assert anonymous.status == 401
            async with EventStreamReader(f"{server.base}{path}?token={both}") as reader:
                assert reader.status == 200
                assert reader.content_type.startswith("text/event-stream")
                assert (await reader.next_event()) is not None  # the backlog
    finally:
        server.stop()
    assert both not in (tmp_path / f"server-{server.base.rsplit(':', 1)[1]}.log").read_text()


def test_a_link_carrying_a_token_is_never_webcal_on_https() -> None:
    """Calendar apps fetch `webcal:` over plain http: a link that carries a token on an https
    deployment is handed out as https; without a token, `webcal:` is safe."""
    private = feed_links("https://t.example.org", "/calendars/all.ics", "tl_secret")
    assert (
        private.webcal == private.url == "https://t.example.org/calendars/all.ics?token=tl_secret"
    )
    public = feed_links("https://t.example.org", "/calendars/all.ics")
    assert public.webcal == "webcal://t.example.org/calendars/all.ics"


async def test_writes_are_limited_per_token_and_per_client(tmp_path: Path) -> None:
    """With limits set, the write past a token's limit is a 429 problem with `Retry-After`
    and `RateLimit-*` headers, another token from the same client writes on until the
    client's own limit; reads are never limited."""
    settings = settings_for(tmp_path, write_limit_per_token=2, write_limit_per_client=3)
    async with running(settings) as client:
        tokens = services_of(client).tokens
        first = {"Authorization": f"Bearer {await tokens.create_token('one', ('append',))}"}
        second = {"Authorization": f"Bearer {await tokens.create_token('two', ('append',))}"}
        url = f"{STATE}/events"

        async def said(headers: dict[str, str], n: int) -> Any:
            event = {"type": "StatementMade", "effective": "2024-03-01",
                     "data": {"speaker": f"s{n}", "text": "t", "language": "en"}}  # fmt: skip
            return await client.post(url, json={"events": [event]}, headers=headers)

        answers = [await said(first, n) for n in range(3)]
        assert [a.status_code for a in answers] == [201, 201, 429]
        assert answers[0].headers["ratelimit-limit"] == "2"
        assert answers[1].headers["ratelimit-remaining"] == "0"
        refused = answers[2]
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["retry-after"]) > 0
        assert "too many writes from this token" in refused.json()["detail"]
        assert (await said(second, 3)).status_code == 201  # the client's third write
        other = await said(second, 4)
        assert other.status_code == 429
        assert "from this client" in other.json()["detail"]
        for _ in range(5):
            assert (await client.get(STATE)).status_code == 200


async def test_no_write_limit_by_default(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    """Without limits set, a burst of appends is taken and says nothing of limits."""
    for n in range(12):
        event = {"type": "StatementMade", "effective": "2024-03-01",
                 "data": {"speaker": f"s{n}", "text": "t", "language": "en"}}  # fmt: skip
        answer = await client.post(f"{STATE}/events", json={"events": [event]}, headers=auth)
        assert answer.status_code == 201
        assert "ratelimit-limit" not in answer.headers


async def test_min_position_waits_for_the_position_or_says_503(tmp_path: Path) -> None:
    """A read with `min_position` this replica has seen answers at once; one beyond waits
    until an append brings it, or answers 503 with `Retry-After` once
    TIMELINE_MIN_POSITION_WAIT is over; a malformed one is a 400."""
    async with running(settings_for(tmp_path, min_position_wait=0.3)) as client:
        head = (await client.get("/health")).json()["last_position"]
        assert (await client.get(STATE, params={"min_position": head})).status_code == 200
        late = await client.get(STATE, params={"min_position": head + 1})
        assert late.status_code == 503
        assert late.headers["retry-after"] == "1"
        assert late.json()["errors"][0]["path"] == "query.min_position"
        for bad in ("-1", "x", str(2**53), "１"):
            answer = await client.get(STATE, params={"min_position": bad})
            assert answer.status_code == 400, bad
            assert answer.json()["errors"][0]["path"] == "query.min_position"


async def test_a_read_with_min_position_waits_for_the_append(served: tuple[Server, str]) -> None:
    """A read naming a position not yet stored waits, and answers with it once appended."""
    server, token = served
    said = {"type": "StatementMade", "effective": "2024-03-01",
            "data": {"speaker": "s", "text": "t", "language": "en"}}  # fmt: skip
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
        head = (await client.get("/health")).json()["last_position"]

        async def append_soon() -> None:
            await asyncio.sleep(0.3)
            answer = await client.post(
                f"{STATE}/events",
                json={"events": [said]},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert answer.status_code == 201

        waited, _ = await asyncio.gather(
            client.get(STATE, params={"min_position": head + 1}), append_soon()
        )
    assert waited.status_code == 200, waited.text
    assert waited.json()["basis"]["last_position"] == head + 1
