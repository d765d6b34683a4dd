"""Registered sources at scale: 10,000 sources, each cited by quoting events, read the ways the
API reads them (one source, a page by language, a page by words, one source's citations),
each a different target per sample, beside the raw floor of the same SQL on the same database.

Run:  .venv/bin/python bench/sources.py [--sources 10000] [--samples 200] [--postgres URL]
      (URL: an empty database or schema; SQLite goes to a temporary file)
Prints one JSON line per case, then a table: ours (the store call: the query and decoding
the records) beside raw (the query alone, rows fetched), medians and p99 in ms, and their
ratio. The registration rate (with the quote checks of the citing appends) is printed too.
On PostgreSQL the database is vacuumed before the reads, as autovacuum leaves it a minute
after the inserts: until then a search counting a common word reads every match.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

from timeline import wire
from timeline.dates import PartialDate
from timeline.events import AnyEvent, Milestone, MilestoneScheduled, Source, TextQuote
from timeline.sources import SourceRegistration
from timeline.store import EventStore, open_store

WORDS = [
    "cloud",
    "network",
    "partnership",
    "investment",
    "platform",
    "customers",
    "digital",
    "services",
]
LANGUAGES = ("en", "fr", "de", "es")
LAST = "\U0010ffff"
"""After every text that starts alike: `[word, word + LAST)` is every word `word` begins."""


def text_of(n: int) -> str:
    rnd = random.Random(n)
    return " ".join(rnd.choice(WORDS) for _ in range(300)) + f" source number {n}."


async def fill(store: EventStore, sources: int) -> dict[str, float]:
    started = time.perf_counter()
    for n in range(sources):
        asked = msgspec.convert(
            {
                "id": f"s{n:05d}",
                "title": f"Report {n} on {WORDS[n % len(WORDS)]}",
                "language": LANGUAGES[n % len(LANGUAGES)],
                "publisher": f"Outlet {n % 50}",
                "text": text_of(n),
            },
            SourceRegistration,
            dec_hook=wire.dec_hook,
        )
        await store.sources.register(asked, actor="bench")
    registered = time.perf_counter() - started
    started = time.perf_counter()
    for n in range(sources):
        source = Source(
            title=f"Report {n}",
            language="en",
            source=f"s{n:05d}",
            quote=TextQuote(exact=f"source number {n}."),
        )
        event = MilestoneScheduled(
            effective=PartialDate.parse("2024-02-01"),
            data=Milestone(id=f"m{n}", title=f"Milestone {n}", due=PartialDate.parse("2030")),
            sources=(source,),
        )
        stream = f"p{n % 100:03d}"
        await store.append(stream, [_announced(), event] if n < 100 else [event], actor="bench")
    return {
        "registrations_per_s": round(sources / registered),
        "quoted_appends_per_s": round(sources / (time.perf_counter() - started)),
    }


def _announced() -> AnyEvent:
    return msgspec.json.decode(
        b'{"type":"PartnershipAnnounced","effective":"2024-01-16","data":{"title":"Bench",'
        b'"kind":"strategic","parties":[{"org":"a","name":"A"},{"org":"b","name":"B"}]}}',
        type=AnyEvent,
        dec_hook=wire.dec_hook,
    )


def stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return round(statistics.median(ordered) * 1000, 3), round(p99 * 1000, 3)


async def timed(call: Callable[[int], Awaitable[object]], samples: int) -> tuple[float, float]:
    taken = []
    for n in range(samples):
        started = time.perf_counter()
        await call(n)
        taken.append(time.perf_counter() - started)
    return stats(taken)


CASES = (
    ("one source (with its text)", "SELECT body, text FROM sources WHERE id = $1"),
    (
        "a page of 50 by language, after a cursor",
        "SELECT body FROM sources WHERE id > $1 AND language = $2 ORDER BY id LIMIT $3",
    ),
    (
        "a search by a rare word (a report's number)",
        (  # the few sources with the word, from the index (the store counts it first)
            "SELECT body FROM (SELECT hits.source, (SELECT s.body FROM sources s"
            " WHERE s.id = hits.source) AS body FROM (SELECT DISTINCT source FROM source_words"
            " WHERE word >= $1 AND word < $2) AS hits) AS found WHERE body IS NOT NULL"
            " ORDER BY source LIMIT $3"
        ),
    ),
    (
        "a search by a word every source has (`outlet`)",
        (  # every source by id, each checked, until the page is full
            "SELECT s.body FROM sources s WHERE (SELECT 1 FROM source_words w"
            " WHERE w.source = s.id AND w.word >= $1 AND w.word < $2 LIMIT 1) IS NOT NULL"
            " ORDER BY s.id LIMIT $3"
        ),
    ),
    (
        "one source's citations (a page)",
        (
            "SELECT c.citation, e.body FROM citations c JOIN events e ON e.position = c.position"
            " WHERE c.source = $1 AND c.position > $2 ORDER BY c.position LIMIT $3"
        ),
    ),
)
"""Each case and the raw SQL it runs, in PostgreSQL's placeholders (`?1` on SQLite)."""


