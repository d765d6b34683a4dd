"""What the partnership feeds keep between requests: each feed's bytes with its strong ETag and
Last-Modified, by (feed, options, base URL, window) and the stream's version.

Streamed feeds (`all.ics`, organizations) keep nothing: a VEVENT costs ~11 µs
to write (`ics.py`), and a cache of them grew the server by 130 MB while
`all.ics` streamed at 1,000,000 events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from timeline.calendar import FeedOptions
from timeline.lru import LRU
from timeline.store.read_models import Window

FEEDS_KEPT = 256


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
        self.feeds: LRU[FeedKey, tuple[object, RenderedCalendar]] = LRU(FEEDS_KEPT)

    def feed(self, key: FeedKey, marker: object) -> RenderedCalendar | None:
        cached = self.feeds.get(key)
        if cached is None or cached[0] != marker:
            return None
        return cached[1]

    def keep(self, key: FeedKey, marker: object, feed: RenderedCalendar) -> None:
        self.feeds[key] = (marker, feed)
