"""JSON Schema of every event type, generated from the Structs (never written by hand)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import msgspec

from timeline import wire
from timeline.events import EVENT_TYPES, Event

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def event_schema(kind: type[Event]) -> dict[str, Any]:
    schema = msgspec.json.schema(kind, schema_hook=wire.schema_hook)
    return {
        "$schema": SCHEMA_DIALECT,
        "title": kind.__name__,
        "x-schema-version": kind.SCHEMA_VERSION,
        **schema,
    }


@cache
def rendered() -> dict[str, bytes]:
    """File name -> bytes of every schema, exactly as `schemas/` holds them."""
    return {
        f"{kind.__name__}.json": msgspec.json.format(msgspec.json.encode(event_schema(kind)))
        + b"\n"
        for kind in EVENT_TYPES
    }


def export(directory: Path) -> list[str]:
    """Write every schema into `directory`, removing ones for types that no longer exist."""
    directory.mkdir(parents=True, exist_ok=True)
    files = rendered()
    for stale in directory.glob("*.json"):
        if stale.name not in files:
            stale.unlink()
    for name, content in files.items():
        (directory / name).write_bytes(content)
    return sorted(files)
