"""`/subscriptions`: webhooks that push each matching event to a receiver, signed, in order per
partnership, retried and parked (`api/deliverer.py` sends them)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import PathParameter, QueryParameter

from timeline import logs, wire
from timeline.admission import check_new
from timeline.api.auth import subscribe_guard, subscriber
from timeline.api.deliverer import UnsafeTargetError, check_target
from timeline.api.errors import (
    FORBIDDEN,
    JSON,
    UNAUTHORIZED,
    FieldError,
    ProblemError,
    bad_request,
    decoded_body,
    not_found,
    problem,
)
from timeline.api.http import (
    MAX_POSITION,
    STREAM_ID,
    decode_cursor,
    encode_cursor,
    next_page,
    require_json,
)
from timeline.api.openapi import body_operation
from timeline.api.services import Services
from timeline.store.subscriptions import Attempt, Delivery, Subscription, new_id
from timeline.webhooks import (
    Filters,
    SubscriptionError,
    Url,
    checked_filters,
    checked_url,
    new_secret,
)

T = TypeVar("T")
audit = logging.getLogger("timeline.audit")
SubscriptionId = Annotated[str, PathParameter(description="A subscription's id, sub_…")]
Position = Annotated[
    int, PathParameter(ge=1, le=MAX_POSITION, description="The delivered event's position")
]
Action = Annotated[str, PathParameter(description="retry or skip")]
OVERLAP_DEFAULT = 86_400
OVERLAP_MAX = 7 * 86_400


class SubscriptionRequest(msgspec.Struct, frozen=True, kw_only=True):
    """`POST /subscriptions`: where to deliver, and the global feed's filters."""

    url: Url
    type: tuple[str, ...] = ()
    """Only events of these types (none: every type)."""
    party: str | None = None
    """Only partnerships this organization is or ever was a party to."""
    stream: str | None = None
    """Only streams whose id starts with this."""
    after: Annotated[int, msgspec.Meta(ge=0, le=MAX_POSITION)] | None = None
    """Deliver the events after this position; default: those appended from now on."""


class SubscriptionChange(msgspec.Struct, frozen=True, kw_only=True):
    """`PATCH /subscriptions/{id}`: each field given replaces the subscription's (null drops a
    filter)."""

    url: Url | msgspec.UnsetType = msgspec.UNSET
    type: tuple[str, ...] | msgspec.UnsetType = msgspec.UNSET
    """Only events of these types (none: every type)."""
    party: str | msgspec.UnsetType | None = msgspec.UNSET
    """Only partnerships this organization is or ever was a party to (null: any)."""
    stream: str | msgspec.UnsetType | None = msgspec.UNSET
    """Only streams whose id starts with this (null: any)."""
    status: Literal["active", "paused"] | msgspec.UnsetType = msgspec.UNSET
    """Pause (nothing is sent; matching events wait to go out on resume) or resume; a
    disabled one resumes too."""


class Rotation(msgspec.Struct, frozen=True, kw_only=True):
    overlap_seconds: Annotated[int, msgspec.Meta(ge=0, le=OVERLAP_MAX)] = OVERLAP_DEFAULT
    """How long the old secret goes on signing beside the new (receivers switch meanwhile)."""


