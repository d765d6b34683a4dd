"""Small HTTP helpers: validated path and query values, ETags, paging cursors."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from datetime import UTC, date, datetime
from typing import Any

from litestar import Request

from timeline.api.errors import bad_request
from timeline.api.models import FeedLinks
from timeline.dates import InvalidDateError, PartialDate, parse_day, parse_instant

STREAM_ID = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*", re.ASCII)
STREAM_ID_MAX = 100


def valid_stream_id(value: str, name: str = "stream_id") -> str:
    if len(value) > STREAM_ID_MAX or STREAM_ID.fullmatch(value) is None:
        shown = value if len(value) <= STREAM_ID_MAX else value[:STREAM_ID_MAX] + "…"
        raise bad_request(
            f"{shown!r} is not a stream id: lowercase letters, digits and single hyphens, "
            f"at most {STREAM_ID_MAX} characters",
            f"path.{name}",
        )
    return value


def as_of_param(value: str | None) -> date:
    if value is None:
        return datetime.now(UTC).date()
    try:
        return parse_day(value)
    except InvalidDateError as error:
        raise bad_request(str(error), "query.as_of") from None


def known_at_param(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_instant(value)
    except InvalidDateError as error:
        raise bad_request(str(error), "query.known_at") from None


def partial_date_param(value: str | None, name: str) -> PartialDate | None:
    if value is None:
        return None
    try:
        return PartialDate.parse(value)
    except InvalidDateError as error:
        raise bad_request(str(error), f"query.{name}") from None


def etag(*parts: object) -> str:
    """A weak validator: equal for answers that are the same to a reader."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:32]
    return f'W/"{digest}"'


def matches(if_none_match: str | None, tag: str) -> bool:
    """RFC 9110 weak comparison of `If-None-Match` against our tag."""
    if if_none_match is None:
        return False
    if if_none_match.strip() == "*":
        return True
    bare = tag.removeprefix("W/")
    return any(c.strip().removeprefix("W/") == bare for c in if_none_match.split(","))


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_cursor(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        padded = value + "=" * (-len(value) % 4)
        return base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad_request(f"{value!r} is not a cursor this API gave out", "query.cursor") from None


def base_url(request: Request[Any, Any, Any]) -> str:
    return str(request.base_url).rstrip("/")


def feed_links(base: str, path: str) -> FeedLinks:
    """A feed's address in the request's own scheme, and as `webcal:` for calendar apps."""
    url = f"{base}{path}"
    return FeedLinks(url=url, webcal="webcal:" + url.split(":", 1)[1])
