"""What the feeds keep between requests.

- A partnership's feed: its bytes with strong ETag and Last-Modified, by
  (feed, options, base URL, window) and the stream's version.
- A streamed feed (`all.ics`, an organization's) of at most `STREAMED_KEPT`
  bytes: its bytes by ETag, so a repeat is a lookup, not ~100 ms of rows
  and rendering (an organization's ~6,000 items at 1,000,000 events). Larger
  ones are rendered each time: `all.ics` at that size is 344 MB.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from timeline.calendar import Feed, FeedOptions
from timeline.lru import LRU
from timeline.store.read_models import Window

FEEDS_KEPT = 256
STREAMED_KEPT = 8 * 1024 * 1024
"""The largest streamed feed kept whole."""
STREAMED_TOTAL = 64 * 1024 * 1024
"""What all kept streamed feeds may hold together."""


FeedKey = tuple[str, FeedOptions, Feed, Window, str]
"""(feed, options, how the deployment writes it, window, its `SOURCE` as fetched)."""


@dataclass(frozen=True, slots=True)
class RenderedCalendar:
    body: bytes
    etag: str
    last_modified: datetime | None


class CalendarCache:
    """What the calendar endpoints keep between requests (one per app)."""

    def __init__(self) -> None:
        self.feeds: LRU[FeedKey, tuple[object, RenderedCalendar]] = LRU(FEEDS_KEPT)
        self.streamed: LRU[str, bytes] = LRU(STREAMED_TOTAL, weight=len)
        """Streamed feeds' bytes by their ETag (which names the feed and the data)."""

    def feed(self, key: FeedKey, marker: object) -> RenderedCalendar | None:
        cached = self.feeds.get(key)
        if cached is None or cached[0] != marker:
            return None
        return cached[1]

    def keep(self, key: FeedKey, marker: object, feed: RenderedCalendar) -> None:
        self.feeds[key] = (marker, feed)
