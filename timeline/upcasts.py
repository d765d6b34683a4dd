"""Older stored shapes of events -> current ones, kept beside the catalogue they serve.

An event type whose shape changed raises its `SCHEMA_VERSION`; a body stored at
an older version is upgraded on read by the registered `upcast_<type>_v<N>`
functions, applied in order. Stored bytes never change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from timeline.events import BY_TYPE

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a function that turns a stored body at `from_version` into the next version."""

    def register(function: Upcaster) -> Upcaster:
        UPCASTERS[(event_type, from_version)] = function
        return function

    return register


@upcaster("StatementMade", 1)
def upcast_statement_made_v1(body: dict[str, Any]) -> dict[str, Any]:
    """v1 kept the words as `quote` and the language as optional `lang`.

    v2 calls them `text` and requires `language`; a v1 row without one takes
    the language of its first source, or ISO 639's `und` (undetermined).
    """
    data = dict(body["data"])
    data["text"] = data.pop("quote")
    language = data.pop("lang", None)
    if language is None:
        sources = body.get("sources") or []
        language = sources[0].get("language", "und") if sources else "und"
    data["language"] = language
    return {**body, "data": data}


def current_version(event_type: str) -> int:
    return BY_TYPE[event_type].SCHEMA_VERSION


def upcast(body: dict[str, Any], event_type: str, from_version: int) -> dict[str, Any]:
    """`body` of an `event_type` stored at `from_version`, brought to the current version."""
    for version in range(from_version, current_version(event_type)):
        try:
            body = UPCASTERS[(event_type, version)](body)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise msgspec.ValidationError(
                f"a {event_type} at schema_version {version} cannot be read as one "
                f"({type(error).__name__}: {error}); is schema_version right?"
            ) from None
    return body
