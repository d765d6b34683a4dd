"""Wake-ups for live subscribers: "there may be events after position p"."""

from __future__ import annotations

import asyncio
import contextlib


class Notifier:
    """The last position this process has heard of, and a way to wait for a later one.

    Publishers are the local writer (after each commit) and, on PostgreSQL,
    the LISTEN connection (appends through other replicas). A waiter that
    times out simply reads the store again, which also covers writers no
    notification reaches (another process on the same SQLite file).
    """

    def __init__(self) -> None:
        self._last = 0
        self._changed = asyncio.Event()

    @property
    def last(self) -> int:
        return self._last

    def publish(self, position: int) -> None:
        if position <= self._last:
            return
        self._last = position
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def release(self) -> None:
        """Wake every waiter now, new position or not (the server is shutting down)."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait(self, after: int, seconds: float) -> int:
        """Return once a position beyond `after` is known, or after `seconds`."""
        if self._last > after:
            return self._last
        changed = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), seconds)
        return self._last
