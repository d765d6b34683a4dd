"""Calendar feeds with 10,000 milestones: first render vs. icalendar's own cost, then repeated
requests and 304s next to a small JSON response and a bare litestar endpoint, in one run.

Run:  .venv/bin/python bench/calendar_feeds.py [--partnerships 100] [--milestones 100]
Needs `wrk` (Debian package `wrk`). Prints one JSON line per case, then a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from endpoints import ROOT, free_port, wait_up, wrk
from icalendar import Calendar, Event

from timeline.dates import PartialDate
from timeline.events import (
    Announcement,
    Milestone,
    MilestoneScheduled,
    PartnershipAnnounced,
    Party,
    Source,
)
from timeline.store.sqlite import SQLiteStore

SOURCE = Source(title="Bench article", language="en")


async def build(path: Path, partnerships: int, milestones: int) -> None:
    store = await SQLiteStore.open(path)
    try:
        for p in range(partnerships):
            events = [
                PartnershipAnnounced(
                    effective=PartialDate.parse("2024-01-16"),
                    sources=(SOURCE,),
                    data=Announcement(
                        title=f"Partnership {p}",
                        kind="strategic",
                        parties=(
                            Party(org=f"org-{p}", name=f"Org {p}"),
                            Party(org="hub", name="Hub"),
                        ),
                    ),
                ),
                *(
                    MilestoneScheduled(
                        effective=PartialDate.parse("2024-02"),
                        sources=(SOURCE,),
                        data=Milestone(
                            id=f"m{m}",
                            title=f"Milestone {m} of partnership {p}",
                            due=PartialDate.of(date(2025, 1, 1) + timedelta(days=m)),
                        ),
                    )
                    for m in range(milestones)
                ),
            ]
            await store.append(f"partnership-{p}", events, actor="bench")
    finally:
        await store.close()


def icalendar_only(count: int) -> float:
    """The reference: icalendar building and serializing `count` comparable VEVENTs."""
    start = time.perf_counter()
    calendar = Calendar()
    calendar.add("prodid", "-//bench//EN")
    calendar.add("version", "2.0")
    stamp = datetime(2026, 11, 22, tzinfo=UTC)
    for n in range(count):
        event = Event()
        day = date(2025, 1, 1) + timedelta(days=n % 365)
        event.add("uid", f"bench-{n}@bench")
        event.add("dtstamp", stamp)
        event.add("last-modified", stamp)
        event.add("sequence", 0)
        event.add("dtstart", day)
        event.add("dtend", day + timedelta(days=1))
        event.add("transp", "TRANSPARENT")
        event.add("status", "CONFIRMED")
        event.add("summary", f"Org {n}\N{EN DASH}Hub: Milestone {n}")
        event.add("description", "Milestone: x\nDue on 1 January 2025.\nPartnership: x\n" * 3)
        event.add("url", f"http://127.0.0.1/partnerships/{n}")
        calendar.add_component(event)
    calendar.to_ical()
    return time.perf_counter() - start


def timed_get(url: str) -> tuple[float, int]:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as response:  # noqa: S310 - loopback
        size = len(response.read())
    return time.perf_counter() - start, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--partnerships", type=int, default=100)
    parser.add_argument("--milestones", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=4)
    args = parser.parse_args()
    total = args.partnerships * args.milestones
    folder = Path(tempfile.mkdtemp())
    asyncio.run(build(folder / "bench.db", args.partnerships, args.milestones))
    rows: list[dict[str, object]] = []

    def report(row: dict[str, object]) -> None:
        rows.append(row)
        print(json.dumps(row), flush=True)

    report({"case": f"icalendar alone, {total} VEVENTs built and serialized",
            "seconds": round(icalendar_only(total), 3)})  # fmt: skip
    bare_port, api_port = free_port(), free_port()
    env = {**os.environ, "TIMELINE_DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
           "TIMELINE_CURATED_DIR": "", "PYTHONPATH": str(ROOT / "bench")}  # fmt: skip
    servers = [
        subprocess.Popen(
            [sys.executable, "-m", "granian", "--interface", "asgi", "--port", str(bare_port),
             "--no-ws", "bare_app:app"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [sys.executable, "-m", "timeline", "serve", "--port", str(api_port)],
            env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ),
    ]  # fmt: skip
    try:
        bare, api = f"http://127.0.0.1:{bare_port}", f"http://127.0.0.1:{api_port}"
        wait_up(f"{bare}/ping")
        wait_up(f"{api}/health")
        feed = f"{api}/calendars/all.ics"
        cold, size = timed_get(feed)
        report({"case": f"GET /calendars/all.ics cold ({total} milestones, {size} bytes)",
                "seconds": round(cold, 3)})  # fmt: skip
        warm, _ = timed_get(feed)
        report(
            {"case": "GET /calendars/all.ics again (streamed from rows)", "seconds": round(warm, 3)}
        )
        with urllib.request.urlopen(feed) as response:  # noqa: S310
            etag = response.headers["ETag"]
        one = f"{api}/calendars/partnerships/partnership-0.ics"
        timed_get(one)
        with urllib.request.urlopen(one) as response:  # noqa: S310
            one_etag = response.headers["ETag"]
        s, c = args.seconds, 64
        cases = [
            ("bare litestar GET /ping (reference)", f"{bare}/ping", ()),
            ("GET /health (small JSON)", f"{api}/health", ()),
            ("GET all.ics, If-None-Match -> 304", feed, ("-H", f"If-None-Match: {etag}")),
            (f"GET one partnership's feed ({args.milestones} milestones, cached)", one, ()),
            ("GET one partnership's feed -> 304", one, ("-H", f"If-None-Match: {one_etag}")),
            (f"GET all.ics ({total} milestones, streamed)", feed, ()),
        ]  # fmt: skip
        for name, url, extra in cases:
            report({"case": name, **wrk(url, s, c if "all.ics (" not in name else 4, *extra)})
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
    width = max(len(str(r["case"])) for r in rows)
    print(f"\n{'case':<{width}}  seconds  req/s   p50 ms", file=sys.stderr)
    for r in rows:
        print(f"{r['case']!s:<{width}}  {r.get('seconds', ''):>7}  {r.get('requests_per_s', ''):>6}"
              f"  {r.get('p50_ms', ''):>7}", file=sys.stderr)  # fmt: skip


if __name__ == "__main__":
    main()
