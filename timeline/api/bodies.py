"""JSON bodies that carry stored events, written as bytes: events are spliced, not rebuilt."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from timeline import wire
from timeline.events import StoredEvent
from timeline.formats import encode_stored
from timeline.knowledge import ItemChange
from timeline.projection import KnowledgeDiff


def with_events(head: Mapping[str, object], events: Iterable[StoredEvent]) -> bytes:
    """`{...head, "events": [...]}` with each event in its stored JSON form."""
    return with_json_events(head, [encode_stored(e) for e in events])


def with_json_events(head: Mapping[str, object], events: Iterable[bytes]) -> bytes:
    """`with_events` of events already in their JSON form (`EventStore.read_stream_json`)."""
    fields = wire.encode(dict(head))[1:-1]
    listed = b",".join(events)
    return b"{" + fields + (b"," if fields else b"") + b'"events":[' + listed + b"]}"


def with_diff(found: KnowledgeDiff, changes: Sequence[ItemChange], next_link: str | None) -> bytes:
    """A page of a knowledge diff, followed by the events its changes cite, in position order."""
    # by their integers: a UUID's own hash is Python code, an integer's is not
    cited = {event_id.int for change in changes for event_id in change.events}
    head = {
        "stream": found.stream,
        "since": found.since,
        "until": found.until,
        "as_of": found.as_of,
        "before": found.before,
        "after": found.after,
        "changes": changes,
        "next": next_link,
    }
    listed = zip(found.window, found.window_bodies, strict=True)
    return with_json_events(
        head, [encode_stored(e, body) for e, body in listed if e.event.id.int in cited]
    )
