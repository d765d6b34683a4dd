"""`/calendars/…ics`: iCalendar feeds, rendered once per change and served from memory.

Three caches, each keyed by what its value depends on:
- a stream's calendar items, by (stream, options, version);
- each item's VEVENT bytes, by (UID, sequence, last change, base URL): an
  append re-renders only the items it changed;
- each feed's bytes with its strong ETag and Last-Modified, by (feed,
  options, base URL) and a marker of the store's content.
A repeated request or a 304 costs a dictionary lookup and the marker query.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, QueryParameter

from timeline import calendar
from timeline.api.auth import feed_guard
from timeline.api.errors import BAD_REQUEST, UNAUTHORIZED, not_found, problem
from timeline.api.http import valid_stream_id
from timeline.api.services import Services
from timeline.calendar import CalendarInfo, CalendarItem, FeedOptions
from timeline.lru import LRU
from timeline.state import PartnershipState
from timeline.store import StreamInfo

ICS = "text/calendar"  # litestar adds "; charset=utf-8" to text types
FEEDS_KEPT = 256
STREAMS_KEPT = 4096
EVENTS_KEPT = 100_000
SUFFIX = ".ics"


@dataclass(frozen=True, slots=True)
class RenderedCalendar:
    body: bytes
    etag: str
    last_modified: datetime | None


class CalendarCache:
    """What the calendar endpoints keep between requests (one per app)."""

    def __init__(self) -> None:
        self.items: LRU[tuple[str, FeedOptions], tuple[int, list[CalendarItem]]] = LRU(STREAMS_KEPT)
        self.events: LRU[tuple[str, int, datetime, str], bytes] = LRU(EVENTS_KEPT)
        self.feeds: LRU[tuple[str, FeedOptions, str], tuple[object, RenderedCalendar]] = LRU(
            FEEDS_KEPT
        )

    async def stream_items(
        self, svc: Services, view: StreamInfo, options: FeedOptions
    ) -> list[CalendarItem]:
        key = (view.stream, options)
        cached = self.items.get(key)
        if cached is None or cached[0] != view.version:
            items = calendar.stream_items(await svc.projector.events(view), options)
            self.items[key] = cached = (view.version, items)
        return cached[1]

    def event_bytes(self, item: CalendarItem, base_url: str) -> bytes:
        key = (item.content.uid, item.sequence, item.changed_at, base_url)
        rendered = self.events.get(key)  # an item that changes gets a new `changed_at`
        if rendered is None:
            rendered = calendar.render_event(item, base_url)
            self.events[key] = rendered
        return rendered

    def feed(self, key: tuple[str, FeedOptions, str], marker: object) -> RenderedCalendar | None:
        cached = self.feeds.get(key)
        if cached is None or cached[0] != marker:
            return None
        return cached[1]

    def keep(
        self, key: tuple[str, FeedOptions, str], marker: object, feed: RenderedCalendar
    ) -> None:
        self.feeds[key] = (marker, feed)


def provide_calendar_cache(state: State) -> CalendarCache:
    """The `cache` dependency of the feed handlers."""
    found: CalendarCache = state.calendars
    return found


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
        cache: NamedDependency[CalendarCache],
        *,
        announcements: ANNOUNCEMENTS = False,
        investments: INVESTMENTS = False,
        token: TOKEN = None,
    ) -> Response[bytes]:
        del token  # checked by the guard
        options = FeedOptions(announcements=announcements, investments=investments)
        key = ("all", options, svc.settings.base_url)
        marker = (await svc.store.stats()).last_position  # any append anywhere moves it
        feed = cache.feed(key, marker)
        if feed is None:
            items: list[CalendarItem] = []
            for info in await svc.store.streams():
                items += await cache.stream_items(svc, info, options)
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
        cache: NamedDependency[CalendarCache],
        name: FromPath[str],
        *,
        announcements: ANNOUNCEMENTS = False,
        investments: INVESTMENTS = False,
        token: TOKEN = None,
    ) -> Response[bytes]:
        del token  # checked by the guard
        stream = valid_stream_id(_strip_suffix(name), "id")
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
            items = await cache.stream_items(svc, view, options)
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
        cache: NamedDependency[CalendarCache],
        name: FromPath[str],
        *,
        announcements: ANNOUNCEMENTS = False,
        investments: INVESTMENTS = False,
        token: TOKEN = None,
    ) -> Response[bytes]:
        del token  # checked by the guard
        org = valid_stream_id(_strip_suffix(name), "org")
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
                items += await cache.stream_items(svc, versions[state.id], options)
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
