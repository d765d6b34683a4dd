"""`/events`: every stream's events in global position order, for pipelines to follow."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter

from timeline.api import examples
from timeline.api.auth import read_guard
from timeline.api.bodies import with_events
from timeline.api.errors import BAD_REQUEST, JSON, UNAUTHORIZED, bad_request
from timeline.api.http import (
    MAX_POSITION,
    NOT_MODIFIED,
    etag,
    matches,
    next_page,
    not_modified,
    page_headers,
    valid_stream_id,
)
from timeline.api.models import FeedDoc
from timeline.api.parties import party_param
from timeline.api.services import Services
from timeline.events import (
    BY_TYPE,
    STREAM_PREFIX,
    STREAM_PREFIX_MAX,
    STREAM_PREFIX_SAID,
)
from timeline.store import FeedFilters
from timeline.webhooks import CLOUDEVENTS_BATCH, cloud_event_json

EventTypes = Annotated[
    list[str] | None,
    QueryParameter(name="type", description="Only events of these types (repeatable)"),
]
Party = Annotated[
    str | None,
    QueryParameter(
        description="Only partnerships this organization is or ever was a party to, e.g. microsoft"
    ),
]
StreamPrefix = Annotated[
    str | None,
    QueryParameter(
        description="Only streams whose id starts with this, e.g. vodafone- (org: for "
        "organizations' streams)",
        schema_extra={"pattern": "^(org:)?[a-z0-9-]*$", "minLength": 1, "maxLength": 104},
    ),
]


def feed_filters(types: list[str] | None, party: str | None, stream: str | None) -> FeedFilters:
    """The feed's filters from its query, each checked with a 400 that names it."""
    filters: FeedFilters = {}
    if types:
        unknown = [t for t in types if t not in BY_TYPE]
        if unknown:
            raise bad_request(
                f"unknown event type {unknown[0]!r}; see GET /schemas for the types",
                "query.type",
            )
        filters["types"] = tuple(dict.fromkeys(types))
    if party is not None:
        filters["party"] = valid_stream_id(party, "party", "query")
    if stream is not None:
        if not STREAM_PREFIX.fullmatch(stream) or len(stream) > STREAM_PREFIX_MAX:
            raise bad_request(
                f"{stream!r} is not the start of a stream id: {STREAM_PREFIX_SAID}",
                "query.stream",
            )
        filters["stream_prefix"] = stream
    return filters


class Feed(Controller):
    path = "/events"
    tags = ["events"]  # noqa: RUF012 - litestar reads it as a class attribute
    guards = [read_guard]  # noqa: RUF012 - reads are private when TIMELINE_PUBLIC_READ=false

    @get(
        "/",
        summary="The global feed in position order",
        description="Follow `next` (or pass the last `position` you saw as `after`) to read on; "
        "positions are gapless and a position once seen is never followed by a lower one. "
        "`type`, `party` and `stream` filter; a filtered page's `last_position` is where the "
        "scan got to, so `next` skips what did not match. With `Accept: "
        "application/cloudevents-batch+json` the page is a JSON array of CloudEvents 1.0, as "
        "webhooks deliver them (`Link` names the next page).",
        responses={
            200: ResponseSpec(
                FeedDoc, description="A page", examples=examples.feed(), generate_examples=False
            ),
            304: NOT_MODIFIED,
            400: BAD_REQUEST,
            401: UNAUTHORIZED,
        },
    )
    async def feed(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        *,
        after: Annotated[
            int, QueryParameter(ge=0, le=MAX_POSITION, description="Last position already read")
        ] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
        event_type: EventTypes = None,
        party: Party = None,
        stream: StreamPrefix = None,
    ) -> Response[Any]:
        party = None if party is None else await party_param(svc, party)
        filters = feed_filters(event_type, party, stream)
        head = await svc.store.known_position() if filters else 0  # before reading
        page = [e async for e in svc.store.read_all(after=after, limit=limit, **filters)]
        last = page[-1].position if page else after
        if len(page) < limit:  # every event up to the head was looked at: none left to match
            last = max(last, head)
        cloud = CLOUDEVENTS_BATCH in request.headers.get("accept", "")
        # events never change: this is the page
        tag = etag("feed", request.url.query, after, limit, last, len(page), cloud)
        if matches(request.headers.get("if-none-match"), tag):
            return not_modified(tag)
        next_link = next_page(request, after=last, limit=limit)
        # the shape follows Accept, the coding Accept-Encoding (the edge adds that alone)
        headers = {**page_headers(tag, next_link), "Vary": "Accept, Accept-Encoding"}
        if cloud:  # the page as CloudEvents, as webhooks deliver them; `Link` names the next
            base = svc.settings.base_url
            events = b",".join(cloud_event_json(e, base) for e in page)
            return Response(b"[" + events + b"]", media_type=CLOUDEVENTS_BATCH, headers=headers)
        body = with_events({"last_position": last, "next": next_link}, page)
        return Response(body, media_type=JSON, headers=headers)
