"""Log lines for operators: one JSON object per line, with a UTC timestamp, on stderr.

`extra=` fields of a record become keys of its line, so an access line is
`{"time": …, "level": "info", "logger": "timeline.access", "method": …}`.
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import queue
import sys
from datetime import UTC, datetime
from typing import Any

import msgspec
from prometheus_client import Counter

_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return msgspec.json.encode(line, enc_hook=str).decode()


def configure(level: str = "info") -> None:
    """Every logger (ours, litestar's) writes JSON lines to stderr, from a thread of its own.

    The event loop only puts records on a queue: a write to a slow pipe or
    terminal never holds up requests (it cost a sixth of the loop's time).
    """
    global _listener  # noqa: PLW0603 - one listener per process, replaced on reconfiguration
    if _listener is not None:
        _listener.stop()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())
    records: queue.Queue[logging.LogRecord] = queue.Queue(QUEUED_LINES)
    _listener = logging.handlers.QueueListener(records, handler)
    _listener.start()
    atexit.register(_listener.stop)
    root = logging.getLogger()
    root.handlers[:] = [_KeepExtras(records)]
    root.setLevel(level.upper())


class _KeepExtras(logging.handlers.QueueHandler):
    """Hand the record over as it is (the listener's JSON formatter renders it); when stderr
    is stuck and the queue full, drop the line and count it rather than block or grow."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            DROPPED.inc()


_listener: logging.handlers.QueueListener | None = None
QUEUED_LINES = 10_000
DROPPED = Counter(
    "timeline_log_lines_dropped_total", "Log lines dropped because stderr did not keep up"
)


def granian_config(level: str = "info") -> dict[str, Any]:
    """Handed to granian, so its own lines (start, stop, worker errors) are JSON lines too."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "timeline.logs.JsonLines"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {"_granian": {"handlers": [], "propagate": True}},
    }
