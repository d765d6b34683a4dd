"""Prometheus metrics (with prometheus-client): requests, appends, the store, live subscribers.

Counters rise as things happen; gauges of the store are read when `/metrics` is scraped.
Requests are counted by the edge wrapper (`api/edge.py`), which already times every
answer: litestar's Prometheus middleware did the same as one more layer, at a fifth of
the cost of a small answer.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

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

WEBHOOK_ATTEMPTS = Counter(
    "timeline_webhook_attempts_total",
    "Webhook delivery attempts made by this process, by subscription and outcome",
    ["subscription", "outcome"],
)  # outcome: delivered, failed (tried again later), parked, gone (410: disabled)
WEBHOOK_LATENCY = Histogram(
    "timeline_webhook_attempt_duration_seconds",
    "Time from sending a delivery to the end of the receiver's answer, by subscription",
    ["subscription"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15),
)
WEBHOOK_LAG = Gauge(
    "timeline_webhook_lag_events",
    "Events queued for a subscription and not delivered yet (parked included)",
    ["subscription"],
)
WEBHOOK_PARKED = Gauge(
    "timeline_webhook_parked", "Deliveries parked after their last try", ["subscription"]
)

REQUESTS = Counter(
    "timeline_requests_total",
    "HTTP requests answered, by method, route and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "timeline_request_duration_seconds",
    "Time from request to the end of the answer (a live stream's whole life), by route",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60),
)
_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request; label children are kept (`labels()` is the costly part)."""
    key = (method, route, status)
    found = _children.get(key)
    if found is None:
        found = _children[key] = (
            REQUESTS.labels(method, route, str(status)),
            LATENCY.labels(method, route),
        )
    found[0].inc()
    found[1].observe(seconds)
