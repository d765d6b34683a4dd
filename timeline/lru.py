"""One bounded least-recently-used map, for every cache in the process."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """At most `size` entries (or `size` of weight); reading or writing one makes it the last to go.

    With `weight`, entries count what they hold (a stream's events, say), so a
    cache of streams is bounded by memory, not by how many streams it names.
    The entry just written always stays, whatever it weighs.
    """

    def __init__(self, size: int, weight: Callable[[V], int] | None = None) -> None:
        if size < 1:
            raise ValueError("an LRU holds at least one entry")
        self.size = size
        self._weight = weight
        self._weights: dict[K, int] = {}
        self._total = 0
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def pop(self, key: K) -> V | None:
        """Take an entry out (None if absent)."""
        value = self._entries.pop(key, None)
        if self._weight is not None:
            self._total -= self._weights.pop(key, 0)
        return value

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __getitem__(self, key: K) -> V:
        value = self._entries[key]
        self._entries.move_to_end(key)
        return value

    def __setitem__(self, key: K, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        if self._weight is None:
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
            return
        weight = max(1, self._weight(value))
        self._total += weight - self._weights.get(key, 0)
        self._weights[key] = weight
        while self._total > self.size and len(self._entries) > 1:
            gone, _ = self._entries.popitem(last=False)
            self._total -= self._weights.pop(gone)

    @property
    def weight(self) -> int:
        """What the entries weigh together (their count, without a `weight`)."""
        return self._total if self._weight is not None else len(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
