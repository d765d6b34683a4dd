"""A fact's lineage: every version of it the store has held, on both time axes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
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
from timeline.store import StreamInfo

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


@dataclass(frozen=True, slots=True)
class FactAsked:
    """A lineage request checked: the fact, the basis, and the stream as known then."""

    stream: str
    kind: str
    fact: str
    as_of: date
    known_at: datetime | None
    view: StreamInfo

    def tag(self) -> str:
        view = self.view
        parts = (self.stream, self.kind, self.fact, self.as_of, view.version, view.last_position)
        return etag("lineage", *parts)


async def fact_asked(
    svc: Services,
    stream_id: str,
    kind: str,
    fact_id: str,
    *,
    as_of: str | None,
    known_at: str | None,
) -> FactAsked:
    """The lineage a request asks for, or the problem with it (400, 404)."""
    stream = valid_stream_id(stream_id)
    chosen = fact_kind(kind)
    fact = valid_stream_id(fact_id, "fact_id")
    day = as_of_param(as_of)
    instant = known_at_param(known_at)
    view = await svc.projector.view(stream, instant)
    if view is None:
        raise NotKnownError.unknown(stream, instant)
    return FactAsked(stream, chosen, fact, day, instant, view)


async def fact_lineage(svc: Services, asked: FactAsked) -> Lineage:
    """The lineage asked for; a 404 when the stream never held that fact."""
    events = await svc.projector.events(asked.view)
    found = lineage(
        asked.stream, events, asked.kind, asked.fact, as_of=asked.as_of, known_at=asked.known_at
    )
    if found is None:
        instant = asked.known_at
        then = f" as known at {instant.isoformat()}" if instant is not None else ""
        raise NotKnownError(
            f"partnership {asked.stream!r} has held no {asked.kind} {asked.fact!r}{then}"
        )
    return found


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
    async def lineage_of_fact(
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
        asked = await fact_asked(svc, stream_id, kind, fact_id, as_of=as_of, known_at=known_at)
        tag = asked.tag()
        if matches(request.headers.get("if-none-match"), tag):
            return not_modified(tag)
        found = await fact_lineage(svc, asked)
        return Response(
            wire.encode(found), media_type=JSON, headers={"ETag": tag, "Cache-Control": "no-cache"}
        )
