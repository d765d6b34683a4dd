"""HTTP throughput of the API next to a bare litestar endpoint, both under granian, in one run.

Run:  .venv/bin/python bench/endpoints.py [--seconds 5] [--connections 64]
Needs `wrk` (Debian package `wrk`). Prints one JSON line per case, then a table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = "/partnerships/vodafone-microsoft?as_of=2024-02-01"

APPEND_LUA = """
counter = 0
request = function()
  counter = counter + 1
  local body = '{"events":[{"type":"PartnershipAnnounced","effective":"2024","data":' ..
    '{"title":"Bench","kind":"test","parties":[{"org":"a","name":"A"},{"org":"b","name":"B"}]}}]}'
  return wrk.format("POST", "/partnerships/bench-" .. id .. "-" .. counter .. "/events", nil, body)
end
threads = 0
setup = function(thread)  -- each thread its own streams (threads share math.random's seed)
  threads = threads + 1
  thread:set("id", os.time() .. "-" .. threads)
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_up(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def wrk(url: str, seconds: int, connections: int, *extra: str) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", *extra, url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}

    def percentile(name: str) -> float:
        found = re.search(name + r"%\s+([\d.]+)(us|ms|s)", out)
        return round(float(found[1]) * scale[found[2]], 3) if found else -1.0

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests_per_s": round(rate),
        "p50_ms": percentile("50"),
        "p99_ms": percentile("99"),
        "non_2xx_3xx": int(errors[1]) if errors else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench/endpoints.py needs wrk: apt-get install wrk")
    folder = Path(tempfile.mkdtemp())
    bare_port, api_port = free_port(), free_port()
    env = {**os.environ, "TIMELINE_DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
           "PYTHONPATH": str(ROOT / "bench")}  # fmt: skip
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
        # stdout is a pipe, so `serve` wrote the first token to a file beside the database
        token = (folder / "first-token.txt").read_text().strip()
        with urllib.request.urlopen(f"{api}{STATE}") as response:  # noqa: S310
            etag = response.headers["ETag"]
        script = folder / "append.lua"
        script.write_text(APPEND_LUA)
        s, c = args.seconds, args.connections
        cases = [
            ("bare litestar GET /ping (reference)", f"{bare}/ping", ()),
            ("GET /health", f"{api}/health", ()),
            ("GET state (replayed)", f"{api}{STATE}", ()),
            ("GET state, If-None-Match -> 304", f"{api}{STATE}", ("-H", f"If-None-Match: {etag}")),
            ("GET state, Accept-Encoding: gzip, deflate, br (replayed as gzip)", f"{api}{STATE}",
             ("-H", "Accept-Encoding: gzip, deflate, br")),
            ("GET state, Accept-Encoding: br alone (made each time)", f"{api}{STATE}",
             ("-H", "Accept-Encoding: br")),
            ("GET history (13 events)", f"{api}/partnerships/vodafone-microsoft/events", ()),
            ("POST append (new stream each)", api,
             ("-s", str(script), "-H", f"Authorization: Bearer {token}",
              "-H", "Content-Type: application/json")),
        ]  # fmt: skip
        rows = []
        for name, url, extra in cases:
            result = {"case": name, **wrk(url, s, c, *extra)}
            rows.append(result)
            print(json.dumps(result), flush=True)
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
    width = max(len(r["case"]) for r in rows)
    bare_rate = rows[0]["requests_per_s"]
    print(f"\n{'case':<{width}}   req/s  of bare  p50 ms  p99 ms  non-2xx/3xx", file=sys.stderr)
    for r in rows:
        share = f"{r['requests_per_s'] / bare_rate:.0%}"
        print(f"{r['case']:<{width}}  {r['requests_per_s']:>6}  {share:>7}  {r['p50_ms']:>6}  "
              f"{r['p99_ms']:>6}  {r['non_2xx_3xx']:>6}", file=sys.stderr)  # fmt: skip


if __name__ == "__main__":
    main()
