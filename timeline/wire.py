"""How domain values that JSON has no type for (partial dates, periods) cross the wire."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from functools import cache, lru_cache
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


DATES_KEPT = 4096
"""Parsed dates kept. 65,536 kept nearly every date a random read at 1M events met, and each new
one stayed young until the next collection walked it (a third of what those pauses walked);
at 4,096, 92% of lookups still hit."""


@lru_cache(maxsize=DATES_KEPT)
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
    return _unknown(value, _type_info(kind), path)


@cache
def _type_info(kind: object) -> msgspec.inspect.Type:
    """`msgspec.inspect.type_info`, once per type: for the event union it takes milliseconds."""
    return msgspec.inspect.type_info(kind)


Unknown = list[tuple[str, str, tuple[str, ...]]]


def _unknown(value: object, info: msgspec.inspect.Type, path: str) -> Unknown:
    if not isinstance(value, dict | list):
        return []  # a scalar has no keys
    inspect = msgspec.inspect
    if isinstance(info, inspect.Metadata):
        return _unknown(value, info.type, path)
    if isinstance(info, inspect.UnionType):
        return _unknown_in_union(value, info, path)
    if isinstance(info, inspect.StructType) and isinstance(value, dict):
        return _unknown_keys(value, info, path)
    if isinstance(info, inspect.ListType | inspect.VarTupleType) and isinstance(value, list):
        item_type = info.item_type
        return [
            p for n, item in enumerate(value) for p in _unknown(item, item_type, f"{path}[{n}]")
        ]
    return []


def _unknown_in_union(
    value: dict[str, object] | list[object], info: msgspec.inspect.UnionType, path: str
) -> Unknown:
    tagged = _tagged(info)
    if tagged and isinstance(value, dict) and value.get(tagged[0]) in tagged[1]:
        return _unknown(value, tagged[1][value[tagged[0]]], path)  # the event's own type
    readings = [_unknown(value, t, path) for t in info.types if _fits(value, t)]
    return min(readings, key=len, default=[])  # the member that fits best


def _unknown_keys(value: dict[str, object], info: msgspec.inspect.StructType, path: str) -> Unknown:
    fields = _fields(info)
    found: Unknown = [(f"{path}.{key}", key, tuple(fields)) for key in value if key not in fields]
    for key, item in value.items():
        kind = fields.get(key)
        if kind is not None and isinstance(item, dict | list):
            found += _unknown(item, kind, f"{path}.{key}")
    return found


_TAGGED: dict[int, tuple[str, dict[object, msgspec.inspect.Type]] | None] = {}


def _tagged(
    info: msgspec.inspect.UnionType,
) -> tuple[str, dict[object, msgspec.inspect.Type]] | None:
    """A tagged union's tag field and its members by tag (the event catalogue's 25)."""
    if id(info) not in _TAGGED:
        members = [t for t in info.types if isinstance(t, msgspec.inspect.StructType)]
        fields = {t.tag_field for t in members}
        tag_field = next(iter(fields)) if len(fields) == 1 else None
        _TAGGED[id(info)] = None if tag_field is None else (tag_field, {t.tag: t for t in members})
    return _TAGGED[id(info)]


_FIELDS: dict[int, dict[str, msgspec.inspect.Type]] = {}


def _fields(info: msgspec.inspect.StructType) -> dict[str, msgspec.inspect.Type]:
    """A Struct's fields by their JSON names (and its tag field), kept per type info: the
    infos are made once per type (`_type_info`), so their ids are stable."""
    found = _FIELDS.get(id(info))
    if found is None:
        found = {f.encode_name: f.type for f in info.fields}
        if info.tag_field is not None:
            found[info.tag_field] = msgspec.inspect.StrType()
        _FIELDS[id(info)] = found
    return found


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


def known_keys_decoder(kind: object, head: Iterable[str] = ()) -> msgspec.json.Decoder[Any]:
    """A decoder that fails on any key `kind` has no field for, at any depth, in one C pass:
    where it decodes, `unknown_fields_named` would find nothing, without the untyped decode
    and the walk in Python (a sixth of an import line's decoding, half of an append body's).
    `head` names keys allowed beside a top-level struct's own (an imported line's store
    fields). It checks keys only: what it decodes is not the value, and a failure says nothing
    precise (walk then)."""
    return msgspec.json.Decoder(_known_keys(kind, frozenset(head)))


@cache
def _known_keys(kind: Any, head: frozenset[str]) -> Any:  # noqa: ANN401 - any type
    """`kind` with each Struct swapped for a mirror forbidding unknown fields (and each field of
    a mirror optional: the value was decoded already), a partial date read as its text."""
    origin = typing.get_origin(kind)
    if origin is typing.Annotated:
        return _known_keys(typing.get_args(kind)[0], head)
    if origin is typing.Union or origin is types.UnionType:
        return typing.Union[tuple(_known_keys(member, head) for member in typing.get_args(kind))]  # noqa: UP007
    if origin in {list, tuple, set, frozenset, dict}:
        args = tuple(
            arg if arg is ... else _known_keys(arg, frozenset()) for arg in typing.get_args(kind)
        )
        return types.GenericAlias(origin, args) if args else origin
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        return _mirror(kind, head)
    return str if kind is PartialDate or kind is Period else kind  # as written, no hook


def _mirror(kind: type[msgspec.Struct], head: frozenset[str]) -> type[msgspec.Struct]:
    config = kind.__struct_config__
    fields = msgspec.structs.fields(kind)
    return msgspec.defstruct(
        f"Known{kind.__name__}",
        [(f.name, _known_keys(f.type, frozenset()), None) for f in fields]
        + [(name, Any, None) for name in sorted(head - {f.encode_name for f in fields})],
        rename={f.name: f.encode_name for f in fields if f.encode_name != f.name} or None,
        tag_field=config.tag_field,
        tag=config.tag,
        forbid_unknown_fields=True,
        kw_only=True,
        gc=False,
    )
