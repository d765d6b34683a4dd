"""Imports queue many runs at once, yet stop where a line is refused (both backends)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from helpers import T0, achieved, announce, milestone, recorded

from timeline import transfer
from timeline.formats import encode_export
from timeline.store import EventStore
from timeline.transfer import ImportLineError, import_lines


def lines(streams: list[str], *, refused_at: int | None = None) -> list[bytes]:
    """One run per stream, each recorded an hour after the one before; the run at index
    `refused_at` achieves a milestone its stream never scheduled."""
    out = []
    for n, stream in enumerate(streams):
        at = T0 + timedelta(hours=n)
        events = [announce(), milestone()] if n != refused_at else [achieved("never")]
        out.extend(
            encode_export(stored) + b"\n"
            for stored in recorded(events, stream=stream, at=[at] * len(events))
        )
    return out


@pytest.mark.parametrize("in_flight", [1, 128])
async def test_an_import_stops_at_the_refused_run_with_runs_queued_behind_it(
    store: EventStore, monkeypatch: pytest.MonkeyPatch, in_flight: int
) -> None:
    """Runs before the refused one are stored, none after it (though queued), and the error
    names its line; the fixed file then imports, replaying what was stored."""
    monkeypatch.setattr(transfer, "IN_FLIGHT", in_flight)
    names = [f"s{n}" for n in range(40)]
    bad = lines(names, refused_at=10)
    with pytest.raises(ImportLineError, match=r"^<input>:21: announcement-first"):
        await import_lines(store, bad)
    assert sorted(info.stream for info in await store.streams()) == sorted(names[:10])

    fixed = bad[:20] + bad[21:]  # without the refused run's one line
    report = await import_lines(store, fixed)
    assert (report.replayed, report.appended, report.streams) == (20, 58, 39)
    assert len(await store.streams()) == 39


async def test_a_bad_line_after_queued_runs_keeps_them(store: EventStore) -> None:
    """A line that does not decode stops the import once the runs queued before it landed; the
    run it follows is not stored, since the bad line may have been part of it."""
    good = lines([f"s{n}" for n in range(5)])
    with pytest.raises(ImportLineError, match=r"^<input>:11: "):
        await import_lines(store, [*good, b'{"stream": "s9", "type": "Nope"}\n'])
    assert [info.stream for info in await store.streams()] == ["s0", "s1", "s2", "s3"]