class SubscriptionDoc(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    id: str
    url: str
    type: tuple[str, ...]
    party: str | None
    stream: str | None
    status: str
    """active, paused (events wait), or disabled (see `disabled_reason`)."""
    checkpoint: int
    """Every matching event up to this position is queued for delivery."""
    created_at: datetime
    created_by: str
    updated_at: datetime
    href: str
    deliveries: str
    disabled_reason: str | None = None
    secret: str | None = None
    """The signing secret (`whsec_…`): shown when created or rotated, never again."""
    old_secret_until: datetime | None = None
    """While a rotation overlaps, until when the old secret still signs."""
    delivered_position: int | msgspec.UnsetType | None = msgspec.UNSET
    """The last position delivered (null: none yet); only on a subscription read alone, as
    are the fields after it."""
    lag: int | msgspec.UnsetType = msgspec.UNSET
    """Events queued and not delivered yet (parked ones included)."""
    pending: int | msgspec.UnsetType = msgspec.UNSET
    parked: int | msgspec.UnsetType = msgspec.UNSET
    last_attempt: Attempt | msgspec.UnsetType | None = msgspec.UNSET


class SubscriptionPage(msgspec.Struct, frozen=True, kw_only=True):
    subscriptions: tuple[SubscriptionDoc, ...]
    next: str | None


class DeliveryDoc(msgspec.Struct, frozen=True, kw_only=True):
    position: int
    stream: str
    event_id: str
    """Also the `webhook-id` of every try: receivers de-duplicate by it."""
    status: str
    """pending (failed tries have attempts), delivered, parked or skipped."""
    attempts: tuple[Attempt, ...]
    due_at: datetime | None
    retry: str
    skip: str


class DeliveryPage(msgspec.Struct, frozen=True, kw_only=True):
    deliveries: tuple[DeliveryDoc, ...]
    next: str | None


_REQUEST = msgspec.json.Decoder(SubscriptionRequest)
_CHANGE = msgspec.json.Decoder(SubscriptionChange)
_ROTATION = msgspec.json.Decoder(Rotation)
_untyped = msgspec.json.Decoder()


def _wake(svc: Services) -> None:
    """The deliverer looks now, not at its next poll: it may have been idle, with no active
    subscription to queue appends for (`deliverer.py`)."""
    if svc.deliverer is not None:
        svc.deliverer.wake()


def _doc(s: Subscription, **more: Any) -> SubscriptionDoc:  # noqa: ANN401 - fields
    old_until = s.old_until if s.old_secret is not None else None
    if old_until is not None and old_until <= datetime.now(UTC):
        old_until = None
    return SubscriptionDoc(
        id=s.id,
        url=s.url,
        type=s.filters.type,
        party=s.filters.party,
        stream=s.filters.stream,
        status=s.status,
        checkpoint=s.checkpoint,
        created_at=s.created_at,
        created_by=s.created_by,
        updated_at=s.updated_at,
        href=f"/subscriptions/{s.id}",
        deliveries=f"/subscriptions/{s.id}/deliveries",
        disabled_reason=s.disabled_reason,
        old_secret_until=old_until,
        **more,
    )


def _delivery_doc(d: Delivery) -> DeliveryDoc:
    base = f"/subscriptions/{d.subscription}/deliveries/{d.position}"
    return DeliveryDoc(
        position=d.position,
        stream=d.stream,
        event_id=d.event_id,
        status=d.status,
        attempts=d.attempts,
        due_at=d.due_at,
        retry=f"{base}/retry",
        skip=f"{base}/skip",
    )


def _decoded(body: bytes, decoder: msgspec.json.Decoder[T], what: str) -> T:
    """The body decoded; a field it has not is a 422 naming its path (and the field meant,
    when one is close), as an append's or a source's is (`admission.check_new`)."""

    def decode(raw: bytes) -> T:
        found = decoder.decode(raw)
        check_new(_untyped.decode(raw), decoder.type, [])
        return found

    return decoded_body(body, decode, what)


def _unprocessable(
    error: SubscriptionError | UnsafeTargetError, path: str = "$.url"
) -> ProblemError:
    path = error.path if isinstance(error, SubscriptionError) else path
    return ProblemError(422, f"{error} (at {path})", errors=(FieldError(path, str(error)),))


async def _checked(svc: Services, url: str, filters: Filters) -> Filters:
    """The filters checked, `party` as an organization's id where it was a name, alias or
    identifier one registered organization goes by (stored as the id: a later alias of
    another changes nothing)."""
    party = filters.party
    if party is not None and STREAM_ID.fullmatch(party) is None:
        found = await svc.store.read_models.named(party)
        if len(found) == 1:
            filters = msgspec.structs.replace(filters, party=found[0])
    try:
        checked_url(url)
        filters = checked_filters(filters)
        await check_target(url, allow_private=svc.settings.webhook_allow_private)
    except (SubscriptionError, UnsafeTargetError) as error:
        raise _unprocessable(error) from None
    return filters


async def _held(svc: Services, subscription_id: str) -> Subscription:
    found = await svc.store.subscriptions.get(subscription_id)
    if found is None:
        raise not_found(f"no subscription {subscription_id!r}")
    return found


def _audit(actor: str, action: str, subscription: Subscription) -> None:
    logs.info(
        audit,
        "subscription",
        {
            "actor": actor,
            "action": action,
            "subscription": subscription.id,
            "url": subscription.url,
        },
    )


PROBLEMS = {401: UNAUTHORIZED, 403: FORBIDDEN}
CHANGED = {
    **PROBLEMS,
    400: problem("Malformed JSON"),
    404: problem("No such subscription"),
    415: problem("The body is not `application/json`"),
    422: problem("An invalid field (a filter, a type, the URL or where it leads): `errors`"),
}


class Subscriptions(Controller):
    path = "/subscriptions"
    tags = ["subscriptions"]  # noqa: RUF012 - litestar reads it as a class attribute
    guards = [subscribe_guard]  # noqa: RUF012 - every route needs the `subscribe` scope

    @post(
        "/",
        summary="Subscribe a webhook to the events the feed's filters keep",
        description="Needs a bearer token with the `subscribe` scope. Each matching event is "
        "POSTed to `url` as a CloudEvents 1.0 JSON, signed per Standard Webhooks with the "
        "`secret` answered here (shown once). From now on, or after the position `after`.",
        responses={
            201: ResponseSpec(SubscriptionDoc, description="Subscribed", generate_examples=False),
            **CHANGED,
        },
        status_code=201,
        operation_class=body_operation(SubscriptionRequest, "Where to deliver, and filters."),
    )
    async def subscribe(
        self, request: Request[Any, Any, Any], svc: NamedDependency[Services]
    ) -> Response[Any]:
        actor = subscriber(request)
        require_json(request)
        asked = _decoded(await request.body(), _REQUEST, "a subscription")
        filters = await _checked(
            svc, asked.url, Filters(type=asked.type, party=asked.party, stream=asked.stream)
        )
        head = await svc.store.known_position()
        if asked.after is not None and asked.after > head:
            raise ProblemError(
                422,
                f"after {asked.after} is beyond the store's last position ({head}) (at $.after)",
                errors=(FieldError("$.after", f"beyond the store's last position ({head})"),),
            )
        now = datetime.now(UTC)
        subscription = Subscription(
            id=new_id(),
            url=asked.url,
            filters=filters,
            status="active",
            checkpoint=head if asked.after is None else asked.after,
            created_at=now,
            created_by=actor,
            updated_at=now,
            secret=new_secret(),
        )
        await svc.store.subscriptions.create(subscription)
        _wake(svc)
        _audit(actor, "created", subscription)
        body = _doc(subscription, secret=subscription.secret)
        return Response(
            wire.encode(body),
            status_code=201,
            media_type=JSON,
            headers={"Location": f"/subscriptions/{subscription.id}"},
        )

    @get(
        "/",
        summary="The subscriptions, by id",
        description="Needs the `subscribe` scope. Secrets are never listed.",
        responses={200: ResponseSpec(SubscriptionPage, generate_examples=False), **PROBLEMS},
    )
    async def subscriptions(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        *,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        cursor: Annotated[str | None, QueryParameter(description="From `next`")] = None,
    ) -> Response[Any]:
        found = await svc.store.subscriptions.page(after=decode_cursor(cursor), limit=limit + 1)
        page = found[:limit]
        next_link = None
        if len(found) > limit:
            next_link = next_page(request, cursor=encode_cursor(page[-1].id))
        body = SubscriptionPage(subscriptions=tuple(_doc(s) for s in page), next=next_link)
        return Response(wire.encode(body), media_type=JSON)

    @get(
        "/{subscription_id:str}",
        summary="A subscription, and where its deliveries stand",
        description="Needs the `subscribe` scope: status, the last position delivered, how many "
        "are queued (`lag`), pending and parked, and the last attempt with its outcome.",
        responses={
            200: ResponseSpec(SubscriptionDoc, generate_examples=False),
            **PROBLEMS,
            404: problem("No such subscription"),
        },
    )
    async def subscription(
        self,
        svc: NamedDependency[Services],
        subscription_id: SubscriptionId,
    ) -> Response[Any]:
        held = await _held(svc, subscription_id)
        summary = await svc.store.subscriptions.summary(held.id)
        body = _doc(
            held,
            delivered_position=summary.delivered_position,
            lag=summary.pending + summary.parked,
            pending=summary.pending,
            parked=summary.parked,
            last_attempt=summary.last_attempt,
        )
        return Response(wire.encode(body), media_type=JSON)

    @patch(
        "/{subscription_id:str}",
        summary="Change a subscription's URL or filters, pause or resume it",
        description="Needs the `subscribe` scope. New filters apply to events not queued yet.",
        responses={200: ResponseSpec(SubscriptionDoc, generate_examples=False), **CHANGED},
        operation_class=body_operation(
            SubscriptionChange, "The fields to change; null drops a filter."
        ),
    )
    async def change(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        subscription_id: SubscriptionId,
    ) -> Response[Any]:
        actor = subscriber(request)
        require_json(request)
        held = await _held(svc, subscription_id)
        asked = _decoded(await request.body(), _CHANGE, "a change")
        old = held.filters
        url = held.url if asked.url is msgspec.UNSET else asked.url
        filters = Filters(
            type=old.type if asked.type is msgspec.UNSET else asked.type,
            party=old.party if asked.party is msgspec.UNSET else asked.party,
            stream=old.stream if asked.stream is msgspec.UNSET else asked.stream,
        )
        filters = await _checked(svc, url, filters)
        status = held.status if asked.status is msgspec.UNSET else asked.status
        changed = msgspec.structs.replace(
            held,
            url=url,
            filters=filters,
            status=status,
            disabled_reason=None if status != "disabled" else held.disabled_reason,
            updated_at=datetime.now(UTC),
        )
        await svc.store.subscriptions.replace(changed)
        _wake(svc)
        _audit(actor, "changed", changed)
        return Response(wire.encode(_doc(changed)), media_type=JSON)

    @delete(
        "/{subscription_id:str}",
        summary="Unsubscribe: nothing more is delivered, and the deliveries are forgotten",
        responses={**PROBLEMS, 404: problem("No such subscription")},
        status_code=204,
    )
    async def unsubscribe(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        subscription_id: SubscriptionId,
    ) -> None:
        actor = subscriber(request)
        held = await _held(svc, subscription_id)
        await svc.store.subscriptions.delete(held.id)
        _audit(actor, "deleted", held)

    @post(
        "/{subscription_id:str}/secret",
        summary="Rotate the signing secret",
        description="Needs the `subscribe` scope. Answers the new secret (shown once); for "
        "`overlap_seconds` (default a day, at most a week) deliveries carry a signature by "
        "each, so receivers can switch without missing one.",
        responses={200: ResponseSpec(SubscriptionDoc, generate_examples=False), **CHANGED},
        status_code=200,
        operation_class=body_operation(
            Rotation, "Optional: how long the old secret goes on signing.", required=False
        ),
    )
    async def rotate(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        subscription_id: SubscriptionId,
    ) -> Response[Any]:
        actor = subscriber(request)
        held = await _held(svc, subscription_id)
        raw = await request.body()
        asked = Rotation()
        if raw.strip():
            require_json(request)
            asked = _decoded(raw, _ROTATION, "a rotation")
        now = datetime.now(UTC)
        rotated = msgspec.structs.replace(
            held,
            secret=new_secret(),
            old_secret=held.secret if asked.overlap_seconds else None,
            old_until=now + timedelta(seconds=asked.overlap_seconds)
            if asked.overlap_seconds
            else None,
            updated_at=now,
        )
        await svc.store.subscriptions.replace(rotated)
        _audit(actor, "secret rotated", rotated)
        return Response(wire.encode(_doc(rotated, secret=rotated.secret)), media_type=JSON)

    @get(
        "/{subscription_id:str}/deliveries",
        summary="A subscription's deliveries, in position order, with every attempt",
        description="Needs the `subscribe` scope. `status`: pending, failed (pending after a "
        "failed try), parked (tried the last time: the partnership's later events wait behind "
        "it), delivered or skipped.",
        responses={
            200: ResponseSpec(DeliveryPage, generate_examples=False),
            **PROBLEMS,
            400: problem("A bad status or cursor"),
            404: problem("No such subscription"),
        },
    )
    async def deliveries(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        subscription_id: SubscriptionId,
        *,
        status: Annotated[
            Literal["pending", "failed", "parked", "delivered", "skipped"] | None,
            QueryParameter(description="Only deliveries in this state"),
        ] = None,
        after: Annotated[
            int,
            QueryParameter(ge=0, le=MAX_POSITION, description="The deliveries after this position"),
        ] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> Response[Any]:
        held = await _held(svc, subscription_id)
        found = await svc.store.subscriptions.deliveries(
            held.id, status=status, after=after, limit=limit + 1
        )
        page = found[:limit]
        next_link = next_page(request, after=page[-1].position) if len(found) > limit else None
        body = DeliveryPage(deliveries=tuple(_delivery_doc(d) for d in page), next=next_link)
        return Response(wire.encode(body), media_type=JSON)

    @post(
        "/{subscription_id:str}/deliveries/{position:int}/{action:str}",
        summary="Release a parked delivery: `retry` it now, or `skip` it",
        description="Needs the `subscribe` scope. Either way the partnership's later events go "
        "on once it is done.",
        responses={
            200: ResponseSpec(DeliveryDoc, generate_examples=False),
            **PROBLEMS,
            404: problem("No such subscription, delivery or action"),
            409: problem("The delivery is done already (delivered or skipped)"),
        },
        status_code=200,
    )
    async def release(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        subscription_id: SubscriptionId,
        position: Position,
        action: Action,
    ) -> Response[Any]:
        actor = subscriber(request)
        held = await _held(svc, subscription_id)
        if action not in {"retry", "skip"}:
            raise not_found(f"no action {action!r}: retry or skip")
        subscriptions = svc.store.subscriptions
        found = await subscriptions.delivery(held.id, position)
        if found is None:
            raise not_found(f"no delivery of position {position} in {held.id!r}")
        if found.status not in {"pending", "parked"}:
            raise ProblemError(409, f"the delivery is {found.status} already")
        now = datetime.now(UTC)
        await subscriptions.release(
            held.id, position, "pending" if action == "retry" else "skipped", now
        )
        _wake(svc)
        _audit(actor, f"delivery {position} {action}", held)
        released = await subscriptions.delivery(held.id, position)
        assert released is not None  # noqa: S101 - deliveries go only with their subscription
        return Response(wire.encode(_delivery_doc(released)), media_type=JSON)

    @post(
        "/{subscription_id:str}/replay",
        summary="Deliver again every matching event after a position",
        description="Needs the `subscribe` scope. The deliveries after `after` are forgotten "
        "and queued anew (receivers see the same `webhook-id`s again).",
        responses={
            200: ResponseSpec(SubscriptionDoc, generate_examples=False),
            **PROBLEMS,
            400: problem("`after` is missing or beyond the store"),
            404: problem("No such subscription"),
        },
        status_code=200,
    )
    async def replay(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        subscription_id: SubscriptionId,
        *,
        after: Annotated[
            int | None,
            QueryParameter(
                ge=0, le=MAX_POSITION, description="Every matching event after this position"
            ),
        ] = None,
    ) -> Response[Any]:
        actor = subscriber(request)
        held = await _held(svc, subscription_id)
        if after is None:
            raise bad_request(
                "after is required: the position to deliver again after", "query.after"
            )
        head = await svc.store.known_position()
        if after > head:
            raise bad_request(
                f"after {after} is beyond the store's last position ({head})", "query.after"
            )
        await svc.store.subscriptions.replay(held.id, after)
        _wake(svc)
        _audit(actor, f"replay after {after}", held)
        replayed = await _held(svc, subscription_id)
        return Response(wire.encode(_doc(replayed)), media_type=JSON)
