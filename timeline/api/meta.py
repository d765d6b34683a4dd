"""`/schemas` and `/health`: what the API accepts, and whether it is up."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import msgspec
import prometheus_client
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath

from timeline import metrics, schemas
from timeline.api.auth import read_guard
from timeline.api.errors import ProblemError, not_found, problem
from timeline.api.models import Health, SchemaEntry, SchemaIndex
from timeline.api.replay import replayable
from timeline.api.services import Services
from timeline.events import BY_TYPE

SCHEMA_JSON = "application/schema+json"
PROMETHEUS_TEXT = "text/plain; version=0.0.4"  # litestar adds "; charset=utf-8"


class Schemas(Controller):
    path = "/schemas"
    tags = ["schemas"]  # noqa: RUF012 - litestar reads it as a class attribute
    guards = [read_guard]  # noqa: RUF012 - reads are private when TIMELINE_PUBLIC_READ=false

    @get(
        "/",
        summary="Every event type",
        description="Each event type with its schema version and the address of its JSON Schema.",
        responses={200: ResponseSpec(SchemaIndex, description="Types", generate_examples=False)},
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
        description="What an appended event of this type may be (closed objects, real dates, ISO "
        "codes); `GET /schemas` lists the types.",
        responses={
            200: ResponseSpec(
                dict[str, Any],
                description="JSON Schema (2020-12)",
                media_type=SCHEMA_JSON,
                generate_examples=False,
            ),
            404: problem("No such event type"),
        },
    )
    async def schema(self, event_type: FromPath[str]) -> Response[Any]:
        rendered = schemas.rendered().get(f"{event_type}.json")
        if rendered is None:
            raise not_found(f"no event type {event_type!r}; see GET /schemas")
        return Response(rendered, media_type=SCHEMA_JSON)


class Probe(msgspec.Struct, frozen=True, kw_only=True):
    status: Literal["ok"]


PROBE_TIMEOUT = 2.0


class HealthController(Controller):
    path = "/health"
    tags = ["health"]  # noqa: RUF012 - litestar reads it as a class attribute

    @get(
        "/",
        summary="Backend, event count, last position (always public)",
        description="For dashboards: which backend, how many events, the last global position.",
        responses={200: ResponseSpec(Health, description="Up", generate_examples=False)},
    )
    async def health(
        self, request: Request[Any, Any, Any], svc: NamedDependency[Services]
    ) -> Health:
        position = await svc.store.known_position()
        replayable(request.scope, position)
        return Health(
            status="ok", backend=svc.store.backend, events=position, last_position=position
        )

    @get(
        "/live",
        summary="Liveness: the process answers (always public)",
        description="200 while the process answers; for a container's liveness probe.",
        responses={200: ResponseSpec(Probe, description="Alive", generate_examples=False)},
    )
    async def live(self) -> Probe:
        return Probe(status="ok")

    @get(
        "/ready",
        summary="Readiness: the store answers and can write (always public)",
        description="503 with the reason while the store does not answer or just refused a "
        "write (disk full); for a load balancer's readiness probe.",
        responses={
            200: ResponseSpec(Health, description="Ready", generate_examples=False),
            503: problem("The store does not answer, or refused the last write"),
        },
    )
    async def ready(self, svc: NamedDependency[Services]) -> Health:
        try:
            stats = await asyncio.wait_for(svc.store.stats(), PROBE_TIMEOUT)
        except Exception as error:  # noqa: BLE001 - any failure is "not ready", said in words
            raise ProblemError(503, f"the store does not answer: {error}") from None
        failing = svc.writes_failing()
        if failing is not None:
            raise ProblemError(503, failing, headers={"Retry-After": "5"})
        return Health(
            status="ok",
            backend=stats.backend,
            events=stats.events,
            last_position=stats.last_position,
        )


class Metrics(Controller):
    path = "/metrics"
    tags = ["health"]  # noqa: RUF012 - litestar reads it as a class attribute

    @get(
        "/",
        summary="Prometheus metrics (requests, appends, store, live subscribers)",
        description="Prometheus text format: requests by route and status with latency "
        "histograms, appends by outcome, store position and size, live subscribers and lag.",
        responses={
            200: ResponseSpec(
                str,
                description="Prometheus text exposition format",
                media_type=PROMETHEUS_TEXT,
                generate_examples=False,
            )
        },
        media_type=PROMETHEUS_TEXT,
    )
    async def metrics(self, svc: NamedDependency[Services]) -> Response[bytes]:
        stats = await svc.store.stats()
        metrics.LAST_POSITION.set(stats.last_position)
        metrics.STORED_EVENTS.set(stats.events)
        metrics.WRITABLE.set(0 if svc.writes_failing() else 1)
        metrics.SUBSCRIBERS.set(len(svc.subscribers))
        metrics.SUBSCRIBER_LAG.set(max(svc.subscribers.values(), default=0))
        for subscription in await svc.store.subscriptions.page(after=None, limit=500):
            summary = await svc.store.subscriptions.summary(subscription.id)
            metrics.WEBHOOK_LAG.labels(subscription.id).set(summary.pending + summary.parked)
            metrics.WEBHOOK_PARKED.labels(subscription.id).set(summary.parked)
        return Response(prometheus_client.generate_latest(), media_type=PROMETHEUS_TEXT)
