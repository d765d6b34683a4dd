from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from api_helpers import running, services_of, settings_for
from litestar.testing import AsyncTestClient
from server_helpers import Server, first_started

from timeline.store import EventStore, open_store

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
"""Every backend the contract suite runs against (`-m "not postgres"` leaves PostgreSQL out)."""

POSTGRES_ENV = "TIMELINE_TEST_POSTGRES_URL"


async def _schema(url: str, name: str, *, drop: bool) -> None:
    conn = await asyncpg.connect(url)
    try:
        verb = f"DROP SCHEMA IF EXISTS {name} CASCADE" if drop else f"CREATE SCHEMA {name}"
        await conn.execute(verb)
    finally:
        await conn.close()


def with_search_path(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}search_path={schema}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema in the test database, dropped afterwards, so runs never collide."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    name = f"t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_schema(base, name, drop=False))
    try:
        yield with_search_path(base, name)
    finally:
        asyncio.run(_schema(base, name, drop=True))


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'events.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[EventStore]:
    opened = await open_store(store_url)
    try:
        yield opened
    finally:
        await opened.close()


OWNER, APP = "timeline_test_owner", "timeline_test_app"


@pytest.fixture
async def role_urls(postgres_url: str) -> tuple[str, str]:
    """(owner URL, app URL) of the test schema: an owner (no superuser), an app owning nothing."""
    base, _, query = postgres_url.partition("?")
    schema = query.split("search_path=")[1]
    conn = await asyncpg.connect(postgres_url)
    try:
        for role in (OWNER, APP):
            exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
            if not exists:
                with contextlib.suppress(asyncpg.DuplicateObjectError):
                    await conn.execute(f"CREATE ROLE {role} LOGIN NOSUPERUSER")
        await conn.execute(f"ALTER SCHEMA {schema} OWNER TO {OWNER}")
    finally:
        await conn.close()
    scheme, _, rest = base.partition("://")
    host = rest.split("@", 1)[-1]
    return (
        f"{scheme}://{OWNER}@{host}?search_path={schema}",
        f"{scheme}://{APP}@{host}?search_path={schema}",
    )


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[AsyncTestClient[Any]]:
    """The API on a temporary store with the curated data (`api_helpers.settings_for`)."""
    async with running(settings_for(tmp_path)) as test_client:
        yield test_client


@pytest.fixture
async def auth(client: AsyncTestClient[Any]) -> dict[str, str]:
    """Headers of a token named `pipeline` with the `append` scope."""
    secret = await services_of(client).tokens.create_token("pipeline", ("append",))
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Server, str]]:
    """A real `timeline serve` on the curated data, and its first-start token (append, read)."""
    with first_started(tmp_path) as started:
        yield started
