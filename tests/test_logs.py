"""Log lines for operators: JSON objects with a UTC time, extras as keys, never blocking."""

from __future__ import annotations

import json
import logging
import queue

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


def test_a_full_queue_drops_lines_instead_of_blocking() -> None:
    """When stderr does not keep up, the request path drops and counts a line, never waits."""
    full: queue.Queue[logging.LogRecord] = queue.Queue(1)
    handler = logs._KeepExtras(full)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
    before = logs.DROPPED._value.get()
    handler.emit(record)
    handler.emit(record)
    assert full.qsize() == 1
    assert logs.DROPPED._value.get() == before + 1
