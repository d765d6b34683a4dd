"""Pausing the cyclic collector: off inside, back on after, a no-op when already off."""

from __future__ import annotations

import gc

import pytest

from timeline import collector


def test_paused_turns_collection_off_and_back_on() -> None:
    assert gc.isenabled()
    with collector.paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_paused_restores_collection_after_an_error() -> None:
    with pytest.raises(ValueError, match="boom"), collector.paused():
        raise ValueError("boom")
    assert gc.isenabled()


def test_paused_inside_a_pause_leaves_it_to_the_outer_one() -> None:
    gc.disable()
    try:
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # a caller that turned it off keeps it off
    finally:
        gc.enable()
