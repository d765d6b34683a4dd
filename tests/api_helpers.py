"""Shared set-up of the API tests: an app on a temporary store with the curated data."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient

from timeline.api.app import create_app
from timeline.api.services import Services
from timeline.settings import REPO_EVENTS, Settings


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path / 'api.db'}",
        "curated_dir": str(REPO_EVENTS),
        "max_body_bytes": 20_000,
        "max_batch": 5,
        "public_url": "http://testserver.local",
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


def services_of(client: AsyncTestClient[Any]) -> Services:
    found: Services = client.app.state.services
    return found
