"""`/partnerships`: states on any date, sourced history, appends."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Unpack
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromQuery, QueryParameter

from timeline import logs, metrics, wire
from timeline.admission import check_new
from timeline.api import examples
from timeline.api.auth import REFUSED_KEY, append_token, read_guard, reader_secret
from timeline.api.bodies import with_events, with_json_events
from timeline.api.errors import (
    BAD_REQUEST,
    FORBIDDEN,
    JSON,
    NOT_FOUND,
    UNAUTHORIZED,
    ProblemError,
    decoded_body,
    problem,
)
from timeline.api.http import (
    MAX_POSITION,
    NOT_MODIFIED,
    AsOf,
    Cursor,
    KnownAt,
    StreamIdPath,
    as_of_param,
    decode_cursor,
    encode_cursor,
    etag,
    feed_links,
    known_at_param,
    matches,
    next_page,
    not_modified,
    page_headers,
    partial_date_param,
    partial_date_query,
    require_json,
    text_param,
    valid_stream_id,
)
from timeline.api.models import (
    AppendedDoc,
    AppendRequest,
    HistoryDoc,
    OrganizationLink,
    PartnershipPage,
    PartnershipSummary,
    PartnershipView,
)
from timeline.api.openapi import AppendOperation
from timeline.api.parties import party_param
from timeline.api.replay import replayable
from timeline.api.services import Services
from timeline.events import BY_TYPE
from timeline.projection import NotKnownError
from timeline.state import Outline, PartnershipState
from timeline.store import AppendResult, StoreFullError
from timeline.store.base import StreamFilters
from timeline.store.read_models import ListFilters

audit = logging.getLogger("timeline.audit")
append_decoder = msgspec.json.Decoder(AppendRequest, dec_hook=wire.dec_hook)
_untyped = msgspec.json.Decoder()
_known_keys = wire.known_keys_decoder(AppendRequest)


def decode_append(body: bytes) -> AppendRequest:
    """The append body, for this handler and the edge's lean path: typed, and refused
    (`InadmissibleError`) when it carries a field no event has or a link that is no web
    address, which the typed decode alone would drop or keep."""
    appended = append_decoder.decode(body)
    try:
        _known_keys.decode(body)
    except msgspec.DecodeError:  # an unknown key somewhere: walk the body to name it
        raw = _untyped.decode(body)
    else:
        raw = None
    check_new(raw, AppendRequest, ((f"$.events[{n}]", e) for n, e in enumerate(appended.events)))
    return appended


def _href(stream: str) -> str:
    return f"/partnerships/{stream}"


def append_responses(bad_request: str, conflict: str) -> dict[int, ResponseSpec]:
    """What an append answers (a partnership's or an organization's), as the spec says it."""
    return {
        201: ResponseSpec(AppendedDoc, description="Stored", generate_examples=False),
        200: ResponseSpec(
            AppendedDoc,
            description="Idempotent replay: the original result",
            generate_examples=False,
        ),
        400: problem(bad_request),
        415: problem("The body is not `application/json`"),
        401: UNAUTHORIZED,
        403: FORBIDDEN,
        409: problem(conflict),
        413: problem("Body or batch too large (TIMELINE_MAX_BODY_BYTES, TIMELINE_MAX_BATCH)"),
        507: problem("The store cannot write (disk full); nothing was stored, retry later"),
        429: problem(
            "Past a write limit of this token or client (TIMELINE_WRITE_LIMIT_PER_TOKEN, "
            "TIMELINE_WRITE_LIMIT_PER_CLIENT); retry after `Retry-After` seconds"
        ),
        422: problem("Invalid events: `errors` names each field, `rule` a broken domain rule"),
    }


class Partnerships(Controller):
    path = "/partnerships"
    tags = ["partnerships"]  # noqa: RUF012 - litestar reads it as a class attribute

    @get(
        "/",
        guards=[read_guard],
        summary="Partnerships on a date as known at an instant, filtered and paginated",
        description="Summaries from the read models, ordered by id: filter by `party`, "
        "`status`, `region`, or words (`q`); `as_of` and `known_at` pick the world date and "
        "the store's instant.",
        responses={
            200: ResponseSpec(
                PartnershipPage, description="One page, ordered by id", generate_examples=False
            ),
            304: NOT_MODIFIED,
            400: BAD_REQUEST,
            401: UNAUTHORIZED,
        },
    )
    async def list_partnerships(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        *,
        party: Annotated[
            str | None,
            QueryParameter(
                description="Organization id (microsoft), or a name, alias or identifier it "
                "goes by (`Vodafone Group`, `lei:...`, `wikidata:Q...`)"
            ),
        ] = None,
        status: FromQuery[Literal["active", "ended"] | None] = None,
        region: Annotated[str | None, QueryParameter(description="Region, e.g. Africa")] = None,
        q: Annotated[
            str | None,
            QueryParameter(
                description=(
                    "Words of the title, kind, parties, regions or summary: each must begin a "
                    "word there (micro finds Microsoft), in any case, with or without accents"
                ),
                max_length=100,
            ),
        ] = None,
        as_of: AsOf = None,
        known_at: KnownAt = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        cursor: Cursor = None,
    ) -> Response[Any]:
        day = as_of_param(as_of)
        instant = known_at_param(known_at)
        after = decode_cursor(cursor)
        # `day` is today when as_of is left out, so the tag also turns at midnight UTC
        tag = etag("list", request.url.query, day, (await svc.store.stats()).last_position)
        if matches(request.headers.get("if-none-match"), tag):
            return not_modified(tag)
        filters = ListFilters(
            day=day,
            known_at=instant,
            party=None if party is None else await party_param(svc, party),
            region=None if region is None else text_param(region, "region"),
            status=status,
            after=after,
            text=None if q is None else text_param(q, "q"),
        )
        page = await svc.store.read_models.partnerships(filters, limit + 1)
        chosen = [_summary(stream, outline, version) for stream, outline, version in page[:limit]]
        more = len(page) > limit
        next_link = next_page(request, cursor=encode_cursor(chosen[-1].id)) if more else None
        return Response(
            PartnershipPage(partnerships=tuple(chosen), next=next_link),
            headers=page_headers(tag, next_link),
        )

    @get(
        "/{stream_id:str}",
        guards=[read_guard],
        summary="A partnership on a date, as known at an instant",
        description="The answer states its basis (`as_of`, `known_at`, `version`, "
        "`last_position`); its ETag changes exactly when the answer can.",
        responses={
            200: ResponseSpec(
                PartnershipView,
                description="The state with its basis and the address of its calendar feed",
                examples=examples.state(),
                generate_examples=False,
            ),
            304: NOT_MODIFIED,
            400: BAD_REQUEST,
            401: UNAUTHORIZED,
            404: NOT_FOUND,
        },
    )
    async def get_partnership(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        stream_id: StreamIdPath,
        as_of: AsOf = None,
        known_at: KnownAt = None,
    ) -> Response[Any]:
        stream = valid_stream_id(stream_id)
        day = as_of_param(as_of)
        instant = known_at_param(known_at)
        position = await svc.store.known_position()  # before reading: the answer is this new
        view = await svc.projector.view(stream, instant)
        if view is None:
            raise NotKnownError.unknown(stream, instant)
        now = datetime.now(UTC)
        state = await svc.projector.state(view, as_of=day, known_at=instant or now)
        if state is None:
            raise NotKnownError.unannounced(stream, day)
        names = await svc.store.read_models.names_on(named_organizations(state), day, instant)
        tag = etag("state", stream, day, view.version, view.last_position, sorted(names.items()))
        today = None if as_of else day
        if matches(request.headers.get("if-none-match"), tag):
            replayable(request.scope, position, today)
            return not_modified(tag)
        feed = feed_links(
            svc.settings.base_url,
            f"/calendars/partnerships/{stream}.ics",
            reader_secret(request, svc),
        )
        shown = {"as_of": as_of} if as_of else {}
        if known_at:
            shown["known_at"] = known_at
        page = f"{svc.settings.base_url}{_href(stream)}/timeline"
        page += f"?{urlencode(shown)}" if shown else ""
        links = {
            org: OrganizationLink(name=name, href=f"/organizations/{org}")
            for org, name in sorted(names.items())
        }
        answer = PartnershipView(
            **msgspec.structs.asdict(state), calendar=feed, page=page, organizations=links
        )
        body = wire.encode(answer)
        replayable(request.scope, position, today, None if instant else now, body)
        return Response(body, media_type=JSON, headers={"ETag": tag, "Cache-Control": "no-cache"})

    @get(
        "/{stream_id:str}/events",
        guards=[read_guard],
        summary="The sourced history of a partnership",
        description="The stored events in version order, each with its sources; filter by "
        "`type` and effective dates, or read as known at `known_at`.",
        responses={
            200: ResponseSpec(
                HistoryDoc,
                description="Events in version order; follow `next` for more",
                examples=examples.history(),
                generate_examples=False,
            ),
            304: NOT_MODIFIED,
            400: BAD_REQUEST,
            401: UNAUTHORIZED,
            404: NOT_FOUND,
        },
    )
    async def history(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        stream_id: StreamIdPath,
        *,
        from_version: Annotated[
            int, QueryParameter(ge=1, le=MAX_POSITION, description="The first version shown")
        ] = 1,
        event_type: Annotated[
            list[str] | None, QueryParameter(name="type", description="Event types (repeatable)")
        ] = None,
        effective_from: Annotated[
            str | None, partial_date_query("Events effective on or after this partial date")
        ] = None,
        effective_to: Annotated[
            str | None, partial_date_query("Events effective on or before this partial date")
        ] = None,
        known_at: KnownAt = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    ) -> Response[Any]:
        stream = valid_stream_id(stream_id)
        types = tuple(event_type or ())
        unknown = [t for t in types if t not in BY_TYPE]
        if unknown:
            raise ProblemError(400, f"unknown event type {unknown[0]!r}; see GET /schemas")
        start = partial_date_param(effective_from, "effective_from")
        end = partial_date_param(effective_to, "effective_to")
        instant = known_at_param(known_at)
        position = await svc.store.known_position()
        view = await svc.projector.view(stream, instant)
        if view is None:
            raise NotKnownError.unknown(stream, instant)
        tag = etag("history", request.url.query, view.version, view.last_position)
        replayable(request.scope, position)  # nothing in a history depends on the day or now
        if matches(request.headers.get("if-none-match"), tag):
            return not_modified(tag)
        return await history_page(
            request,
            svc,
            stream,
            tag,
            from_version=from_version,
            to_version=view.version,
            limit=limit,
            types=types,
            effective_from=start.first_day if start else None,
            effective_to=end.last_day if end else None,
        )

    @post(
        "/{stream_id:str}/events",
        summary="Append events to a partnership",
        description="Needs a bearer token with the `append` scope; its name is recorded as "
        "each event's `actor`. Replaying the same events (same ids, same content) answers "
        "200 with the original result and stores nothing.",
        operation_class=AppendOperation,
        responses=append_responses(
            "Malformed JSON or stream id",
            "`expected_version` does not match, or an event id was used for other content",
        ),
        status_code=201,
    )
    async def append(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        stream_id: StreamIdPath,
    ) -> Response[Any]:
        token = await append_token(request, svc)  # here, not by injection: that cost 5%
        stream = valid_stream_id(stream_id)
        return await append_response(request, svc, stream, token.name)


async def history_page(
    request: Request[Any, Any, Any],
    svc: Services,
    stream: str,
    tag: str,
    **filters: Unpack[StreamFilters],
) -> Response[Any]:
    """A page of a stream's events in version order, as stored (a partnership's history or an
    organization's), `limit` of them, with its `next` link."""
    limit = filters.get("limit") or 100
    page = await svc.store.read_stream_json(stream, **(filters | {"limit": limit + 1}))
    next_link = None
    if len(page) > limit:
        page = page[:limit]
        next_link = next_page(request, from_version=page[-1][0] + 1)
    body = with_json_events({"stream": stream, "next": next_link}, [e for _, e in page])
    return Response(body, media_type=JSON, headers=page_headers(tag, next_link))


