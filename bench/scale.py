"""Read models at our users' size: N partnerships x M events, served, next to raw sqlite3.

For each size: generate valid synthetic partnerships (`synthetic.py`), import
them with `timeline import`, rebuild the read models with `timeline
projections rebuild`, serve with `timeline serve`, and time each kind of read
right after a restart (cold, every request a different target) and again
(warm), beside raw `sqlite3` reading the same rows with the same SQL (the
physical floor). Then stream `all.ics` and watch the server's memory.

Run:  .venv/bin/python bench/scale.py [--partnerships 1000,10000] [--events 100] [--samples 40]
      (defaults: 10,000 x 100 = 1,000,000 events; --data DIR keeps the databases between runs)
Prints one JSON line per measurement, then one table with the sizes side by side.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import concurrency
import synthetic
from endpoints import ROOT, free_port, wait_up

from timeline.store import mapper, read_models
from timeline.store.read_models import ListFilters
from timeline.store.sqlite import DIALECT

TIMELINE = [str(ROOT / ".venv" / "bin" / "timeline")]
"""The command measured; `--timeline` names another (an earlier checkout, to compare)."""


def measured(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, stdout) of a command run to completion."""
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    out = process.stdout.read() if process.stdout is not None else ""
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode})")
    return time.monotonic() - started, usage.ru_maxrss / 1024, out


def memory_mb(pid: int, field: str = "VmRSS") -> float:
    """`field` of /proc/PID/status summed over the process and its children (granian's worker)."""
    total = 0
    for each in concurrency.tree(pid):
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                total += int(line.split()[1])
    return total / 1024


