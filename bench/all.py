"""Every figure the benchmarks give, beside its reference, in one run and one table.

Each part runs in a process of its own, one after the other (the machine has two cores):
  - the peer, the `eventsourcing` library (`peer.py`), in an environment of its own made
    on first use (bench/.peer; no dependency of ours);
  - one long stream (`long_stream.py`): an append, and a cold state read from the store;
  - decoding stored events (`decode.py`), beside msgspec into a plain Struct;
  - `timeline import` of synthetic partnerships (`synthetic.py`), beside raw sqlite3
    `executemany` of the same lines into an event-shaped table;
  - HTTP (`endpoints.py`, needs wrk), beside bare litestar under the same server.
Each part's JSON lines are printed as they come; the table follows.

Run:  .venv/bin/python bench/all.py [--partnerships 1000] [--seconds 5]
      (--partnerships 10000 imports 1,000,000 events, as our users hold)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path
from typing import Any

import msgspec
from scale import TIMELINE, measured

BENCH = Path(__file__).resolve().parent
PEER = BENCH / ".peer"
PEER_REQUIREMENT = "eventsourcing==9.5.6"

Results = dict[str, dict[str, Any]]


def run(command: list[str], **options: Any) -> list[dict[str, Any]]:  # noqa: ANN401
    """The JSON lines a benchmark prints on stdout (its table, on stderr or after, is left)."""
    print(f"$ {' '.join(command)}", file=sys.stderr, flush=True)
    out = subprocess.run(command, check=True, capture_output=True, text=True, **options).stdout
    found = []
    for line in out.splitlines():
        if line.startswith("{"):
            print(line, flush=True)
            found.append(json.loads(line))
    return found


def by_case(lines: list[dict[str, Any]]) -> Results:
    return {line["case"]: line for line in lines}


def peer_python() -> str:
    python = PEER / "bin" / "python"
    if not python.exists():
        print(f"making {PEER} with {PEER_REQUIREMENT}", file=sys.stderr, flush=True)
        venv.create(PEER, with_pip=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", PEER_REQUIREMENT], check=True)
    return str(python)


def imports(partnerships: int, folder: Path) -> Results:
    """`timeline import` of synthetic partnerships, beside raw sqlite3 inserting the same lines."""
    source = folder / "synthetic.ndjson"
    subprocess.run(
        [sys.executable, str(BENCH / "synthetic.py"), str(source),
         "--partnerships", str(partnerships), "--events", "100"],
        check=True, capture_output=True,
    )  # fmt: skip
    env = {
        "TIMELINE_DATABASE_URL": f"sqlite:///{folder / 'import.db'}",
        "TIMELINE_CURATED_DIR": "",  # the synthetic history only, recorded in its own order
        "PATH": "/usr/bin:/bin",
    }
    # before this process reads the lines: a child forked from a large parent counts the
    # parent's pages in its peak RSS until it execs
    seconds, rss, _ = measured([*TIMELINE, "import", str(source)], env)
    lines = source.read_bytes().splitlines()
    ours = {"events_per_s": round(len(lines) / seconds), "peak_rss_mb": round(rss)}
    env["TIMELINE_DATABASE_URL"] = f"sqlite:///{folder / 'import-run-by-run.db'}"
    seconds, rss, _ = measured([*TIMELINE, "import", "--run-by-run", str(source)], env)
    by_run = {"events_per_s": round(len(lines) / seconds), "peak_rss_mb": round(rss)}
    started = time.perf_counter()
    conn = sqlite3.connect(folder / "raw.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute(
        "CREATE TABLE events (position INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
        " stream TEXT NOT NULL, version INTEGER NOT NULL, type TEXT NOT NULL, body BLOB NOT NULL,"
        " UNIQUE (stream, version))"
    )
    decode = msgspec.json.Decoder().decode
    conn.execute("BEGIN")
    rows = []
    for line in lines:
        event = decode(line)
        rows.append((event["id"], event["stream"], event["version"], event["type"], line))
        if len(rows) == 10_000:
            conn.executemany("INSERT INTO events VALUES (NULL, ?, ?, ?, ?, ?)", rows)
            rows.clear()
    conn.executemany("INSERT INTO events VALUES (NULL, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    conn.close()
    raw = {"events_per_s": round(len(lines) / (time.perf_counter() - started))}
    results = {
        f"import {len(lines):,} events (ours, staged)": ours,
        f"import {len(lines):,} events (ours, --run-by-run)": by_run,
        "raw sqlite3 executemany of the same lines": raw,
    }
    for case, figures in results.items():
        print(json.dumps({"case": case, **figures}), flush=True)
    return results


def table(rows: list[tuple[str, str, str, str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for n, row in enumerate(rows):
        print("  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
                        for i, cell in enumerate(row)))  # fmt: skip
        if n == 0:
            print("  ".join("-" * w for w in widths))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partnerships", type=int, default=1000, help="imported, x 100 events")
    parser.add_argument("--seconds", type=int, default=5, help="per HTTP case")
    parser.add_argument("--stream", type=int, default=10_000, help="events in the long stream")
    args = parser.parse_args()
    python = sys.executable
    peer = by_case(run([peer_python(), str(BENCH / "peer.py"), "--aggregate", str(args.stream)]))
    long = by_case(
        run([python, str(BENCH / "long_stream.py"), "--events", str(args.stream),
             "--appends", "100"])
    )  # fmt: skip
    decoding = by_case(run([python, str(BENCH / "decode.py"), "--events", "100000"]))
    with tempfile.TemporaryDirectory() as scratch:
        imported = imports(args.partnerships, Path(scratch))
    http: Results = {}
    if shutil.which("wrk"):
        http = by_case(run([python, str(BENCH / "endpoints.py"), "--seconds", str(args.seconds)]))
    else:
        print("no wrk (apt-get install wrk): HTTP figures left out", file=sys.stderr)

    rows = [("what", "ours", "reference", "ours / reference")]

    def ratio(ours: float, reference: float) -> str:
        return f"{ours / reference:.2f}x" if reference else "n/a"

    saves = peer["eventsourcing: save one event per call"]["events_per_s"]
    rebuilt = peer[f"eventsourcing: rebuild one aggregate of {args.stream} events"]
    cold = long["cold state of the stream"]
    rows.append((
        f"cold state of a {args.stream:,}-event stream (events/s) | eventsourcing rebuild",
        f"{cold['events_per_s']:,}", f"{rebuilt['events_per_s']:,}",
        ratio(cold["events_per_s"], rebuilt["events_per_s"]),
    ))  # fmt: skip
    every = long["cold state folded from every event"]
    rows.append((
        f"cold state of a {args.stream:,}-event stream (ms) | folding every event",
        f"{cold['ms']}", f"{every['ms']}", ratio(cold["ms"], every["ms"]),
    ))  # fmt: skip
    first = long["first append after a restart"]
    rows.append((
        f"first append to a {args.stream:,}-event stream after a restart (ms) | full check",
        f"{first['ms']}", f"{long['full check of the stream']['p50_ms']}",
        ratio(first["ms"], long["full check of the stream"]["p50_ms"]),
    ))  # fmt: skip
    append, check = long["append (ours)"], long["full check of the stream"]
    rows.append((
        f"one append to a {args.stream:,}-event stream (ms p50) | full check of the stream",
        f"{append['p50_ms']}", f"{check['p50_ms']}", ratio(append["p50_ms"], check["p50_ms"]),
    ))  # fmt: skip
    plain = decoding["plain Struct (msgspec, no hooks)"]["events_per_s"]
    for case, line in decoding.items():
        if case != "plain Struct (msgspec, no hooks)":
            rows.append((f"decode: {case} (events/s) | plain Struct",
                         f"{line['events_per_s']:,}", f"{plain:,}",
                         ratio(line["events_per_s"], plain)))  # fmt: skip
    *ours_cases, (_, raw) = imported.items()
    for ours_case, ours in ours_cases:
        rows.append((
            f"{ours_case} (events/s; peak {ours['peak_rss_mb']} MB) | raw sqlite3",
            f"{ours['events_per_s']:,}", f"{raw['events_per_s']:,}",
            ratio(ours["events_per_s"], raw["events_per_s"]),
        ))  # fmt: skip
    if http:
        bare = http.pop("bare litestar GET /ping (reference)")
        for case, line in http.items():
            reference, against = bare["requests_per_s"], "bare litestar"
            if case.startswith("POST append"):
                reference, against = saves, "eventsourcing saves/s"
            rows.append((
                f"HTTP {case} (req/s; p99 {line['p99_ms']} ms) | {against}",
                f"{line['requests_per_s']:,}", f"{reference:,}",
                ratio(line["requests_per_s"], reference),
            ))  # fmt: skip
    print()
    table(rows)


if __name__ == "__main__":
    main()
