"""`/schemas` and `/health`: what the API accepts, and whether it is up."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath

from timeline import schemas
from timeline.api.errors import not_found
from timeline.api.models import Health, SchemaEntry, SchemaIndex
from timeline.api.partnerships import problem
from timeline.api.services import services
from timeline.events import BY_TYPE

SCHEMA_JSON = "application/schema+json"


class Schemas(Controller):
    path = "/schemas"
    tags = ["schemas"]  # noqa: RUF012 - litestar reads it as a class attribute

    @get(
        "/",
        summary="Every event type",
        responses={200: ResponseSpec(SchemaIndex, description="Types")},
    )
    async def index(self) -> SchemaIndex:
        return SchemaIndex(
            types=tuple(
                SchemaEntry(type=name, schema_version=kind.SCHEMA_VERSION, href=f"/schemas/{name}")
                for name, kind in sorted(BY_TYPE.items())
            )
        )

    @get(
        "/{event_type:str}",
        summary="The JSON Schema of one event type",
        responses={
            200: ResponseSpec(
                dict[str, Any], description="JSON Schema (2020-12)", media_type=SCHEMA_JSON
            ),
            404: problem("No such event type"),
        },
    )
    async def schema(self, event_type: FromPath[str]) -> Response[Any]:
        rendered = schemas.rendered().get(f"{event_type}.json")
        if rendered is None:
            raise not_found(f"no event type {event_type!r}; see GET /schemas")
        return Response(rendered, media_type=SCHEMA_JSON)


class HealthController(Controller):
    path = "/health"
    tags = ["health"]  # noqa: RUF012 - litestar reads it as a class attribute

    @get(
        "/",
        summary="Backend, event count, last position (always public)",
        responses={200: ResponseSpec(Health, description="Up")},
    )
    async def health(self, request: Request[Any, Any, Any]) -> Health:
        stats = await services(request).store.stats()
        return Health(
            status="ok",
            backend=stats.backend,
            events=stats.events,
            last_position=stats.last_position,
        )
