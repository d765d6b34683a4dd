"""`/calendars/…ics`: iCalendar feeds, rendered once per change and served from memory.

What is kept between requests is in `calendar_cache.py`; a repeated request or
a 304 costs a dictionary lookup and the marker query.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, QueryParameter

from timeline import calendar
from timeline.api.auth import feed_guard
from timeline.api.calendar_cache import CalendarCache, RenderedCalendar
from timeline.api.errors import BAD_REQUEST, UNAUTHORIZED, not_found, problem
from timeline.api.http import valid_stream_id
from timeline.api.services import Services
from timeline.calendar import CalendarInfo, CalendarItem, FeedOptions
from timeline.state import PartnershipState

ICS = "text/calendar"  # litestar adds "; charset=utf-8" to text types
SUFFIX = ".ics"


def _build(
    cache: CalendarCache, info: CalendarInfo, items: list[CalendarItem], base: str
) -> RenderedCalendar:
    body = calendar.render_calendar(info, (cache.event_bytes(item, base) for item in items))
    return RenderedCalendar(
        body=body,
        etag='"' + hashlib.sha256(body).hexdigest()[:40] + '"',
        last_modified=calendar.last_change(items),
    )


def _answer(request: Request[Any, Any, Any], feed: RenderedCalendar) -> Response[bytes]:
    headers = {"ETag": feed.etag, "Cache-Control": "no-cache"}
    if feed.last_modified is not None:
        headers["Last-Modified"] = format_datetime(feed.last_modified.astimezone(UTC), usegmt=True)
    if _unchanged(request, feed):
        return Response(b"", status_code=304, headers=headers, media_type=ICS)
    return Response(feed.body, media_type=ICS, headers=headers)


def _unchanged(request: Request[Any, Any, Any], feed: RenderedCalendar) -> bool:
    """RFC 9110 §13.2.2: If-None-Match (strong compare) wins over If-Modified-Since."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = [tag.strip() for tag in if_none_match.split(",")]
        return "*" in tags or feed.etag in tags or f"W/{feed.etag}" in tags
    since = request.headers.get("if-modified-since")
    if since is None or feed.last_modified is None:
        return False
    try:
        when = parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return feed.last_modified.replace(microsecond=0) <= when


ANNOUNCEMENTS = Annotated[bool, QueryParameter(description="Also announcements, as single days")]
INVESTMENTS = Annotated[bool, QueryParameter(description="Also investments, as single days")]
TOKEN = Annotated[
    str | None, QueryParameter(description="A `read` token, when reads are not public")
]
FEED_RESPONSES: dict[int, ResponseSpec] = {
    200: ResponseSpec(
        str, description="An RFC 5545 calendar (RFC 7986 properties)", media_type=ICS,
        generate_examples=False,
    ),
    304: ResponseSpec(None, description="Unchanged (If-None-Match, or If-Modified-Since)"),
    400: BAD_REQUEST,
    401: UNAUTHORIZED,
}  # fmt: skip


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
        summary="Milestones and phases of every partnership",
        responses=FEED_RESPONSES,
    )
    async def all_feed(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        *,
        announcements: ANNOUNCEMENTS = False,
        investments: INVESTMENTS = False,
        token: TOKEN = None,
    ) -> Response[bytes]:
        del token  # checked by the guard
        cache = svc.calendars
        options = FeedOptions(announcements=announcements, investments=investments)
        key = ("all", options, svc.settings.base_url)
        marker = (await svc.store.stats()).last_position  # any append anywhere moves it
        feed = cache.feed(key, marker)
        if feed is None:
            items: list[CalendarItem] = []
            for info in await svc.store.streams():
                items += await cache.stream_items(svc.projector, info, options)
            about = CalendarInfo(
                name="Partnership Timeline: all milestones and phases",
                description="Milestones and phase markers of every partnership in "
                "Partnership Timeline, with their sources.",
            )
            feed = _build(cache, about, items, key[2])
            cache.keep(key, marker, feed)
        return _answer(request, feed)

    @get(
        "/partnerships/{name:str}",
        summary="Milestones and phases of one partnership (`{id}.ics`)",
        responses={**FEED_RESPONSES, 404: problem("No such partnership")},
    )
    async def partnership_feed(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        name: FromPath[str],
        *,
        announcements: ANNOUNCEMENTS = False,
        investments: INVESTMENTS = False,
        token: TOKEN = None,
    ) -> Response[bytes]:
        del token  # checked by the guard
        stream = valid_stream_id(_strip_suffix(name), "id")
        cache = svc.calendars
        options = FeedOptions(announcements=announcements, investments=investments)
        view = await svc.projector.view(stream, None)
        if view is None:
            raise not_found(f"no partnership {stream!r}")
        key = (f"partnership:{stream}", options, svc.settings.base_url)
        feed = cache.feed(key, view.version)
        if feed is None:
            state = await svc.projector.state(
                view, as_of=datetime.now(UTC).date(), known_at=datetime.now(UTC)
            )
            items = await cache.stream_items(svc.projector, view, options)
            feed = _build(cache, _partnership_info(stream, state), items, key[2])
            cache.keep(key, view.version, feed)
        return _answer(request, feed)

    @get(
        "/organizations/{name:str}",
        summary="Milestones and phases of every partnership an organization is or was in",
        responses={**FEED_RESPONSES, 404: problem("No partnership names this organization")},
    )
    async def organization_feed(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        name: FromPath[str],
        *,
        announcements: ANNOUNCEMENTS = False,
        investments: INVESTMENTS = False,
        token: TOKEN = None,
    ) -> Response[bytes]:
        del token  # checked by the guard
        org = valid_stream_id(_strip_suffix(name), "org")
        cache = svc.calendars
        options = FeedOptions(announcements=announcements, investments=investments)
        key = (f"organization:{org}", options, svc.settings.base_url)
        marker = (await svc.store.stats()).last_position  # any append anywhere moves it
        feed = cache.feed(key, marker)
        if feed is None:
            infos = await svc.store.streams()
            states = [s for s in await svc.projector.current(infos) if _involves(s, org)]
            if not states:
                raise not_found(f"no organization {org!r} is a party to any partnership")
            versions = {info.stream: info for info in infos}
            items: list[CalendarItem] = []
            for state in states:
                items += await cache.stream_items(svc.projector, versions[state.id], options)
            org_name = next(
                p.name for s in states for p in (*s.parties, *s.former_parties) if p.org == org
            )
            about = CalendarInfo(
                name=f"{org_name}: partnership milestones and phases",
                description=f"Milestones and phase markers of every partnership {org_name} "
                "is or was a party to.",
            )
            feed = _build(cache, about, items, key[2])
            cache.keep(key, marker, feed)
        return _answer(request, feed)


def _involves(state: PartnershipState, org: str) -> bool:
    return any(p.org == org for p in (*state.parties, *state.former_parties))


def _partnership_info(stream: str, state: PartnershipState | None) -> CalendarInfo:
    if state is None:
        return CalendarInfo(name=f"{stream}: milestones and phases", description=stream)
    return CalendarInfo(
        name=f"{state.title}: milestones and phases",
        description=state.summary or state.title,
    )
