"""Events as bytes, and the line shapes around them: stored bodies, NDJSON, API events.

One typed decoder for every event body (upcasting older shapes first); the
store's fields spliced in front of an event for `timeline export` lines, API
answers and live streams; and what an imported line may carry. The API, the
CLI and the store all use these, so every place writes the same bytes.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Annotated, Any, NamedTuple

import msgspec

from timeline import wire
from timeline.admission import check_new
from timeline.events import (
    BY_TYPE,
    Actor,
    AnyEvent,
    Event,
    StoredEvent,
    StoredStreamId,
    type_name,
)
from timeline.upcasts import current_version, upcast

_decoder: msgspec.json.Decoder[AnyEvent] = msgspec.json.Decoder(AnyEvent, dec_hook=wire.dec_hook)
_untyped = msgspec.json.Decoder()


def encode_event(event: Event) -> bytes:
    return wire.encode(event)


def decode_event(
    body: bytes, schema_version: int | None = None, event_type: str | None = None
) -> AnyEvent:
    """Decode a stored body, upcasting it first when it was written at an older version.

    With the row's `event_type` known, a current row takes one typed decode.
    """
    if schema_version is None:
        return _decoder.decode(body)
    if event_type in BY_TYPE and schema_version >= current_version(event_type):
        return _decoder.decode(body)
    if event_type is None:  # an exported line names its schema, nearly always the current one
        try:
            event = _decoder.decode(body)
        except msgspec.ValidationError:
            pass
        else:
            if schema_version >= current_version(type_name(event)):
                return event
    raw = _untyped.decode(body)
    event_type = raw.get("type") if isinstance(raw, dict) else None
    if not isinstance(event_type, str) or event_type not in BY_TYPE:
        return _decoder.decode(body)  # raises the decoder's own precise error
    target = current_version(event_type)
    if schema_version >= target:
        return _decoder.decode(body)
    return wire.convert(upcast(raw, event_type, schema_version), AnyEvent)  # type: ignore[arg-type]


class ExportHead(msgspec.Struct, frozen=True, kw_only=True):
    """The store's fields on an exported line (no position: the importing store assigns it)."""

    stream: str
    version: int
    recorded_at: datetime
    actor: str
    schema_version: int


class StoredHead(msgspec.Struct, frozen=True, kw_only=True):
    """The store's fields of an event as the API shows it."""

    stream: str
    version: int
    position: int
    recorded_at: datetime
    actor: str
    schema_version: int


class ImportHead(msgspec.Struct, frozen=True, kw_only=True):
    """An imported line: a stream is required, the rest is kept when given."""

    stream: StoredStreamId
    version: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)] | None = None
    recorded_at: Annotated[datetime, msgspec.Meta(tz=True)] | None = None
    actor: Actor | None = None
    schema_version: Annotated[int, msgspec.Meta(ge=1)] | None = None


_import_head = msgspec.json.Decoder(ImportHead)


def import_head(line: bytes) -> ImportHead:
    """The store's fields of an imported line, alone (the line was admitted before)."""
    return _import_head.decode(line)


def _splice(head: bytes, body: bytes) -> bytes:
    """One flat JSON object from two: the store's fields first, then the event's."""
    return head[:-1] + b"," + body[1:]


def encode_stored(stored: StoredEvent, body: bytes | None = None) -> bytes:
    """The event as the API shows it; `body`, its stored bytes in the current schema, is
    spliced in as it is (`mapper.with_body`)."""
    head = StoredHead(
        stream=stored.stream,
        version=stored.version,
        position=stored.position,
        recorded_at=stored.recorded_at,
        actor=stored.actor,
        schema_version=stored.schema_version,
    )
    return spliced_stored(head, encode_event(stored.event) if body is None else body)


def spliced_stored(head: StoredHead, body: bytes) -> bytes:
    """`encode_stored` of an event whose stored `body` is in its type's current schema, without
    decoding it: the body is what `encode_event` wrote, so only the store's fields are new.
    A history of 100 events spent a third of its time decoding bodies and encoding them again."""
    return _splice(wire.encode(head), body)


def encode_export(stored: StoredEvent) -> bytes:
    """One NDJSON line (without the newline) of `timeline export`."""
    head = ExportHead(
        stream=stored.stream,
        version=stored.version,
        recorded_at=stored.recorded_at,
        actor=stored.actor,
        schema_version=current_version(type_name(stored.event)),
    )
    return _splice(wire.encode(head), encode_event(stored.event))


IMPORT_HEAD_FIELDS = frozenset({"stream", "version", "recorded_at", "actor", "schema_version"})
"""Beside the event's own fields, what an imported line may carry (and `position`, which API
answers carry and the importing store assigns anew)."""
_NOT_BODY = IMPORT_HEAD_FIELDS | {"position"}


