"""Instructions an operation costs, counted by valgrind's callgrind: the same for the same code
and data whatever else the machine does, so two versions compare to a fraction of a percent
where requests a second on this machine drift by 1.5x within a day.

    .venv/bin/python bench/instructions.py STORE.db [--before WORKTREE] [--count 200]

STORE.db is a SQLite store of `synthetic.py`'s data (`timeline import`); it is only read (the
appends go to a copy beside it). With `--before` (a `git worktree` of another commit) each
operation is counted for both trees and the ratio printed. Operations, without HTTP:

- diff: the knowledge diff of a random partnership since 2025-01-01T02:00Z and its answer's
  bytes (`GET /partnerships/{id}/changes?since=`);
- replay: the read models of a whole stream, from its events (an import's second stage, a
  rebuild);
- append: one statement appended to a random partnership not kept in memory, twelve at a time
  (the writer, from the snapshot, without HTTP);
- http-state: a random partnership's state on a date (`GET /partnerships/{id}?as_of=`);
- http-diff, http-append: the same through the app's ASGI handler (edge, routing, token,
  answer, access lines), as `bench/random_partnership.lua` and `random_append.lua` ask; no
  server and no client, whose costs granian and wrk bear.

Each is counted for `--count` operations and for none; the difference, divided, is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OPERATIONS = ("diff", "replay", "append", "http-state", "http-diff", "http-append")
GROUP = 12
"""Appends decided together, about what 32 concurrent HTTP writers make."""


def count(tree: Path, store: Path, operation: str, n: int) -> int:
    """Instructions of this script running `operation` `n` times on `tree`'s code."""
    with tempfile.TemporaryDirectory() as folder:
        target = store
        if operation.endswith("append") or operation.startswith("http"):  # written: a copy
            target = Path(folder) / "store.db"
            shutil.copyfile(store, target)
        done = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--callgrind-out-file=/dev/null",
                sys.executable,
                str(Path(__file__).resolve()),
                str(target),
                "--run",
                operation,
                "--count",
                str(n),
            ],
            cwd=folder,  # not the checkout: the current folder would come before PYTHONPATH
            env={**os.environ, "PYTHONPATH": str(tree)},
            capture_output=True,
            text=True,
            check=True,
        )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"valgrind said no count:\n{done.stderr[-2000:]}")
    return int(found[1])


def per_operation(tree: Path, store: Path, operation: str, n: int) -> float:
    return (count(tree, store, operation, n) - count(tree, store, operation, 0)) / n


# --- what runs under valgrind ------------------------------------------------------------


def _streams(n: int) -> list[str]:
    return [f"p{i:05d}" for i in random.Random(4).sample(range(10_000), n)]


async def _diffs(url: str, n: int) -> None:
    from timeline.api.bodies import with_diff  # noqa: PLC0415 - the tree under count
    from timeline.projection import NotKnownError, Projector, knowledge_diff  # noqa: PLC0415
    from timeline.store import open_store  # noqa: PLC0415

    store = await open_store(url)
    since = datetime(2025, 1, 1, 2, tzinfo=UTC)
    projector = Projector(store)
    for stream in _streams(n):
        try:
            found = await knowledge_diff(
                projector, stream, since=since, until=None, as_of=date(2026, 12, 6)
            )
        except NotKnownError:
            continue
        with_diff(found, found.changes[:100], None)
    await store.close()


async def _replays(url: str, n: int) -> None:
    from timeline import collector  # noqa: PLC0415
    from timeline.readside.readmodels import replay  # noqa: PLC0415
    from timeline.store import open_store  # noqa: PLC0415

    store = await open_store(url)
    with collector.paused():  # as an import's and a rebuild's workers replay
        for stream in _streams(n):
            events = [stored async for stored in store.read_stream(stream)]
            replay(stream, events)
    await store.close()


