"""`/organizations`: the parties, and the partnerships each takes part in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter

from timeline.api.auth import reader_secret
from timeline.api.errors import BAD_REQUEST, UNAUTHORIZED, not_found, problem
from timeline.api.http import (
    Cursor,
    OrgPath,
    decode_cursor,
    encode_cursor,
    etag,
    feed_links,
    matches,
    not_modified,
    valid_stream_id,
)
from timeline.api.models import Membership, Organization, OrganizationList
from timeline.api.services import Services
from timeline.state import PartnershipState


def organizations(
    states: list[PartnershipState], base: str, token: str | None = None
) -> dict[str, Organization]:
    names: dict[str, str] = {}
    members: dict[str, list[Membership]] = {}
    for state in states:
        for current, parties in ((True, state.parties), (False, state.former_parties)):
            for party in parties:
                names.setdefault(party.org, party.name)
                members.setdefault(party.org, []).append(
                    Membership(
                        id=state.id,
                        title=state.title,
                        role=party.role,
                        status=state.status,
                        current_party=current,
                        href=f"/partnerships/{state.id}",
                    )
                )
    return {
        org: Organization(
            org=org,
            name=names[org],
            partnerships=tuple(members[org]),
            href=f"/organizations/{org}",
            calendar=feed_links(base, f"/calendars/organizations/{org}.ics", token),
        )
        for org in sorted(names)
    }


class Organizations(Controller):
    path = "/organizations"
    tags = ["organizations"]  # noqa: RUF012 - litestar reads it as a class attribute

    @get(
        "/",
        summary="Every party and its partnerships (as they stand today)",
        responses={
            200: ResponseSpec(OrganizationList, description="One page, by organization id"),
            304: ResponseSpec(None, description="Unchanged since the ETag in If-None-Match"),
            400: BAD_REQUEST,
            401: UNAUTHORIZED,
        },
    )
    async def list_organizations(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
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
        found = organizations(await svc.projector.current(), svc.settings.base_url, secret)
        chosen = [org for org in found.values() if after is None or org.org > after]
        page, more = chosen[:limit], len(chosen) > limit
        next_cursor = encode_cursor(page[-1].org) if more else None
        return Response(
            OrganizationList(organizations=tuple(page), next_cursor=next_cursor),
            headers={"ETag": tag, "Cache-Control": "no-cache"},
        )

    @get(
        "/{org:str}",
        summary="One organization and its partnerships",
        responses={
            200: ResponseSpec(Organization, description="The organization"),
            400: BAD_REQUEST,
            401: UNAUTHORIZED,
            404: problem("No partnership names this organization"),
        },
    )
    async def get_organization(
        self, request: Request[Any, Any, Any], svc: NamedDependency[Services], org: OrgPath
    ) -> Response[Any]:
        valid_stream_id(org, "org")
        found = organizations(
            await svc.projector.current(), svc.settings.base_url, reader_secret(request, svc)
        ).get(org)
        if found is None:
            raise not_found(f"no organization {org!r} is a party to any partnership")
        return Response(found)
