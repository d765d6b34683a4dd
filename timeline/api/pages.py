"""The pages people read: `/` (the partnerships) and `/partnerships/{id}/timeline`.

HTML made on the server from the same read models and states the JSON answers come from
(`timeline.web.pages`); the timeline's sliders fetch its body again (`part=body`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import PathParameter, QueryParameter
from litestar.response import Redirect

from timeline.api.auth import read_guard, reader_secret
from timeline.api.changes import Since, window_params
from timeline.api.errors import EXCEPTION_HANDLERS, problem_for
from timeline.api.facts import FactIdPath, FactKindPath, fact_asked, fact_lineage
from timeline.api.http import (
    MAX_POSITION,
    STREAM_ID,
    AsOf,
    Cursor,
    KnownAt,
    StreamIdPath,
    as_of_param,
    decode_cursor,
    encode_cursor,
    feed_links,
    known_at_param,
    text_param,
    valid_stream_id,
)
from timeline.api.organizations import Asked, named_redirect, organization_answer
from timeline.api.parties import party_param
from timeline.api.partnerships import named_organizations
from timeline.api.services import Services
from timeline.fold import END_OF_TIME
from timeline.knowledge import ItemChange, amendments
from timeline.projection import NotKnownError, knowledge_diff
from timeline.store.read_models import ListFilters
from timeline.web.guide import guide_page
from timeline.web.lineage_page import fact_page
from timeline.web.organization_page import Family, organization_page
from timeline.web.pages import (
    IndexQuery,
    PageBasis,
    error_page,
    index_page,
    timeline_body,
    timeline_page,
)
from timeline.web.source_page import source_page
from timeline.web.static import asset

HTML = "text/html"
PAGE_SIZE = 30


def _blank(value: str | None) -> str | None:
    """A form's empty field is no filter."""
    return value or None


def _as_page(request: Request[Any, Any, Any], error: Exception) -> Response[str]:
    """The API's problem for `error`, said as a page: people read these in a browser."""
    answer = problem_for(request, error)
    problem = answer.content
    fields = [(field.path, field.message) for field in problem.errors]
    return Response(
        error_page(problem.status, problem.title, problem.detail, fields),
        status_code=problem.status,
        media_type=HTML,
        headers=dict(answer.headers),
    )


