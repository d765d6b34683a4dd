"""The one way the pages make markup: fixed templates whose every value is escaped.

`html("<li>{}</li>", title)` escapes `title` (markupsafe, Jinja's own escaper); only a
value that is already `Markup` (made here) goes in as it is. No call site escapes by
hand, and `tests/test_markup.py` fails when a module under `timeline/web/` builds markup
with an f-string or `%`. A value from the data becomes a link only through `web_url`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import LiteralString

from markupsafe import Markup

from timeline.urls import is_web_url

__all__ = ["Markup", "html", "join", "web_url"]


def html(template: LiteralString, /, *args: object, **kwargs: object) -> Markup:
    """`template` with each `{}` filled by a value, escaped unless it is `Markup`."""
    return Markup(template).format(*args, **kwargs)  # noqa: S704 - a literal template


def join(parts: Iterable[Markup | str], separator: LiteralString = "") -> Markup:
    """Pieces one after another; a plain string among them is escaped."""
    return Markup(separator).join(parts)  # noqa: S704 - a literal separator


def web_url(url: str | None) -> str | None:
    """`url` if a page may link to it (absolute `http`/`https`), else None: a stored
    `javascript:` or `data:` link (refused on append since, kept from before) shows as text."""
    return url if url is not None and is_web_url(url) else None
