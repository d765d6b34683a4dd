"""Files the app serves from the installed package: vendored front-end releases, pinned.

A vendored release keeps its version in its folder name (`vendor/swagger-ui-5.35.0/`), with
its licence beside it, so its files never change under a URL: they are cached for a year.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from litestar import Request, Router
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

from timeline.web import markup

STATIC = Path(__file__).parent / "static"
STATIC_PATH = "/static"
SWAGGER_UI = f"{STATIC_PATH}/vendor/swagger-ui-5.35.0"
"""Swagger UI, from the npm package `swagger-ui-dist` 5.35.0 (Apache-2.0; OpenAPI 3.1)."""
YEAR = 365 * 24 * 3600


def static_files() -> Router:
    """`/static/…`: the package's `static/` folder, cached for a year (paths name versions)."""
    return create_static_files_router(
        path=STATIC_PATH,
        directories=[STATIC],
        cache_control=CacheControlHeader(max_age=YEAR, public=True),
        include_in_schema=False,
    )


@lru_cache(maxsize=16)
def asset(name: str) -> str:
    """An app asset's URL, named by its content so that a year's caching never serves it stale."""
    digest = hashlib.sha256((STATIC / "app" / name).read_bytes()).hexdigest()[:12]
    return f"{STATIC_PATH}/app/{name}?v={digest}"


class _Swagger(SwaggerRenderPlugin):
    """Litestar's Swagger UI page, started by a file (`app/docs.js`) instead of an inline
    script carrying the whole spec: the app's CSP allows no inline script or style."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        del request
        title = markup.html("{}", openapi_schema["info"]["title"])
        page = markup.html(
            "<!doctype html><html lang='en'><head><title>{}</title>{}<meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<link href='{}' rel='stylesheet'><script src='{}'></script>"
            "<script src='{}'></script><script src='{}'></script></head><body>"
            "<p class='guides'><a href='/guide/'>Guides and reference</a></p>"
            "<div id='swagger-container' data-spec='{}'></div></body></html>",
            title,
            markup.Markup(self.favicon),
            self.css_url,
            self.js_url,
            self.standalone_preset_js_url,
            asset("docs.js"),
            SPEC_URL,
        )
        return page.encode()

    def receive_router(self, router: Router) -> None:
        """No `oauth2-redirect.html`: its inline script breaks the CSP, and bearer tokens
        need no OAuth2 flow."""
        del router


SPEC_URL = "/docs/openapi.json"


def api_docs() -> SwaggerRenderPlugin:
    """The API docs UI at `/docs`, loading only what this app serves."""
    return _Swagger(
        js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
        css_url=f"{SWAGGER_UI}/swagger-ui.css",
        standalone_preset_js_url=f"{SWAGGER_UI}/swagger-ui-standalone-preset.js",
        favicon=markup.html(
            "<link rel='icon' type='image/png' href='{}'>", f"{SWAGGER_UI}/favicon-32x32.png"
        ),
        path="/swagger",
    )
