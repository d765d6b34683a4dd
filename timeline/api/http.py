"""Small HTTP helpers: validated path and query values, ETags, paging cursors."""

from __future__ import annotations

import base64
import binascii
import difflib
import hashlib
import re
import time
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from litestar import Litestar, Request, Response
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import PathParameter, QueryParameter

from timeline.api.errors import FieldError, ProblemError, bad_request
from timeline.api.models import FeedLinks
from timeline.dates import (
    PARTIAL_DATE_PATTERN,
    InvalidDateError,
    PartialDate,
    parse_day,
    parse_instant,
)
from timeline.events import SLUG_MAX, SLUG_PATTERN

MAX_POSITION = 2**53 - 1
"""The largest position or version the API takes: exact in every JSON reader, within 64 bits."""
JSON_TYPES = re.compile(r"application/([a-z0-9.+-]+\+)?json", re.ASCII | re.IGNORECASE)

AsOf = Annotated[
    str | None,
    QueryParameter(
        description="The date in the world, YYYY-MM-DD (default today, UTC)",
        pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
    ),
]
INSTANT_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}(:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?)?"
    r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)?)?$"
)
"""An ISO 8601 instant as the query takes it: documented, not checked by litestar, so that a
malformed one is refused by `instant_param` with the accepted form rather than a regex."""


TOKEN = Annotated[
    str | None,
    QueryParameter(
        description="A `read` token, when reads are not public, for clients that cannot send "
        "an Authorization header (calendar apps, a browser's EventSource); never logged"
    ),
]


def instant_query(description: str, *, required: bool = False) -> Any:  # noqa: ANN401 - a marker
    """An instant in the query, documented with `INSTANT_PATTERN` (checked by `instant_param`).

    `required` documents it so; the handler checks it, to say what is missing in its words."""
    return QueryParameter(
        description=description, schema_extra={"pattern": INSTANT_PATTERN}, required=required
    )


KnownAt = Annotated[
    str | None,
    instant_query("The store's instant, ISO 8601 (default now; no offset means UTC)"),
]
Cursor = Annotated[
    str | None,
    QueryParameter(
        description="Where the previous page ended, as its `next` address gives it",
        pattern=r"^[A-Za-z0-9_-]+$",
    ),
]


def partial_date_query(description: str) -> Any:  # noqa: ANN401 - a litestar parameter marker
    return QueryParameter(description=description, pattern=PARTIAL_DATE_PATTERN)


STREAM_ID = re.compile(SLUG_PATTERN, re.ASCII)
STREAM_ID_MAX = SLUG_MAX
"""The one stream-id rule: the `Slug` of the event catalogue."""


StreamIdPath = Annotated[
    str,
    PathParameter(
        description="Lowercase letters, digits and single hyphens, e.g. vodafone-microsoft",
        schema_extra={"pattern": SLUG_PATTERN, "maxLength": SLUG_MAX},
    ),
]
"""The stream-id rule on paths: documented from the catalogue's `Slug`, checked by
`valid_stream_id` (so the problem says what a stream id is)."""
OrgPath = Annotated[
    str,
    PathParameter(
        description="Organization id, e.g. microsoft",
        schema_extra={"pattern": SLUG_PATTERN, "maxLength": SLUG_MAX},
    ),
]


ORG_NAMES = ("org", "party")
"""Parameters that name an organization (the same grammar as a stream id)."""


def _kind_of(name: str) -> str:
    if name in ORG_NAMES:
        return "an organization"
    return {"source_id": "a source", "fact_id": "a fact"}.get(name, "a stream")


def valid_stream_id(value: str, name: str = "stream_id", where: str = "path") -> str:
    """A stream or organization id (the catalogue's `Slug`), from the path or the query."""
    if len(value) > STREAM_ID_MAX or STREAM_ID.fullmatch(value) is None:
        shown = value if len(value) <= STREAM_ID_MAX else value[:STREAM_ID_MAX] + "…"
        raise bad_request(
            f"{shown!r} is not {_kind_of(name)} id:"
            f" lowercase letters, digits and single hyphens, at most {STREAM_ID_MAX} characters",
            f"{where}.{name}",
        )
    return value


