"""The one bounded cache helper: least recently used goes first, never more than its size."""

from __future__ import annotations

import pytest

from timeline.lru import LRU


def test_the_least_recently_used_entry_goes_first() -> None:
    """Reading an entry keeps it; the size is never exceeded."""
    cache: LRU[str, int] = LRU(2)
    cache["a"], cache["b"] = 1, 2
    assert cache.get("a") == 1  # "a" is now the most recent
    cache["c"] = 3
    assert "b" not in cache
    assert ("a" in cache, "c" in cache, len(cache)) == (True, True, 2)
    assert cache.get("b") is None


def test_none_values_are_kept_and_a_size_below_one_is_refused() -> None:
    """A cached None (a stream with no state yet) is a hit, not a miss."""
    cache: LRU[str, int | None] = LRU(1)
    cache["x"] = None
    assert "x" in cache
    assert cache["x"] is None
    with pytest.raises(ValueError, match="at least one"):
        LRU(0)


def test_a_weighed_cache_is_bounded_by_what_its_entries_hold() -> None:
    """Streams weighed by their events: old ones go until the total fits; the newest stays."""
    cache: LRU[str, tuple[int, ...]] = LRU(10, weight=len)
    cache["a"], cache["b"] = (1,) * 4, (1,) * 5
    assert cache.weight == 9
    cache["a"] = (1,) * 6  # a stream grew: re-weighed, the older "b" goes
    assert ("a" in cache, "b" in cache, cache.weight) == (True, False, 6)
    cache["big"] = (1,) * 50
    assert list(cache._entries) == ["big"]
    assert cache.weight == 50
