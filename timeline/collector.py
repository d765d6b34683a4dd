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
