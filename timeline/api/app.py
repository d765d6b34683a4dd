"""The app factory: `create_app(settings)`; resources opened and closed in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from granian.utils.proxies import wrap_asgi_with_proxy_headers
from litestar import Litestar, Router
from litestar.config.compression import CompressionConfig
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from timeline import __version__, collector, logs
from timeline.api import errors
from timeline.api.calendars import Calendars
from timeline.api.changes import Changes
from timeline.api.deliverer import Deliverer
from timeline.api.edge import edge, route_methods
from timeline.api.facts import Facts
from timeline.api.feed import Feed
from timeline.api.http import before_request
from timeline.api.limits import write_limits
from timeline.api.live import Live
from timeline.api.meta import HealthController, Metrics, Schemas
from timeline.api.openapi import DatesSchemaPlugin, append_components, body_components
from timeline.api.organizations import Organizations, Parties
from timeline.api.pages import Pages
from timeline.api.partnerships import Partnerships
from timeline.api.services import Services, provide_services
from timeline.api.sources import Sources
from timeline.api.spec import FinishedSpec
from timeline.api.subscriptions import Subscriptions
from timeline.dates import PartialDate, Period
from timeline.projection import Projector
from timeline.settings import Settings
from timeline.store import open_store, token_registry
from timeline.transfer import load_curated
from timeline.web.static import api_docs, static_files

log = logging.getLogger("timeline.api")

DOCS_PATH = "/docs"
COMPRESS_FROM_BYTES = 1024
LIVE_PATHS = [r"^/events/stream$", r"^/partnerships/[^/]+/events/stream$"]

DESCRIPTION = """\
How business partnerships unfold, as immutable events: the state of a partnership on any
date (`as_of`) as known at any instant (`known_at`), its sourced history, and appends.

Dates are partial (`2024`, `2024-Q2`, `2024-04`, `2024-01-16`) and periods are
`START/END` (END may be `..`). Errors are RFC 9457 `application/problem+json`.
Appending needs `Authorization: Bearer <token>` with the `append` scope.
"""


def _end_streams_on_stop(svc: Services) -> None:
    """On SIGTERM/SIGINT, end live event streams so the server can drain and stop.

    The ASGI server (granian) stops on these signals but waits for open
    responses, and an event stream never ends by itself. Its own handler on
    the event loop is kept and called after ours.
    """
    loop = asyncio.get_running_loop()
    installed = getattr(loop, "_signal_handlers", {})
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = installed.get(signum)

        def stop(previous: asyncio.Handle | None = previous) -> None:
            svc.closing.set()
            svc.store.release_waiters()
            if previous is not None:
                previous._run()  # noqa: SLF001 - the server's own handler, chained

        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop)


def create_app(settings: Settings) -> Litestar:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        store = await open_store(settings.database_url, settings.migrate_url or None)
        before = gc.get_threshold()
        svc: Services | None = None
        try:
            await load_curated(store, settings.curated_path)
            report = await store.rebuild_read_models(only_if_stale=True, workers=0)
            if report.rebuilt:  # `timeline serve` does it first, with progress on stdout
                log.warning("rebuilt stale read models from %d events", report.events)
            svc = Services(
                settings=settings,
                store=store,
                tokens=token_registry(store),
                projector=Projector(store),
            )
            app.state.services = svc
            _end_streams_on_stop(svc)
            deliverer = Deliverer(store, settings)
            svc.deliverer = deliverer
            deliverer.start()
            # The ~70,000 objects of a started app live as long as the process: out of the
            # collector's sight they cost no full collection (~35 ms each) in a request.
            gc.collect()
            gc.freeze()
            collector.for_serving()
            yield
        finally:
            if svc is not None and svc.deliverer is not None:
                await svc.deliverer.stop()
            gc.set_threshold(*before)  # an app made and stopped again (tests) leaves them
            gc.unfreeze()  # as they were, and nothing frozen
            await store.close()  # finishes every append already accepted

    # Each read handler carries `read_guard` itself (tests/test_api.py checks they all do):
    # on a router it would run for appends too, and a guard costs litestar a copy of the
    # handler per request.
    reads = Router(
        path="/",
        route_handlers=[
            Partnerships,
            Changes,
            Facts,
            Feed,
            Live,
            Organizations,
            Parties,
            Sources,
            Schemas,
            Pages,
        ],
    )
    app = Litestar(
        route_handlers=[reads, Subscriptions, Calendars, HealthController, Metrics, static_files()],
        lifespan=[lifespan],
        on_startup=[complete_spec],
        before_request=before_request,
        middleware=write_limits(settings.write_limit_per_token, settings.write_limit_per_client),
        dependencies={
            "svc": Provide(provide_services, sync_to_thread=False),
        },
        exception_handlers=errors.EXCEPTION_HANDLERS,
        type_encoders={PartialDate: str, Period: str},
        plugins=[DatesSchemaPlugin()],
        cors_config=(
            CORSConfig(
                allow_origins=settings.cors_origin_list,
                allow_methods=["GET", "HEAD", "POST", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type", "If-None-Match", "Last-Event-ID"],
                expose_headers=[
                    "ETag",
                    "Link",
                    "Location",
                    "X-Request-ID",
                    "Retry-After",
                    "RateLimit-Limit",
                    "RateLimit-Remaining",
                    "RateLimit-Reset",
                    "RateLimit-Policy",
                ],
            )
            if settings.cors_origin_list
            else None
        ),
        compression_config=CompressionConfig(
            backend="brotli",
            brotli_gzip_fallback=True,
            minimum_size=COMPRESS_FROM_BYTES,
            exclude=LIVE_PATHS,  # a compressor would hold events back until its buffer fills
        ),
        request_max_body_size=settings.max_body_bytes,
        logging_config=None,  # every line is ours: timeline.logs
        openapi_config=OpenAPIConfig(
            title="Partnership Timeline",
            version=__version__,
            description=DESCRIPTION,
            path=DOCS_PATH,
            render_plugins=[api_docs(), FinishedSpec(public_reads=settings.public_read)],
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(
                        type="http",
                        scheme="bearer",
                        description="A token from `timeline tokens create`",
                    )
                },
            ),
        ),
        debug=False,
    )

    def services() -> Services | None:
        svc: Services | None = app.state.get("services")
        return svc

    app.asgi_handler = edge(app.asgi_handler, route_methods(app), services)
    return app


def complete_spec(app: Litestar) -> None:
    """Add the schemas of the bodies decoded by hand (appends, sources, subscriptions), which
    litestar drops from `OpenAPIConfig.components`."""
    spec = app.openapi_schema
    schemas = spec.components.schemas if spec.components.schemas is not None else {}
    spec.components.schemas = {**schemas, **append_components(), **body_components()}


def app_from_env() -> Litestar:
    """Factory for the ASGI server: settings from TIMELINE_* (checked by `timeline serve`)."""
    settings = Settings.from_env()
    logs.configure(settings.log_level)
    for warning in Settings.stray():
        log.warning(warning)
    app: Litestar = create_app(settings)
    proxies = settings.trusted_proxy_list
    if proxies:  # X-Forwarded-For/-Proto from these addresses only: client and scheme in logs
        app.asgi_handler = wrap_asgi_with_proxy_headers(app.asgi_handler, proxies)
    return app
