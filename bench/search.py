"""Searching the partnerships (`GET /partnerships?q=`): ours, through the store's read
models (the word index), next to the scan it replaced (raw sqlite3 matching `LOWER(detail)
LIKE '%…%'` over every summary row of the day), in one run on one database.

The database is one `scale.py` made (`--data DIR` keeps it): 10,000 synthetic partnerships
by default. Each case runs `--samples` searches, each for another target; medians and p99.

Run:  .venv/bin/python bench/search.py DIR/timeline-10000x100.db [--samples 30]
Prints one JSON line per case, then a table. Ours is the whole store call: the query for
the page (and one that counts a multi-word search's words), decoding its outlines, and the
query for their versions; the reference is the old query alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import time
from datetime import date
from pathlib import Path
from typing import Any

from timeline.store import open_store
from timeline.store.read_models import ListFilters
from timeline.store.sqlite import DIALECT

LIMIT = 51
"""A page of 50 and one to know there is more, as the API asks."""


def before(text: str, day: date) -> tuple[str, list[object]]:
    """The search as it was: a case-folded substring of each summary row valid on `day`."""
    pattern = "%" + text.lower().replace("%", "\\%").replace("_", "\\_") + "%"
    shown = DIALECT.day(day)
    sql = (
        "SELECT s.stream, s.detail FROM facets s WHERE"
        " s.generation = (SELECT generation FROM read_model_state) AND s.kind = 'summary'"
        " AND LOWER(CAST(s.detail AS TEXT)) LIKE ? ESCAPE '\\'"
        " AND s.valid_from <= ? AND (s.valid_to IS NULL OR s.valid_to > ?)"
        " AND s.recorded_to IS NULL ORDER BY s.stream LIMIT ?"
    )
    return sql, [pattern, shown, shown, LIMIT]


def stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return round(statistics.median(ordered), 2), round(p99, 2)


Row = dict[str, Any]


async def measure(db: Path, samples: int) -> list[Row]:
    store = await open_store(f"sqlite:///{db}")
    raw = sqlite3.connect(db)
    count = raw.execute(
        "SELECT COUNT(DISTINCT stream) FROM facets WHERE kind = 'summary'"
    ).fetchone()[0]
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
                sql, params = before(text, day)
                started = time.perf_counter()
                scanned = raw.execute(sql, params).fetchall()
                theirs.append((time.perf_counter() - started) * 1000)
                if name.startswith("no match") and (found or scanned):
                    raise SystemExit(f"{text!r} matched something")
            row: Row = {
                "case": name,
                "ours_ms": stats(ours),
                "like_scan_ms": stats(theirs),
                "found_last": len(found),
            }
            print(json.dumps(row))
            rows.append(row)
    finally:
        raw.close()
        await store.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("db", type=Path, help="a database made by bench/scale.py")
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    rows = asyncio.run(measure(args.db, args.samples))
    print(
        f"\n{'search (p50 / p99 ms)':34}{'ours (word index)':>20}{'LIKE scan, raw':>18}{'ratio':>8}"
    )
    for row in rows:
        ours, theirs = row["ours_ms"], row["like_scan_ms"]
        ratio = theirs[0] / ours[0] if ours[0] else float("inf")
        print(
            f"{row['case']:34}{f'{ours[0]} / {ours[1]}':>20}{f'{theirs[0]} / {theirs[1]}':>18}"
            f"{f'{ratio:.1f}x':>8}"
        )


if __name__ == "__main__":
    main()
