"""`/organizations`: the parties, and the partnerships each takes part in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import PathParameter, QueryParameter

from timeline.api.auth import append_token, read_guard, reader_secret
from timeline.api.errors import (
    BAD_REQUEST,
    FORBIDDEN,
    UNAUTHORIZED,
    ProblemError,
    bad_request,
    not_found,
    problem,
)
from timeline.api.http import (
    MAX_POSITION,
    NOT_MODIFIED,
    STREAM_ID,
    AsOf,
    Cursor,
    KnownAt,
    OrgPath,
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
    valid_stream_id,
)
from timeline.api.models import (
    HistoryDoc,
    Membership,
    Organization,
    OrganizationList,
    UnregisteredParties,
    UnregisteredParty,
)
from timeline.api.openapi import AppendOperation
from timeline.api.parties import NAME_MAX
from timeline.api.partnerships import append_response, append_responses, history_page
from timeline.api.services import Services
from timeline.events import SLUG_MAX, organization_stream
from timeline.organization import OrganizationState, fold_organization, near_duplicates
from timeline.state import Outline

OrgName = Annotated[
    str,
    PathParameter(
        description="Organization id (`microsoft`), or a name, alias or identifier it goes by "
        "(`lei:...`, `wikidata:Q...`), which redirects to the id",
        max_length=300,
    ),
]


def organization(
    org: str,
    memberships: Sequence[tuple[str, Outline, str | None]],
    base: str,
    token: str | None = None,
    next_link: str | None = None,
    *,
    registered: OrganizationState | None = None,
    related: Sequence[tuple[str, str]] = (),
    registered_name: str | None = None,
) -> Organization:
    """An organization as its own events say and as its partnerships name it (the first
    naming wins where it is not registered)."""
    name = org
    members: list[Membership] = []
    for stream, outline, via in memberships:
        for current, parties in ((True, outline.parties), (False, outline.former_parties)):
            for party in parties:
                if party.org != (via or org):
                    continue
                if not members:
                    name = party.name
                members.append(
                    Membership(
                        id=stream,
                        title=outline.title,
                        role=party.role,
                        status=outline.status,
                        current_party=current,
                        href=f"/partnerships/{stream}",
                        via=via,
                    )
                )
    if registered is not None:
        name = registered.name
    elif registered_name is not None:
        name = registered_name
    return Organization(
        org=org,
        name=name,
        registered=registered,
        spin_offs=tuple(other for kind, other in related if kind == "parent"),
        predecessors=tuple(other for kind, other in related if kind == "successor"),
        acquisitions=tuple(other for kind, other in related if kind == "acquirer"),
        partnerships=tuple(members),
        href=f"/organizations/{org}",
        calendar=feed_links(base, f"/calendars/organizations/{org}.ics", token),
        next=next_link,
    )


class Organizations(Controller):
    path = "/organizations"
    tags = ["organizations"]  # noqa: RUF012 - litestar reads it as a class attribute
    guards = [read_guard]  # noqa: RUF012 - reads are private when TIMELINE_PUBLIC_READ=false

    @get(
        "/",
        summary="Every party and its partnerships (as they stand today)",
        description="Organizations by id, each with every partnership it is or was a party "
        "to and its calendar feed; follow `next` (or the `Link` header) for more.",
        responses={
            200: ResponseSpec(
                OrganizationList,
                description="One page, by organization id",
                generate_examples=False,
            ),
            304: NOT_MODIFIED,
            400: BAD_REQUEST,
            401: UNAUTHORIZED,
        },
    )
    async def list_organizations(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 20,
        cursor: Cursor = None,
    ) -> Response[Any]:
        after = decode_cursor(cursor)
        secret = reader_secret(request, svc)
        tag = etag(
            "organizations",
            request.url.query,
            (await svc.store.stats()).last_position,
            datetime.now(UTC).date(),
            secret,
        )
        if matches(request.headers.get("if-none-match"), tag):
            return not_modified(tag)
        today = datetime.now(UTC).date()
        found = await svc.store.read_models.organizations(today, after, limit + 1)
        shown = list(found.items())[:limit]
        names = await svc.store.read_models.names_on([org for org, _ in shown], today, None)
        page = [
            organization(
                org,
                [(*m, None) for m in members],
                svc.settings.base_url,
                secret,
                registered_name=names.get(org),
            )
            for org, members in shown
        ]
        more = len(found) > limit
        next_link = next_page(request, cursor=encode_cursor(page[-1].org)) if more else None
        return Response(
            OrganizationList(organizations=tuple(page), next=next_link),
            headers=page_headers(tag, next_link),
        )

    @get(
        "/{org:str}",
        summary="One organization: its names, relations and partnerships",
        description="The organization on `as_of` as known at `known_at` (`registered`: its "
        "name then, former names, aliases, identifiers, what it was spun off from or merged "
        "into) and its partnerships by id, paged; `calendar` is the feed of all their "
        "milestones and phases. An alias, an identifier (`lei:...`, `wikidata:Q...`) or a "
        "former name in the path redirects (308) to the organization's id.",
        responses={
            200: ResponseSpec(
                Organization,
                description="The organization; follow `next` for more",
                generate_examples=False,
            ),
            304: NOT_MODIFIED,
            308: ResponseSpec(None, description="The organization's id, for a name it goes by"),
            400: BAD_REQUEST,
            401: UNAUTHORIZED,
            404: problem("No organization is registered under this, and no partnership names it"),
            409: problem("Several organizations go by this name: `detail` lists them"),
        },
    )
    async def get_organization(  # noqa: PLR0917 - the route's parameters
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        org: OrgName,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        cursor: Cursor = None,
        as_of: AsOf = None,
        known_at: KnownAt = None,
    ) -> Response[Any]:
        day = as_of_param(as_of)
        instant = known_at_param(known_at)
        if STREAM_ID.fullmatch(org) is None or len(org) > SLUG_MAX:
            return await named_redirect(request, svc, org)
        after = decode_cursor(cursor)
        secret = reader_secret(request, svc)
        tag = etag("organization", org, request.url.query, day, secret,
                   (await svc.store.stats()).last_position)  # fmt: skip
        if matches(request.headers.get("if-none-match"), tag):
            return not_modified(tag)
        found = await organization_answer(
            request, svc, org, Asked(day=day, known_at=instant, after=after, limit=limit)
        )
        if found is None:
            return await named_redirect(request, svc, org)
        return Response(found, headers=page_headers(tag, found.next))

    @get(
        "/{org:str}/events",
        summary="An organization's events, with their sources",
        description="Every event of the organization's stream in version order (`from_version`, "
        "`limit`, `next`), as recorded, each with its sources: what its state is folded from.",
        responses={
            200: ResponseSpec(HistoryDoc, description="One page", generate_examples=False),
            304: NOT_MODIFIED,
            400: BAD_REQUEST,
            401: UNAUTHORIZED,
            404: problem("No organization is registered under this id"),
        },
    )
    async def history(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        org: OrgPath,
        from_version: Annotated[
            int, QueryParameter(ge=1, le=MAX_POSITION, description="The first version shown")
        ] = 1,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    ) -> Response[Any]:
        stream = organization_stream(valid_stream_id(org, "org"))
        info = await svc.store.stream_info(stream)
        if info is None:
            raise not_found(f"no organization {org!r} is registered")
        tag = etag("organization-events", request.url.query, info.version, info.last_position)
        if matches(request.headers.get("if-none-match"), tag):
            return not_modified(tag)
        return await history_page(
            request,
            svc,
            stream,
            tag,
            from_version=from_version,
            to_version=info.version,
            limit=limit,
        )

    @post(
        "/{org:str}/events",
        summary="Append events to an organization",
        description="Registers an organization (`OrganizationRegistered` first) and records "
        "what happens to it: renames, aliases, identifiers, spin-offs, mergers, acquisitions. "
        "Needs a bearer token with the `append` scope. An alias or identifier another "
        "organization holds is a 409 naming the holder.",
        operation_class=AppendOperation,
        responses=append_responses(
            "Malformed JSON or organization id",
            "`expected_version` does not match, an event id was used for other content, "
            "or an alias or identifier is another organization's (`holder`)",
        ),
        status_code=201,
    )
    async def append(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        org: OrgPath,
    ) -> Response[Any]:
        token = await append_token(request, svc)
        valid_stream_id(org, "org")
        stream = organization_stream(org)
        return await append_response(request, svc, stream, token.name, f"/organizations/{org}")


class Parties(Controller):
    path = "/parties"
    tags = ["organizations"]  # noqa: RUF012 - litestar reads it as a class attribute
    guards = [read_guard]  # noqa: RUF012 - and the handler asks for an `append` token too

    @get(
        "/unregistered",
        summary="Parties no registered organization is (for curators)",
        description="Each party of a partnership that no organization is registered as, by "
        "id, with the name its first partnership gives it and `similar_to`: registered "
        "organizations whose id, name or alias it is close to (a misspelling, `microsfot`). "
        "Needs a bearer token with the `append` scope.",
        responses={
            200: ResponseSpec(UnregisteredParties, description="One page, by id"),
            304: NOT_MODIFIED,
            400: BAD_REQUEST,
            401: UNAUTHORIZED,
            403: FORBIDDEN,
        },
    )
    async def unregistered(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        cursor: Cursor = None,
    ) -> Response[Any]:
        await append_token(request, svc)
        after = decode_cursor(cursor)
        tag = etag("unregistered", request.url.query, (await svc.store.stats()).last_position)
        if matches(request.headers.get("if-none-match"), tag):
            return not_modified(tag)
        found = await svc.store.read_models.unregistered(after, limit + 1)
        registered = await svc.store.read_models.registered_names() if found else []
        page = [
            UnregisteredParty(
                org=org,
                name=name,
                partnerships=count,
                similar_to=tuple(near_duplicates(org, name, registered)),
                href=f"/organizations/{org}",
            )
            for org, name, count in found[:limit]
        ]
        more = len(found) > limit
        next_link = next_page(request, cursor=encode_cursor(page[-1].org)) if more else None
        return Response(
            UnregisteredParties(parties=tuple(page), next=next_link),
            headers=page_headers(tag, next_link),
        )


@dataclass(frozen=True, slots=True)
class Asked:
    day: date
    known_at: datetime | None
    after: str | None = None
    limit: int = 100


async def organization_answer(
    request: Request[Any, Any, Any], svc: Services, org: str, asked: Asked
) -> Organization | None:
    """`GET /organizations/{org}`'s answer (the page shows it too); None when `org` is no
    organization's id but a name, alias or identifier one goes by. 404 when it is neither."""
    day, after, limit = asked.day, asked.after, asked.limit
    events = [e async for e in svc.store.read_stream(organization_stream(org))]
    registered = fold_organization(events, as_of=day, known_at=asked.known_at) if events else None
    members = await svc.store.read_models.memberships(org, day, after, limit + 1)
    if not members and after is None and not events:
        if (await svc.store.read_models.named(org)) not in ([], [org]):
            return None
        raise not_found(f"no organization {org!r} is registered or a party to any partnership")
    related = await svc.store.read_models.related(org) if events else []
    more = len(members) > limit
    next_link = next_page(request, cursor=encode_cursor(members[limit - 1][0])) if more else None
    shown: list[tuple[str, Outline, str | None]] = [(*m, None) for m in members[:limit]]
    if after is None:  # the partnerships of those that merged into it, on the first page
        for kind, predecessor in related:
            if kind == "successor":
                theirs = await svc.store.read_models.memberships(predecessor, day, None, limit)
                shown += [(*m, predecessor) for m in theirs]
    return organization(
        org,
        shown,
        svc.settings.base_url,
        reader_secret(request, svc),
        next_link,
        registered=registered,
        related=related,
    )


async def named_redirect(
    request: Request[Any, Any, Any], svc: Services, text: str, suffix: str = ""
) -> Response[Any]:
    """A name, alias or identifier in the path: to the organization it names. A control
    character or a text no name could be is a malformed path, not a missing organization."""
    if len(text) > NAME_MAX or not text.strip() or not text.isprintable():
        raise bad_request(
            f"{text[:200]!r} is neither an organization id nor a name, alias or identifier one "
            f"could go by (printable, at most {NAME_MAX} characters)",
            "path.org",
        )
    found = await svc.store.read_models.named(text)
    if not found:
        raise not_found(f"no organization goes by {text[:200]!r}")
    if len(found) > 1:
        raise ProblemError(409, f"{text[:200]!r} names several organizations: {', '.join(found)}")
    query = f"?{request.url.query}" if request.url.query else ""
    return Response(
        None, status_code=308, headers={"Location": f"/organizations/{found[0]}{suffix}{query}"}
    )
