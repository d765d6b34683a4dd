"""A fact's lineage: every version of it the store has held, on both time axes."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import PathParameter

from timeline import wire
from timeline.api.auth import read_guard
from timeline.api.errors import BAD_REQUEST, JSON, NOT_FOUND, UNAUTHORIZED, bad_request
from timeline.api.http import (
    NOT_MODIFIED,
    AsOf,
    KnownAt,
    StreamIdPath,
    as_of_param,
    etag,
    known_at_param,
    matches,
    not_modified,
    valid_stream_id,
)
from timeline.api.services import Services
from timeline.events import SLUG_MAX, SLUG_PATTERN
from timeline.lineage import KINDS, Lineage, lineage
from timeline.projection import NotKnownError

FactKindPath = Annotated[
    str,
    PathParameter(
        description="The kind of fact, as the state lists it",
        schema_extra={"enum": list(KINDS)},
    ),
]
FactIdPath = Annotated[
    str,
    PathParameter(
        description="The fact's id (an organization's id for a party, the event's id for a "
        "statement, background or forecast)",
        schema_extra={"pattern": SLUG_PATTERN, "maxLength": SLUG_MAX},
    ),
]


def fact_kind(value: str) -> str:
    if value not in KINDS:
        raise bad_request(
            f"{value[:40]!r} is not a kind of fact: one of {', '.join(KINDS)}", "path.kind"
        )
    return value


class Facts(Controller):
    path = "/"
    tags = ["partnerships"]  # noqa: RUF012 - litestar reads it as a class attribute

    @get(
        "/partnerships/{stream_id:str}/facts/{kind:str}/{fact_id:str}",
        guards=[read_guard],
        summary="A fact's lineage: every version of it the store has held",
        description="Each version gives the fact's value, the days it holds (`effective_from` "
        "to `effective_to`, inclusive; null: from then on), the store-time interval in which it "
        "was the latest knowledge (`recorded_from` to `recorded_to`, exclusive; null: it still "
        "is), the events behind it with their sources, and which events superseded it. "
        "`current` is the value on `as_of` as known at `known_at`, as the state gives it; "
        "`learned` says, field by field, since when the store has known that value. Read as "
        "known at `known_at`, the lineage holds only what was recorded by then.",
        responses={
            200: ResponseSpec(Lineage, description="The lineage", generate_examples=False),
            304: NOT_MODIFIED,
            400: BAD_REQUEST,
            401: UNAUTHORIZED,
            404: NOT_FOUND,
        },
    )
    async def fact_lineage(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        stream_id: StreamIdPath,
        kind: FactKindPath,
        fact_id: FactIdPath,
        *,
        as_of: AsOf = None,
        known_at: KnownAt = None,
    ) -> Response[Any]:
        stream = valid_stream_id(stream_id)
        chosen = fact_kind(kind)
        fact = valid_stream_id(fact_id, "fact_id")
        day = as_of_param(as_of)
        instant = known_at_param(known_at)
        view = await svc.projector.view(stream, instant)
        if view is None:
            raise NotKnownError.unknown(stream, instant)
        tag = etag("lineage", stream, chosen, fact, day, view.version, view.last_position)
        if matches(request.headers.get("if-none-match"), tag):
            return not_modified(tag)
        events = await svc.projector.events(view)
        found = lineage(stream, events, chosen, fact, as_of=day, known_at=instant)
        if found is None:
            then = f" as known at {instant.isoformat()}" if instant is not None else ""
            raise NotKnownError(f"partnership {stream!r} has held no {chosen} {fact!r}{then}")
        return Response(
            wire.encode(found), media_type=JSON, headers={"ETag": tag, "Cache-Control": "no-cache"}
        )
