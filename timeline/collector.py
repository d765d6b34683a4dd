"""Pausing Python's cyclic garbage collector over work that only makes short-lived objects."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """No cyclic collection inside the block; reference counting still frees what it drops.

    A replay makes hundreds of thousands of small objects, so the collector
    ran every few hundred of them and walked every live object each time: it
    took 9 of the 21 us a replayed event cost. What the block makes is
    acyclic; a cycle it might leave waits for the next collection after it.
    """
    if not gc.isenabled():  # already paused by a caller
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


SERVER_THRESHOLDS = (50_000, 20, 100)
"""Python's defaults are (700, 10, 10). A serving process keeps many long-lived container
objects (the writer's folded streams and read models, the caches), and its appends make
thousands of objects each: with the defaults the collector ran several times per append and
now and then walked every kept object. Under 64 concurrent appends that cost a quarter of
the throughput and made the p99 143 ms instead of 33 (bench/endpoints.py)."""


def for_serving() -> None:
    """Collect rarely: what a request makes is freed by reference counting, save the odd
    cycle (an exception and its traceback), which a young collection still frees in time."""
    gc.set_threshold(*SERVER_THRESHOLDS)
