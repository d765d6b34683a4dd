"""Two `timeline serve` replicas on one PostgreSQL database, as compose.yaml runs them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from server_helpers import EventStreamReader, Server, free_port, request

from timeline.settings import Settings

pytestmark = pytest.mark.postgres

WRITERS = 20
APPENDS_PER_WRITER = 3
ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return document


def test_compose_describes_postgres_and_replicas() -> None:
    """compose.yaml: PostgreSQL with a health check and a volume; API replicas configured by env."""
    services = compose()["services"]
    postgres, api = services["postgres"], services["api"]
    assert postgres["healthcheck"]["test"][1].startswith("pg_isready")
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    assert api["build"] == "."
    assert api["deploy"]["replicas"] >= 2
    assert api["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert api["environment"]["TIMELINE_DATABASE_URL"].startswith("postgresql://timeline_app:")
    assert api["environment"]["TIMELINE_MIGRATE_URL"].startswith("postgresql://timeline_owner:")
    init = postgres["volumes"][1].split(":")[0]
    assert "NOSUPERUSER" in (ROOT / init).read_text()
    assert set(api["environment"]) <= {f"TIMELINE_{f.upper()}" for f in Settings.__struct_fields__}
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["timeline", "serve"]' in dockerfile
    # the container's user owns the working folder, where the SQLite file and first token go
    assert "chown timeline /data" in dockerfile
    assert dockerfile.index("WORKDIR /data") > dockerfile.index("chown timeline /data")
    assert dockerfile.index("USER timeline") > dockerfile.index("WORKDIR /data")


def first_event(worker: int) -> dict[str, Any]:
    parties = [{"org": "a", "name": "A"}, {"org": "b", "name": "B"}]
    return {
        "type": "PartnershipAnnounced",
        "effective": "2024-01-01",
        "data": {"title": f"W{worker}", "kind": "test", "parties": parties},
    }


def statement(worker: int, n: int) -> dict[str, Any]:
    return {
        "type": "StatementMade",
        "effective": "2024-01-01",
        "data": {"speaker": f"W{worker}", "text": f"#{n}", "language": "en"},
    }


def replica_env(role_urls: tuple[str, str]) -> dict[str, str]:
    """The API service's environment from compose.yaml, pointed at the test database.

    As in compose.yaml, the owner migrates and the replicas run as a role that owns nothing.
    """
    owner_url, app_url = role_urls
    env = {k: str(v) for k, v in compose()["services"]["api"]["environment"].items()}
    env.update(
        TIMELINE_DATABASE_URL=app_url,
        TIMELINE_MIGRATE_URL=owner_url,
        TIMELINE_HOST="127.0.0.1",
        TIMELINE_CURATED_DIR=str(ROOT / "events"),
        TIMELINE_SSE_HEARTBEAT="1",
    )
    return env


@contextmanager
def two_replicas(tmp_path: Path, env: dict[str, str]) -> Iterator[tuple[Server, Server, str]]:
    """Replicas A (first start: its token) and B, healthy; both must stop cleanly."""
    a = Server(tmp_path, free_port(), first_start=True, env=env)
    token = a.first_token()
    b = Server(tmp_path, free_port(), env=env)
    try:
        a.wait_healthy()
        b.read_banner()
        b.wait_healthy()
        yield a, b, token
    finally:
        assert a.stop() == 0
        assert b.stop() == 0


async def test_two_replicas_share_writes_order_and_answers(
    tmp_path: Path, role_urls: tuple[str, str]
) -> None:
    """Writers on both replicas; a subscriber on A sees every event once, in order; same answers."""
    env = replica_env(role_urls) | {"TIMELINE_PUBLIC_URL": "https://timeline.example"}
    with two_replicas(tmp_path, env) as (a, b, token):
        headers = {"Authorization": f"Bearer {token}"}
        async with EventStreamReader(f"{a.base}/events/stream?after=42") as subscriber:

            async def writer(worker: int) -> list[str]:
                base = (a if worker % 2 else b).base
                ids = []
                async with httpx.AsyncClient(timeout=30) as client:
                    for n in range(APPENDS_PER_WRITER):
                        event = first_event(worker) if n == 0 else statement(worker, n)
                        response = await client.post(
                            f"{base}/partnerships/w-{worker}/events",
                            json={"events": [event]},
                            headers=headers,
                        )
                        assert response.status_code == 201, response.text
                        ids.append(response.json()["events"][0]["id"])
                return ids

            written = await asyncio.gather(*(writer(w) for w in range(WRITERS)))
            total = WRITERS * APPENDS_PER_WRITER
            received = await asyncio.wait_for(subscriber.events(total), 30)
        assert [position for position, _, _ in received] == list(range(43, 43 + total))
        through_b = {i for w, ids in enumerate(written) if w % 2 == 0 for i in ids}
        seen = [data["id"] for _, _, data in received]
        assert len(seen) == len(set(seen))
        assert through_b <= set(seen)
        async with httpx.AsyncClient() as client:
            known_at = received[-1][2]["recorded_at"]
            query = {"as_of": "2024-06-01", "known_at": known_at}
            answers = []
            for server in (a, b):
                body = (await client.get(f"{server.base}/partnerships/w-3", params=query)).json()
                body.pop("calendar")  # the feed's address names the replica
                answers.append(body)
        assert answers[0] == answers[1]
        assert answers[0]["basis"]["version"] == APPENDS_PER_WRITER
        async with httpx.AsyncClient() as client:  # the read models, written by either replica
            lists, feeds = [], []
            for server in (a, b):
                listed = await client.get(
                    f"{server.base}/partnerships", params={"known_at": known_at, "limit": 500}
                )
                lists.append(listed.json())
                feed = await client.get(f"{server.base}/calendars/all.ics")
                feeds.append((feed.headers["etag"], feed.content))
        assert lists[0] == lists[1]
        assert len(lists[0]["partnerships"]) == 2 + WRITERS
        assert feeds[0] == feeds[1]
        assert feeds[0][1].count(b"BEGIN:VEVENT") > 0


def test_replicas_starting_together_on_an_empty_database(
    tmp_path: Path, role_urls: tuple[str, str]
) -> None:
    """Started at once: schema made once, curated data loaded once, one first-start token."""
    env = replica_env(role_urls)
    servers = [Server(tmp_path, free_port(), env=env) for _ in range(2)]
    try:
        for server in servers:
            server.read_banner()
            server.wait_healthy()
        health = [request(f"{server.base}/health")[1] for server in servers]
        assert [h["events"] for h in health] == [42, 42]
        assert [h["backend"] for h in health] == ["postgresql", "postgresql"]
    finally:
        codes = [server.stop() for server in servers]
    assert codes == [0, 0]
    printed = "".join(server.rest for server in servers)
    assert printed.count("first start: created token 'default'") == 1


async def test_a_read_with_min_position_is_never_stale_on_the_other_replica(
    tmp_path: Path, role_urls: tuple[str, str]
) -> None:
    """Append through A, read through B with the position A answered: B's answer already
    holds the append, every time (B waits for it rather than answer what it had)."""
    with two_replicas(tmp_path, replica_env(role_urls)) as (a, b, token):
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(timeout=30) as client:
            url = "/partnerships/vodafone-microsoft"
            for n in range(20):
                said = {**statement(n, n), "effective": "2024-06-01"}
                appended = await client.post(
                    f"{a.base}{url}/events", json={"events": [said]}, headers=headers
                )
                assert appended.status_code == 201, appended.text
                position = appended.json()["last_position"]
                version = appended.json()["version"]
                state = await client.get(f"{b.base}{url}", params={"min_position": position})
                assert state.status_code == 200
                assert state.json()["basis"]["version"] == version
                assert state.json()["basis"]["last_position"] >= position
                history = await client.get(
                    f"{b.base}{url}/events",
                    params={"min_position": position, "from_version": version},
                )
                assert [e["position"] for e in history.json()["events"]] == [position]
