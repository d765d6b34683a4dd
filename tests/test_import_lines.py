"""An imported line read the short way (the store's fields, then the event as stored) or the
long way (any order, any spacing, an older schema) is held to the same rules, to the letter."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from timeline import formats
from timeline.admission import InadmissibleError
from timeline.formats import Imported, UnreadableLineError, read_import
from timeline.sources import is_source_line

EVENTS = Path(__file__).parent.parent / "events"
STATEMENT = (
    b'{"type":"StatementMade","data":{"speaker":"x","text":"y","language":"en"},'
    b'"id":"5c4f6d53-7d55-4b0e-8a11-3d8f0f6a2b11","effective":"2024"}'
)
"""A statement exactly as the store keeps it."""


def curated_lines() -> list[bytes]:
    """The curated events' lines (each file begins with the registered articles it cites)."""
    lines = [
        line for path in sorted(EVENTS.glob("*.ndjson")) for line in path.read_bytes().splitlines()
    ]
    return [line for line in lines if not is_source_line(line)]


def as_exported(line: bytes) -> bytes:
    """The line as `timeline export` writes it: the store's fields, then the stored body."""
    imported = read_import(line)
    head = msgspec.json.encode(
        {k: v for k, v in msgspec.structs.asdict(imported.head).items() if v is not None}
    )
    return head[:-1] + b"," + imported.body[1:]


def the_long_way(line: bytes) -> Imported:
    return formats._decode_any(line, None, None)


@pytest.mark.parametrize("line", curated_lines()[:40])
def test_an_exported_line_is_read_as_the_long_way_reads_it(line: bytes) -> None:
    exported = as_exported(line)
    assert formats._as_stored(exported, formats._decoder.decode(exported), read_import(line).body)
    short = read_import(exported)
    assert short == the_long_way(exported)
    assert short.body == read_import(line).body  # the stored bytes, however the line was written
    assert short.head.stream == read_import(line).head.stream


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (b'{"stream":"ok","sumary":"s"}', "unknown field `sumary`"),
        (b'{"stream":"ok","schema_version":9}', "newer than this version of timeline knows"),
        (b'{"stream":"ok","schema_version":1}', "is schema_version right?"),
        (b'{"stream":"ok","recorded_at":"2026-11-22T00:00:00"}', "with a timezone component"),
        (b'{"stream":"Upper"}', "$.stream"),
        (b'{"stream":"ok","actor":"a\\u0007b"}', "$.actor"),
        (b'{"stream":"ok","version":0}', "$.version"),
    ],
    ids=[
        "unknown key before the event",
        "forged newer schema_version",
        "forged older schema_version",
        "naive recorded_at",
        "upper case stream",
        "actor with a control character",
        "version 0",
    ],
)
def test_a_bad_head_before_a_stored_body_is_refused_as_any_line_is(
    head: bytes, message: str
) -> None:
    """The body is byte for byte what the store keeps, so only the head can be wrong; the
    short way must not take what the long way refuses."""
    assert formats.encode_event(formats.decode_event(STATEMENT)) == STATEMENT
    line = head[:-1] + b"," + STATEMENT[1:]
    spaced = msgspec.json.format(line, indent=0).replace(b"\n", b" ")
    for each in (line, spaced):
        with pytest.raises(
            (UnreadableLineError, InadmissibleError, msgspec.ValidationError)
        ) as caught:
            read_import(each)
        assert message in str(caught.value)


def test_a_statement_written_as_stored_takes_the_short_way() -> None:
    line = b'{"stream":"said","version":1}'[:-1] + b"," + STATEMENT[1:] + b"\r\n"
    event = formats._decoder.decode(line)
    assert formats._as_stored(line, event, formats.encode_event(event)) is not None
    imported = read_import(line)
    assert imported.body == STATEMENT
    assert (imported.head.stream, imported.head.version) == ("said", 1)
    assert imported == the_long_way(line)


def reordered(value: object) -> object:
    """The same JSON with every object's keys in reverse order (a pipeline's own order)."""
    if isinstance(value, dict):
        return {key: reordered(value[key]) for key in reversed(value)}
    if isinstance(value, list):
        return [reordered(item) for item in value]
    return value


def with_key_at_each_object(value: object, key: str) -> list[object]:
    """`value` once per object in it, that object given `key` too."""
    found: list[object] = []
    if isinstance(value, dict):
        found.append({**value, key: 1})
        for name, item in value.items():
            found += [{**value, name: changed} for changed in with_key_at_each_object(item, key)]
    elif isinstance(value, list):
        for n, item in enumerate(value):
            found += [
                [*value[:n], changed, *value[n + 1 :]]
                for changed in with_key_at_each_object(item, key)
            ]
    return found


@pytest.mark.parametrize("line", curated_lines()[:40])
def test_a_line_in_its_own_key_order_is_read_as_the_long_way_reads_it(line: bytes) -> None:
    """Known keys in any order take one decode that refuses unknown ones, not the walk."""
    mine = msgspec.json.encode(reordered(msgspec.json.decode(line)))
    event = formats._decoder.decode(mine)
    body = formats.encode_event(event)
    assert formats._as_stored(mine, event, body) is None  # not as stored: a longer way
    middle = formats._known_keys_only(mine, event, body)
    assert middle is not None
    assert middle == the_long_way(mine) == read_import(mine)
    assert middle.body == read_import(line).body


@pytest.mark.parametrize("line", curated_lines()[::9])
def test_an_unknown_key_in_any_object_of_a_line_is_refused_by_name(line: bytes) -> None:
    variants = with_key_at_each_object(reordered(msgspec.json.decode(line)), "zz_unheard_of")
    assert len(variants) >= 3  # the line, its data, its sources
    for variant in variants:
        encoded = msgspec.json.encode(variant)
        with pytest.raises(
            (UnreadableLineError, InadmissibleError), match="unknown field `zz_unheard_of`"
        ):
            read_import(encoded)


@pytest.mark.parametrize(
    "head",
    [b'{"sumary":"s","stream":"ok"}', b'{"schema_version":9,"stream":"ok"}'],
    ids=["unknown key", "forged newer schema_version"],
)
def test_a_bad_head_in_its_own_key_order_is_refused_as_the_long_way_refuses_it(
    head: bytes,
) -> None:
    line = msgspec.json.encode(reordered(msgspec.json.decode(head[:-1] + b"," + STATEMENT[1:])))
    with pytest.raises((UnreadableLineError, InadmissibleError, msgspec.ValidationError)) as caught:
        read_import(line)
    with pytest.raises(msgspec.ValidationError) as long_way:
        the_long_way(line)
    assert str(caught.value) == str(long_way.value)
