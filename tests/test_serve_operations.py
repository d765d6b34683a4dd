"""`timeline serve` as an operator meets it: a taken port, slow clients, a full disk."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_helpers import Server, free_port, request

DRIPPERS = 1100
"""More connections than granian's default backlog (1024) and a default open-files limit."""


def test_a_second_server_on_a_taken_port_refuses_to_start(tmp_path: Path) -> None:
    """No silent port sharing: the second `serve` exits 1 and names the port."""
    port = free_port()
    first = Server(tmp_path, port)
    try:
        first.read_banner()
        first.wait_healthy()
        second = subprocess.run(
            [sys.executable, "-m", "timeline", "serve", "--port", str(port)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 1
        assert f"cannot listen on 127.0.0.1:{port}" in second.stderr
        assert "Traceback" not in second.stderr
        assert request(f"{first.base}/health")[0] == 200
    finally:
        assert first.stop() == 0
    lines = (tmp_path / f"server-{port}.log").read_text().splitlines()
    assert lines
    for line in lines:  # every line the server wrote is JSON with a timestamp
        assert json.loads(line)["time"].endswith("+00:00"), line


async def _drip(port: int, stop: asyncio.Event) -> str:
    """Send a request head one header line a second, never finishing it."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return "refused"
    try:
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        while not stop.is_set():
            await asyncio.sleep(1)
            writer.write(b"X-Drip: 1\r\n")
            await writer.drain()
            if reader.at_eof():
                return "cut off"
    except OSError:
        return "cut off"
    finally:
        writer.close()
    return "still open"


async def _get(port: int) -> float:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:80]
    return time.perf_counter() - started


def test_normal_requests_keep_answering_while_many_clients_drip_headers(tmp_path: Path) -> None:
    """1,100 half-sent requests neither stop service nor stay connected past the header timeout.

    The server runs with a soft open-files limit of 1,024, as on many hosts;
    `serve` raises it to the hard limit. Times printed are for the reader; the
    assertion is only that every GET was answered (within 10 s each).
    """
    port = free_port()
    server = Server(tmp_path, port, soft_open_files=1024)

    async def run() -> tuple[list[float], list[str]]:
        stop = asyncio.Event()
        drips = [asyncio.create_task(_drip(port, stop)) for _ in range(DRIPPERS)]
        await asyncio.sleep(1)
        times = []
        deadline = time.monotonic() + 8  # past the 5 s header timeout
        while time.monotonic() < deadline:
            times.append(await _get(port))
            await asyncio.sleep(0.05)
        stop.set()
        return sorted(times), list(await asyncio.gather(*drips))

    try:
        server.read_banner()
        server.wait_healthy()
        times, drips = asyncio.run(run())
    finally:
        assert server.stop() == 0
    p99 = times[int(len(times) * 0.99)]
    print(f"{len(times)} GETs beside {DRIPPERS} drippers: p99 {p99 * 1000:.1f} ms")  # noqa: T201
    assert len(times) > 20
    assert drips.count("cut off") == DRIPPERS


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs, mounted where the machine allows it (root in CI), else the test skips."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_507_and_recovers_when_space_returns(
    tmp_path: Path, small_disk: Path
) -> None:
    """Appends on a full disk answer 507 and readiness 503; freeing space heals both."""
    port = free_port()
    database = small_disk / "served.db"
    server = Server(
        tmp_path,
        port,
        first_start=True,
        env={"TIMELINE_DATABASE_URL": f"sqlite:///{database}"},
    )
    filler = small_disk / "filler"
    try:
        token = server.first_token()
        server.wait_healthy()
        # unbuffered: a buffer holding the last chunk that did not fit would fail the close
        # (whether it does depends on how much room the database left, so on its size)
        with filler.open("wb", buffering=0) as handle, contextlib.suppress(OSError):
            while True:
                handle.write(b"\0" * 65536)
        event = {
            "type": "MilestoneScheduled",
            "effective": "2024-03-01",
            "data": {"id": "full", "title": "x" * 200_000, "due": "2030"},
        }
        stream = f"{server.base}/partnerships/vodafone-microsoft/events"
        status, problem = request(stream, body={"events": [event]}, token=token)
        assert (status, problem["status"]) == (507, 507)
        assert "cannot write" in problem["detail"]
        assert request(f"{server.base}/health/ready")[0] == 503
        filler.unlink()
        status, _ = request(stream, body={"events": [event]}, token=token)
        assert status == 201
        assert request(f"{server.base}/health/ready")[0] == 200
    finally:
        assert server.stop() == 0
    log = (tmp_path / f"server-{port}.log").read_text()
    assert "Traceback" not in log


@pytest.mark.parametrize(("trusted", "client"), [("", "127.0.0.1"), ("127.0.0.1", "203.0.113.9")])
def test_forwarded_headers_count_only_from_trusted_proxies(
    tmp_path: Path, trusted: str, client: str
) -> None:
    """X-Forwarded-For names the client in the access log only when the proxy is trusted."""
    port = free_port()
    server = Server(tmp_path, port, env={"TIMELINE_TRUSTED_PROXIES": trusted})
    try:
        server.read_banner()
        server.wait_healthy()
        forwarded = urllib.request.Request(  # noqa: S310 - loopback only
            f"{server.base}/health/live",
            headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"},
        )
        with urllib.request.urlopen(forwarded, timeout=10) as response:  # noqa: S310
            assert response.status == 200
    finally:
        assert server.stop() == 0
    lines = [
        json.loads(line) for line in (tmp_path / f"server-{port}.log").read_text().splitlines()
    ]
    access = [line for line in lines if line.get("path") == "/health/live"]
    assert [line["client"].rsplit(":", 1)[0] for line in access] == [client]
