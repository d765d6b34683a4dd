"""What a new event must be beyond its type: every field known, every link a web address.

Stored events decode leniently (an old reader skips a newer writer's fields), so an
unknown field in an *appended* event would be dropped without a word and lost for good;
and a `javascript:` link, once stored, is served to every reader. These checks run
where events enter (the API's append and `timeline import`), never on reads.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import msgspec

from timeline import wire
from timeline.events import Commitment, Event, FirmnessSaid, Investment, Source
from timeline.urls import is_web_url


class InadmissibleError(msgspec.ValidationError):
    """Fields an appended event may not carry: each `(path, message)` in `errors`."""

    def __init__(self, errors: Iterable[tuple[str, str]]) -> None:
        self.errors = tuple(errors)
        path, message = self.errors[0]
        super().__init__(f"{message} - at `{path}`")


def check_new(raw: object, kind: object, decoded: Iterable[tuple[str, Event]]) -> None:
    """Refuse what decoding would silently drop or later serve as a script.

    `raw` is the body as untyped JSON and `kind` the type it decoded to (None: the caller
    knows it has no key `kind` lacks); `decoded` pairs each event with its path in the body
    (`$.events[0]`).
    """
    found = [
        (path, f"unknown field `{name}`{_near(name, known)}")
        for path, name, known in ([] if raw is None else wire.unknown_fields_named(raw, kind))
    ]
    for where, event in decoded:
        if _nothing_to_check(event):
            continue
        found += [
            (f"{where}.sources[{n}].url", "a link must be an absolute http or https URL")
            for n, source in enumerate(event.sources)
            if source.url is not None and not is_web_url(source.url)
        ]
        found += [
            (f"{where}.sources[{n}].{field}", message)
            for n, source in enumerate(event.sources)
            for field, message in citation_problems(source)
        ]
        cited = {source.source for source in event.sources if source.source is not None}
        found += [
            (
                f"{where}.data.firmness_said[{n}].source",
                f"{said.source!r} is not among the registered sources this event cites",
            )
            for n, said in enumerate(_firmness_said(event))
            if said.source not in cited
        ]
    if found:
        raise InadmissibleError(found)


def _nothing_to_check(event: Event) -> bool:
    """No link, no quote or position, no firmness said: most events, which then cost an import
    line or an append a loop instead of three lists."""
    for source in event.sources:
        if source.url is not None or source.quote is not None or source.position is not None:
            return False
    return not _firmness_said(event)


def _firmness_said(event: Event) -> tuple[FirmnessSaid, ...]:
    data = getattr(event, "data", None)
    return data.firmness_said if isinstance(data, Investment | Commitment) else ()


def citation_problems(source: Source) -> list[tuple[str, str]]:
    """A quote is checked against a registered source's text: it needs the source's id, and
    says what an excerpt would say (one or the other); the store states where it was found."""
    found = []
    if source.quote is not None and source.source is None:
        found.append(("quote", "a quote cites a registered source: give its id as `source`"))
    if source.quote is not None and source.excerpt is not None:
        found.append(("excerpt", "a citation quotes by `quote` (checked) or `excerpt`, not both"))
    if source.position is not None and source.quote is None:
        found.append(
            ("position", "a position is where a `quote` was found: quote, or leave it out")
        )
    return found


def _near(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean `{close[0]}`?" if close else ""
