"""Which links the product keeps and shows: absolute web addresses, nothing a browser runs."""

from __future__ import annotations

from urllib.parse import urlsplit

WEB_SCHEMES = frozenset({"http", "https"})
URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#]+[^\s]*$"
"""What the published schemas say of a link: an absolute `http` or `https` URL with a host."""


def is_web_url(url: str) -> bool:
    """An absolute `http`/`https` URL with a host, no spaces or control characters: never
    `javascript:`, `data:` or a relative path, which a page would resolve against itself."""
    if not url.isprintable() or any(c.isspace() for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced `[` in the host
        return False
    return parts.scheme.lower() in WEB_SCHEMES and bool(parts.hostname)