TEXT_PARAM_MAX = 200


def text_param(value: str, name: str) -> str:
    """Free text from the query: no control characters (a database refuses NUL), not too long."""
    if len(value) > TEXT_PARAM_MAX or any(char < " " or char == "\x7f" for char in value):
        raise bad_request(
            f"{name} is text without control characters, at most {TEXT_PARAM_MAX} characters",
            f"query.{name}",
        )
    return value


def is_json(content_type: str) -> bool:
    """Whether a body of this `Content-Type` is read as JSON (none said: it is)."""
    media_type = content_type.split(";", 1)[0].strip()
    return not media_type or JSON_TYPES.fullmatch(media_type) is not None


def require_json(request: Request[Any, Any, Any]) -> None:
    """Bodies are plain JSON: say so with 415 rather than calling a form, or gzip bytes,
    "malformed JSON" (RFC 9110 §15.5.16: an unsupported content coding is a 415)."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip()
    if not is_json(media_type):
        raise ProblemError(
            415,
            f"the body is {media_type!r}; send events as application/json",
            headers={"Accept-Post": "application/json"},
        )
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding != "identity":
        raise ProblemError(
            415,
            f"the body is {encoding}-encoded; send it uncompressed (Content-Encoding: identity)",
            headers={"Accept-Encoding": "identity"},
        )


def position_header(value: str | None, name: str) -> int | None:
    """A position in a header (`Last-Event-ID`): ASCII digits, within 64 bits."""
    return None if value is None else position_value(value, f"header.{name}")


def position_value(value: str, path: str) -> int:
    """A position a client names (a header, `min_position`): ASCII digits, at most 2^53-1."""
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_POSITION:
        raise bad_request(
            f"{path.split('.', 1)[1]} {value!r} is not a position (ASCII digits, at most "
            f"{MAX_POSITION})",
            path,
        )
    return int(text)


def as_of_param(value: str | None) -> date:
    if value is None:
        return datetime.now(UTC).date()
    try:
        return parse_day(value)
    except InvalidDateError as error:
        raise bad_request(str(error), "query.as_of") from None


def known_at_param(value: str | None) -> datetime | None:
    return None if value is None else instant_param(value, "known_at")


def instant_param(value: str, name: str) -> datetime:
    try:
        return parse_instant(value)
    except InvalidDateError as error:
        raise bad_request(str(error), f"query.{name}") from None


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


NOT_MODIFIED = ResponseSpec(
    None, description="Unchanged since the ETag in If-None-Match", generate_examples=False
)
"""How a 304 to `If-None-Match` is documented."""


def not_modified(tag: str) -> Response[bytes]:
    """The 304 answer to an `If-None-Match` that matched `tag`, with the `Cache-Control` its
    200 carries (RFC 9110 §15.4.5: a 304 repeats what the 200 would have said)."""
    return Response(
        content=b"", status_code=304, headers={"ETag": tag, "Cache-Control": "no-cache"}
    )


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


def next_page(request: Request[Any, Any, Any], **changed: object) -> str:
    """The address of the next page: this request's path and query (in the client's order)
    with `changed` set."""
    said = parse_qsl(request.url.query, keep_blank_values=True)
    query = [(k, v) for k, v in said if k not in changed]
    query += [(k, str(v)) for k, v in changed.items()]
    return f"{request.url.path}?{urlencode(query)}"


def page_headers(tag: str, next_link: str | None) -> dict[str, str]:
    """A page's headers: its `ETag`, and its next page as `Link: <…>; rel="next"` (RFC 8288),
    the same address as the body's `next`."""
    headers = {"ETag": tag, "Cache-Control": "no-cache"}
    if next_link is not None:
        headers["Link"] = f'<{next_link}>; rel="next"'
    return headers


