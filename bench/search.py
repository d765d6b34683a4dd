"""Searching the partnerships (`GET /partnerships?q=`): ours, through the store's read
models (the word index), next to the plain scan (matching `LOWER(detail) LIKE '%…%'` over
every summary row of the day, raw sqlite3 or asyncpg), in one run on one database per backend.

The databases are those `scale.py` made (`--data DIR` keeps the SQLite one; `--postgres` the
one it imported into): 10,000 synthetic partnerships by default. Each case runs `--samples`
searches, each for another target; medians and p99.

Run:  .venv/bin/python bench/search.py DIR/timeline-10000x100.db [--postgres URL] [--samples 30]
Prints one JSON line per case, then a table. Ours is the whole store call: the query for
the page (and one that counts a multi-word search's words), decoding its outlines, and the
query for their versions; the reference is the scan alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg

from timeline.store import open_store
from timeline.store.mapper import Dialect
from timeline.store.postgres import DIALECT as POSTGRES
from timeline.store.read_models import ListFilters
from timeline.store.sqlite import DIALECT as SQLITE

LIMIT = 51
"""A page of 50 and one to know there is more, as the API asks."""


def scan(text: str, day: date, dialect: Dialect, as_text: str) -> tuple[str, list[object]]:
    """The plain search: a case-folded substring of each summary row valid on `day`."""
    pattern = "%" + text.lower().replace("%", "\\%").replace("_", "\\_") + "%"
    shown = dialect.day(day)
    p = dialect.placeholder
    sql = (
        "SELECT s.stream, s.detail FROM facets s WHERE"  # noqa: S608 - placeholders, no value
        " s.generation = (SELECT generation FROM read_model_state) AND s.kind = 'summary'"
        f" AND LOWER({as_text}) LIKE {p(1)} ESCAPE '\\'"
        f" AND s.valid_from <= {p(2)} AND (s.valid_to IS NULL OR s.valid_to > {p(3)})"
        f" AND s.recorded_to IS NULL ORDER BY s.stream LIMIT {p(4)}"
    )
    return sql, [pattern, shown, shown, LIMIT]


def stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return round(statistics.median(ordered), 2), round(p99, 2)


Row = dict[str, Any]


async def measure(url: str, samples: int) -> list[Row]:
    """Each case on the store at `url`, beside the scan on a raw connection to it."""
    store = await open_store(url)
    if url.startswith("sqlite:"):
        raw = sqlite3.connect(url.removeprefix("sqlite:///"))
        dialect, as_text = SQLITE, "CAST(s.detail AS TEXT)"

        async def fetch(sql: str, params: Sequence[object]) -> Sequence[object]:
            return raw.execute(sql, params).fetchall()

        async def close() -> None:
            raw.close()

    else:
        connection = await asyncpg.connect(url)
        dialect, as_text = POSTGRES, "convert_from(s.detail, 'UTF8')"

        async def fetch(sql: str, params: Sequence[object]) -> Sequence[object]:
            return await connection.fetch(sql, *params)

        async def close() -> None:
            await connection.close()

    backend = "sqlite" if url.startswith("sqlite:") else "postgres"
    count = len(await fetch("SELECT DISTINCT stream FROM facets WHERE kind = 'summary'", ()))
    day = date(2024, 5, 1)
    cases = {
        "one partnership (partnership N)": [
            f"partnership {n * count // samples}" for n in range(samples)
        ],
        "a full page (research)": ["research"] * samples,
        "no match (zebraN)": [f"zebra{n}" for n in range(samples)],
    }
    rows: list[Row] = []
    try:
        for name, texts in cases.items():
            ours: list[float] = []
            theirs: list[float] = []
            for text in texts:
                started = time.perf_counter()
                found = await store.read_models.partnerships(ListFilters(day=day, text=text), LIMIT)
                ours.append((time.perf_counter() - started) * 1000)
                sql, params = scan(text, day, dialect, as_text)
                started = time.perf_counter()
                scanned = await fetch(sql, params)
                theirs.append((time.perf_counter() - started) * 1000)
                if name.startswith("no match") and (found or scanned):
                    raise SystemExit(f"{text!r} matched something")
            row: Row = {
                "backend": backend,
                "case": name,
                "ours_ms": stats(ours),
                "like_scan_ms": stats(theirs),
                "found_last": len(found),
            }
            print(json.dumps(row), flush=True)
            rows.append(row)
    finally:
        await close()
        await store.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("db", type=Path, help="a database made by bench/scale.py")
    parser.add_argument("--postgres", metavar="URL", help="also the database scale.py filled")
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    urls = [f"sqlite:///{args.db}", *([args.postgres] if args.postgres else [])]
    rows = [row for url in urls for row in asyncio.run(measure(url, args.samples))]
    print(
        f"\n{'search (p50 / p99 ms)':44}{'ours (word index)':>20}{'LIKE scan, raw':>18}{'ratio':>8}"
    )
    for row in rows:
        ours, theirs = row["ours_ms"], row["like_scan_ms"]
        ratio = theirs[0] / ours[0] if ours[0] else float("inf")
        print(
            f"{row['backend'] + ', ' + row['case']:44}{f'{ours[0]} / {ours[1]}':>20}"
            f"{f'{theirs[0]} / {theirs[1]}':>18}{f'{ratio:.1f}x':>8}"
        )


if __name__ == "__main__":
    main()