class UnreadableLineError(ValueError):
    """An imported line that does not decode or may not be appended; the message says why."""


class Imported(NamedTuple):
    """An imported line: the store's fields, the event, and its body as the store keeps it."""

    head: ImportHead
    event: AnyEvent
    body: bytes


def read_import(line: bytes) -> Imported:
    """`decode_import`, its failures said in words, the same for every import path."""
    try:
        return decode_import(line)
    except (msgspec.DecodeError, UnicodeDecodeError) as error:
        raise UnreadableLineError(wire.why_not(line, error)) from None
    except RecursionError:
        raise UnreadableLineError("JSON nested too deeply") from None


def decode_import(line: bytes) -> Imported:
    """One line of `timeline import`, held to what an appended event must be (`check_new`)."""
    try:  # most lines are in the current schema: this decode is the one they need
        event: AnyEvent | None = _decoder.decode(line)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        event = None  # the line names an older schema, or `_decode_any` says what is wrong
    body = None if event is None else encode_event(event)
    if event is not None and body is not None:
        found = _as_stored(line, event, body) or _known_keys_only(line, event, body)
        if found is not None:
            return found
    return _decode_any(line, event, body)


class _LineHead(ImportHead, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The store's fields in front of an event's own, and nothing else."""

    position: int | None = None


_line_head = msgspec.json.Decoder(_LineHead)
_HEAD_COMMA = 2
"""The shortest head before its comma: `{}`."""


def _as_stored(line: bytes, event: AnyEvent, body: bytes) -> Imported | None:
    """A line that is the store's fields, then the event exactly as the store keeps it (what
    `export` writes): the head read from its own few bytes, and no untyped decode of the line
    to find unknown keys (there is none: the line holds what is stored). None for any other
    line."""
    end = len(line.rstrip(b" \t\r\n"))
    cut = end - len(body) + 1  # where the event's first member begins, after the head's comma
    if cut <= _HEAD_COMMA or line[cut - 1] != ord(",") or not line.endswith(body[1:], cut, end):
        return None
    try:  # a whole object on its own, so the line is its members followed by the event's
        head = _line_head.decode(line[: cut - 1] + b"}")
    except msgspec.DecodeError:
        return None
    if head.schema_version not in {None, current_version(type_name(event))}:
        return None
    check_new(None, AnyEvent, [("$", event)])
    plain = ImportHead(
        stream=head.stream,
        version=head.version,
        recorded_at=head.recorded_at,
        actor=head.actor,
        schema_version=head.schema_version,
    )
    return Imported(plain, event, body)


def _known_keys_only(line: bytes, event: AnyEvent, body: bytes) -> Imported | None:
    """A line in the current schema whose every key is known, its keys in any order (a
    pipeline's own lines): one decode that refuses unknown keys says so, where comparing the
    line with what is stored took two untyped decodes and a walk. None for any other line."""
    try:
        _known_keys().decode(line)
    except msgspec.DecodeError:  # an unknown key, or what `_decode_any` will name
        return None
    head = import_head(line)
    if head.schema_version not in {None, current_version(type_name(event))}:
        return None
    check_new(None, AnyEvent, [("$", event)])
    return Imported(head, event, body)


@cache
def _known_keys() -> msgspec.json.Decoder[Any]:
    """Built on first use: a worker that never imports does not pay for the mirror types."""
    return wire.known_keys_decoder(AnyEvent, _NOT_BODY)


def _decode_any(line: bytes, typed: AnyEvent | None, encoded: bytes | None) -> Imported:
    """Any line: its event upcast from the schema version it names, and its keys held to the
    event's fields one by one when they differ from what is stored (a misspelt key is refused,
    never dropped). `typed` is the line decoded as the current schema, if it could be."""
    head = import_head(line)
    current = None if typed is None else current_version(type_name(typed))
    if (
        typed is None
        or encoded is None
        or current is None
        or (head.schema_version is not None and head.schema_version < current)
    ):
        typed = decode_event(line, head.schema_version)
        encoded = encode_event(typed)
    event = typed
    raw = _untyped.decode(line)
    if isinstance(raw, dict):
        upcast_raw = upcast(
            raw, type_name(event), head.schema_version or current_version(type_name(event))
        )
        body = {k: v for k, v in upcast_raw.items() if k not in _NOT_BODY}
        if body == _untyped.decode(encoded):
            check_new(None, AnyEvent, [("$", event)])  # it says what is stored: no unknown key
        else:  # to find by type, path by path
            check_new(body, AnyEvent, [("$", event)])
    known = type(event).SCHEMA_VERSION
    if head.schema_version is not None and head.schema_version > known:
        raise msgspec.ValidationError(
            f"schema_version {head.schema_version} of {type(event).__name__} is newer than this "
            f"version of timeline knows (at most {known}) - at `$.schema_version`"
        )
    return Imported(head, event, encoded)
