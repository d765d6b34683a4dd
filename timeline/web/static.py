"""Files the app serves from the installed package: vendored front-end releases, pinned.

A vendored release keeps its version in its folder name (`vendor/swagger-ui-5.35.0/`), with
its licence beside it, so its files never change under a URL: they are cached for a year.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

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


def api_docs() -> SwaggerRenderPlugin:
    """The API docs UI at `/docs`, loading only what this app serves."""
    return SwaggerRenderPlugin(
        js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
        css_url=f"{SWAGGER_UI}/swagger-ui.css",
        standalone_preset_js_url=f"{SWAGGER_UI}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{SWAGGER_UI}/favicon-32x32.png'>",
        path="/swagger",
    )
