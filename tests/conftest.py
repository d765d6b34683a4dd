from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from timeline.store import EventStore, open_store

BACKENDS = ["sqlite"]
"""Every backend the contract suite runs against; PostgreSQL joins when it exists."""


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'events.db'}"
    url = os.environ.get("TIMELINE_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("TIMELINE_TEST_POSTGRES_URL is not set")
    return url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[EventStore]:
    opened = await open_store(store_url)
    try:
        yield opened
    finally:
        await opened.close()
