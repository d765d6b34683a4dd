"""A replica whose PostgreSQL cannot be reached says so: readiness and reads answer 503 with
`Retry-After`, never a 500 and never a remembered answer presented as fresh; once the database
answers again, so does the replica."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import pytest
from api_helpers import running, settings_for

from timeline.store import base as store_base

pytestmark = pytest.mark.postgres
T = TypeVar("T")


class Proxy:
    """A TCP forwarder to the database that can be cut, on its own thread and loop (the app
    under test keeps its own): what a replica sees when the network or the server goes away."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: asyncio.Server | None = None
        self.links: set[asyncio.StreamWriter] = set()

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(10)

    def start(self, port: int = 0) -> int:
        async def serve() -> int:
            self.server = await asyncio.start_server(self._link, "127.0.0.1", port)
            return int(self.server.sockets[0].getsockname()[1])

        return self._run(serve())

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.links |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await source.read(1 << 16):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        """Refuse new connections and break every open one."""

        async def cut() -> None:
            assert self.server is not None
            self.server.close()
            for link in self.links:
                link.transport.abort()
            self.links.clear()
            await self.server.wait_closed()

        self._run(cut())

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def _through(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


async def test_a_replica_that_cannot_reach_its_database_answers_503(
    postgres_url: str, tmp_path: Path
) -> None:
    target = urlsplit(postgres_url)
    proxy = Proxy(target.hostname or "127.0.0.1", target.port or 5432)
    port = proxy.start()
    settings = settings_for(tmp_path, database_url=_through(postgres_url, port))
    async with running(settings) as client:
        state = await client.get("/partnerships/vodafone-microsoft")
        assert state.status_code == 200
        assert (await client.get("/health/ready")).status_code == 200

        proxy.cut()
        await asyncio.sleep(store_base.TRUSTED_SECONDS + 0.1)  # what it heard is stale now
        for path in ("/health/ready", "/partnerships/vodafone-microsoft", "/partnerships"):
            answer = await client.get(path)
            assert answer.status_code == 503, (path, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json")
            if path != "/health/ready":
                assert answer.headers["retry-after"] == "5"
                assert "database does not answer" in answer.json()["detail"]

        proxy.start(port)  # the database answers again
        for _ in range(50):
            again = await client.get("/partnerships/vodafone-microsoft")
            if again.status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert again.status_code == 200
        assert again.json()["id"] == state.json()["id"]
    proxy.cut()
    proxy.stop()
