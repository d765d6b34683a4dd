"""Real `timeline serve` processes for end-to-end tests, on free loopback ports."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from timeline.settings import REPO_EVENTS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def request(
    url: str, *, body: object = None, token: str | None = None
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 - loopback only
    try:
        with urllib.request.urlopen(req, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _soft_limit(files: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (files, hard))


class Server:
    def __init__(
        self,
        tmp_path: Path,
        port: int,
        *,
        first_start: bool = False,
        env: dict[str, str] | None = None,
        soft_open_files: int | None = None,
    ) -> None:
        self.first_start = first_start
        env = {
            **os.environ,
            "TIMELINE_DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}",
            "TIMELINE_CURATED_DIR": str(REPO_EVENTS),
            **(env or {}),
        }
        self.log = (tmp_path / f"server-{port}.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "timeline", "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.log,
            preexec_fn=None if soft_open_files is None else lambda: _soft_limit(soft_open_files),  # noqa: PLW1509
        )
        self.base = f"http://127.0.0.1:{port}"
        self.banner: list[str] = []
        self.rest = ""
        """What the process printed after its banner, read when it stops."""

    def read_banner(self) -> list[str]:
        """What `serve` prints before the server starts; a first start adds note and token."""
        assert self.process.stdout is not None
        if self.banner:
            return self.banner
        while not self.banner or not self.banner[-1].startswith("API docs"):
            self.banner.append(self.process.stdout.readline().decode().rstrip("\n"))
        if self.first_start:
            self.banner.append(self.process.stdout.readline().decode().rstrip("\n"))
        return self.banner

    def first_token(self) -> str:
        """The first-start token: stdout is no terminal here, so `serve` wrote it to a file."""
        line = self.read_banner()[3]
        match = re.search(r"written to (\S+) \(readable by this user only\)", line)
        assert match, line
        path = Path(match[1])
        assert path.stat().st_mode & 0o777 == 0o600
        return path.read_text().strip()

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if request(f"{self.base}/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("server did not become healthy")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        finally:
            self.log.close()
            if self.process.stdout is not None:
                self.rest = self.process.stdout.read().decode()
                self.process.stdout.close()


@contextmanager
def first_started(
    tmp_path: Path, env: dict[str, str] | None = None
) -> Iterator[tuple[Server, str]]:
    """A `timeline serve` on its first start, healthy, and its first token (append, read)."""
    server = Server(tmp_path, free_port(), first_start=True, env=env)
    try:
        token = server.first_token()
        server.wait_healthy()
        yield server, token
    finally:
        server.stop()


class EventStreamReader:
    """A Server-Sent Events client over a real socket: (id, event, data) tuples and comments."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        import httpx  # noqa: PLC0415 - only the live tests need it

        self._client = httpx.AsyncClient(timeout=httpx.Timeout(30, read=None))
        self._url = url
        self._headers = headers or {}
        self._response: Any = None
        self._lines: Any = None
        self.comments: list[str] = []

    async def __aenter__(self) -> Self:
        request = self._client.build_request("GET", self._url, headers=self._headers)
        self._response = await self._client.send(request, stream=True)
        self._lines = self._response.aiter_lines()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._response.aclose()
        await self._client.aclose()

    @property
    def status(self) -> int:
        return int(self._response.status_code)

    @property
    def content_type(self) -> str:
        return str(self._response.headers["content-type"])

    async def next_event(self) -> tuple[int, str, dict[str, Any]] | None:
        """The next event, or None when the stream ends; comments are collected on the way."""
        fields: dict[str, str] = {}
        async for line in self._lines:
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
            elif line == "":
                if fields:
                    return int(fields["id"]), fields["event"], json.loads(fields["data"])
            else:
                name, _, value = line.partition(": ")
                fields[name] = value
        return None

    async def events(self, count: int) -> list[tuple[int, str, dict[str, Any]]]:
        received = []
        for _ in range(count):
            event = await self.next_event()
            if event is None:
                break
            received.append(event)
        return received
