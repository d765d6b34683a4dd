"""`/calendars/…ics`: iCalendar feeds rendered from the calendar rows of the read models.

A partnership's feed is small: rendered whole, kept with its strong ETag
until the stream's version moves (`calendar_cache.py`). `all.ics` and
organization feeds can be large: streamed a chunk of rows at a time, never
held whole, with an ETag from the read models' change counter, so a 304
costs two small queries.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from functools import partial
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import PathParameter, QueryParameter
from litestar.response import Stream

from timeline import calendar
from timeline.api.auth import feed_guard
from timeline.api.calendar_cache import STREAMED_KEPT, CalendarCache, RenderedCalendar
from timeline.api.errors import BAD_REQUEST, UNAUTHORIZED, bad_request, not_found, problem
from timeline.api.http import TOKEN, partial_date_param, valid_stream_id
from timeline.api.parties import party_param
from timeline.api.services import Services
from timeline.calendar import CalendarInfo, CalendarItem, Feed, FeedOptions
from timeline.dates import PARTIAL_DATE_PATTERN
from timeline.events import SLUG_PATTERN
from timeline.readside.readmodels import shown
from timeline.state import Outline
from timeline.store.read_models import ReadModels, Window

ICS = "text/calendar"  # litestar adds "; charset=utf-8" to text types
SUFFIX = ".ics"


def _build(info: CalendarInfo, items: list[CalendarItem], feed: Feed) -> RenderedCalendar:
    body = calendar.render_calendar(info, (calendar.render_event(item, feed) for item in items))
    return RenderedCalendar(
        body=body,
        etag=_weak(hashlib.sha256(body).hexdigest()[:40]),
        last_modified=calendar.last_change(items),
    )


def _weak(digest: str) -> str:
    """A feed's ETag is weak: the same feed goes out plain, gzip or brotli, in bytes that
    differ, and a strong tag would promise the same bytes (RFC 9110 §8.8.1)."""
    return f'W/"{digest}"'


def _settled(last_modified: datetime | None) -> datetime | None:
    """`Last-Modified` to the second, once that second is over. Until then a later change
    in the same second would carry the same date, and a client sending it back in
    `If-Modified-Since` would be told 304 for a feed that changed; it has the ETag."""
    if last_modified is None:
        return None
    second = last_modified.astimezone(UTC).replace(microsecond=0)
    return second if datetime.now(UTC) >= second + timedelta(seconds=1) else None


def _headers(etag: str, last_modified: datetime | None) -> dict[str, str]:
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    settled = _settled(last_modified)
    if settled is not None:
        headers["Last-Modified"] = format_datetime(settled, usegmt=True)
    return headers


def _answer(request: Request[Any, Any, Any], feed: RenderedCalendar) -> Response[bytes]:
    headers = _headers(feed.etag, feed.last_modified)
    if _unchanged(request, feed.etag, feed.last_modified):
        return Response(b"", status_code=304, headers=headers, media_type=ICS)
    return Response(feed.body, media_type=ICS, headers=headers)


def _unchanged(request: Request[Any, Any, Any], etag: str, last_modified: datetime | None) -> bool:
    """RFC 9110 §13.2.2: If-None-Match (weak compare) wins over If-Modified-Since, which
    holds only for a change whose second is over (see `_settled`)."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        opaque = etag.removeprefix("W/")
        tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        return "*" in tags or opaque in tags
    since = request.headers.get("if-modified-since")
    settled = _settled(last_modified)
    if since is None or settled is None:
        return False
    try:
        when = parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return settled <= when


@dataclass(frozen=True, slots=True)
class LargeFeed:
    """A feed that is streamed: every partnership's, or an organization's."""

    info: CalendarInfo
    identity: tuple[str, ...]
    options: FeedOptions
    window: Window
    org: str | None = None


async def _streamed(
    request: Request[Any, Any, Any], svc: Services, feed: LargeFeed
) -> Response[bytes] | Stream:
    """A large feed, rendered while it is sent: memory holds one chunk of rows at a time."""
    models = svc.store.read_models
    today = datetime.now(UTC).date()
    state = await models.state()
    style = _style(svc, labelled=True)
    marker = (feed, state.generation, state.changes, style)
    etag = _weak(hashlib.sha256(repr(marker).encode()).hexdigest()[:40])
    last_modified = await models.last_change(feed.org, today)
    headers = _headers(etag, last_modified)
    if _unchanged(request, etag, last_modified):
        return Response(b"", status_code=304, headers=headers, media_type=ICS)
    kept = svc.calendars.streamed.get(etag)
    if kept is not None:
        return Response(kept, media_type=ICS, headers=headers)
    body = _body(models, feed, style, today, partial(_keep, svc.calendars, etag))
    return Stream(body, media_type=ICS, headers=headers)