async def append_response(
    request: Request[Any, Any, Any],
    svc: Services,
    stream: str,
    actor: str,
    location: str | None = None,
) -> Response[Any]:
    """An append's body decoded, stored and answered, for a partnership or an organization
    (`location`: where the answer points; by default the events stored)."""
    require_json(request)
    appended = decoded_body(await request.body(), decode_append, "events")
    if len(appended.events) > svc.settings.max_batch:
        raise ProblemError(
            413,
            f"{len(appended.events)} events in one append; at most "
            f"{svc.settings.max_batch} (TIMELINE_MAX_BATCH)",
        )
    try:
        result = await _appended(request, svc, stream, appended, actor)
    except StoreFullError as error:
        svc.write_failure = (time.monotonic(), str(error))
        metrics.APPENDS.labels("failed").inc()
        raise
    except Exception:
        metrics.APPENDS.labels("refused").inc()
        raise
    status, content, stored = appended_answer(
        svc, actor, stream, result, request.scope.get("state", {}).get("request_id")
    )
    return Response(
        content, status_code=status, media_type=JSON, headers={"Location": location or stored}
    )


async def _appended(
    request: Request[Any, Any, Any],
    svc: Services,
    stream: str,
    appended: AppendRequest,
    actor: str,
) -> AppendResult:
    """The store's answer to the append; what it raised when the edge tried this very append
    (`lean_append.py`), rather than the same append queued again."""
    refused = request.scope.get("state", {}).pop(REFUSED_KEY, None)
    if isinstance(refused, Exception):
        raise refused
    return await svc.store.append(
        stream,
        appended.events,
        actor=actor,
        expected_version=appended.expected_version,
        decoded=True,
    )


