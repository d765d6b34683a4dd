"""JSON Schema of every event type, generated from the Structs (never written by hand)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import msgspec

from timeline import wire
from timeline.codes import LANGUAGE_PATTERN, language_schema_pattern
from timeline.events import EVENT_TYPES, Event

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


_RULES: dict[str, dict[str, Any]] = {
    "Term": {
        "anyOf": [
            {"required": ["years"], "properties": {"years": {"type": "integer"}}},
            {"required": ["period"], "properties": {"period": {"type": "string"}}},
        ]
    },
    "Range": {
        "oneOf": [
            {"required": ["currency"], "properties": {"currency": {"type": "string"}}},
            {"required": ["unit"], "properties": {"unit": {"type": "string"}}},
        ]
    },
    "Source": {
        "allOf": [
            {  # a quote is checked against a registered source: it names one, and no excerpt
                "if": {"required": ["quote"], "properties": {"quote": {"type": "object"}}},
                "then": {
                    "required": ["source"],
                    "properties": {"source": {"type": "string"}},
                    "not": {"required": ["excerpt"], "properties": {"excerpt": {"type": "string"}}},
                },
            },
            {  # a position is where a quote was found
                "if": {"required": ["position"], "properties": {"position": {"type": "object"}}},
                "then": {"required": ["quote"], "properties": {"quote": {"type": "object"}}},
            },
        ]
    },
    "Investment": {
        "if": {"required": ["amount"], "properties": {"amount": {"const": "undisclosed"}}},
        "then": {"properties": {"equivalents": {"maxItems": 0}}},
    },
}
"""What a type's `__post_init__` checks across its fields, where JSON Schema can say it."""


def as_appended(
    definitions: dict[str, dict[str, Any]], ref: str = "#/$defs/"
) -> dict[str, dict[str, Any]]:
    """Object schemas as an append is checked: no field beyond the known ones
    (`admission.check_new`), and the cross-field rules JSON Schema can state; language tags
    as one `Language` definition (`ref` + `Language`) listing ISO 639's codes. Stored
    events, as answers show them, stay open: a newer writer may have added fields."""
    language = {"$ref": f"{ref}Language"}
    closed = {
        name: _languages_named(
            {**doc, **_RULES.get(doc.get("title", name), {}), "additionalProperties": False}
            if "properties" in doc
            else doc,
            language,
        )
        for name, doc in definitions.items()
    }
    closed["Language"] = {
        "title": "Language",
        "description": "A BCP 47 tag whose primary subtag is an ISO 639 code (fr, en-GB)",
        "type": "string",
        "pattern": language_schema_pattern(),
    }
    return closed


def _languages_named(node: Any, language: dict[str, str]) -> Any:  # noqa: ANN401 - JSON
    if isinstance(node, dict):
        if node.get("pattern") == LANGUAGE_PATTERN:
            return language
        return {key: _languages_named(value, language) for key, value in node.items()}
    if isinstance(node, list):
        return [_languages_named(value, language) for value in node]
    return node


def event_schema(kind: type[Event]) -> dict[str, Any]:
    schema = msgspec.json.schema(kind, schema_hook=wire.schema_hook)
    return {
        "$schema": SCHEMA_DIALECT,
        "title": kind.__name__,
        "x-schema-version": kind.SCHEMA_VERSION,
        **schema,
        "$defs": as_appended(schema["$defs"]),
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
