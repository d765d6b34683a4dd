"""What the handlers share, opened in the app's lifespan and kept on `app.state`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from litestar.connection import ASGIConnection

from timeline.projection import Projector
from timeline.settings import Settings
from timeline.store import EventStore


@dataclass(slots=True)
class Services:
    settings: Settings
    store: EventStore
    projector: Projector
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the server is asked to stop: live event streams end so it can."""


def services(connection: ASGIConnection[Any, Any, Any, Any]) -> Services:
    found: Services = connection.app.state.services
    return found