class Served:
    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = env | {"TIMELINE_PORT": str(self.port), "TIMELINE_LOG_LEVEL": "warning"}
        self.process = subprocess.Popen(
            [*TIMELINE, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_up(f"{self.base}/health/ready")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def get(url: str) -> tuple[float, int, int]:
    """(milliseconds to the whole body, status, body bytes)."""
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 - loopback
        body = response.read()
        status = response.status
    return (time.perf_counter() - started) * 1000, status, len(body)


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return round(statistics.median(ordered), 2), round(p99, 2)


ORGANIZATIONS: list[int] = []
"""`--organizations N`: how many the data registers (0 to compare with code before them)."""


def registered_organizations(partnerships: int) -> int:
    """Organizations the data registers: 2,000 beside 10,000 partnerships (the first of them
    the parties, `parties_of`), unless `--organizations` says."""
    return ORGANIZATIONS[0] if ORGANIZATIONS else partnerships // 5


def parties_of(partnerships: int) -> int:
    """How many organizations the synthetic partnerships name as parties (`synthetic.lines`)."""
    return max(20, partnerships // 20)


def cases(partnerships: int, samples: int, rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    """For each kind of read, `samples` targets: each a URL and the raw query of the same rows."""
    orgs = synthetic.organizations(parties_of(partnerships))
    streams = [f"p{n:05d}" for n in rng.sample(range(partnerships), samples)]
    picked_orgs = rng.sample(orgs, min(samples, len(orgs)))
    days = [date(2021 + n % 5, 1 + n % 12, 1 + n % 28) for n in range(samples)]
    out: dict[str, list[dict[str, Any]]] = {}

    def listing(
        name: str, filters: ListFilters, query: dict[str, str], words: Sequence[str] = ()
    ) -> None:
        """`words`: a search's words, rarest first (the raw side counts them too, as ours does)."""
        counting = [read_models.word_counts(DIALECT, sorted(words))] if len(words) > 1 else []
        out.setdefault(name, []).append(
            {
                "url": "/partnerships?" + urllib.parse.urlencode(query | {"limit": "50"}),
                "raw": [*counting, read_models.partnerships(DIALECT, filters, 51, words)],
            }
        )

    for n in range(samples):
        org, day = picked_orgs[n % len(picked_orgs)], days[n]
        listing("list ?party=", ListFilters(day=day, party=org), {"party": org, "as_of": str(day)})
        named_ways = (
            ("alias", synthetic.alias(org)),
            ("wikidata", f"wikidata:{synthetic.wikidata(org)}"),
        )
        for how, named in named_ways if registered_organizations(partnerships) else ():
            out.setdefault(f"list ?party= ({how})", []).append(
                {
                    "url": "/partnerships?"
                    + urllib.parse.urlencode({"party": named, "as_of": str(day), "limit": "50"}),
                    "raw": [
                        read_models.organizations_named(DIALECT, named),
                        read_models.partnerships(DIALECT, ListFilters(day=day, party=org), 51, ()),
                    ],
                }
            )
        region = synthetic.REGIONS[n % len(synthetic.REGIONS)]
        listing(
            "list ?region=",
            ListFilters(day=day, region=region),
            {"region": region, "as_of": str(day)},
        )
        listing(
            "list ?status=ended", ListFilters(day=day, status="ended"),
            {"status": "ended", "as_of": str(day)},
        )  # fmt: skip
        after = streams[n]
        listing(
            "list (a page)", ListFilters(day=day, after=after),
            {"cursor": base64.urlsafe_b64encode(after.encode()).decode().rstrip("="),
             "as_of": str(day)},
        )  # fmt: skip
        number = streams[n].removeprefix("p").lstrip("0") or "0"
        for name, words in (
            ("list ?q= (one partnership)", (number, "partnership")),
            ("list ?q= (a page)", ("research",)),
            ("list ?q= (no match)", (f"zebra{n}",)),
        ):
            text = " ".join(reversed(words))
            listing(name, ListFilters(day=day, text=text), {"q": text, "as_of": str(day)}, words)
        known = datetime(2025, 1, 1, 0, 30, tzinfo=UTC)
        listing(
            "list ?party=&known_at=",
            ListFilters(day=day, party=org, known_at=known),
            {"party": org, "as_of": str(day), "known_at": known.isoformat().replace("+00:00", "Z")},
        )
        today = datetime.now(UTC).date()
        out.setdefault("organization page", []).append(
            {
                "url": f"/organizations/{org}",
                "raw": [read_models.memberships(DIALECT, org, today, None, 101)],
            }
        )
        first = base64.urlsafe_b64encode(org.encode()).decode().rstrip("=")
        page = read_models.organizations(DIALECT, today, org, 21)
        following = orgs[orgs.index(org) + 1 : orgs.index(org) + 21] or [org]
        out.setdefault("organizations (20 a page)", []).append(
            {
                "url": f"/organizations?limit=20&cursor={first}",
                "raw": [page, read_models.organization_memberships(DIALECT, following, today)],
            }
        )
        out.setdefault("organization .ics", []).append(
            {
                "url": f"/calendars/organizations/{org}.ics",
                "raw": [
                    read_models.calendar_items(
                        DIALECT, kinds=("milestone", "phase"), window=read_models.Window(),
                        org=org, day=today,
                    )
                ],
            }
        )  # fmt: skip
        stream_rows = read_models.Query(
            DIALECT, "SELECT body FROM events WHERE stream = ? ORDER BY version"
        )
        stream_rows.params = [streams[n]]
        out.setdefault("state", []).append(
            {"url": f"/partnerships/{streams[n]}", "raw": [stream_rows]}
        )
        out.setdefault("history", []).append(
            {"url": f"/partnerships/{streams[n]}/events", "raw": [stream_rows]}
        )
        since = synthetic.RECORDED + timedelta(hours=n % 12, minutes=7 * n % 60)
        until = since + timedelta(hours=1)
        window = {"since": _instant(since), "until": _instant(until)}
        out.setdefault("changes digest (1 h, 50)", []).append(
            {
                "url": "/changes?" + urllib.parse.urlencode(window | {"limit": "50"}),
                "raw": [_changed(since, until, None, today)],
            }
        )
        out.setdefault("changes digest ?party=", []).append(
            {
                "url": "/changes?" + urllib.parse.urlencode(window | {"party": org}),
                "raw": [_changed(since, until, org, today)],
            }
        )
        out.setdefault("knowledge diff", []).append(
            {
                "url": f"/partnerships/{streams[n]}/changes?"
                + urllib.parse.urlencode({"since": window["since"], "as_of": "2031-01-01"}),
                "raw": [stream_rows],
            }
        )
        after = rng.randrange(0, partnerships * 90)
        out.setdefault("feed ?type= (100)", []).append(
            {
                "url": f"/events?type=MilestoneAchieved&after={after}&limit=100",
                "raw": [
                    mapper.read_all(DIALECT, after=after, limit=100, types=["MilestoneAchieved"])
                ],
            }
        )
        out.setdefault("feed ?party= (100)", []).append(
            {
                "url": f"/events?party={org}&after={after}&limit=100",
                "raw": [mapper.read_all(DIALECT, after=after, limit=100, party=org)],
            }
        )
    return out


def _instant(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _changed(since: datetime, until: datetime, org: str | None, day: date) -> read_models.Query:
    """The digest's page query over the window's positions (found here, outside the timing:
    the app finds them with ~20 primary-key probes)."""
    connection = sqlite3.connect(DATA_DB[0])
    try:
        low, high = (_position_at(connection, at) for at in (since, until))
    finally:
        connection.close()
    return read_models.changed_streams(DIALECT, low, high, party=org, day=day, after=None, limit=51)


def _position_at(connection: sqlite3.Connection, at: datetime) -> int:
    row = connection.execute(
        "SELECT MAX(position) FROM events WHERE recorded_at <= ?", [DIALECT.instant(at)]
    ).fetchone()
    return int(row[0] or 0)


DATA_DB: list[Path] = []
"""The database being measured (the digest's raw query needs its positions to be built)."""


def raw_ms(db: Path, queries: list[read_models.Query]) -> tuple[float, int]:
    """The physical floor: a fresh sqlite3 connection running the same SQL, reading every row."""
    started = time.perf_counter()
    connection = sqlite3.connect(db)
    rows = 0
    for query in queries:
        rows += sum(1 for _ in connection.execute(query.sql, query.params))
    connection.close()
    return (time.perf_counter() - started) * 1000, rows


def run_size(
    partnerships: int, events: int, samples: int, data: Path, *, rebuild: bool = True
) -> dict[str, Any]:
    results: dict[str, Any] = {"partnerships": partnerships, "events": partnerships * events}
    registered = registered_organizations(partnerships)
    source = data / f"synthetic-{partnerships}x{events}-{registered}orgs.ndjson"
    db = data / f"timeline-{partnerships}x{events}-{registered}orgs.db"
    env = os.environ | {
        "TIMELINE_DATABASE_URL": f"sqlite:///{db}",
        "TIMELINE_CURATED_DIR": "",
        "TIMELINE_PUBLIC_URL": "http://bench.invalid",
    }
    if not db.exists():
        if not source.exists():  # in a child: a child's peak RSS starts from its parent's
            subprocess.run(
                [sys.executable, str(Path(__file__).with_name("synthetic.py")), str(source),
                 "--partnerships", str(partnerships), "--events", str(events),
                 "--organizations", str(registered)],
                check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
        seconds, rss, _ = measured([*TIMELINE, "import", str(source)], env)
        results["import"] = {
            "seconds": round(seconds, 1),
            "events_per_s": round(partnerships * events / seconds),
            "peak_rss_mb": round(rss),
        }
        emit(results["partnerships"], "import", results["import"])
    results["rebuild"] = {"events_per_s": "n/a", "peak_rss_mb": "n/a"}
    if rebuild:
        seconds, rss, _ = measured([*TIMELINE, "projections", "rebuild"], env)
        results["rebuild"] = {
            "seconds": round(seconds, 1),
            "events_per_s": round(partnerships * events / seconds),
            "peak_rss_mb": round(rss),
        }
        emit(partnerships, "projections rebuild", results["rebuild"])

    DATA_DB[:] = [db]
    targets = cases(partnerships, samples, random.Random(partnerships))
    reads = results.setdefault("reads", {})
    results["server_peak_rss_mb"] = single_reads(env, targets, reads, partnerships, db)
    if POSTGRES:
        postgres = postgres_env(POSTGRES[0], source, partnerships * events)
        single_reads(postgres, targets, reads, partnerships, None)
    server = Served(env)  # all.ics cold: nothing of it rendered or cached yet
    results["all.ics"] = stream_all(server)
    emit(partnerships, "all.ics", results["all.ics"])
    results["server_peak_rss_mb"] = max(
        results["server_peak_rss_mb"], round(memory_mb(server.process.pid, "VmHWM"))
    )
    server.stop()
    results["concurrent"] = loaded(env, db, source, partnerships, partnerships * events)
    return results


def single_reads(
    env: dict[str, str],
    targets: dict[str, list[dict[str, Any]]],
    reads: dict[str, dict[str, Any]],
    partnerships: int,
    db: Path | None,
) -> float:
    """Each kind of read one request at a time, right after a start (cold) and again (warm),
    into `reads`; with `db` (SQLite), beside the raw query of the same rows. The server's
    peak RSS (MB)."""
    backend = "PostgreSQL " if env["TIMELINE_DATABASE_URL"].startswith("postgres") else ""
    server = Served(env)
    for phase in ("cold", "warm"):
        for name, chosen in targets.items():
            times = []
            for target in chosen:
                try:
                    ms, _status, _ = get(server.base + target["url"])
                except urllib.error.HTTPError as error:  # an earlier version may lack the read
                    emit(partnerships, f"{name} {backend}{phase}", {"status": error.code})
                    break
                times.append(ms)
            row = reads.setdefault(name, {})
            shown = percentiles(times) if len(times) == len(chosen) else ("n/a", "n/a")
            row[backend + phase] = shown
            if phase == "cold" and db is not None:
                raws = [raw_ms(db, target["raw"]) for target in chosen]
                row["raw"] = percentiles([ms for ms, _ in raws])
                row["rows"] = round(statistics.mean(rows for _, rows in raws))
            emit(partnerships, f"{name} {backend}{phase}", {"p50_ms": shown[0], "p99_ms": shown[1]})
    peak = memory_mb(server.process.pid, "VmHWM")
    server.stop()
    return round(peak)


def loaded(
    env: dict[str, str], db: Path, source: Path, partnerships: int, total: int
) -> dict[str, Any]:
    """Each backend under load, beside its raw floor: SQLite, and PostgreSQL if asked."""
    figures = {"SQLite": under_load(env, partnerships)}
    figures["SQLite"]["raw"] = concurrency.raw_sqlite(db, partnerships)
    if POSTGRES:
        figures["PostgreSQL"] = on_postgres(POSTGRES[0], source, partnerships, total)
    return figures


POSTGRES: list[str] = []
"""`--postgres URL`: the same data imported there, measured beside SQLite."""


def under_load(env: dict[str, str], partnerships: int) -> dict[str, Any]:
    """`concurrency.http` against a fresh server: reads of random partnerships at c16, appends
    to random partnerships at c32 and one at a time."""
    _s, _rss, token = measured(
        [*TIMELINE, "tokens", "create", f"bench-{time.time_ns()}", "--scope", "append",
         "--scope", "read"], env,
    )  # fmt: skip
    server = Served(env)
    postgres = env["TIMELINE_DATABASE_URL"].startswith("postgres")
    cost = concurrency.spent_by(server.process.pid, postgres=postgres)
    try:
        figures = concurrency.http(
            server.base, token.strip(), partnerships, cost=cost,
            organizations=parties_of(partnerships) if registered_organizations(partnerships) else 0,
        )  # fmt: skip
    finally:
        server.stop()
    for name, row in figures.items():
        emit(partnerships, f"{name} ({env['TIMELINE_DATABASE_URL'].split(':')[0]})", row)
    return figures


def postgres_env(url: str, source: Path, total: int) -> dict[str, str]:
    """The server's environment on the PostgreSQL database at `url`, with `source` imported
    there unless it holds it already (`--data` keeps the SQLite side; this keeps the database)."""
    env = os.environ | {
        "TIMELINE_DATABASE_URL": url,
        "TIMELINE_CURATED_DIR": "",
        "TIMELINE_PUBLIC_URL": "http://bench.invalid",
    }
    held = subprocess.run(
        ["psql", url, "-Atc", "SELECT count(*) FROM events"],
        capture_output=True,
        text=True,
        check=False,
    )
    if held.returncode != 0 or int(held.stdout.strip() or 0) == 0:
        seconds, rss, _ = measured([*TIMELINE, "import", str(source)], env)
        emit(total // 100, "import (PostgreSQL)", {
            "seconds": round(seconds, 1), "events_per_s": round(total / seconds),
            "peak_rss_mb": round(rss),
        })  # fmt: skip
        subprocess.run(["psql", url, "-qc", "ANALYZE"], check=True)
    return env


def on_postgres(url: str, source: Path, partnerships: int, total: int) -> dict[str, Any]:
    """The PostgreSQL database at `url` under load, beside its raw floor."""
    figures = under_load(postgres_env(url, source, total), partnerships)
    figures["raw"] = concurrency.raw_postgres(url, partnerships)
    return figures


def stream_all(server: Served) -> dict[str, float]:
    """Time to first byte and to the end of `all.ics`, and the server's RSS growth meanwhile."""
    pid = server.process.pid
    before = memory_mb(pid)
    peak = [before]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], memory_mb(pid))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.perf_counter()
    size = 0
    with urllib.request.urlopen(server.base + "/calendars/all.ics", timeout=600) as response:  # noqa: S310
        first = response.read(1)
        ttfb = time.perf_counter() - started
        size = len(first)
        while chunk := response.read(1 << 16):
            size += len(chunk)
    total = time.perf_counter() - started
    done.set()
    watcher.join()
    return {
        "ttfb_s": round(ttfb, 3),
        "total_s": round(total, 1),
        "mb": round(size / 1e6, 1),
        "rss_growth_mb": round(peak[0] - before, 1),
    }


def emit(size: int, case: str, figures: dict[str, Any]) -> None:
    print(json.dumps({"partnerships": size, "case": case, **figures}), flush=True)


def table(all_results: list[dict[str, Any]]) -> None:
    """Reads side by side per size: ours cold and warm, raw sqlite3, and warm p50 / raw p50."""
    sizes = [f"{r['events']:,} events" for r in all_results]
    width = 17 * 3 + 8
    print()
    print(f"{'':28}" + "".join(f"{s:>{width}}" for s in sizes))
    header = f"{'cold':>17}{'warm':>17}{'raw sqlite3':>17}{'ratio':>8}"
    if POSTGRES:
        header += f"{'PostgreSQL cold':>17}{'PostgreSQL warm':>17}"
    print(f"{'read (p50 / p99 ms)':28}" + header * len(sizes))
    for name in all_results[0]["reads"]:
        line = f"{name:28}"
        for r in all_results:
            row = r["reads"][name]
            shown = (
                "cold",
                "warm",
                "raw",
                *(("PostgreSQL cold", "PostgreSQL warm") if POSTGRES else ()),
            )
            cells = {k: f"{row[k][0]} / {row[k][1]}" for k in shown}
            warm = row["warm"][0]
            ratio = f"{warm / max(row['raw'][0], 0.01):.1f}x" if warm != "n/a" else "n/a"
            line += f"{cells['cold']:>17}{cells['warm']:>17}{cells['raw']:>17}{ratio:>8}"
            line += "".join(f"{cells[k]:>17}" for k in shown[3:])
        print(line)
    for r in all_results:
        concurrent_table(r)
        cost_table(r)
    for label, pick in (
        ("all.ics first byte (s)", lambda r: r["all.ics"]["ttfb_s"]),
        ("all.ics whole (s)", lambda r: r["all.ics"]["total_s"]),
        ("all.ics size (MB)", lambda r: r["all.ics"]["mb"]),
        ("all.ics RSS growth (MB)", lambda r: r["all.ics"]["rss_growth_mb"]),
        ("server peak RSS (MB)", lambda r: r["server_peak_rss_mb"]),
        ("rebuild events/s", lambda r: r["rebuild"]["events_per_s"]),
        ("rebuild peak RSS (MB)", lambda r: r["rebuild"]["peak_rss_mb"]),
    ):
        print(f"{label:28}" + "".join(f"{pick(r):>{width}}" for r in all_results))


def cost_table(result: dict[str, Any]) -> None:
    """Per backend: CPU milliseconds a request took of the server (and of PostgreSQL)."""

    def cells(name: str, figures: dict[str, Any]) -> str:
        ours = figures[name]
        spent = [f"{ours[key]:.2f}" for key in ("server_cpu_ms", "database_cpu_ms") if key in ours]
        return f"{' / '.join(spent):>24}"

    _per_backend(result, "CPU ms a request took (server / database)", 24, None, cells)


def concurrent_table(result: dict[str, Any]) -> None:
    """Per backend: ours through HTTP under wrk, its raw floor, and the ratio of rates."""

    def cells(name: str, figures: dict[str, Any]) -> str:
        ours = figures[name]
        raw = figures["raw"]["reads" if name in concurrency.READS else "appends c32"]
        raw_cell = f"{raw['per_s']} ({raw['p50_ms']} / {raw['p99_ms']})"
        if name in concurrency.LOOKUPS:  # beside the list by id, not a raw floor
            by_id = figures["party id"]
            raw_cell = "vs by id"
            ratio = f"{ours['per_s'] / max(by_id['per_s'], 1):.2f}"
        elif name == "appends c1":
            raw_cell, ratio = "", ""
        else:
            ratio = f"{ours['per_s'] / max(raw['per_s'], 1):.2f}"
        cell = f"{ours['per_s']} ({ours['p50_ms']} / {ours['p99_ms']})"
        return f"{cell:>22}{raw_cell:>20}{ratio:>6}"

    heading = f"{'ours':>22}{'raw':>20}{'ratio':>6}"
    _per_backend(result, "under load (req/s, p50 / p99 ms)", 48, heading, cells)


def _per_backend(
    result: dict[str, Any],
    title: str,
    width: int,
    heading: str | None,
    cells: Callable[[str, dict[str, Any]], str],
) -> None:
    """A table of the concurrent figures: a row per kind of request, `cells` per backend."""
    backends = result.get("concurrent", {})
    if not backends:
        return
    print()
    print(f"{result['events']:,} events, {title}")
    print(f"{'':16}" + "".join(f"{name:>{width}}" for name in backends))
    if heading is not None:
        print(f"{'':16}" + heading * len(backends))
    for name in (*concurrency.READS, *concurrency.LOOKUPS, "appends c32", "appends c1"):
        if all(name in figures for figures in backends.values()):
            print(f"{name:16}" + "".join(cells(name, figures) for figures in backends.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partnerships", default="10000", help="comma-separated sizes")
    parser.add_argument("--events", type=int, default=100, help="events per partnership")
    parser.add_argument("--samples", type=int, default=40, help="targets per kind of read")
    parser.add_argument("--data", type=Path, help="folder kept between runs (default: temporary)")
    parser.add_argument(
        "--timeline",
        help="the command to measure instead of this checkout's, e.g. 'env "
        "PYTHONPATH=/tmp/before .venv/bin/python -P -m timeline' for an earlier version (-P: the"
        " current folder, this checkout, would come before PYTHONPATH)",
    )
    parser.add_argument(
        "--no-rebuild", action="store_true", help="skip `projections rebuild` (before it existed)"
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="also import the data into this PostgreSQL database (kept between runs) and time"
        " it under load beside SQLite, each beside its raw floor (asyncpg, the same SQL)",
    )
    parser.add_argument(
        "--organizations",
        type=int,
        help="organizations registered (default: a fifth of the partnerships; 0 to measure "
        "code from before organizations, which cannot import them)",
    )
    args = parser.parse_args()
    if args.organizations is not None:
        ORGANIZATIONS[:] = [args.organizations]
    if args.postgres:
        POSTGRES[:] = [args.postgres]
    if args.timeline:
        TIMELINE[:] = shlex.split(args.timeline)
    with tempfile.TemporaryDirectory() as scratch:
        data = args.data or Path(scratch)
        data.mkdir(parents=True, exist_ok=True)
        sizes = [int(s) for s in args.partnerships.split(",")]
        rebuild = not args.no_rebuild
        table([run_size(s, args.events, args.samples, data, rebuild=rebuild) for s in sizes])


if __name__ == "__main__":
    main()