def _style(svc: Services, *, labelled: bool) -> Feed:
    settings = svc.settings
    return Feed(base_url=settings.base_url, uid_domain=settings.calendar_domain, labelled=labelled)


def _keep(cache: CalendarCache, etag: str, body: bytes) -> None:
    cache.streamed[etag] = body


async def _body(
    models: ReadModels,
    feed: LargeFeed,
    style: Feed,
    today: date,
    keep: Callable[[bytes], None],
) -> AsyncIterator[bytes]:
    """The feed a chunk at a time; one that stays small is also handed to `keep` at its end."""
    head = calendar.calendar_head(feed.info)
    yield head
    pieces: list[bytes] | None = [head]
    size = len(head)
    kinds = shown(feed.options)
    async for chunk in models.calendar(kinds, feed.window, org=feed.org, day=today):
        piece = b"".join(calendar.render_event(item, style) for item in chunk)
        size += len(piece)
        if pieces is not None and size <= STREAMED_KEPT:
            pieces.append(piece)
        else:
            pieces = None  # too large to keep: rendered again next time
        yield piece
    yield calendar.END
    if pieces is not None:  # sent whole: a client that left early keeps nothing
        keep(b"".join([*pieces, calendar.END]))


ANNOUNCEMENTS = Annotated[bool, QueryParameter(description="Also announcements, as single days")]
INVESTMENTS = Annotated[bool, QueryParameter(description="Also investments, as single days")]
FROM = Annotated[
    str | None,
    QueryParameter(
        name="from",
        description="Only items on or after this partial date (its first day), e.g. 2024-01",
        schema_extra={"pattern": PARTIAL_DATE_PATTERN},  # checked by `_window`, naming `from`
    ),
]
TO = Annotated[
    str | None,
    QueryParameter(
        name="to",
        description="Only items on or before this partial date (its last day), e.g. 2026",
        schema_extra={"pattern": PARTIAL_DATE_PATTERN},
    ),
]
FEED_RESPONSES: dict[int, ResponseSpec] = {
    200: ResponseSpec(
        str, description="An RFC 5545 calendar (RFC 7986 properties)", media_type=ICS,
        generate_examples=False,
    ),
    304: ResponseSpec(
        None,
        description="Unchanged (If-None-Match, or If-Modified-Since)",
        generate_examples=False,
    ),
    400: BAD_REQUEST,
    401: UNAUTHORIZED,
}  # fmt: skip


def _window(start: str | None, end: str | None) -> Window:
    """`from`/`to` as days; a window that ends before it starts is a 400 naming both."""
    first = partial_date_param(start, "from")
    last = partial_date_param(end, "to")
    window = Window(
        start=first.first_day if first is not None else None,
        end=last.last_day if last is not None else None,
    )
    if window.start is not None and window.end is not None and window.end < window.start:
        raise bad_request(f"the window ends ({end}) before it starts ({start})", "query.to")
    return window


FeedName = Annotated[
    str,
    PathParameter(
        description="A stream or organization id followed by `.ics`, e.g. vodafone-microsoft.ics",
        schema_extra={"pattern": rf"^{SLUG_PATTERN.strip('^$')}\.ics$"},
    ),
]


def _source(base: str, request: Request[Any, Any, Any]) -> str:
    """RFC 7986 `SOURCE`: this feed as the subscriber fetches it, query and all (`from`, `to`,
    `investments`, their own `token`), so a copy of it can be refreshed as it was made."""
    query = request.url.query
    return f"{base}{request.url.path}{'?' + query if query else ''}"


def _strip_suffix(name: str) -> str:
    if not name.endswith(SUFFIX):
        raise not_found(f"calendar feeds end in {SUFFIX}")
    return name.removesuffix(SUFFIX)


