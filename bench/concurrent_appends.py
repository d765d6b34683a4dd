"""Appends through HTTP from many writers at once, each to a random existing partnership of
`bench/synthetic.py`'s store (p00000…), against a running `timeline serve`; then the same
one at a time. Prints appends/s and latency for each.

    .venv/bin/python bench/concurrent_appends.py http://127.0.0.1:8011 TOKEN \\
        [--writers 32] [--seconds 10] [--partnerships 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from datetime import UTC, datetime

import httpx


def _event(n: int) -> dict[str, object]:
    return {
        "type": "StatementMade",
        "effective": datetime.now(UTC).date().isoformat(),
        "data": {"speaker": f"writer {n}", "text": "a benchmark statement", "language": "en"},
    }


async def _writer(
    client: httpx.AsyncClient, token: str, partnerships: int, until: float, took: list[float]
) -> int:
    refused = 0
    rng = random.Random()
    while time.perf_counter() < until:
        stream = f"p{rng.randrange(partnerships):05d}"
        started = time.perf_counter()
        answer = await client.post(
            f"/partnerships/{stream}/events",
            json={"events": [_event(len(took))]},
            headers={"Authorization": f"Bearer {token}"},
        )
        if answer.status_code == 201:
            took.append(time.perf_counter() - started)
        else:
            refused += 1
    return refused


async def _run(base: str, token: str, writers: int, seconds: float, partnerships: int) -> None:
    limits = httpx.Limits(max_connections=writers, max_keepalive_connections=writers)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        for count in (writers, 1):
            took: list[float] = []
            until = time.perf_counter() + seconds
            refused = await asyncio.gather(
                *(_writer(client, token, partnerships, until, took) for _ in range(count))
            )
            ms = sorted(t * 1000 for t in took)
            p99 = ms[int(len(ms) * 0.99) - 1] if ms else 0.0
            print(
                f"{count:>3} writer(s): {len(ms) / seconds:8.1f} appends/s, "
                f"p50 {statistics.median(ms) if ms else 0:.1f} ms, p99 {p99:.1f} ms, "
                f"{sum(refused)} refused"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base")
    parser.add_argument("token")
    parser.add_argument("--writers", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--partnerships", type=int, default=10_000)
    args = parser.parse_args()
    asyncio.run(_run(args.base, args.token, args.writers, args.seconds, args.partnerships))


if __name__ == "__main__":
    main()
