"""A real browser for end-to-end tests: Debian's `chromium` driven by Playwright (from PyPI;
no browser is ever downloaded). Tests that need it skip when it is not installed;
`.ci/run` installs it with apt."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

needs_browser = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on this machine (apt-get install chromium)"
)


@dataclass
class Watched:
    """What a page asked for and complained about while a test drove it."""

    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def foreign(self, base: str) -> list[str]:
        """Requests to any host but the app's own (data: URLs are the page's own bytes)."""
        own = urlsplit(base).netloc
        return [
            url
            for url in self.requests
            if not url.startswith(("data:", "blob:")) and urlsplit(url).netloc != own
        ]


@contextmanager
def browser_page(width: int = 1440, height: int = 900) -> Iterator[tuple[object, Watched]]:
    """A fresh page in headless chromium, with every request and error recorded."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only browser tests load it

    watched = Watched()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("request", lambda request: watched.requests.append(request.url))
            page.on(
                "console",
                lambda message: (
                    watched.console_errors.append(message.text) if message.type == "error" else None
                ),
            )
            page.on("pageerror", lambda error: watched.page_errors.append(str(error)))
            yield page, watched
        finally:
            browser.close()
