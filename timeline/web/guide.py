"""The documentation (`docs/*.md`) as pages of the app: a deployment behind a firewall reads
its guides, reference and architecture where it serves the API, with no site to publish.

The pages are the repository's own Markdown, trusted as the code is; links between them
(`guides/append.md`) become the app's addresses (`/guide/guides/append`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import markdown

from timeline.web.markup import Markup, html
from timeline.web.pages import document

_HERE = Path(__file__).resolve().parent.parent
PLACES = (_HERE / "docs", _HERE.parent / "docs")
"""Where the Markdown is: in the package (a wheel carries it there), else beside it (a
checkout, an editable install)."""
GUIDE_PATH = "/guide"
PAGE_NAME = re.compile(r"[a-z0-9-]+(/[a-z0-9-]+)*")
_MD_LINK = re.compile(r'href="(?![a-z]+:|/|#)([^"#]*?)(?:index)?\.md(#[^"]*)?"')


def docs_folder() -> Path | None:
    return next((place for place in PLACES if (place / "index.md").is_file()), None)


def _source(name: str) -> Path | None:
    """The Markdown file of page `name` (`` for the home page, `reference` for its index)."""
    folder = docs_folder()
    if folder is None or (name and PAGE_NAME.fullmatch(name) is None):
        return None
    for candidate in (folder / f"{name}.md", folder / name / "index.md"):
        if candidate.is_file() and folder in candidate.resolve().parents:
            return candidate
    return None


@lru_cache(maxsize=64)
def _rendered(path: Path, mtime: float) -> tuple[str, str]:
    """(title, HTML) of a Markdown file; kept until the file changes."""
    del mtime  # a part of the cache's key
    text = path.read_text(encoding="utf-8")
    title = next((line[2:].strip() for line in text.splitlines() if line.startswith("# ")), "")
    converted = markdown.markdown(text, extensions=["tables", "fenced_code", "toc"])
    return title or "Documentation", _MD_LINK.sub(r'href="\1\2"', converted)


def guide_page(name: str) -> Markup | None:
    """The documentation page `name` as HTML, or None when there is none."""
    path = _source(name)
    if path is None:
        return None
    title, converted = _rendered(path, path.stat().st_mtime)
    body = html(
        "<header class='top'><p><a href='/'>All partnerships</a> · <a href='/guide/'>Guides"
        "</a> · <a href='/guide/reference/'>Reference</a> · <a href='/docs'>API</a></p>"
        "</header><main class='guide'>{}</main>",
        Markup(converted),
    )
    return document(title, body)
