"""How domain values that JSON has no type for (partial dates, periods) cross the wire."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from timeline.dates import (
    PARTIAL_DATE_FORMS,
    PARTIAL_DATE_PATTERN,
    PERIOD_FORMS,
    PERIOD_PATTERN,
    PartialDate,
    Period,
)


def enc_hook(value: object) -> object:
    if isinstance(value, PartialDate | Period):
        return str(value)
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


def dec_hook(kind: type, value: object) -> object:
    if kind is PartialDate or kind is Period:
        if not isinstance(value, str):
            raise TypeError(f"Expected `str`, got `{type(value).__name__}`")
        return kind.parse(value)
    raise NotImplementedError(f"cannot decode {kind.__name__}")


def schema_hook(kind: type) -> dict[str, Any]:
    if kind is PartialDate:
        return {
            "type": "string",
            "pattern": PARTIAL_DATE_PATTERN,
            "description": f"Partial date: {PARTIAL_DATE_FORMS}",
            "examples": ["2024", "2024-Q2", "2024-04", "2024-01-16"],
        }
    if kind is Period:
        return {
            "type": "string",
            "pattern": PERIOD_PATTERN,
            "description": f"Period: {PERIOD_FORMS}",
            "examples": ["2024-01-16", "2023/2024", "2026/.."],
        }
    raise NotImplementedError(f"no schema for {kind.__name__}")


T = TypeVar("T")

encoder = msgspec.json.Encoder(enc_hook=enc_hook)


def encode(value: object) -> bytes:
    return encoder.encode(value)


def convert(value: object, kind: type[T]) -> T:
    """Typed conversion of already-parsed JSON (upcast output, correction data)."""
    return msgspec.convert(value, kind, dec_hook=dec_hook, strict=False)
