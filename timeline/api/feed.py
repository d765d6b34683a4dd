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
from timeline.api.errors import BAD_REQUEST, JSON, UNAUTHORIZED
from timeline.api.http import MAX_POSITION, etag, matches, not_modified
from timeline.api.models import FeedDoc
from timeline.api.services import Services


class Feed(Controller):
    path = "/events"
    tags = ["events"]  # noqa: RUF012 - litestar reads it as a class attribute
    guards = [read_guard]  # noqa: RUF012 - reads are private when TIMELINE_PUBLIC_READ=false

    @get(
        "/",
        summary="The global feed in position order",
        description="Follow `next` (or pass the last `position` you saw as `after`) to read on; "
        "positions are gapless and a position once seen is never followed by a lower one.",
        responses={
            200: ResponseSpec(
                FeedDoc, description="A page", examples=examples.feed(), generate_examples=False
            ),
            304: ResponseSpec(None, description="Unchanged since the ETag in If-None-Match"),
            400: BAD_REQUEST,
            401: UNAUTHORIZED,
        },
    )
    async def feed(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        after: Annotated[
            int, QueryParameter(ge=0, le=MAX_POSITION, description="Last position already read")
        ] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    ) -> Response[Any]:
        page = [e async for e in svc.store.read_all(after=after, limit=limit)]
        last = page[-1].position if page else after
        tag = etag("feed", after, limit, last, len(page))  # events never change: this is the page
        if matches(request.headers.get("if-none-match"), tag):
            return not_modified(tag)
        body = with_events(
            {"last_position": last, "next": f"/events?after={last}&limit={limit}"}, page
        )
        return Response(body, media_type=JSON, headers={"ETag": tag, "Cache-Control": "no-cache"})
