"""The one-decode check for unknown keys (`wire.known_keys_decoder`) says what the walk
(`wire.unknown_fields_named`) says, for every object of every curated event and of an append
body holding it: the append and the import trust it to skip the walk."""

from __future__ import annotations

import msgspec
import pytest
from test_import_lines import curated_lines, reordered, with_key_at_each_object

from timeline import wire
from timeline.api.models import AppendRequest
from timeline.api.partnerships import decode_append
from timeline.events import AnyEvent
from timeline.formats import IMPORT_HEAD_FIELDS

EVENTS = [
    {k: v for k, v in msgspec.json.decode(line).items() if k not in IMPORT_HEAD_FIELDS}
    for line in curated_lines()
]


def accepts(decoder: msgspec.json.Decoder[object], value: object) -> bool:
    try:
        decoder.decode(msgspec.json.encode(value))
    except msgspec.DecodeError:
        return False
    return True


@pytest.mark.parametrize("kind", [AnyEvent, AppendRequest], ids=["event", "append body"])
def test_the_decoder_refuses_exactly_what_the_walk_finds(kind: object) -> None:
    decoder = wire.known_keys_decoder(kind)
    checked = 0
    for event in EVENTS:
        whole = event if kind is AnyEvent else {"events": [event], "expected_version": 3}
        for value in [whole, reordered(whole), *with_key_at_each_object(whole, "zz_unheard_of")]:
            found = wire.unknown_fields_named(value, kind)
            assert accepts(decoder, value) == (not found), (value, found)
            checked += 1
    assert checked > 5 * len(EVENTS)


def test_the_head_it_is_told_of_is_allowed_at_the_top_only() -> None:
    decoder = wire.known_keys_decoder(AnyEvent, {"stream", "actor"})
    event = EVENTS[0]
    assert accepts(decoder, {**event, "stream": "s", "actor": "a"})
    assert not accepts(decoder, {**event, "data": {**event["data"], "stream": "s"}})
    assert not accepts(wire.known_keys_decoder(AnyEvent), {**event, "stream": "s"})


def test_an_append_body_with_an_unknown_key_is_refused_by_its_path() -> None:
    event = EVENTS[0]
    body = {"events": [{**event, "sources": [{**event["sources"][0], "urll": "x"}]}]}
    with pytest.raises(msgspec.ValidationError, match=r"unknown field `urll`.*\$\.events\[0\]"):
        decode_append(msgspec.json.encode(body))
    clean = decode_append(msgspec.json.encode({"events": [event]})).events[0]
    assert str(clean.id) == event["id"]
    assert msgspec.json.decode(wire.encode(clean))["sources"] == event["sources"]
