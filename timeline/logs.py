"""Log lines for operators: one JSON object per line, with a UTC timestamp, on stderr.

`extra=` fields of a record become keys of its line, so an access line is
`{"time": …, "level": "info", "logger": "timeline.access", "method": …}`.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import queue
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any, TextIO

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

    The event loop only puts records (or, for access lines, their bytes) on a queue: a write
    to a slow pipe or terminal never holds up requests (it cost a sixth of the loop's time),
    and the thread writes whatever has queued up in one call.
    """
    global _writer  # noqa: PLW0603 - one writer per process, replaced on reconfiguration
    if _writer is not None:
        _writer.stop()
    _writer = _Writer(sys.stderr)
    atexit.register(_writer.stop)
    root = logging.getLogger()
    root.handlers[:] = [_writer.handler]
    root.setLevel(level.upper())


def info(logger: logging.Logger, message: str, fields: dict[str, Any]) -> None:
    """One info line with `fields` as keys: encoded here and queued as bytes when `configure`
    set the process up (a log record costs several times more), else logged as a record.

    For the lines every request writes (access, audit); the line is the one its record
    would render to.
    """
    writer = _writer
    if (
        writer is None
        or not logger.isEnabledFor(logging.INFO)
        or logger.handlers
        or _ROOT.handlers != [writer.handler]
    ):
        logger.info(message, extra=fields)
        return
    now = datetime.fromtimestamp(time.time(), UTC).isoformat(timespec="milliseconds")
    line = {"time": now, "level": "info", "logger": logger.name, "message": message, **fields}
    writer.put(_encode(line) + b"\n")


class _Writer:
    """The thread that renders records and writes every line to `stream`."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._queue: queue.SimpleQueue[logging.LogRecord | bytes | None] = queue.SimpleQueue()
        self._format = JsonLines()
        self.handler = _Enqueue(self)
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()

    def put(self, item: logging.LogRecord | bytes) -> None:
        if self._queue.qsize() >= QUEUED_LINES:
            DROPPED.inc()
            return
        self._queue.put(item)

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            with contextlib.suppress(queue.Empty):
                while len(batch) < QUEUED_LINES:
                    batch.append(self._queue.get_nowait())
            lines = [self._render(item) for item in batch if item is not None]
            with contextlib.suppress(OSError, ValueError):  # stderr closed or gone: drop
                self._stream.write("".join(lines))
                self._stream.flush()
            if None in batch:
                return

    def _render(self, item: logging.LogRecord | bytes) -> str:
        if isinstance(item, bytes):
            return item.decode()
        try:
            return self._format.format(item) + "\n"
        except Exception:  # noqa: BLE001 - a record that cannot be rendered must not stop logging
            return f'{{"level": "error", "message": "unrenderable log record from {item.name}"}}\n'


class _Enqueue(logging.Handler):
    """Hand the record over as it is (the writer's JSON formatter renders it); when stderr
    is stuck and the queue full, drop the line and count it rather than block or grow."""

    def __init__(self, writer: _Writer) -> None:
        super().__init__()
        self._writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        self._writer.put(record)


_writer: _Writer | None = None
_encode = msgspec.json.Encoder(enc_hook=str).encode
_ROOT = logging.getLogger()
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
