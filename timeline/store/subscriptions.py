"""Webhook subscriptions and their deliveries, kept beside the events: written once for every
SQL backend, so they survive restarts and every replica sees the same.

A subscription's `checkpoint` is the position up to which every matching event has its
delivery row; the deliverer queues the events after it and moves it on in one transaction.
A delivery row is the outbox: pending until a 2xx, parked after its last try, and the
partnership's later deliveries wait behind any that is not done (`due`).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from timeline.store.mapper import Query, Row
from timeline.webhooks import DeliveryStatus, Filters, Status

if TYPE_CHECKING:
    from timeline.store.recorder import Recorder

PAGE_MAX = 500
OPEN = "('pending', 'parked')"
"""Deliveries not done: a partnership's later ones wait behind them."""


class Subscription(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    url: str
    filters: Filters
    status: Status
    checkpoint: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    disabled_reason: str | None = None
    secret: str = msgspec.field(default="")
    """The signing secret; never in an answer but the one that created or rotated it."""
    old_secret: str | None = None
    old_until: datetime | None = None
    """While a rotation overlaps, the old secret signs too, until then."""

    def signing(self, now: datetime) -> tuple[str, ...]:
        if self.old_secret is not None and self.old_until is not None and now < self.old_until:
            return (self.secret, self.old_secret)
        return (self.secret,)


class Attempt(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    at: datetime
    latency_ms: float
    status: int | None = None
    """The receiver's HTTP status; none when it could not be reached."""
    answer: str | None = None
    """The first characters of what it answered."""
    error: str | None = None
    """Why there was no answer (refused address, timeout, connection)."""


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    subscription: str
    position: int
    stream: str
    event_id: str
    status: DeliveryStatus
    attempts: tuple[Attempt, ...]
    due_at: datetime | None


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    """What `GET /subscriptions/{id}` adds to the subscription: where its deliveries stand."""

    delivered_position: int | None
    """The position of the last event delivered."""
    pending: int
    parked: int
    last_attempt: Attempt | None


_filters = msgspec.json.Decoder(Filters)
_attempts = msgspec.json.Decoder(tuple[Attempt, ...])
COLUMNS = (
    "id, url, filters, status, checkpoint, created_at, created_by, updated_at, disabled_reason,"
    " secret, old_secret, old_until"
)
DELIVERY_COLUMNS = "subscription, position, stream, event_id, status, attempts, due_at"


class Queued(msgspec.Struct, frozen=True):
    """A subscription's matches found after its checkpoint `since`, up to `checkpoint`."""

    subscription: str
    since: int
    checkpoint: int
    found: Sequence[tuple[int, str, str]]
    """(position, stream, event id) of each match."""


def new_id() -> str:
    return "sub_" + secrets.token_hex(10)


class SQLSubscriptions:
    """The subscriptions of one store."""

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self._dialect = recorder.dialect

    def _instant(self, value: datetime | None) -> object:
        return None if value is None else self._dialect.instant(value)

    def _read(self, row: Row) -> Subscription:
        read = self._dialect.read_instant
        return Subscription(
            id=str(row[0]),
            url=str(row[1]),
            filters=_filters.decode(row[2]),
            status=row[3],
            checkpoint=int(row[4]),
            created_at=read(row[5]),
            created_by=str(row[6]),
            updated_at=read(row[7]),
            disabled_reason=row[8],
            secret=str(row[9]),
            old_secret=row[10],
            old_until=None if row[11] is None else read(row[11]),
        )

    async def create(self, subscription: Subscription) -> None:
        p = self._dialect.placeholder
        async with self._recorder.transaction() as tx:
            await tx.run(
                f"INSERT INTO subscriptions ({COLUMNS}) VALUES"
                f" ({', '.join(p(n) for n in range(1, 13))})",
                [self._values(subscription)],
            )

    def _values(self, s: Subscription) -> tuple[Any, ...]:
        return (
            s.id,
            s.url,
            msgspec.json.encode(s.filters).decode(),
            s.status,
            s.checkpoint,
            self._instant(s.created_at),
            s.created_by,
            self._instant(s.updated_at),
            s.disabled_reason,
            s.secret,
            s.old_secret,
            self._instant(s.old_until),
        )

    async def get(self, subscription_id: str) -> Subscription | None:
        q = Query(self._dialect)
        q.sql = f"SELECT {COLUMNS} FROM subscriptions WHERE id = {q.param(subscription_id)}"
        rows = await self._recorder.fetch(q)
        return self._read(rows[0]) if rows else None

    async def page(self, *, after: str | None, limit: int) -> list[Subscription]:
        q = Query(self._dialect)
        where = "TRUE" if after is None else f"id > {q.param(after)}"
        q.sql = (
            f"SELECT {COLUMNS} FROM subscriptions WHERE {where}"
            f" ORDER BY id LIMIT {q.param(min(limit, PAGE_MAX))}"
        )
        return [self._read(row) for row in await self._recorder.fetch(q)]

    async def active(self) -> list[Subscription]:
        q = Query(self._dialect)
        q.sql = f"SELECT {COLUMNS} FROM subscriptions WHERE status = 'active' ORDER BY id"
        return [self._read(row) for row in await self._recorder.fetch(q)]

    async def replace(self, subscription: Subscription) -> None:
        """Store the subscription's new fields (its checkpoint is the deliverer's)."""
        p = self._dialect.placeholder
        s = subscription
        async with self._recorder.transaction() as tx:
            await tx.run(
                f"UPDATE subscriptions SET url = {p(1)}, filters = {p(2)}, status = {p(3)},"
                f" updated_at = {p(4)}, disabled_reason = {p(5)}, secret = {p(6)},"
                f" old_secret = {p(7)}, old_until = {p(8)} WHERE id = {p(9)}",
                [
                    (
                        s.url,
                        msgspec.json.encode(s.filters).decode(),
                        s.status,
                        self._instant(s.updated_at),
                        s.disabled_reason,
                        s.secret,
                        s.old_secret,
                        self._instant(s.old_until),
                        s.id,
                    )
                ],
            )

    async def delete(self, subscription_id: str) -> None:
        p = self._dialect.placeholder
        async with self._recorder.transaction() as tx:
            await tx.run(
                f"DELETE FROM deliveries WHERE subscription = {p(1)}", [(subscription_id,)]
            )
            await tx.run(f"DELETE FROM subscriptions WHERE id = {p(1)}", [(subscription_id,)])

    async def queue(self, batches: Sequence[Queued], now: datetime) -> set[str]:
        """For each subscription, queue a delivery of each event found after `since` and move
        its checkpoint on, all in one transaction of three statements; one whose checkpoint
        moved meanwhile (another replica, a replay) is left alone. The ids of those queued."""
        if not batches:
            return set()
        p = self._dialect.placeholder
        async with self._recorder.transaction() as tx:
            q = Query(self._dialect)
            ids = sorted(batch.subscription for batch in batches)
            q.sql = (
                "SELECT id, checkpoint FROM subscriptions"
                f" WHERE id {self._dialect.any_text(q.param, ids)}{self._dialect.lock_rows}"
            )
            held = {str(row[0]): int(row[1]) for row in await tx.fetch(q)}
            ready = [b for b in batches if held.get(b.subscription) == b.since]
            rows = [
                (batch.subscription, position, stream, event, self._instant(now))
                for batch in ready
                for position, stream, event in batch.found
            ]
            if rows:
                await tx.run(
                    f"INSERT INTO deliveries ({DELIVERY_COLUMNS}) VALUES"
                    f" ({p(1)}, {p(2)}, {p(3)}, {p(4)}, 'pending', '[]', {p(5)})",
                    rows,
                )
            moved = [(b.checkpoint, b.subscription) for b in ready if b.checkpoint != b.since]
            if moved:
                await tx.run(
                    f"UPDATE subscriptions SET checkpoint = {p(1)} WHERE id = {p(2)}", moved
                )
        return {batch.subscription for batch in ready}

    async def claim(self, now: datetime, limit: int, lease: timedelta) -> list[Delivery]:
        """Pending deliveries of active subscriptions due by `now`, each the first not done of
        its partnership (a parked one holds back those after it), oldest due first; each is
        claimed for `lease` (not due again before then), so that one replica tries it at a
        time, and another takes it over if that one dies before recording its attempt."""
        q = Query(self._dialect)
        q.sql = (  # in the due index's order, so that a page stops the scan
            f"SELECT {', '.join('d.' + c.strip() for c in DELIVERY_COLUMNS.split(','))}"
            " FROM deliveries d"
            f" WHERE d.status = 'pending' AND d.due_at <= {q.param(self._instant(now))}"
            " AND EXISTS (SELECT 1 FROM subscriptions s WHERE s.id = d.subscription"
            " AND s.status = 'active')"
            " AND NOT EXISTS (SELECT 1 FROM deliveries e"
            f"{self._dialect.indexed_by('deliveries_open')}"  # the open ones alone
            " WHERE e.subscription = d.subscription AND e.stream = d.stream"
            f" AND e.position < d.position AND e.status IN {OPEN})"
            f" ORDER BY d.due_at, d.position LIMIT {q.param(limit)}{self._dialect.skip_locked}"
        )
        p = self._dialect.placeholder
        async with self._recorder.transaction() as tx:
            found = [self._delivery(row) for row in await tx.fetch(q)]
            if found:
                await tx.run(
                    f"UPDATE deliveries SET due_at = {p(1)}"
                    f" WHERE subscription = {p(2)} AND position = {p(3)}",
                    [(self._instant(now + lease), d.subscription, d.position) for d in found],
                )
        return found

    def _delivery(self, row: Row) -> Delivery:
        return Delivery(
            subscription=str(row[0]),
            position=int(row[1]),
            stream=str(row[2]),
            event_id=str(row[3]),
            status=row[4],
            attempts=_attempts.decode(row[5]),
            due_at=None if row[6] is None else self._dialect.read_instant(row[6]),
        )

    async def record(
        self, delivery: Delivery, attempt: Attempt, status: DeliveryStatus, due_at: datetime | None
    ) -> None:
        """An attempt made: the delivery's new status and when it is due again."""
        p = self._dialect.placeholder
        attempts = msgspec.json.encode((*delivery.attempts, attempt)).decode()
        async with self._recorder.transaction() as tx:
            await tx.run(
                f"UPDATE deliveries SET status = {p(1)}, attempts = {p(2)}, due_at = {p(3)}"
                f" WHERE subscription = {p(4)} AND position = {p(5)} AND status = 'pending'",
                [
                    (
                        status,
                        attempts,
                        self._instant(due_at),
                        delivery.subscription,
                        delivery.position,
                    )
                ],
            )

    async def deliveries(
        self, subscription_id: str, *, status: str | None, after: int, limit: int
    ) -> list[Delivery]:
        """In position order; `failed` is a pending one that has failed at least once."""
        q = Query(self._dialect)
        where = [f"subscription = {q.param(subscription_id)}"]
        if status == "failed":
            where.append("status = 'pending' AND attempts != '[]'")
        elif status is not None:
            where.append(f"status = {q.param(status)}")
        where.append(f"position > {q.param(after)}")
        q.sql = (
            f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE {' AND '.join(where)}"
            f" ORDER BY position LIMIT {q.param(min(limit, PAGE_MAX))}"
        )
        return [self._delivery(row) for row in await self._recorder.fetch(q)]

    async def delivery(self, subscription_id: str, position: int) -> Delivery | None:
        q = Query(self._dialect)
        q.sql = (
            f"SELECT {DELIVERY_COLUMNS} FROM deliveries"
            f" WHERE subscription = {q.param(subscription_id)} AND position = {q.param(position)}"
        )
        rows = await self._recorder.fetch(q)
        return self._delivery(rows[0]) if rows else None

    async def release(
        self, subscription_id: str, position: int, status: DeliveryStatus, now: datetime
    ) -> None:
        """A parked or pending delivery tried again now (`pending`) or given up (`skipped`)."""
        p = self._dialect.placeholder
        async with self._recorder.transaction() as tx:
            await tx.run(
                f"UPDATE deliveries SET status = {p(1)}, due_at = {p(2)}"
                f" WHERE subscription = {p(3)} AND position = {p(4)} AND status IN {OPEN}",
                [(status, self._instant(now), subscription_id, position)],
            )

    async def replay(self, subscription_id: str, after: int) -> None:
        """Deliver again every matching event after `after`: their rows go, and the checkpoint
        goes back for the deliverer to queue them anew."""
        p = self._dialect.placeholder
        async with self._recorder.transaction() as tx:
            await tx.run(
                f"DELETE FROM deliveries WHERE subscription = {p(1)} AND position > {p(2)}",
                [(subscription_id, after)],
            )
            await tx.run(
                f"UPDATE subscriptions SET checkpoint = {p(1)} WHERE id = {p(2)}",
                [(after, subscription_id)],
            )

    async def _latest(self, subscription_id: str, condition: str) -> list[Row]:
        """(position, attempts) of the subscription's last delivery meeting `condition`."""
        q = Query(self._dialect)
        q.sql = (
            "SELECT position, attempts FROM deliveries"
            f" WHERE subscription = {q.param(subscription_id)} AND {condition}"
            " ORDER BY position DESC LIMIT 1"
        )
        return await self._recorder.fetch(q)

    async def summary(self, subscription_id: str) -> Summary:
        """Counted among the open deliveries alone (an index of them); the last delivered
        one and the latest open one tried are each one probe from the top."""
        q = Query(self._dialect)
        q.sql = (
            "SELECT status, COUNT(*) FROM deliveries"
            f" WHERE subscription = {q.param(subscription_id)} AND status IN {OPEN}"
            " GROUP BY status"
        )
        counts = {str(status): int(n) for status, n in await self._recorder.fetch(q)}
        delivered = await self._latest(subscription_id, "status = 'delivered'")
        tried = await self._latest(subscription_id, f"status IN {OPEN} AND attempts != '[]'")
        attempts = [_attempts.decode(row[1])[-1] for row in (*delivered, *tried) if row[1] != "[]"]
        return Summary(
            delivered_position=int(delivered[0][0]) if delivered else None,
            pending=counts.get("pending", 0),
            parked=counts.get("parked", 0),
            last_attempt=max(attempts, key=lambda attempt: attempt.at) if attempts else None,
        )
