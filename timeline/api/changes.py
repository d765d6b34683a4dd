"""Knowledge diffs: what changed in what we know of a partnership, and which ones changed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter

from timeline.api.auth import read_guard
from timeline.api.bodies import with_diff
from timeline.api.errors import BAD_REQUEST, JSON, NOT_FOUND, UNAUTHORIZED, bad_request
from timeline.api.http import (
    NOT_MODIFIED,
    AsOf,
    Cursor,
    StreamIdPath,
    as_of_param,
    decode_cursor,
    encode_cursor,
    etag,
    instant_param,
    instant_query,
    matches,
    next_page,
    not_modified,
    page_headers,
    valid_stream_id,
)
from timeline.api.models import ChangedPage, ChangedPartnership, ChangesDoc
from timeline.api.parties import party_param
from timeline.api.services import Services
from timeline.projection import changed_partnerships, knowledge_diff
from timeline.state import Basis
from timeline.store import StreamInfo

Since = Annotated[
    str | None, instant_query("Compare from what the store knew at this instant, ISO 8601")
]
RequiredSince = Annotated[
    str | None,
    instant_query("Compare from what the store knew at this instant, ISO 8601", required=True),
]
Until = Annotated[
    str | None, instant_query("Compare up to what the store knew at this instant (default now)")
]


def window_params(since: str | None, until: str | None) -> tuple[datetime, datetime | None]:
    """(`since`, `until` or None for now), refused when `since` is missing or after `until`."""
    if since is None:
        raise bad_request(
            "since is required: the instant to compare from, ISO 8601 such as 2024-02-01T12:00:00Z",
            "query.since",
        )
    start = instant_param(since, "since")
    end = None if until is None else instant_param(until, "until")
    if start > (end or datetime.now(UTC)):
        said = "now" if end is None else end.isoformat()
        raise bad_request(
            f"since {start.isoformat()} is after until ({said}): the window runs from since to "
            "until, which defaults to now",
            "query.since",
        )
    return start, end


def _offset(cursor: str | None) -> int:
    text = decode_cursor(cursor)
    if text is None:
        return 0
    if not text.isdigit():
        raise bad_request(f"{cursor!r} is not a cursor this API gave out", "query.cursor")
    return int(text)


class Changes(Controller):
    path = "/"
    tags = ["changes"]  # noqa: RUF012 - litestar reads it as a class attribute

    @get(
        "/partnerships/{stream_id:str}/changes",
        guards=[read_guard],
        summary="What changed in what we know of a partnership between two instants",
        description="The state as known at `since` against the state as known at `until`, "
        "both on `as_of`: items added, removed and changed, field by field, each citing the "
        "events recorded in between that caused it (with their sources). A retraction shows "
        "as a removal citing it, a correction as a change citing it.",
        responses={
            200: ResponseSpec(
                ChangesDoc,
                description="One page of changes; follow `next`",
                generate_examples=False,
            ),
            304: NOT_MODIFIED,
            400: BAD_REQUEST,
            401: UNAUTHORIZED,
            404: NOT_FOUND,
        },
    )
    async def partnership_changes(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        stream_id: StreamIdPath,
        *,
        since: RequiredSince = None,
        until: Until = None,
        as_of: AsOf = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        cursor: Cursor = None,
    ) -> Response[Any]:
        stream = valid_stream_id(stream_id)
        start, end = window_params(since, until)
        day = as_of_param(as_of)
        offset = _offset(cursor)
        asked = request.headers.get("if-none-match")

        def tagged(before: int | None, after: StreamInfo | Basis) -> str:
            versions = (before, after.version, after.last_position)
            return etag("changes", stream, start, day, *versions, offset, limit)

        if asked is not None:  # the tag needs the two views alone: no fold for an unchanged diff
            later = await svc.projector.view(stream, end)
            if later is not None:
                earlier = await svc.projector.view(stream, start)
                tag = tagged(None if earlier is None else earlier.version, later)
                if matches(asked, tag):
                    return not_modified(tag)
        found = await knowledge_diff(svc.projector, stream, since=start, until=end, as_of=day)
        tag = tagged(None if found.before is None else found.before.version, found.after)
        if matches(asked, tag):
            return not_modified(tag)
        page = found.changes[offset : offset + limit]
        next_link = None
        if len(found.changes) > offset + limit:
            query = {
                "since": start.isoformat(),
                "until": (end or found.until_recorded).isoformat(),
                "as_of": day.isoformat(),
                "limit": limit,
                "cursor": encode_cursor(str(offset + limit)),
            }
            next_link = f"/partnerships/{stream}/changes?{urlencode(query)}"
        body = with_diff(found, page, next_link)
        return Response(body, media_type=JSON, headers=page_headers(tag, next_link))

    @get(
        "/changes",
        guards=[read_guard],
        summary="Which partnerships changed between two instants of the store: a digest",
        description="Partnerships with events recorded after `since` and up to `until`, by "
        "id, each with a line saying what was recorded and the address of its full diff.",
        responses={
            200: ResponseSpec(
                ChangedPage, description="One page, ordered by id", generate_examples=False
            ),
            304: NOT_MODIFIED,
            400: BAD_REQUEST,
            401: UNAUTHORIZED,
        },
    )
    async def changed(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        *,
        since: RequiredSince = None,
        until: Until = None,
        party: Annotated[
            str | None,
            QueryParameter(
                description="Organization id (microsoft), or a name, alias or identifier it "
                "goes by (`Vodafone Group`, `lei:...`, `wikidata:Q...`)"
            ),
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        cursor: Cursor = None,
    ) -> Response[Any]:
        start, end = window_params(since, until)
        org = None if party is None else await party_param(svc, party)
        after = decode_cursor(cursor)
        models = svc.store.read_models
        low, high = await models.window(start, end)
        today = datetime.now(UTC).date()  # titles and parties are today's
        tag = etag("digest", request.url.query, low, high, today)
        if matches(request.headers.get("if-none-match"), tag):
            return not_modified(tag)
        page = await changed_partnerships(
            svc.store, low, high, party=org, after=after, limit=limit + 1
        )
        window = {"since": start.isoformat(), **({"until": end.isoformat()} if end else {})}
        listed = [
            ChangedPartnership(
                id=found.stream,
                title=found.title,
                events=found.events,
                first_position=found.first_position,
                last_position=found.last_position,
                summary=found.summary,
                href=f"/partnerships/{found.stream}",
                changes=f"/partnerships/{found.stream}/changes?{urlencode(window)}",
            )
            for found in page[:limit]
        ]
        more = len(page) > limit
        next_link = next_page(request, cursor=encode_cursor(listed[-1].id)) if more else None
        return Response(
            ChangedPage(since=start, until=end, partnerships=tuple(listed), next=next_link),
            headers=page_headers(tag, next_link),
        )
