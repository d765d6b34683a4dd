"""Webhook deliveries under load: 100 subscriptions, each watching its own partnership, and a
steady rate of appends to random ones, through a real `timeline serve`; how long from an
event's commit to its first delivery attempt, and what a slow receiver costs the others.

One subscription's receiver takes `--slow` seconds to answer each delivery; the others answer
at once. The reference is the same POST sent straight to the same receiver (no store, no
queue): the floor of a delivery on this machine.

    .venv/bin/python bench/webhooks.py [--subscriptions 100] [--rate 200] [--seconds 10]
        [--slow 2] [--postgres URL]     (URL: an empty database; SQLite goes to a temp file)

With `--postgres`, PostgreSQL runs once with one replica and once with two: appends go to
each in turn, and either may deliver (each due delivery is claimed by one at a time).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Receiver:
    """Loopback receivers: when each `webhook-id` first arrived, per path; `/slow` answers late."""

    def __init__(self, slow: float) -> None:
        self.slow = slow
        self.first: dict[str, float] = {}
        self.count: dict[str, int] = {}
        self.arrivals = 0
        self.slow_arrivals = 0
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {
                    k.lower(): v.strip()
                    for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                await reader.readexactly(int(headers.get("content-length", "0")))
                now = time.time()
                self.arrivals += 1
                if path == "/slow":
                    self.slow_arrivals += 1
                    await asyncio.sleep(self.slow)
                else:
                    self.first.setdefault(headers["webhook-id"], now)
                    self.count[headers["webhook-id"]] = self.count.get(headers["webhook-id"], 0) + 1
                writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the sender hung up, or the run ended while the slow receiver waited
        finally:
            writer.close()


def serve(database_url: str, folder: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TIMELINE_DATABASE_URL": database_url,
        "TIMELINE_CURATED_DIR": "",
        "TIMELINE_PORT": str(port),
        "TIMELINE_LOG_LEVEL": "warning",
        "TIMELINE_WEBHOOK_ALLOW_PRIVATE": "true",
        "TIMELINE_TOKEN_FILE": str(folder / "token.txt"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "timeline", "serve"],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(folder / "serve.log").open("wb"),
    )


def token(database_url: str, name: str, scope: str, folder: Path) -> str:
    env = {**os.environ, "TIMELINE_DATABASE_URL": database_url, "TIMELINE_CURATED_DIR": ""}
    command = [sys.executable, "-m", "timeline", "tokens", "create", name, "--scope", scope]
    return subprocess.run(
        command, cwd=folder, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def announcement(n: int) -> dict[str, Any]:
    return {
        "type": "PartnershipAnnounced",
        "effective": "2024-01-01",
        "data": {
            "title": f"Bench partnership {n}",
            "kind": "strategic",
            "parties": [{"org": "a", "name": "A"}, {"org": "b", "name": "B"}],
        },
        "sources": [{"title": "Bench", "language": "en"}],
    }


def statement(n: int) -> dict[str, Any]:
    return {
        "type": "StatementMade",
        "effective": "2024-02-01",
        "data": {"speaker": "bench", "text": f"statement {n}", "language": "en"},
        "sources": [{"title": "Bench", "language": "en"}],
    }


def ms(samples: list[float]) -> str:
    if not samples:
        return "none"
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered) * 1000:.1f} / {p99 * 1000:.1f}"


async def run(
    args: argparse.Namespace, database_url: str, folder: Path, replicas: int
) -> dict[str, Any]:
    receiver = Receiver(args.slow)
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    receiver.port = server.sockets[0].getsockname()[1]
    hooks = token(database_url, f"bench-hooks-{replicas}", "subscribe", folder)
    writer = token(database_url, f"bench-writer-{replicas}", "append", folder)
    ports = [free_port() for _ in range(replicas)]
    processes = [serve(database_url, folder, port) for port in ports]
    clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{p}", timeout=30) for p in ports]
    try:
        for client in clients:
            await _healthy(client)
        auth = {"Authorization": f"Bearer {writer}"}
        prefix = f"bench{replicas}"
        streams = await _subscribe(clients[0], args, auth, hooks, port=receiver.port, prefix=prefix)
        committed, slow_stream, appended_s = await _load(clients, args, auth, streams)
        deadline = time.perf_counter() + 30
        while time.perf_counter() < deadline and not set(committed) <= set(receiver.first):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        latencies = [receiver.first[i] - t for i, t in committed.items() if i in receiver.first]
        missing = len(set(committed) - set(receiver.first))
        twice = sum(receiver.count[i] - 1 for i in committed if i in receiver.count)
        floor = await _floor(receiver)
    finally:
        for client in clients:
            await client.aclose()
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
        server.close()
    return {
        "replicas": replicas,
        "appends_per_s": round(args.rate * args.seconds / appended_s),
        "deliveries": len(latencies),
        "missing": missing,
        "delivered_twice": twice,
        "commit_to_first_attempt_ms": ms(latencies),
        "floor_ms": ms(floor),
        "slow_receiver_got": receiver.slow_arrivals,
        "slow_stream_events": len(slow_stream),
    }


async def _healthy(client: httpx.AsyncClient) -> None:
    for _ in range(300):
        try:
            if (await client.get("/health")).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit(f"{client.base_url} did not become healthy")


async def _subscribe(
    client: httpx.AsyncClient, args: argparse.Namespace, auth: dict[str, str], hooks: str,
    *, port: int, prefix: str,
) -> list[str]:  # fmt: skip
    """A partnership per subscription; the first one's receiver is the slow one."""
    streams = [f"{prefix}-{n:03d}" for n in range(args.subscriptions)]
    for n, stream in enumerate(streams):
        body = {"events": [announcement(n)]}
        answer = await client.post(f"/partnerships/{stream}/events", json=body, headers=auth)
        answer.raise_for_status()
    for n, stream in enumerate(streams):
        path = "slow" if n == 0 else "hook"
        made = await client.post(
            "/subscriptions",
            json={"url": f"http://127.0.0.1:{port}/{path}", "stream": stream},
            headers={"Authorization": f"Bearer {hooks}"},
        )
        made.raise_for_status()
    return streams


