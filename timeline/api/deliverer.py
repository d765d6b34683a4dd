"""The webhook deliverer: a task of the serving process that queues each active subscription's
matching events as delivery rows (`store/subscriptions.py`) and POSTs the due ones, signed,
one at a time per partnership and subscription, many partnerships at once.

It wakes on every commit this process hears of (its own appends, and other replicas' through
PostgreSQL's NOTIFY) and at least every `POLL` seconds, so that retries fall due. With no
active subscription it looks every `POLL` seconds alone (or when this process's API wakes it):
an append has nothing to queue then, and each round's claim is a write transaction that took
turns with the appends' own. What it owes lives in the database: a restart, or a `kill -9`,
resumes from the rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import msgspec

from timeline import metrics
from timeline.events import StoredEvent
from timeline.settings import Settings
from timeline.store import EventStore
from timeline.store.subscriptions import Attempt, Delivery, Queued, Subscription
from timeline.webhooks import (
    ANSWER_KEPT,
    checked_url,
    cloud_event_json,
    headers,
    next_try,
    refused_addresses,
    retry_schedule,
)

log = logging.getLogger("timeline.webhooks")

POLL = 1.0
"""Seconds between looks when nothing wakes the deliverer: retries fall due without a commit."""
GATHER = 0.05
"""Seconds a round waits after a commit woke it, so that a burst of appends is queued in one
transaction rather than one each."""
SCANNED = 1_000
"""Events of the feed a subscription's queueing reads per step."""
PARALLEL = 16
"""Deliveries in flight at once, each to another partnership or subscription."""
CONNECT_SECONDS = 5.0
TOTAL_SECONDS = 15.0
LEASE = timedelta(seconds=2 * TOTAL_SECONDS)
"""How long a claimed delivery is this replica's: past it (the replica died mid-try), another
takes it over."""
RESOLVE_SECONDS = 3.0
"""A receiver's host that does not resolve by then is refused (a subscription) or failed (a
delivery): a request never waits on a slow DNS for longer."""
ANSWER_BYTES = 64 * 1024
"""At most this much of an answer is read; the rest is dropped with the connection."""

Resolve = Callable[[str, int], Awaitable[list[str]]]


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, for the check against private networks."""
    loop = asyncio.get_running_loop()
    found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in found})


class UnsafeTargetError(Exception):
    """The URL's host resolves to an address a delivery must not reach, or to none."""


async def check_target(url: str, *, allow_private: bool, resolver: Resolve = resolve) -> list[str]:
    """The addresses the URL's host resolves to, each one a delivery may reach."""
    host, port = checked_url(url)
    try:
        addresses = await asyncio.wait_for(resolver(host, port), RESOLVE_SECONDS)
    except TimeoutError:
        raise UnsafeTargetError(f"{host!r} did not resolve within {RESOLVE_SECONDS} s") from None
    except OSError as error:
        raise UnsafeTargetError(f"{host!r} does not resolve: {error}") from None
    if not addresses:
        raise UnsafeTargetError(f"{host!r} does not resolve")
    refused = [] if allow_private else refused_addresses(addresses)
    if refused:
        raise UnsafeTargetError(
            f"{host!r} resolves to {', '.join(refused)}: loopback, private, link-local or"
            " reserved addresses are refused (TIMELINE_WEBHOOK_ALLOW_PRIVATE=true allows them)"
        )
    return addresses


