"""`/organizations`: the parties, and the partnerships each takes part in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter

from timeline.api.auth import read_guard, reader_secret
from timeline.api.errors import BAD_REQUEST, UNAUTHORIZED, not_found, problem
from timeline.api.http import (
    NOT_MODIFIED,
    Cursor,
    OrgPath,
    decode_cursor,
    encode_cursor,
    etag,
    feed_links,
    matches,
    next_page,
    not_modified,
    page_headers,
    valid_stream_id,
)
from timeline.api.models import Membership, Organization, OrganizationList
from timeline.api.services import Services
from timeline.state import Outline


def organization(
    org: str,
    memberships: list[tuple[str, Outline]],
    base: str,
    token: str | None = None,
    next_link: str | None = None,
) -> Organization:
    """An organization as its partnerships name it (the first naming wins)."""
    name = org
    members: list[Membership] = []
    for stream, outline in memberships:
        for current, parties in ((True, outline.parties), (False, outline.former_parties)):
            for party in parties:
                if party.org != org:
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
                    )
                )
    return Organization(
        org=org,
        name=name,
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
        found = await svc.store.read_models.organizations(
            datetime.now(UTC).date(), after, limit + 1
        )
        page = [
            organization(org, members, svc.settings.base_url, secret)
            for org, members in list(found.items())[:limit]
        ]
        more = len(found) > limit
        next_link = next_page(request, cursor=encode_cursor(page[-1].org)) if more else None
        return Response(
            OrganizationList(organizations=tuple(page), next=next_link),
            headers=page_headers(tag, next_link),
        )

    @get(
        "/{org:str}",
        summary="One organization and its partnerships",
        description="The organization's partnerships by id, paged; `calendar` is the feed of "
        "all their milestones and phases.",
        responses={
            200: ResponseSpec(
                Organization,
                description="The organization; follow `next` for more",
                generate_examples=False,
            ),
            304: NOT_MODIFIED,
            400: BAD_REQUEST,
            401: UNAUTHORIZED,
            404: problem("No partnership names this organization"),
        },
    )
    async def get_organization(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        org: OrgPath,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        cursor: Cursor = None,
    ) -> Response[Any]:
        valid_stream_id(org, "org")
        after = decode_cursor(cursor)
        secret = reader_secret(request, svc)
        today = datetime.now(UTC).date()
        tag = etag("organization", org, request.url.query, today, secret,
                   (await svc.store.stats()).last_position)  # fmt: skip
        if matches(request.headers.get("if-none-match"), tag):
            return not_modified(tag)
        members = await svc.store.read_models.memberships(org, today, after, limit + 1)
        if not members and after is None:
            raise not_found(f"no organization {org!r} is a party to any partnership")
        more = len(members) > limit
        next_link = (
            next_page(request, cursor=encode_cursor(members[limit - 1][0])) if more else None
        )
        found = organization(org, members[:limit], svc.settings.base_url, secret, next_link)
        return Response(found, headers=page_headers(tag, next_link))
