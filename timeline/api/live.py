"""Server-Sent Events: `/events/stream` and `/partnerships/{id}/events/stream`.

Each subscriber pulls from the store, page by page, from the position it
resumes after (`Last-Event-ID` or `?after=`): first the backlog, then live
events, woken by the store's notifier the moment an append commits here or
(on PostgreSQL) on any replica. Nothing is pushed into per-client buffers:
a slow client only slows its own reads, never appends or other clients. A
client that falls more than TIMELINE_SSE_MAX_LAG events behind while live is
disconnected and resumes where it stopped. Heartbeat comments keep idle
connections open through proxies.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter
from litestar.response import Stream

from timeline.api.auth import feed_guard
from timeline.api.errors import BAD_REQUEST, UNAUTHORIZED
from timeline.api.feed import EventTypes, Party, StreamPrefix, feed_filters
from timeline.api.http import MAX_POSITION, TOKEN, StreamIdPath, position_header, valid_stream_id
from timeline.api.parties import party_param
from timeline.api.services import Services
from timeline.events import StoredEvent
from timeline.formats import encode_stored
from timeline.store import FeedFilters
from timeline.webhooks import cloud_event_json

EVENT_STREAM = "text/event-stream"
PAGE = 500
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class ServerSentEvent(msgspec.Struct, frozen=True):
    """One event on the wire: `data` is the stored event as JSON text."""

    id: str
    event: str
    data: str


RESPONSES: dict[int, ResponseSpec] = {
    200: ResponseSpec(
        ServerSentEvent,
        description="`id:` global position, `event:` type, `data:` the stored event as JSON",
        media_type=EVENT_STREAM,
        generate_examples=False,
    ),
    400: BAD_REQUEST,
    401: UNAUTHORIZED,
}


def message(stored: StoredEvent, cloud_base: str | None = None) -> bytes:
    """One SSE message; with `cloud_base` (`?format=cloudevents`) its data is the event's
    CloudEvent, as a webhook delivery carries it."""
    data = encode_stored(stored) if cloud_base is None else cloud_event_json(stored, cloud_base)
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (stored.position, stored.type.encode(), data)


Format = Literal["stored", "cloudevents"]
FORMAT = "`cloudevents`: each event's data is a CloudEvents 1.0 JSON, as webhooks deliver it"


AFTER = "Last position seen (`Last-Event-ID` wins)"


def resume_point(request: Request[Any, Any, Any], after: int) -> int:
    """`Last-Event-ID` (what a reconnecting EventSource sends) wins over `?after=`."""
    header = position_header(request.headers.get("last-event-id"), "Last-Event-ID")
    return after if header is None else header


async def follow(
    svc: Services,
    after: int,
    stream: str | None,
    filters: FeedFilters | None = None,
    *,
    cloud: bool = False,
) -> AsyncIterator[bytes]:
    """Every event after `after` (of one stream, or all those `filters` keep), exactly once,
    in position order."""
    key = id(asyncio.current_task())
    svc.subscribers[key] = 0
    try:
        cloud_base = svc.settings.base_url if cloud else None
        async for chunk in _follow(svc, after, stream, filters or {}, key, cloud_base):
            yield chunk
    finally:
        svc.subscribers.pop(key, None)


async def _follow(  # noqa: PLR0917 - one caller
    svc: Services,
    after: int,
    stream: str | None,
    filters: FeedFilters,
    key: int,
    cloud_base: str | None,
) -> AsyncIterator[bytes]:
    settings, store = svc.settings, svc.store
    yield b": connected\n\n"
    last = after
    live = False
    while not svc.closing.is_set():
        checked = store.notified_position()  # before reading, so no wake-up is missed
        if stream is None:
            page = [e async for e in store.read_all(after=last, limit=PAGE, **filters)]
        else:
            page = [e async for e in store.read_stream(stream, after_position=last, limit=PAGE)]
        for stored in page:
            yield message(stored, cloud_base)
            last = stored.position
        if filters and len(page) < PAGE:  # looked at everything up to `checked`: go on from there
            last = max(last, checked)
        behind = max(0, store.notified_position() - last) if stream is None else 0
        svc.subscribers[key] = behind
        if page:
            if live and store.notified_position() - last > settings.sse_max_lag:
                yield b": too far behind; reconnect with Last-Event-ID to resume\n\n"
                return
            continue
        live = True
        head = await store.wait_for_append(max(last, checked), settings.sse_heartbeat)
        if head <= max(last, checked) and not svc.closing.is_set():
            yield b": heartbeat\n\n"
    yield b": the server is stopping; reconnect with Last-Event-ID to resume\n\n"


class Live(Controller):
    tags = ["events"]  # noqa: RUF012 - litestar reads it as a class attribute
    guards = [feed_guard]  # noqa: RUF012 - private reads: a bearer token, or `?token=`

    @get(
        "/events/stream",
        summary="Every new event, live (Server-Sent Events)",
        description="Resume with `Last-Event-ID` or `?after=`: the backlog first, then live. "
        "`type`, `party` and `stream` filter as on `/events`.",
        responses=RESPONSES,
    )
    async def all_events(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        *,
        after: Annotated[int, QueryParameter(ge=0, le=MAX_POSITION, description=AFTER)] = 0,
        event_type: EventTypes = None,
        party: Party = None,
        stream: StreamPrefix = None,
        token: TOKEN = None,
        data_format: Annotated[Format, QueryParameter(name="format", description=FORMAT)] = (
            "stored"
        ),
    ) -> Stream:
        del token  # checked by the guard
        start = resume_point(request, after)
        party = None if party is None else await party_param(svc, party)
        filters = feed_filters(event_type, party, stream)
        cloud = data_format == "cloudevents"
        followed = follow(svc, start, None, filters, cloud=cloud)
        return Stream(followed, media_type=EVENT_STREAM, headers=HEADERS)

    @get(
        "/partnerships/{stream_id:str}/events/stream",
        summary="A partnership's new events, live (Server-Sent Events)",
        description="`id:` is the global position, so `Last-Event-ID` resumes exactly.",
        responses=RESPONSES,
    )
    async def partnership_events(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        stream_id: StreamIdPath,
        *,
        after: Annotated[int, QueryParameter(ge=0, le=MAX_POSITION, description=AFTER)] = 0,
        token: TOKEN = None,
        data_format: Annotated[Format, QueryParameter(name="format", description=FORMAT)] = (
            "stored"
        ),
    ) -> Stream:
        del token  # checked by the guard
        stream = valid_stream_id(stream_id)
        start = resume_point(request, after)
        cloud = data_format == "cloudevents"
        followed = follow(svc, start, stream, cloud=cloud)
        return Stream(followed, media_type=EVENT_STREAM, headers=HEADERS)