async def measure(
    store: EventStore, raw: Callable[[str, list[Any]], Awaitable[object]], sources: int,
    samples: int,
) -> list[dict[str, Any]]:  # fmt: skip
    rnd = random.Random(1)
    targets = [f"s{rnd.randrange(sources):05d}" for _ in range(samples)]
    sources_of = store.sources
    calls: list[tuple[Callable[[int], Awaitable[object]], Callable[[int], list[Any]]]] = [
        (lambda n: sources_of.get(targets[n]), lambda n: [targets[n]]),
        (
            lambda n: sources_of.page(words=None, language="fr", after=targets[n], limit=51),
            lambda n: [targets[n], "fr", 51],
        ),
        (
            lambda n: sources_of.page(
                words=str(int(targets[n][1:])), language=None, after=None, limit=51
            ),
            lambda n: [str(int(targets[n][1:])), str(int(targets[n][1:])) + LAST, 51],
        ),
        (
            lambda _n: sources_of.page(words="outlet", language=None, after=None, limit=51),
            lambda _n: ["outlet", "outlet" + LAST, 51],
        ),
        (
            lambda n: sources_of.citations(targets[n], after=0, limit=101),
            lambda n: [targets[n], 0, 101],
        ),
    ]
    found = []
    for (name, sql), (ours, params) in zip(CASES, calls, strict=True):
        mine = await timed(ours, samples)
        floor = await timed(lambda n, sql=sql, params=params: raw(sql, params(n)), samples)
        found.append({"case": name, "ours_ms": mine, "raw_ms": floor})
    return found


async def run_backend(url: str, sources: int, samples: int) -> dict[str, Any]:
    store = await open_store(url)
    try:
        filled = await fill(store, sources)
        if url.startswith("sqlite"):
            conn = sqlite3.connect(url.removeprefix("sqlite:///"))

            async def raw(sql: str, params: list[Any]) -> object:
                return conn.execute(re.sub(r"\$(\d)", r"?\1", sql), params).fetchall()

            cases = await measure(store, raw, sources, samples)
            conn.close()
        else:
            pg = await asyncpg.connect(url)
            # what autovacuum does within a minute of so many inserts (PostgreSQL 13 on): set
            # the visibility maps, so that counting a word's sources reads the index alone
            await pg.execute("VACUUM ANALYZE")

            async def raw_pg(sql: str, params: list[Any]) -> object:
                return await pg.fetch(sql, *params)

            cases = await measure(store, raw_pg, sources, samples)
            await pg.close()
    finally:
        await store.close()
    return {"backend": url.split(":", maxsplit=1)[0], **filled, "cases": cases}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--postgres", help="an empty PostgreSQL database or schema URL")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        urls = [f"sqlite:///{Path(folder) / 'sources.db'}"]
        if args.postgres:
            urls.append(args.postgres)
        for url in urls:
            result = asyncio.run(run_backend(url, args.sources, args.samples))
            print(json.dumps(result))
            results.append(result)
    print(f"\n{args.sources:,} sources, each quoted by one event; ms median / p99")
    print("| case | " + " | ".join(f"{r['backend']} ours | raw | ratio" for r in results) + " |")
    print("|---|" + "---|---|---|" * len(results))
    for index, case in enumerate(results[0]["cases"]):
        cells = []
        for r in results:
            c = r["cases"][index]
            ratio = c["ours_ms"][0] / c["raw_ms"][0] if c["raw_ms"][0] else float("nan")
            cells.append(
                f"{c['ours_ms'][0]} / {c['ours_ms'][1]} | {c['raw_ms'][0]} / {c['raw_ms'][1]}"
                f" | {ratio:.1f}x"
            )
        print(f"| {case['case']} | " + " | ".join(cells) + " |")
    for r in results:
        print(
            f"{r['backend']}: {r['registrations_per_s']} registrations/s,"
            f" {r['quoted_appends_per_s']} quoted appends/s (one at a time)"
        )


if __name__ == "__main__":
    main()
