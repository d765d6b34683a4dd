"""A stream as the writer holds it: every event, or only those after its snapshot."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import overload

from timeline.events import StoredEvent


class HistoryNeededError(LookupError):
    """An event before a `Tail`'s start was asked for: the append needs the whole stream (a
    late fact, a retraction, a correction); the writer reads it and decides again."""

    stream: str | None = None
    """The stream whose history is needed, named by the writer as the error passes."""


class Tail(Sequence[StoredEvent]):
    """The stream's events after its first `start`, standing for the whole stream.

    Its length and versions are the stream's; a stored snapshot stands for the
    first `start` events, so an append that only goes forward never reads them.
    Asking for one of them raises `HistoryNeededError` instead of answering wrong.
    """

    __slots__ = ("events", "start")

    def __init__(self, start: int, events: Iterable[StoredEvent] = ()) -> None:
        self.start = start
        self.events = list(events)

    def __len__(self) -> int:
        return self.start + len(self.events)

    @overload
    def __getitem__(self, index: int) -> StoredEvent: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[StoredEvent]: ...

    def __getitem__(self, index: int | slice) -> StoredEvent | Sequence[StoredEvent]:
        if isinstance(index, slice):
            first, stop, step = index.indices(len(self))
            if step != 1:
                raise ValueError("a stream is read forward, one event after another")
            if first >= self.start:
                return self.events[first - self.start : stop - self.start]
            if first == 0 and stop >= self.start:  # the stream up to `stop`
                return Tail(self.start, self.events[: stop - self.start])
            raise HistoryNeededError(first)
        at = index + len(self) if index < 0 else index
        if not 0 <= at < len(self):
            raise IndexError(index)
        if at < self.start:
            raise HistoryNeededError(at)
        return self.events[at - self.start]

    def __iter__(self) -> Iterator[StoredEvent]:
        if self.start:
            raise HistoryNeededError(0)
        return iter(self.events)

    def extend(self, more: Iterable[StoredEvent]) -> None:
        self.events.extend(more)
