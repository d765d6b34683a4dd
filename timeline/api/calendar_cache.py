"""What the calendar feeds keep between requests, each cache keyed by what its value depends on.

- each item's VEVENT bytes, by (UID, sequence, last change, base URL): an
  append re-renders only the items it changed;
- each feed's bytes with its strong ETag and Last-Modified, by (feed,
  options, base URL) and a marker of the store's content.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from timeline import calendar
from timeline.calendar import CalendarItem, FeedOptions
from timeline.lru import LRU
from timeline.store.read_models import Window

FEEDS_KEPT = 256
EVENTS_KEPT = 100_000


FeedKey = tuple[str, FeedOptions, str, Window]
"""(feed, options, base URL, window)."""


@dataclass(frozen=True, slots=True)
class RenderedCalendar:
    body: bytes
    etag: str
    last_modified: datetime | None


class CalendarCache:
    """What the calendar endpoints keep between requests (one per app)."""

    def __init__(self) -> None:
        self.events: LRU[tuple[str, int, datetime, str], bytes] = LRU(EVENTS_KEPT)
        self.feeds: LRU[FeedKey, tuple[object, RenderedCalendar]] = LRU(FEEDS_KEPT)

    def event_bytes(self, item: CalendarItem, base_url: str) -> bytes:
        key = (item.content.uid, item.sequence, item.changed_at, base_url)
        rendered = self.events.get(key)  # an item that changes gets a new `changed_at`
        if rendered is None:
            rendered = calendar.render_event(item, base_url)
            self.events[key] = rendered
        return rendered

    def feed(self, key: FeedKey, marker: object) -> RenderedCalendar | None:
        cached = self.feeds.get(key)
        if cached is None or cached[0] != marker:
            return None
        return cached[1]

    def keep(self, key: FeedKey, marker: object, feed: RenderedCalendar) -> None:
        self.feeds[key] = (marker, feed)