class Calendars(Controller):
    path = "/calendars"
    tags = ["calendars"]  # noqa: RUF012 - litestar reads it as a class attribute
    guards = [feed_guard]  # noqa: RUF012

    @get(
        "/all.ics",
        summary="Milestones and phases of every partnership (streamed)",
        description="Every partnership's milestones and phase markers in one feed; window it "
        "with `from`/`to` (a whole store is large), since calendar apps fetch it whole.",
        responses=FEED_RESPONSES,
    )
    async def all_feed(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        *,
        announcements: ANNOUNCEMENTS = False,
        investments: INVESTMENTS = False,
        start: FROM = None,
        end: TO = None,
        token: TOKEN = None,
    ) -> Response[bytes] | Stream:
        del token  # checked by the guard
        options = FeedOptions(announcements=announcements, investments=investments)
        base = svc.settings.base_url
        about = CalendarInfo(
            name="Partnership Timeline: all milestones and phases",
            description="Milestones and phase markers of every partnership in "
            "Partnership Timeline, with their sources.",
            url=f"{base}/partnerships",
            source=_source(base, request),
        )
        feed = LargeFeed(info=about, identity=("all",), options=options, window=_window(start, end))
        return await _streamed(request, svc, feed)

    @get(
        "/partnerships/{name:str}",
        summary="Milestones and phases of one partnership (`{id}.ics`)",
        description="Subscribe from a calendar app with the `webcal` link of the partnership's "
        "`calendar`. Milestones sit on their deadline until they happen, phases are a start and "
        "an end marker; `TENTATIVE` where the date is coarse or uncertain.",
        responses={**FEED_RESPONSES, 404: problem("No such partnership")},
    )
    async def partnership_feed(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        name: FeedName,
        *,
        announcements: ANNOUNCEMENTS = False,
        investments: INVESTMENTS = False,
        start: FROM = None,
        end: TO = None,
        token: TOKEN = None,
    ) -> Response[bytes]:
        del token  # checked by the guard
        stream = valid_stream_id(_strip_suffix(name), "id")
        window = _window(start, end)
        cache = svc.calendars
        options = FeedOptions(announcements=announcements, investments=investments)
        view = await svc.projector.view(stream, None)
        if view is None:
            raise not_found(f"no partnership {stream!r}")
        style = _style(svc, labelled=False)
        base = svc.settings.base_url
        source = _source(base, request)
        key = (f"partnership:{stream}", options, style, window, source)
        feed = cache.feed(key, view.version)
        if feed is None:
            models = svc.store.read_models
            outline = await models.outline(stream, datetime.now(UTC).date())
            items = [
                item
                async for chunk in models.calendar(shown(options), window, stream=stream)
                for item in chunk
            ]
            info = _partnership_info(stream, outline, base, source)
            feed = _build(info, items, style)
            cache.keep(key, view.version, feed)
        return _answer(request, feed)

    @get(
        "/organizations/{name:str}",
        summary="Milestones and phases of every partnership an organization is or was in "
        "(streamed)",
        description="`{org}.ics`: the milestones and phases of each partnership the "
        "organization is or was a party to, the partnership named in each summary.",
        responses={**FEED_RESPONSES, 404: problem("No partnership names this organization")},
    )
    async def organization_feed(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        name: FeedName,
        *,
        announcements: ANNOUNCEMENTS = False,
        investments: INVESTMENTS = False,
        start: FROM = None,
        end: TO = None,
        token: TOKEN = None,
    ) -> Response[bytes] | Stream:
        del token  # checked by the guard
        asked = _strip_suffix(name)
        org = await party_param(svc, asked, "org")
        if org != asked:  # a name, alias or identifier: the feed's own address, to subscribe to
            query = f"?{request.url.query}" if request.url.query else ""
            return Response(
                b"",
                status_code=308,
                headers={"Location": f"/calendars/organizations/{org}.ics{query}"},
            )
        window = _window(start, end)
        options = FeedOptions(announcements=announcements, investments=investments)
        first = await svc.store.read_models.memberships(org, datetime.now(UTC).date(), None, 1)
        if not first:
            raise not_found(f"no organization {org!r} is a party to any partnership")
        _stream, outline = first[0]
        org_name = next(p.name for p in (*outline.parties, *outline.former_parties) if p.org == org)
        base = svc.settings.base_url
        about = CalendarInfo(
            name=f"{org_name}: partnership milestones and phases",
            description=f"Milestones and phase markers of every partnership {org_name} "
            "is or was a party to.",
            url=f"{base}/organizations/{org}",
            source=_source(base, request),
        )
        feed = LargeFeed(
            info=about, identity=("organization", org), options=options, window=window, org=org
        )
        return await _streamed(request, svc, feed)


def _partnership_info(stream: str, outline: Outline | None, base: str, source: str) -> CalendarInfo:
    url = f"{base}/partnerships/{stream}"
    name = f"{outline.title if outline else stream}: milestones and phases"
    description = (outline.summary or outline.title) if outline else stream
    return CalendarInfo(
        name=name,
        description=description,
        url=url,
        source=source,
    )