async def _appends(url: str, n: int) -> None:
    from timeline.dates import PartialDate  # noqa: PLC0415
    from timeline.events import Source, Statement, StatementMade  # noqa: PLC0415
    from timeline.fold import DomainError  # noqa: PLC0415
    from timeline.store import open_store  # noqa: PLC0415

    store = await open_store(url)
    rng = random.Random(11)
    source = (Source(title="Synthetic wire report", language="en", publisher="Bench News"),)

    async def one(number: int) -> None:
        event = StatementMade(
            id=uuid.UUID(int=rng.getrandbits(128)),
            effective=PartialDate.of(date(2026, 12, 6)),
            sources=source,
            data=Statement(speaker=f"writer {number}", text="a statement", language="en"),
        )
        with contextlib.suppress(DomainError):  # one in ten synthetic partnerships has ended
            await store.append(f"p{rng.randrange(10_000):05d}", [event], actor="bench")

    for group in range(n // GROUP):
        await asyncio.gather(*(one(group * GROUP + k) for k in range(GROUP)))
    await store.close()


async def _served(url: str, n: int, request: Callable[[int, str], tuple[str, str, bytes]]) -> None:
    """`n` requests through the app's ASGI handler, twelve at a time; `request(i, token)`
    gives each one's method, path and body."""
    from timeline import logs  # noqa: PLC0415
    from timeline.api.app import create_app  # noqa: PLC0415
    from timeline.settings import Settings  # noqa: PLC0415
    from timeline.store import open_store, token_registry  # noqa: PLC0415

    store = await open_store(url)
    token = await token_registry(store).create_token(f"bench-{uuid.uuid4()}", ("append", "read"))
    await store.close()
    settings = Settings.from_env({"TIMELINE_DATABASE_URL": url, "TIMELINE_CURATED_DIR": ""})
    logs.configure(settings.log_level)  # as a served app: access lines by the writer thread
    app = create_app(settings)

    async def one(number: int) -> None:
        method, path, body = request(number, token)
        target, _, query = path.partition("?")
        headers = [(b"host", b"127.0.0.1:8000"), (b"authorization", f"Bearer {token}".encode())]
        if body:
            headers += [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
            ]
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "scheme": "http", "path": target, "raw_path": target.encode(), "root_path": "",
            "query_string": query.encode(), "headers": headers, "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000), "state": {},
        }  # fmt: skip
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.Event().wait()  # a client that stays connected
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(_message: dict[str, Any]) -> None:
            return None

        await app(scope, receive, send)  # type: ignore[arg-type]

    lifespan: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    started = asyncio.Event()

    async def said(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()

    await lifespan.put({"type": "lifespan.startup"})
    running = asyncio.create_task(app({"type": "lifespan"}, lifespan.get, said))  # type: ignore[arg-type]
    await started.wait()  # on this loop, as granian runs it: the writer's task with the requests
    for group in range(n // GROUP):
        await asyncio.gather(*(one(group * GROUP + k) for k in range(GROUP)))
    await lifespan.put({"type": "lifespan.shutdown"})
    await running


async def _http_diffs(url: str, n: int) -> None:
    streams = _streams(max(n, 1))

    def request(number: int, _token: str) -> tuple[str, str, bytes]:
        return "GET", f"/partnerships/{streams[number]}/changes?since=2025-01-01T02:00:00Z", b""

    await _served(url, n, request)


async def _http_states(url: str, n: int) -> None:
    streams = _streams(max(n, 1))

    def request(number: int, _token: str) -> tuple[str, str, bytes]:
        return "GET", f"/partnerships/{streams[number]}?as_of=2024-06-01", b""

    await _served(url, n, request)


async def _http_appends(url: str, n: int) -> None:
    rng = random.Random(11)

    def request(number: int, _token: str) -> tuple[str, str, bytes]:
        body = (
            '{"events":[{"type":"StatementMade","effective":"2026-12-06","data":'
            f'{{"speaker":"writer {number}","text":"a statement","language":"en"}}}}]}}'
        )
        return "POST", f"/partnerships/p{rng.randrange(10_000):05d}/events", body.encode()

    await _served(url, n, request)


RUN: dict[str, Callable[[str, int], Coroutine[Any, Any, None]]] = {
    "diff": _diffs,
    "replay": _replays,
    "append": _appends,
    "http-state": _http_states,
    "http-diff": _http_diffs,
    "http-append": _http_appends,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store", type=Path)
    parser.add_argument("--before", type=Path, help="a worktree of the code to compare with")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--only", choices=OPERATIONS, action="append")
    parser.add_argument("--run", choices=OPERATIONS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run is not None:  # under valgrind
        asyncio.run(RUN[args.run](f"sqlite:///{args.store.resolve()}", args.count))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is needed (apt-get install valgrind)")
    store = args.store.resolve()
    print(f"{'instructions per operation':28}{'this tree':>14}", end="")
    print(f"{'before':>14}{'ratio':>8}" if args.before else "")
    for operation in args.only or OPERATIONS:
        ours = per_operation(ROOT, store, operation, args.count)
        line = f"{operation:28}{ours:>14,.0f}"
        if args.before is not None:
            theirs = per_operation(args.before.resolve(), store, operation, args.count)
            line += f"{theirs:>14,.0f}{ours / theirs:>8.3f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
