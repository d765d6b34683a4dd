"""Example bodies for the API docs, taken from the curated data (never invented)."""

from __future__ import annotations

import json
from datetime import date
from functools import cache
from typing import Any

import msgspec
from litestar.openapi.spec import Example

from timeline import wire
from timeline.events import StoredEvent
from timeline.fold import fold
from timeline.formats import decode_import, encode_stored
from timeline.settings import REPO_EVENTS
from timeline.sources import is_source_line

STREAM = "vodafone-microsoft"
AS_OF = date(2024, 2, 1)


@cache
def curated() -> tuple[StoredEvent, ...]:
    path = REPO_EVENTS / f"{STREAM}.ndjson"
    if not path.is_file():
        return ()
    stored = []
    events = [line for line in path.read_bytes().splitlines() if not is_source_line(line)]
    for number, line in enumerate(events, start=1):  # after the articles the stream cites
        head, event, _body = decode_import(line)
        if head.recorded_at is None:
            continue
        stored.append(
            StoredEvent(
                stream=head.stream,
                version=head.version or number,
                position=number,
                recorded_at=head.recorded_at,
                actor=head.actor or "curator",
                schema_version=type(event).SCHEMA_VERSION,
                event=event,
            )
        )
    return tuple(stored)


def _builtins(value: object) -> object:
    return msgspec.to_builtins(value, enc_hook=wire.enc_hook)


def _examples(summary: str, value: object) -> list[Example]:
    return [Example(summary=summary, value=value)] if value is not None else []


BASE = "https://timeline.example.org"
"""The deployment an example's links start with (`TIMELINE_PUBLIC_URL`)."""


def state() -> list[Example]:
    """The state as `GET /partnerships/{id}` answers it: every field, as known at the
    curated data's last recording (an example drops what is null, so none is)."""
    events = curated()
    found = fold(events, as_of=AS_OF, known_at=events[-1].recorded_at) if events else None
    if found is None:
        return []
    feed = f"{BASE}/calendars/partnerships/{STREAM}.ics"
    body = _builtins(found)
    assert isinstance(body, dict)  # noqa: S101 - a Struct's builtins
    body["basis"]["known_at"] = events[-1].recorded_at.isoformat()
    body["calendar"] = {"url": feed, "webcal": "webcal" + feed.removeprefix("https")}
    body["page"] = f"{BASE}/partnerships/{STREAM}/timeline?as_of={AS_OF}"
    return _examples(f"{STREAM} on {AS_OF}", body)


def stored_events(count: int = 2) -> list[Any]:
    return [json.loads(encode_stored(e)) for e in curated()[:count]]


def history() -> list[Example]:
    events = stored_events()
    next_page = f"/partnerships/{STREAM}/events?from_version=3"
    body = {"stream": STREAM, "next": next_page, "events": events}
    return _examples(f"the first events of {STREAM}", body if events else None)


def feed() -> list[Example]:
    events = stored_events()
    last = events[-1]["position"] if events else 0
    body = {"last_position": last, "next": f"/events?after={last}&limit=2", "events": events}
    return _examples("two events of the global feed", body if events else None)


def append_request() -> list[Example]:
    events = curated()
    if len(events) < 5:  # noqa: PLR2004
        return []
    milestone = _builtins(events[4].event)
    return _examples(
        "schedule the IoT spin-off milestone",
        {"expected_version": 4, "events": [milestone]},
    )