def appended_answer(
    svc: Services, actor: str, stream: str, result: AppendResult, request_id: str | None
) -> tuple[int, bytes, str]:
    """What a stored (or replayed) append answers: (status, JSON body, `Location`), its
    metrics and audit line counted; for this handler and the edge's lean path alike."""
    svc.write_failure = None
    metrics.APPENDS.labels("replayed" if result.replayed else "stored").inc()
    if not result.replayed:
        metrics.EVENTS.inc(len(result.events))
    logs.info(
        audit,
        "append",
        {
            "actor": actor,
            "stream": stream,
            "events": len(result.events),
            "version": result.version,
            "positions": [result.events[0].position, result.last_position],
            "replayed": result.replayed,
            "request_id": request_id,
        },
    )
    content = with_events(
        {"stream": stream, "version": result.version, "last_position": result.last_position},
        result.events,
    )
    location = f"{_href(stream)}/events?from_version={result.events[0].version}"
    return (200 if result.replayed else 201), content, location


def named_organizations(state: PartnershipState) -> set[str]:
    """Every organization id the state names."""
    named = {party.org for party in (*state.parties, *state.former_parties)}
    for investment in state.investments:
        named.add(investment.investor)
        if investment.recipient is not None:
            named.add(investment.recipient)
    named |= {org for c in state.commitments for org in (c.by, c.to)}
    return named


def _summary(stream: str, outline: Outline, version: int) -> PartnershipSummary:
    return PartnershipSummary(
        id=stream,
        title=outline.title,
        kind=outline.kind,
        status=outline.status,
        announced=outline.announced,
        parties=outline.parties,
        regions=outline.regions,
        version=version,
        href=_href(stream),
    )
