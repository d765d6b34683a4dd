"""Webhook subscriptions, the pure part: what a subscription asks for, how a delivery is
signed (Standard Webhooks) and shaped (CloudEvents 1.0), when a failed one is tried again,
and which addresses a delivery may reach. Sending and storing live at the edges
(`api/deliverer.py`, `store/subscriptions.py`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import random
import re
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Literal
from urllib.parse import urlsplit

import msgspec

from timeline.events import (
    BY_TYPE,
    SLUG_MAX,
    SLUG_PATTERN,
    STREAM_PREFIX,
    STREAM_PREFIX_MAX,
    STREAM_PREFIX_SAID,
    StoredEvent,
)
from timeline.formats import encode_stored

Status = Literal["active", "paused", "disabled"]
DeliveryStatus = Literal["pending", "delivered", "parked", "skipped"]
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix, not a secret
TYPE_PREFIX = "org.partnership-timeline."
"""CloudEvents `type` of a delivery: this reverse-DNS prefix and the event type."""
ANSWER_KEPT = 256
"""Characters of a receiver's answer kept with each attempt."""
DEFAULT_RETRIES = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 72000)
"""Seconds before each retry after a failed attempt: Standard Webhooks' schedule (5 s, 5 min,
30 min, 2 h, 5 h, 10 h) stretched to about three days; after the last, the delivery is parked."""
JITTER = 0.2
"""Each wait is drawn within this share either side of the schedule's, so receivers that
failed together are not all tried again in the same second."""


class SubscriptionError(ValueError):
    """A subscription asked for something it cannot have; `path` names the field."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


class Filters(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, forbid_unknown_fields=True
):
    """Which events a subscription delivers: the global feed's filters."""

    type: tuple[str, ...] = ()
    """Only events of these types (none: every type)."""
    party: str | None = None
    """Only partnerships this organization is or ever was a party to."""
    stream: str | None = None
    """Only streams whose id starts with this."""


Url = Annotated[
    str,
    msgspec.Meta(
        max_length=2000, description="Where deliveries are POSTed: http(s), no credentials"
    ),
]


def checked_filters(filters: Filters) -> Filters:
    """The filters, or a `SubscriptionError` naming the first that is not one."""
    for n, name in enumerate(filters.type):
        if name not in BY_TYPE:
            raise SubscriptionError(
                f"unknown event type {name!r}; see GET /schemas", f"$.type[{n}]"
            )
    if filters.party is not None and (
        len(filters.party) > SLUG_MAX or re.fullmatch(SLUG_PATTERN, filters.party) is None
    ):
        raise SubscriptionError(f"{filters.party!r} is not an organization id", "$.party")
    if filters.stream is not None and (
        len(filters.stream) > STREAM_PREFIX_MAX or STREAM_PREFIX.fullmatch(filters.stream) is None
    ):
        raise SubscriptionError(
            f"{filters.stream!r} is not the start of a stream id: {STREAM_PREFIX_SAID}",
            "$.stream",
        )
    return Filters(
        type=tuple(dict.fromkeys(filters.type)), party=filters.party, stream=filters.stream
    )


def checked_url(url: str) -> tuple[str, int]:
    """(host, port) of a delivery URL: http(s), a host, no credentials, no fragment."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise SubscriptionError(f"{url!r} is not a URL: {error}", "$.url") from None
    if parts.scheme not in {"http", "https"}:
        raise SubscriptionError("deliveries go to http or https URLs only", "$.url")
    if parts.username is not None or parts.password is not None:
        raise SubscriptionError(
            "a delivery URL carries no credentials: the signature proves the sender", "$.url"
        )
    if not parts.hostname:
        raise SubscriptionError(f"{url!r} names no host", "$.url")
    if parts.fragment:
        raise SubscriptionError("a delivery URL has no fragment", "$.url")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise SubscriptionError("a delivery URL has no spaces or control characters", "$.url")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def private_address(address: str) -> bool:
    """Loopback, private, link-local (cloud metadata included), reserved or unspecified: what a
    delivery must not reach unless the operator allows it (a request forged through us)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def refused_addresses(addresses: Iterable[str]) -> list[str]:
    return [address for address in addresses if private_address(address)]


def new_secret() -> str:
    """A signing secret as Standard Webhooks writes them: `whsec_` and 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,` and the base64 HMAC-SHA256 of `id.timestamp.body` under the secret's key."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(
    secrets_: Sequence[str], message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The Standard Webhooks headers: one signature per secret (two while a rotation overlaps)."""
    return {
        "content-type": "application/cloudevents+json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, message_id, timestamp, body) for s in secrets_),
    }


class CloudEvent(msgspec.Struct, frozen=True, kw_only=True):
    """CloudEvents 1.0, structured mode: one event of the store."""

    specversion: str
    id: str
    source: str
    type: str
    subject: str
    time: datetime
    sequence: str
    datacontenttype: str
    effective: str
    """Extension attribute: the event's effective date, as the event states it."""
    data: msgspec.Raw


def cloud_event(stored: StoredEvent, data: bytes, base_url: str) -> CloudEvent:
    """`data` is the event as the feed gives it (`wire.encode_stored`)."""
    return CloudEvent(
        specversion="1.0",
        id=str(stored.event.id),
        source=f"{base_url}/partnerships/{stored.stream}",
        type=TYPE_PREFIX + type(stored.event).__name__,
        subject=stored.stream,
        time=stored.recorded_at,
        sequence=str(stored.position),
        datacontenttype="application/json",
        effective=str(stored.event.effective),
        data=msgspec.Raw(data),
    )


def cloud_event_json(stored: StoredEvent, base_url: str) -> bytes:
    """The CloudEvent of a stored event, as a delivery, the feed and the live streams give it."""
    return msgspec.json.encode(cloud_event(stored, encode_stored(stored), base_url))


CLOUDEVENTS_BATCH = "application/cloudevents-batch+json"


def retry_schedule(text: str) -> tuple[int, ...]:
    """`TIMELINE_WEBHOOK_RETRIES`: seconds, comma-separated, each at least 1."""
    try:
        waits = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"{text!r} is not seconds separated by commas, e.g. 5,300,1800") from None
    if not waits or any(wait < 1 for wait in waits):
        raise ValueError(f"{text!r}: each wait is at least 1 second")
    return waits


def next_try(
    now: datetime,
    failures: int,
    schedule: Sequence[int],
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> datetime | None:
    """When to try again after `failures` failed attempts, or None: park it. A receiver's
    `Retry-After` (429, 503) is honoured when later than the schedule's wait."""
    if failures > len(schedule):
        return None
    wait = schedule[failures - 1] * (1 + JITTER * (2 * (rng or _rng).random() - 1))
    if retry_after is not None:
        wait = max(wait, retry_after)
    return now + timedelta(seconds=wait)


_rng = random.Random()  # noqa: S311 - jitter, not a secret