class Pages(Controller):
    path = "/"
    tags = ["pages"]  # noqa: RUF012 - litestar reads it as a class attribute
    include_in_schema = False
    guards = [read_guard]  # noqa: RUF012
    exception_handlers = dict.fromkeys(EXCEPTION_HANDLERS, _as_page)  # every one: litestar
    # takes the nearest class in an error's MRO across all layers, so `Exception` alone would
    # lose to the app's own handler of a nearer class

    @get("/", media_type=HTML)
    async def index(
        self,
        svc: NamedDependency[Services],
        *,
        party: Annotated[str | None, QueryParameter()] = None,
        region: Annotated[str | None, QueryParameter()] = None,
        status: Annotated[Literal["active", "ended", ""] | None, QueryParameter()] = None,
        q: Annotated[str | None, QueryParameter(max_length=100)] = None,
        cursor: Cursor = None,
    ) -> Response[str]:
        """The partnerships, searched (`q`) and filtered by party, region and status, 30 a
        page."""
        org = _blank(party)
        query = IndexQuery(
            party=None if org is None else await party_param(svc, org),
            region=None if not region else text_param(region, "region"),
            status=_blank(status),
            text=None if not q else text_param(q, "q"),
        )
        filters = ListFilters(
            day=datetime.now(UTC).date(),
            party=query.party,
            region=query.region,
            status=query.status,
            after=decode_cursor(cursor),
            text=query.text,
        )
        rows = await svc.store.read_models.partnerships(filters, PAGE_SIZE + 1)
        next_href = None
        if len(rows) > PAGE_SIZE:
            rows = rows[:PAGE_SIZE]
            next_href = "/?" + urlencode({**query.shown(), "cursor": encode_cursor(rows[-1][0])})
        return Response(index_page(rows, query, next_href), media_type=HTML)

    @get("/partnerships/{stream_id:str}/timeline/{kind:str}/{fact_id:str}", media_type=HTML)
    async def fact(
        self,
        svc: NamedDependency[Services],
        stream_id: StreamIdPath,
        kind: FactKindPath,
        fact_id: FactIdPath,
        *,
        as_of: AsOf = None,
        known_at: KnownAt = None,
    ) -> Response[str]:
        """A fact's lineage, in words: what `/partnerships/{id}/facts/{kind}/{fact_id}` says."""
        asked = await fact_asked(svc, stream_id, kind, fact_id, as_of=as_of, known_at=known_at)
        found = await fact_lineage(svc, asked)
        sources = (s for version in found.versions for s in version.sources)
        return Response(
            fact_page(found, await svc.texts_of(sources)),
            media_type=HTML,
            headers={"Cache-Control": "no-cache"},
        )

    @get("/sources/{source_id:str}/read", media_type=HTML)
    async def source(
        self,
        svc: NamedDependency[Services],
        source_id: Annotated[str, PathParameter()],
        *,
        start: Annotated[int | None, QueryParameter(ge=0, le=MAX_POSITION)] = None,
        end: Annotated[int | None, QueryParameter(ge=0, le=MAX_POSITION)] = None,
    ) -> Response[str]:
        """A registered source to read, with the characters `start` to `end` of its normal
        form (a quote's `position`) marked: where the timeline's checked quotes link."""
        valid_stream_id(source_id, "source_id")
        record = await svc.store.sources.get(source_id)
        if record is None:
            raise NotKnownError(f"no source {source_id!r} is registered")
        later = await svc.store.sources.superseded_by(source_id)
        span = (start, end) if start is not None and end is not None else None
        return Response(source_page(record, later, span), media_type=HTML)

    @get("/organizations/{org:str}/page", media_type=HTML)
    async def organization(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        org: Annotated[str, PathParameter(max_length=300)],
        *,
        as_of: AsOf = None,
        known_at: KnownAt = None,
    ) -> Response[str]:
        """An organization for people: its names over time, its family as a small tree, and
        its partnerships (a name, alias or identifier redirects to the id, as the JSON does)."""
        day = as_of_param(as_of)
        instant = known_at_param(known_at)
        found = None
        if STREAM_ID.fullmatch(org) is not None:
            found = await organization_answer(request, svc, org, Asked(day=day, known_at=instant))
        if found is None:
            return await named_redirect(request, svc, org, "/page")
        others = {*found.spin_offs, *found.predecessors, *found.acquisitions}
        state = found.registered
        if state is not None:
            relations = (state.spun_off_from, state.merged_into, state.acquired_by)
            others |= {relation.org for relation in relations if relation is not None}
        names = await svc.store.read_models.names_on(others, day, instant)
        return Response(
            organization_page(found, Family(names)),
            media_type=HTML,
            headers={"Cache-Control": "no-cache"},
        )

    @get("/guide", media_type=HTML)
    async def guide_home(self, request: Request[Any, Any, Any]) -> Response[str]:
        """The documentation's home page, at `/guide/` (its links are relative to it: litestar
        routes `/guide` here too, and sends it on)."""
        if not bytes(request.scope.get("raw_path", b"/")).split(b"?")[0].endswith(b"/"):
            return Response("", status_code=308, headers={"Location": "/guide/"})
        return _guide("")

    @get("/guide/{page:path}", media_type=HTML)
    async def guide(self, page: Annotated[str, PathParameter()]) -> Response[str]:
        """The documentation: guides, reference, architecture and benchmarks (`docs/`)."""
        return _guide(page.strip("/"))

    @get("/favicon.ico", status_code=301)
    async def favicon(self) -> Redirect:
        """Browsers ask for this on any page, the API's JSON included: the app's icon."""
        return Redirect(asset("icon.svg"), status_code=301)

    @get("/partnerships/{stream_id:str}/timeline", media_type=HTML)
    async def timeline(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        stream_id: StreamIdPath,
        *,
        as_of: AsOf = None,
        known_at: KnownAt = None,
        since: Since = None,
        part: Annotated[Literal["page", "body"], QueryParameter()] = "page",
    ) -> Response[str]:
        """A partnership's timeline on `as_of` as known at `known_at`, with sliders for both and
        what changed `since` an instant (`part=body`: the page's body alone, for the sliders)."""
        stream = valid_stream_id(stream_id)
        day = as_of_param(as_of)
        instant = known_at_param(known_at)
        compared = None
        if since is not None:
            compared, _until = window_params(since, known_at)
        view = await svc.projector.view(stream, instant)
        if view is None:
            raise NotKnownError.unknown(stream, instant)
        known = instant or datetime.now(UTC)
        whole = await svc.projector.state(view, as_of=END_OF_TIME, known_at=known)
        if whole is None:
            raise NotKnownError.unannounced(stream, day)
        on_day = await svc.projector.state(view, as_of=day, known_at=known)
        now = view if instant is None else await svc.projector.view(stream, None)
        events = await svc.projector.events(now) if now is not None else ()
        feed = feed_links(
            svc.settings.base_url,
            f"/calendars/partnerships/{stream}.ics",
            reader_secret(request, svc),
        )
        changes: list[ItemChange] = []
        if compared is not None and on_day is not None:  # nothing to mark before it is there
            found = await knowledge_diff(
                svc.projector, stream, since=compared, until=instant, as_of=day
            )
            changes = found.changes
        basis = PageBasis(
            stream=stream,
            as_of=day,
            known_at=instant,
            instants=sorted({e.recorded_at for e in events}),
            calendar=feed.url,
            subscribe=feed.webcal,
            since=compared,
            changes=changes,
            amendments=amendments(stream, [e for e in events if e.recorded_at <= known]),
            passages=await svc.texts_of(
                s for e in events if e.recorded_at <= known for s in e.event.sources
            ),
            registered=await svc.store.read_models.names_on(
                named_organizations(whole), day, instant
            ),
        )
        render = timeline_body if part == "body" else timeline_page
        return Response(
            render(whole, on_day, basis),
            media_type=HTML,
            headers={"Cache-Control": "no-cache"},
        )


def _guide(name: str) -> Response[str]:
    found = guide_page(name)
    if found is None:
        raise NotKnownError(f"no documentation page {name[:100]!r}")
    return Response(found, media_type=HTML, headers={"Cache-Control": "no-cache"})