def feed_links(base: str, path: str, token: str | None = None) -> FeedLinks:
    """A feed's address, and as `webcal:` for calendar apps.

    `token` (private deployments) is the reader's own token, carried as `?token=`
    because calendar apps cannot send an Authorization header.
    """
    url = f"{base}{path}" + (f"?{urlencode({'token': token})}" if token else "")
    if token and url.startswith("https:"):
        # Calendar apps fetch a `webcal:` link over plain http: the token would cross the
        # network in clear. An https link subscribes as well in Google, Outlook and Apple.
        return FeedLinks(url=url, webcal=url)
    return FeedLinks(url=url, webcal="webcal:" + url.split(":", 1)[1])


def query_names(app: Litestar) -> dict[int, tuple[frozenset[str], frozenset[str]]]:
    """Each route handler's declared query parameters, and those of them that repeat
    (`type=` on the feed), by `id(handler)`."""
    names: dict[int, tuple[frozenset[str], frozenset[str]]] = {}
    for route in app.routes:
        for handler, kwargs_model in getattr(route, "route_handler_map", {}).values():
            # dependencies' parameters are merged into the handler's model by litestar
            params = kwargs_model.expected_query_params
            names[id(handler)] = (
                frozenset(p.field_alias for p in params),
                frozenset(p.field_alias for p in params if p.is_sequence),
            )
    return names


MIN_POSITION = "min_position"
"""Read your writes: any read may name the position its client's append answered, and is
answered once this replica has seen it."""


async def before_request(request: Request[Any, Any, Any]) -> None:
    """Every request: its query checked, then a read held until its `min_position`."""
    await refuse_unknown_query(request)
    await await_min_position(request)


async def await_min_position(request: Request[Any, Any, Any]) -> None:
    """Wait until this replica has seen `min_position` (TIMELINE_MIN_POSITION_WAIT at most),
    asking the database, not only the notifications it heard; else a 503 naming it."""
    said = request.query_params.get(MIN_POSITION)
    if said is None or request.method not in {"GET", "HEAD"}:
        return
    wanted = position_value(said, f"query.{MIN_POSITION}")
    svc = request.app.state.services
    store = svc.store
    seen = store.notified_position()
    deadline = time.monotonic() + svc.settings.min_position_wait
    while seen < wanted:
        seen = max(seen, (await store.stats()).last_position)  # a notification can be lost
        left = deadline - time.monotonic()
        if seen >= wanted:
            break
        if left <= 0:
            raise ProblemError(
                503,
                f"this replica has seen position {seen}, not yet min_position {wanted}; "
                "retry (TIMELINE_MIN_POSITION_WAIT)",
                errors=(FieldError(f"query.{MIN_POSITION}", "not yet seen here"),),
                headers={"Retry-After": "1"},
            )
        seen = await store.wait_for_append(seen, min(left, 0.25))


async def refuse_unknown_query(request: Request[Any, Any, Any]) -> None:
    """`?asof=` for `as_of` must not silently answer today's state: name the stray parameter;
    nor `?as_of=a&as_of=b` silently answer for the last one.

    Async, because litestar runs a sync hook in a worker thread on every request.
    """
    known: dict[int, tuple[frozenset[str], frozenset[str]]] | None = request.app.state.get(
        "query_names"
    )
    if known is None:
        known = request.app.state.query_names = query_names(request.app)
    handler = request.route_handler
    found = known.get(id(handler))
    if found is None or not handler.fn.__module__.startswith("timeline."):
        return  # litestar's own (the docs) are left as they are
    allowed, repeatable = found
    if request.method in {"GET", "HEAD"}:
        allowed |= {MIN_POSITION}
    given = [name for name, _ in request.query_params.multi_items()]
    for name in sorted({n for n in given if given.count(n) > 1} - repeatable):
        raise bad_request(
            f"query parameter {name!r} is given {given.count(name)} times; it takes one value",
            f"query.{name}",
        )
    for name in request.query_params:
        if name not in allowed:
            close = difflib.get_close_matches(name, sorted(allowed), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            listed = ", ".join(sorted(allowed)) or "none"
            raise bad_request(
                f"unknown query parameter {name!r}{hint} (this path takes: {listed})",
                f"query.{name}",
            )
