"""How domain values that JSON has no type for (partial dates, periods) cross the wire."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, TypeVar

import msgspec

from timeline.dates import (
    PARTIAL_DATE_FORMS,
    PARTIAL_DATE_SCHEMA_PATTERN,
    PERIOD_FORMS,
    PERIOD_SCHEMA_PATTERN,
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
        return _parsed(kind, value)
    raise NotImplementedError(f"cannot decode {kind.__name__}")


@lru_cache(maxsize=1 << 16)
def _parsed(kind: type[PartialDate | Period], text: str) -> PartialDate | Period:
    """Dates are immutable values and few distinct ones recur across events, so each text
    is parsed once: a stored event decodes with a lookup per date instead of a regex."""
    return kind.parse(text)


def why_not(text: bytes, error: Exception) -> str:
    """Why `text` did not decode as JSON; invalid UTF-8 is named as such (msgspec reports it
    as a `UnicodeDecodeError` or, from 0.23, a `DecodeError` of its own wording)."""
    try:
        text.decode()
    except UnicodeDecodeError:
        return "it is not UTF-8"
    return str(error)


def schema_hook(kind: type) -> dict[str, Any]:
    if kind is PartialDate:
        return {
            "type": "string",
            "pattern": PARTIAL_DATE_SCHEMA_PATTERN,
            "description": f"Partial date: {PARTIAL_DATE_FORMS}",
            "examples": ["2024", "2024-Q2", "2024-04", "2024-01-16", "2024-04~", "../2023"],
        }
    if kind is Period:
        return {
            "type": "string",
            "pattern": PERIOD_SCHEMA_PATTERN,
            "description": f"Period: {PERIOD_FORMS}",
            "examples": ["2024-01-16", "2023/2024", "2026/..", "2023?/2024"],
        }
    raise NotImplementedError(f"no schema for {kind.__name__}")


T = TypeVar("T")

encoder = msgspec.json.Encoder(enc_hook=enc_hook)


def encode(value: object) -> bytes:
    return encoder.encode(value)


def convert(value: object, kind: type[T]) -> T:
    """Typed conversion of already-parsed JSON (upcast output, correction data)."""
    return msgspec.convert(value, kind, dec_hook=dec_hook, strict=False)


def unknown_fields(value: object, kind: object, path: str = "$") -> list[str]:
    """Paths of object keys in `value` that `kind` has no field for.

    Decoding ignores unknown fields (so old readers survive new writers); a
    correction's free-form `data` is checked with this too, so that nothing
    the target type cannot hold is stored for ever.
    """
    return [found for found, _, _ in unknown_fields_named(value, kind, path)]


def unknown_fields_named(
    value: object, kind: object, path: str = "$"
) -> list[tuple[str, str, tuple[str, ...]]]:
    """Each unknown key as (its path, its name, the names its object does know)."""
    return _unknown(value, msgspec.inspect.type_info(kind), path)


Unknown = list[tuple[str, str, tuple[str, ...]]]


def _unknown(value: object, info: msgspec.inspect.Type, path: str) -> Unknown:
    inspect = msgspec.inspect
    if isinstance(info, inspect.Metadata):
        return _unknown(value, info.type, path)
    if isinstance(info, inspect.UnionType):
        readings = [_unknown(value, t, path) for t in info.types if _fits(value, t)]
        return min(readings, key=len, default=[])  # the member that fits best
    if isinstance(info, inspect.StructType) and isinstance(value, dict):
        fields = {f.encode_name: f.type for f in info.fields}
        if info.tag_field is not None:
            fields[info.tag_field] = inspect.StrType()
        known = tuple(fields)
        found: Unknown = [(f"{path}.{key}", key, known) for key in value if key not in fields]
        for key, item in value.items():
            if key in fields:
                found += _unknown(item, fields[key], f"{path}.{key}")
        return found
    if isinstance(info, inspect.ListType | inspect.VarTupleType) and isinstance(value, list):
        item_type = info.item_type
        return [
            p for n, item in enumerate(value) for p in _unknown(item, item_type, f"{path}[{n}]")
        ]
    return []


def _fits(value: object, info: msgspec.inspect.Type) -> bool:
    inspect = msgspec.inspect
    if isinstance(info, inspect.Metadata):
        return _fits(value, info.type)
    if isinstance(value, dict):
        if isinstance(info, inspect.StructType) and info.tag_field is not None:
            return value.get(info.tag_field) == info.tag  # a tagged union's member by its tag
        return isinstance(info, inspect.StructType | inspect.DictType)
    if isinstance(value, list):
        return isinstance(info, inspect.ListType | inspect.VarTupleType | inspect.TupleType)
    return True