def pinned(url: str, address: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The URL with its host replaced by the address checked, the `Host` header it had, and
    for https the name the certificate must carry (SNI): the connection goes where the check
    looked, whatever the name resolves to a moment later (DNS rebinding)."""
    parts = urlsplit(url)
    literal = f"[{address}]" if ":" in address else address
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    host = parts.netloc.rsplit("@", 1)[-1]
    extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
    return urlunsplit(parts._replace(netloc=netloc)), {"host": host}, extensions


class Deliverer:
    def __init__(
        self,
        store: EventStore,
        settings: Settings,
        *,
        client: httpx.AsyncClient | None = None,
        resolver: Resolve = resolve,
    ) -> None:
        self._store = store
        self._schedule = retry_schedule(settings.webhook_retries)
        self._allow_private = settings.webhook_allow_private
        self._base_url = settings.base_url
        self._resolver = resolver
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(TOTAL_SECONDS, connect=CONNECT_SECONDS),
            follow_redirects=False,
            trust_env=False,
            headers={"user-agent": "partnership-timeline-webhooks"},
        )
        self._flying: dict[tuple[str, str], asyncio.Task[None]] = {}
        """Deliveries being sent, by (subscription, stream): the next of one waits for it."""
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._landing = asyncio.Event()
        """Set when a delivery lands: the next round starts without waiting for a commit."""
        self._stepping = asyncio.Lock()
        """One round at a time: two would both start a delivery not yet marked in flight."""
        self._idle = False
        """The last round found no active subscription and nothing in flight."""
        self._woken = asyncio.Event()
        """Set by `wake`: a subscription was made, resumed or replayed here."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="webhook-deliverer")

    def wake(self) -> None:
        """Look now: a subscription this process made or changed may have work."""
        self._woken.set()

    async def stop(self) -> None:
        self._stopping.set()
        self._store.release_waiters()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._flying.values()):
            task.cancel()
        await asyncio.gather(*self._flying.values(), return_exceptions=True)
        await self._client.aclose()

    async def _loop(self) -> None:
        seen = 0
        while not self._stopping.is_set():
            try:
                await self.step()
            except Exception:
                log.exception("webhook deliveries failed this round; trying again")
            if self._landing.is_set():  # a delivery landed: its partnership's next may be due
                self._landing.clear()
                continue
            if self._idle:  # no subscription to queue an append for: the poll alone
                await self._idle_wait()
                continue
            appended = asyncio.ensure_future(self._store.wait_for_append(seen, POLL))
            landed = asyncio.ensure_future(self._landing.wait())
            await asyncio.wait({appended, landed}, return_when=asyncio.FIRST_COMPLETED)
            landed.cancel()
            known = await appended if appended.done() else seen
            appended.cancel()
            if known > seen:
                seen = known
                await asyncio.sleep(GATHER)

    async def _idle_wait(self) -> None:
        """`POLL` seconds, or until stopped or woken."""
        waits = [asyncio.ensure_future(e.wait()) for e in (self._stopping, self._woken)]
        try:
            await asyncio.wait(waits, timeout=POLL, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        self._woken.clear()

    async def step(self) -> None:
        """Queue what is new, then start what is due (one round; tests call it directly)."""
        async with self._stepping:
            await self._step()

    async def _step(self) -> None:
        now = datetime.now(UTC)
        subscriptions = await self._store.subscriptions.active()
        await self._queue(subscriptions, now)
        self._idle = not subscriptions and not self._flying
        if self._idle:  # a claim takes deliveries of active subscriptions alone
            return
        free = PARALLEL - len(self._flying)
        if free <= 0:
            return
        for delivery in await self._store.subscriptions.claim(now, free, LEASE):
            key = (delivery.subscription, delivery.stream)
            if key in self._flying:
                continue
            task = asyncio.create_task(self._deliver(delivery))
            self._flying[key] = task
            task.add_done_callback(self._landed(key))
            free -= 1
            if free == 0:
                break

    async def _queue(self, subscriptions: list[Subscription], now: datetime) -> None:
        """Every subscription behind the store's head gets its matches queued: one read of the
        feed for all those filtering by type and stream (matched here), one filtered read
        each for those filtering by party (the store knows who was in what); one write."""
        head = await self._store.known_position()
        behind = [s for s in subscriptions if s.checkpoint < head]
        if not behind:
            return
        batches = []
        shared = [s for s in behind if s.filters.party is None]
        if shared:
            since = min(s.checkpoint for s in shared)
            page = [e async for e in self._store.read_all(after=since, limit=SCANNED)]
            upto = _scanned_to(page, since, head)
            for s in shared:
                found = [_queued(e) for e in page if e.position > s.checkpoint and _matches(s, e)]
                batches.append(Queued(s.id, s.checkpoint, max(upto, s.checkpoint), found))
        for s in behind:
            if s.filters.party is None:
                continue
            page = [
                e
                async for e in self._store.read_all(
                    after=s.checkpoint,
                    limit=SCANNED,
                    types=s.filters.type,
                    party=s.filters.party,
                    stream_prefix=s.filters.stream,
                )
            ]
            found = [_queued(e) for e in page]
            batches.append(Queued(s.id, s.checkpoint, _scanned_to(page, s.checkpoint, head), found))
        await self._store.subscriptions.queue(batches, now)

    def _landed(self, key: tuple[str, str]) -> Callable[[asyncio.Task[None]], None]:
        def forget(_task: asyncio.Task[None]) -> None:
            self._flying.pop(key, None)
            self._landing.set()

        return forget

    async def settle(self) -> None:
        """Wait for the deliveries in flight (tests)."""
        while self._flying:
            await asyncio.gather(*list(self._flying.values()), return_exceptions=True)

    async def _deliver(self, delivery: Delivery) -> None:
        store = self._store
        subscription = await store.subscriptions.get(delivery.subscription)
        if subscription is None or subscription.status != "active":
            return
        event = [e async for e in store.read_all(after=delivery.position - 1, limit=1)]
        if not event or event[0].position != delivery.position:
            return  # cannot happen: events are never removed
        body = cloud_event_json(event[0], self._base_url)
        now = datetime.now(UTC)
        attempt, retry_after = await self._post(subscription, delivery, body, now)
        done = attempt.status is not None and 200 <= attempt.status < 300  # noqa: PLR2004
        metrics.WEBHOOK_LATENCY.labels(subscription.id).observe(attempt.latency_ms / 1000)
        if done:
            await store.subscriptions.record(delivery, attempt, "delivered", None)
            metrics.WEBHOOK_ATTEMPTS.labels(subscription.id, "delivered").inc()
            return
        if attempt.status == 410:  # noqa: PLR2004 - Gone: the receiver asks us to stop
            metrics.WEBHOOK_ATTEMPTS.labels(subscription.id, "gone").inc()
            await store.subscriptions.record(delivery, attempt, "pending", now)
            await store.subscriptions.replace(
                msgspec.structs.replace(
                    subscription,
                    status="disabled",
                    disabled_reason="the receiver answered 410 Gone",
                    updated_at=now,
                )
            )
            return
        failures = len(delivery.attempts) + 1
        due = next_try(now, failures, self._schedule, retry_after)
        await store.subscriptions.record(
            delivery, attempt, "parked" if due is None else "pending", due
        )
        outcome = "parked" if due is None else "failed"
        metrics.WEBHOOK_ATTEMPTS.labels(subscription.id, outcome).inc()

    async def _post(
        self, subscription: Subscription, delivery: Delivery, body: bytes, now: datetime
    ) -> tuple[Attempt, float | None]:
        started = time.perf_counter()

        def failed(error: str) -> tuple[Attempt, None]:
            latency = round((time.perf_counter() - started) * 1000, 1)
            return Attempt(at=now, latency_ms=latency, error=error), None

        try:
            addresses = await check_target(
                subscription.url, allow_private=self._allow_private, resolver=self._resolver
            )
        except UnsafeTargetError as error:
            return failed(str(error))
        url, host, extensions = pinned(subscription.url, addresses[0])
        sent = headers(subscription.signing(now), delivery.event_id, int(now.timestamp()), body)
        try:
            async with self._client.stream(
                "POST", url, content=body, headers={**sent, **host}, extensions=extensions
            ) as answer:
                kept = b""
                async for chunk in answer.aiter_raw():
                    kept += chunk
                    if len(kept) >= ANSWER_BYTES:
                        break
        except httpx.TimeoutException:
            return failed("timed out")
        except httpx.HTTPError as error:
            return failed(f"could not deliver: {type(error).__name__}: {error}"[:ANSWER_KEPT])
        latency = round((time.perf_counter() - started) * 1000, 1)
        text = kept[:ANSWER_KEPT].decode("utf-8", "replace") or None
        attempt = Attempt(at=now, latency_ms=latency, status=answer.status_code, answer=text)
        return attempt, _retry_after(answer)


def _scanned_to(page: list[StoredEvent], since: int, head: int) -> int:
    """Where a read of the feed after `since` got to: its last event when the page was full,
    else the head known before it (every event up to there was looked at)."""
    last = page[-1].position if page else since
    return last if len(page) == SCANNED else max(head, last)


def _matches(subscription: Subscription, stored: StoredEvent) -> bool:
    filters = subscription.filters
    if filters.type and stored.type not in filters.type:
        return False
    return filters.stream is None or stored.stream.startswith(filters.stream)


def _queued(stored: StoredEvent) -> tuple[int, str, str]:
    return stored.position, stored.stream, str(stored.event.id)


def _retry_after(answer: httpx.Response) -> float | None:
    """Seconds a 429 or 503 asks us to wait (a number of seconds or an HTTP date)."""
    if answer.status_code not in {429, 503}:
        return None
    value = answer.headers.get("retry-after")
    if value is None:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    from email.utils import parsedate_to_datetime  # noqa: PLC0415 - rare

    with contextlib.suppress(TypeError, ValueError):
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    return None
