"""Prometheus metrics of the store and its subscribers (request metrics come from litestar's).

Counters rise as things happen; gauges of the store are read when `/metrics` is scraped.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

APPENDS = Counter(
    "timeline_appends_total", "Appends answered, by outcome", ["outcome"]
)  # outcome: stored, replayed, refused, failed
EVENTS = Counter("timeline_events_appended_total", "Events stored by appends through this process")
LAST_POSITION = Gauge("timeline_store_last_position", "Global position of the newest event")
STORED_EVENTS = Gauge("timeline_store_events", "Events in the store")
WRITABLE = Gauge("timeline_store_writable", "1 unless the last write failed for lack of storage")
SUBSCRIBERS = Gauge("timeline_live_subscribers", "Open Server-Sent Events streams")
SUBSCRIBER_LAG = Gauge(
    "timeline_live_subscriber_max_lag_events",
    "Events the furthest-behind live subscriber has yet to be sent",
)
