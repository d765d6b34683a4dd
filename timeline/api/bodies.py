"""JSON bodies that carry stored events, written as bytes: events are spliced, not rebuilt."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from timeline import wire
from timeline.events import StoredEvent
from timeline.formats import encode_stored


def with_events(head: Mapping[str, object], events: Iterable[StoredEvent]) -> bytes:
    """`{...head, "events": [...]}` with each event in its stored JSON form."""
    fields = wire.encode(dict(head))[1:-1]
    listed = b",".join(encode_stored(e) for e in events)
    return b"{" + fields + (b"," if fields else b"") + b'"events":[' + listed + b"]}"
