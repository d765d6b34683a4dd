"""The API docs UI works offline: every file it loads comes from the app itself."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import browser_page, needs_browser
from litestar.testing import AsyncTestClient
from server_helpers import Server, free_port

from timeline.web.static import SWAGGER_UI, asset


async def test_the_docs_page_loads_only_files_the_app_serves(client: AsyncTestClient[Any]) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    html = page.text
    assert re.findall(r"https?://", html.split("<body>")[0]) == []  # no CDN in the head
    found = re.findall(r"""(?:src|href)=["'](/[^"']+)["']""", html)
    assets = [path for path in found if path != "/guide/"]
    assert len(found) == len(assets) + 1  # and a link to the guides, served by the app too
    assert sorted(assets) == sorted(
        [
            asset("docs.js"),
            *(
                f"{SWAGGER_UI}/{name}"
                for name in (
                    "favicon-32x32.png",
                    "swagger-ui.css",
                    "swagger-ui-bundle.js",
                    "swagger-ui-standalone-preset.js",
                )
            ),
        ]
    )
    assert "<script>" not in html  # started by a file: the CSP allows no inline script
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for path in assets:
        answer = await client.get(path)
        assert answer.status_code == 200, path
        assert answer.headers["cache-control"] == "max-age=31536000, public"
        assert len(answer.content) > 500
    licence = await client.get(f"{SWAGGER_UI}/LICENSE")
    assert "Apache License" in licence.text
    assert (await client.get("/static/nothing-here.js")).status_code == 404
    redirect = await client.get("/docs/oauth2-redirect.html")  # an inline script, no OAuth2
    assert redirect.status_code == 404
    assert "default-src 'none'" in redirect.headers["content-security-policy"]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path, free_port(), env={"TIMELINE_CURATED_DIR": ""})
    try:
        server.read_banner()
        server.wait_healthy()
        yield server
    finally:
        server.stop()


@needs_browser
def test_the_docs_render_in_a_browser_with_no_request_elsewhere(served: Server) -> None:
    with browser_page() as (page, watched):
        page.goto(f"{served.base}/docs")  # type: ignore[attr-defined]
        title = page.locator(".swagger-ui .info .title")  # type: ignore[attr-defined]
        title.wait_for(timeout=15_000)
        assert "Partnership Timeline" in title.inner_text()
        operations = page.locator(".opblock-summary-path")  # type: ignore[attr-defined]
        paths = {operations.nth(i).inner_text() for i in range(operations.count())}
        assert "/partnerships/{stream_id}/changes" in {p.replace("\u200b", "") for p in paths}
    assert any(url.endswith("swagger-ui-bundle.js") for url in watched.requests)
    assert watched.foreign(served.base) == []
    assert watched.page_errors == []
    assert watched.console_errors == []
