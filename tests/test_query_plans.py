"""Every query the store issues while serving, planned as PostgreSQL plans it for asyncpg's
prepared statements (a generic plan, `force_generic_plan`), on enough rows for the planner
to choose differently from a test's tiny tables: none may read far more rows than it answers.

Seeded with 1,000 synthetic partnerships x 100 events (100,000) through `timeline import`'s
own path, then the API is driven through every kind of read and an append while each query
is recorded; each distinct query is then run again under `EXPLAIN (ANALYZE, FORMAT JSON)`.
A new query is checked by adding the request that issues it to `REQUESTS`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from api_helpers import running, settings_for
from helpers import announce, milestone

from timeline.events import Source, TextQuote
from timeline.sources import SourceRegistration
from timeline.store import EventStore, open_store
from timeline.store.mapper import Query
from timeline.store.postgres import PostgresRecorder, _Connection
from timeline.store.subscriptions import Queued, Subscription
from timeline.transfer import import_lines
from timeline.webhooks import Filters, new_secret

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from synthetic import lines

pytestmark = pytest.mark.postgres

PARTNERSHIPS, EVENTS = 1000, 100
STREAM = "p00500"
ORG = "org-0007"
ORGANIZATIONS = 200
"""Registered, each with an alias and an identifier (the first 50 are the parties)."""
SLACK = 1000
"""A plan may read this many rows beyond `RATIO` times what it answers (an index probe, a
page of facets): what fails is a read that grows with the store, not a few rows of slack."""
RATIO = 20
KNOWN = {
    "FROM (SELECT stream, position FROM events WHERE position > ": "the digest counts every "
    "event of its window: it reads the window, whatever the plan",
    "FROM events WHERE position > $1 AND substr(stream": "a filtered feed scans positions "
    "until a page matches: a rare prefix reads far (no index by prefix and position yet)",
    "FROM events WHERE position > $1 AND type = ANY": "likewise for a rare type (no index by "
    "type and position yet)",
    "SELECT DISTINCT value FROM facets WHERE": "the organizations list reads every party facet "
    "to find the distinct ones (PostgreSQL 15 has no skip scan)",
    "SELECT MAX(c.changed_at) FROM calendar_items c": "an organization feed's Last-Modified "
    "reads every item of its partnerships",
    "AND c.day >= ": "a windowed feed reads every calendar row of its kinds (no index by day yet)",
    "(SELECT COUNT(*) FROM (SELECT 1 FROM source_words WHERE": "a search of the sources counts "
    "how many index words each of its words begins, up to `WORD_SAMPLE` a word (index-only, "
    "in key order), to choose its driver: bounded, whatever the number of sources",
}
"""Queries that read more than they answer with any plan: what they cost, and what would
fix it. A query not listed here must answer close to what it reads."""


def _requests(since: str) -> list[str]:
    page = f"/partnerships/{STREAM}"
    return [
        "/health",
        page,
        f"{page}?as_of=2030-01-01",
        f"{page}?known_at=2025-01-01T00:30:00Z",
        f"{page}/events",
        f"{page}/events?from_version=50&type=MilestoneScheduled&limit=10",
        f"{page}/events?effective_from=2021&effective_to=2022",
        f"{page}/changes?since={since}",
        f"/changes?since={since}",
        f"/changes?since={since}&party={ORG}",
        "/events?after=50000&limit=100",
        f"/events?after=0&limit=50&stream={STREAM[:4]}",
        f"/events?after=0&limit=50&party={ORG}",
        "/events?after=0&limit=50&type=PartnershipEnded",
        "/partnerships",
        f"/partnerships?party={ORG}",
        "/partnerships?region=Africa&status=ended",
        "/partnerships?q=milestone",
        "/organizations",
        f"/organizations/{ORG}",
        f"/organizations/{ORG}/page",
        "/partnerships?party=Org%200007%20Group",
        "/partnerships?party=wikidata:Q10007",
        "/events?after=0&limit=50&party=Org%200007",
        f"/calendars/partnerships/{STREAM}.ics",
        f"/calendars/organizations/{ORG}.ics?from=2025",
        "/calendars/all.ics?from=2031",
        f"{page}/timeline",
        "/sources",
        "/sources?language=fr&cursor=czAxMDAw",
        "/sources?q=report",
        "/sources?q=1234",
        "/sources?q=report+outlet+1234",
        "/sources/s01234",
        "/sources/s00042/citations",
    ]


@contextmanager
def _recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, list[Any]]]]:
    """Every query the recorder runs, with its parameters, while the block runs."""
    seen: list[tuple[str, list[Any]]] = []

    def wrap(method: Any) -> Any:
        def recorded(self: object, query: Query, *args: object) -> Any:
            seen.append((query.sql, list(query.params)))
            return method(self, query, *args)

        return recorded

    for owner, name in ((PostgresRecorder, "fetch"), (PostgresRecorder, "rows"),
                        (_Connection, "fetch"), (_Connection, "execute")):  # fmt: skip
        monkeypatch.setattr(owner, name, wrap(getattr(owner, name)))
    yield seen


async def _plan(conn: asyncpg.Connection, sql: str, params: list[Any]) -> dict[str, Any]:
    """The generic plan of `sql`, executed with `params` (`EXPLAIN` takes no parameters:
    each is written as a literal of the type the prepared statement inferred)."""
    await conn.execute(f"PREPARE checked AS {sql}")
    try:
        types = await conn.fetchval(
            "SELECT parameter_types::text[] FROM pg_prepared_statements WHERE name = 'checked'"
        )
        literals = [
            await conn.fetchval(f"SELECT quote_nullable(($1::{kind})::text) || '::{kind}'", value)
            for value, kind in zip(params, types, strict=True)
        ]
        arguments = f"({', '.join(literals)})" if literals else ""
        found = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE checked{arguments}")
    finally:
        await conn.execute("DEALLOCATE checked")
    plan: dict[str, Any] = json.loads(found)[0]["Plan"]
    return plan


def _rows_read(node: dict[str, Any]) -> int:
    """Rows every scan of the plan touched: those it passed on and those its filter dropped;
    and the pairs a join compared and dropped (a nested loop testing each row against every row
    of its inner side reads little and compares a great deal)."""
    own = node.get("Rows Removed by Join Filter", 0) * node["Actual Loops"]
    if "Scan" in node["Node Type"]:
        kept = node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
        own = kept * node["Actual Loops"]
    return own + sum(_rows_read(child) for child in node.get("Plans", ()))


SOURCES, CITED = 3000, 300
LANGUAGES = ("en", "fr", "de")


async def _sources(store: EventStore) -> None:
    """Registered sources, and a partnership quoting the first few of them."""
    for n in range(SOURCES):
        asked = SourceRegistration(
            id=f"s{n:05d}",
            title=f"Report {n} on the partnership",
            publisher=f"Outlet {n % 50}",
            language=LANGUAGES[n % len(LANGUAGES)],
            text=f"The text of source {n}, quoted once.",
        )
        await store.sources.register(asked, actor="plans")
    cited = [
        msgspec.structs.replace(
            milestone(f"m{n}", due="2030"),
            sources=(
                Source(
                    title=f"Report {n}",
                    language="en",
                    source=f"s{n:05d}",
                    quote=TextQuote(exact=f"source {n},"),
                ),
            ),
        )
        for n in range(CITED)
    ]
    await store.append("cited", [announce(), *cited], actor="plans")


SUBSCRIPTIONS, OWED = 50, 2000


async def _subscriptions(store: EventStore, url: str) -> None:
    """Webhook subscriptions with a long history of deliveries made, and a few still owed."""
    now = datetime.now(UTC)
    head = (await store.stats()).last_position  # the app's deliverer finds nothing new
    batches = []
    for n in range(SUBSCRIPTIONS):
        subscription = Subscription(
            id=f"sub_{n:04d}", url="https://hooks.example/in", filters=Filters(),
            status="active", checkpoint=head, created_at=now, created_by="plans", updated_at=now,
            secret=new_secret(),
        )  # fmt: skip
        await store.subscriptions.create(subscription)
        found = [(p, f"p{p % 200:05d}", f"e{p}") for p in range(1, OWED + 1)]
        batches.append(Queued(subscription.id, head, head, found))
    await store.subscriptions.queue(batches, now)
    conn = await asyncpg.connect(url)
    try:  # all made but a few of the latest
        await conn.execute(
            "UPDATE deliveries SET status = 'delivered', due_at = NULL"
            " WHERE NOT (position > $1 AND position % 7 = 0)",
            OWED - 200,
        )
    finally:
        await conn.close()


@pytest.fixture
async def seeded(postgres_url: str) -> str:
    store = await open_store(postgres_url)
    try:
        seed = lines(PARTNERSHIPS, EVENTS, 10, registered=ORGANIZATIONS)
        report = await import_lines(store, seed, origin="synthetic")
        assert report.appended == PARTNERSHIPS * EVENTS + ORGANIZATIONS
        await _sources(store)
        await _subscriptions(store, postgres_url)
    finally:
        await store.close()
    conn = await asyncpg.connect(postgres_url)
    try:
        # as autovacuum leaves insert-only tables (PostgreSQL 13 on vacuums after inserts):
        # with their visibility maps set, an index range is read index-only, in key order
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return postgres_url


async def _deliverer_reads(url: str) -> None:
    """What the deliverer and the subscription routes ask of the store (as the store calls)."""
    store = await open_store(url)
    try:
        subscriptions = store.subscriptions
        assert len(await subscriptions.active()) == SUBSCRIPTIONS
        claimed = await subscriptions.claim(datetime.now(UTC), 16, timedelta(seconds=30))
        assert len(claimed) == 16
        await subscriptions.page(after="sub_0010", limit=20)
        await subscriptions.get("sub_0007")
        await subscriptions.summary("sub_0007")
        await subscriptions.deliveries("sub_0007", status="pending", after=0, limit=50)
        await subscriptions.delivery("sub_0007", 42)
    finally:
        await store.close()


async def test_no_query_reads_far_more_rows_than_it_answers(
    seeded: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path, database_url=seeded, curated_dir="", max_batch=100)
    with _recorded(monkeypatch) as seen:
        async with running(settings) as client:
            for url in _requests("2025-01-01T02:40:00Z"):
                answer = await client.get(url)
                assert answer.status_code == 200, (url, answer.text[:300])
        await _deliverer_reads(seeded)
    assert len({sql for sql, _ in seen}) >= 15
    conn = await asyncpg.connect(seeded)
    offenders = []
    try:
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        for sql, params in dict(seen).items():
            plan = await _plan(conn, sql, params)
            read, answered = _rows_read(plan), plan["Actual Rows"]
            await conn.execute("SET plan_cache_mode = force_custom_plan")
            custom = _rows_read(await _plan(conn, sql, params))
            await conn.execute("SET plan_cache_mode = force_generic_plan")
            said = f"{read} rows read (a custom plan: {custom}) for {answered}: {sql}"
            if read > SLACK + 2 * custom:
                offenders.append(f"the generic plan is worse: {said}")
            elif read > SLACK + RATIO * answered and not any(k in sql for k in KNOWN):
                offenders.append(said)
    finally:
        await conn.close()
    assert offenders == [], "\n".join(offenders)
