"""What the handlers share, opened in the app's lifespan and kept on `app.state`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from litestar.datastructures import State

from timeline.api.calendar_cache import CalendarCache
from timeline.api.deliverer import Deliverer
from timeline.api.replay import Answers
from timeline.events import Source
from timeline.lru import LRU
from timeline.projection import Projector
from timeline.settings import Settings
from timeline.sources import normalised
from timeline.store import EventStore
from timeline.tokens import TokenRegistry
from timeline.web.pages import Registered

PASSAGE_CHARACTERS_KEPT = 8_000_000
"""Registered texts kept normalised for pages that show quotes in their passages: a few
dozen articles, or eight of the largest texts a source may have."""
WRITE_FAILURE_SECONDS = 30.0
"""How long a refused write keeps readiness failing when no append comes to clear it."""


@dataclass(slots=True)
class Services:
    settings: Settings
    store: EventStore
    tokens: TokenRegistry
    projector: Projector
    calendars: CalendarCache = field(default_factory=CalendarCache)
    answers: Answers = field(default_factory=Answers)
    """Answers the edge replays while the store's position holds (`replay.py`)."""
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the server is asked to stop: live event streams end so it can."""
    write_failure: tuple[float, str] | None = None
    """(monotonic time, reason) of the last append the storage refused; cleared by a success."""
    subscribers: dict[int, int] = field(default_factory=dict)
    """Open live streams: id -> events not yet sent to it."""
    passages: LRU[str, Registered] = field(
        default_factory=lambda: LRU(PASSAGE_CHARACTERS_KEPT, weight=lambda r: len(r.text) + 1)
    )
    """Registered sources as pages show them, by id (a registration never changes)."""
    deliverer: Deliverer | None = None
    """Sends the webhooks' deliveries (`deliverer.py`), started with the app."""

    async def texts_of(self, sources: Iterable[Source]) -> dict[str, Registered]:
        """The registered sources `sources` name: texts normalised, and whether each title is
        a headline; an id not registered is left out."""
        found: dict[str, Registered] = {}
        for cited in sources:
            if cited.source is None or cited.source in found:
                continue
            registered = self.passages.get(cited.source)
            if registered is None:
                record = await self.store.sources.get(cited.source)
                if record is None:
                    continue
                text = "" if record.text is None else normalised(record.text)
                registered = Registered(text, record.headline)
                self.passages[cited.source] = registered
            found[cited.source] = registered
        return found

    def writes_failing(self, within: float = WRITE_FAILURE_SECONDS) -> str | None:
        """Why the store cannot write, if an append failed for it recently and none succeeded."""
        if self.write_failure is None:
            return None
        at, reason = self.write_failure
        return reason if time.monotonic() - at < within else None


def provide_services(state: State) -> Services:
    """The `svc` dependency of every handler (and of guards, through the app's state)."""
    found: Services = state.services
    return found
