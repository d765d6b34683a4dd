"""Log lines for operators: JSON objects with a UTC time, extras as keys, never blocking."""

from __future__ import annotations

import io
import json
import logging
import threading
import time

import pytest

from timeline import logs


def test_a_record_is_one_json_line_with_time_and_extras() -> None:
    """An access record becomes one line: time (UTC, ms), level, logger, message, its fields."""
    record = logging.LogRecord("timeline.access", logging.INFO, __file__, 1, "request", (), None)
    record.status = 201
    record.request_id = "abc"
    line = logs.JsonLines().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["time"].endswith("+00:00")
    assert len(parsed["time"]) == len("2026-11-25T14:42:00.305+00:00")
    assert {k: parsed[k] for k in ("level", "logger", "message", "status", "request_id")} == {
        "level": "info",
        "logger": "timeline.access",
        "message": "request",
        "status": 201,
        "request_id": "abc",
    }


class _Stuck(io.StringIO):
    """A stderr that does not take a line until released."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def write(self, text: str) -> int:
        self.release.wait(10)
        return super().write(text)


def test_a_full_queue_drops_lines_instead_of_blocking(monkeypatch: pytest.MonkeyPatch) -> None:
    """When stderr does not keep up, the request path drops and counts a line, never waits."""
    monkeypatch.setattr(logs, "QUEUED_LINES", 1)
    stream = _Stuck()
    writer = logs._Writer(stream)
    before = logs.DROPPED._value.get()
    writer.put(b"first\n")  # taken by the writer, whose write is stuck
    deadline = time.monotonic() + 5
    while writer._queue.qsize() and time.monotonic() < deadline:
        time.sleep(0.01)
    writer.put(b"second\n")  # queued
    writer.put(b"third\n")  # dropped: the queue is full
    assert logs.DROPPED._value.get() == before + 1
    stream.release.set()
    writer.stop()
    assert stream.getvalue() == "first\nsecond\n"


def test_an_access_line_says_what_its_record_would(monkeypatch: pytest.MonkeyPatch) -> None:
    """The access line encoded on the request path is the line its log record renders to."""
    stream = io.StringIO()
    writer = logs._Writer(stream)
    monkeypatch.setattr(logs, "_writer", writer)
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [writer.handler])
    access = logging.getLogger("timeline.access")
    previous = access.level
    access.setLevel(logging.INFO)  # setLevel, not the attribute: it clears the loggers' caches
    fields = {"method": "GET", "path": "/health", "status": 200, "duration_ms": 0.5, "client": None}
    try:
        logs.info(access, "request", fields)  # bytes, encoded on the spot
        access.info("request", extra=fields)  # a record, rendered by the writer
    finally:
        access.setLevel(previous)
        writer.stop()
    fast, record = (json.loads(line) for line in stream.getvalue().splitlines())
    times = fast.pop("time"), record.pop("time")
    assert [(len(t), t[-6:]) for t in times] == [(29, "+00:00")] * 2
    assert fast == record == {"level": "info", "logger": "timeline.access", "message": "request",
                              **fields}  # fmt: skip