async def _load(
    clients: list[httpx.AsyncClient],
    args: argparse.Namespace,
    auth: dict[str, str],
    streams: list[str],
) -> tuple[dict[str, float], list[str], float]:
    """`args.rate` appends a second, each to the next partnership, through each replica in
    turn: (event id -> its commit instant) of the fast receivers' events, the slow one's
    event ids, and the seconds taken."""
    committed: dict[str, float] = {}
    slow_stream: list[str] = []

    async def append(n: int) -> None:
        stream = streams[n % len(streams)]
        body = {"events": [statement(n)]}
        client = clients[n % len(clients)]
        answer = await client.post(f"/partnerships/{stream}/events", json=body, headers=auth)
        if answer.status_code != 201:
            return
        event = answer.json()["events"][0]
        if stream == streams[0]:
            slow_stream.append(event["id"])
        else:
            committed[event["id"]] = datetime.fromisoformat(event["recorded_at"]).timestamp()

    started = time.perf_counter()
    tasks = []
    for n in range(args.rate * args.seconds):
        await asyncio.sleep(max(0.0, started + n / args.rate - time.perf_counter()))
        tasks.append(asyncio.create_task(append(n)))
    await asyncio.gather(*tasks)
    return committed, slow_stream, time.perf_counter() - started


async def _floor(receiver: Receiver) -> list[float]:
    """The same kind of POST sent straight to the receiver, one at a time."""
    floor = []
    async with httpx.AsyncClient(timeout=10) as direct:
        body = json.dumps({"specversion": "1.0", "data": statement(0)}).encode()
        for n in range(200):
            sent = time.time()
            await direct.post(
                f"http://127.0.0.1:{receiver.port}/hook",
                content=body,
                headers={"webhook-id": f"floor-{n}", "content-type": "application/json"},
            )
            floor.append(receiver.first[f"floor-{n}"] - sent)
    return floor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscriptions", type=int, default=100)
    parser.add_argument("--rate", type=int, default=200, help="appends a second")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--slow", type=float, default=2.0, help="seconds the slow receiver takes")
    parser.add_argument("--postgres", help="an empty PostgreSQL database URL")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        runs = [(f"sqlite:///{Path(folder) / 'hooks.db'}", 1)]
        if args.postgres:
            runs += [(args.postgres, 1), (args.postgres, 2)]
        for url, replicas in runs:
            result = asyncio.run(run(args, url, Path(folder), replicas))
            result["backend"] = url.split(":", 1)[0]
            print(json.dumps(result))
            results.append(result)
    print(
        f"\n{args.subscriptions} subscriptions (one per partnership), {args.rate} appends/s for"
        f" {args.seconds} s; one receiver answers in {args.slow} s; ms p50 / p99"
    )
    print(
        "| backend | replicas | appends/s | commit to first attempt | floor: a POST straight"
        " to the receiver | delivered (twice) | slow receiver: tried / owed |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['backend']} | {r['replicas']} | {r['appends_per_s']} |"
            f" {r['commit_to_first_attempt_ms']} | {r['floor_ms']} |"
            f" {r['deliveries']} ({r['delivered_twice']}; missing {r['missing']}) |"
            f" {r['slow_receiver_got']} / {r['slow_stream_events']} |"
        )


if __name__ == "__main__":
    main()
