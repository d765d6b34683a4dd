"""Quotes checked against the sources they cite: a citation of a registered source with text
must quote it word for word, and is stored with where the words are.

Texts and quotes are compared in their normal form (`sources.normalised`: Unicode NFC, every
run of white space one space), so a no-break space or a line break in the article does not
make a quote wrong. Positions count characters of that normal form. Pure: the writer hands
in the texts of the sources a group of appends cites (`anchored`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from uuid import UUID

import msgspec

from timeline.events import AnyEvent, StatementMade, TextPosition, TextQuote
from timeline.fold import DomainError, Rule
from timeline.sources import normalised

ELISION = re.compile(r"\s*\[(?:…|\.\.\.)\]\s*")
"""How a statement marks words left out of a quote: `[…]` (or `[...]`)."""
CONTEXT = 40
"""Characters shown on either side of the closest passage when a quote is not found."""
PROBE_WORDS = 3
"""Words of a quote looked for on their own to show where it nearly is."""


class QuoteError(DomainError):
    """A citation or statement that the cited source's text does not bear out; `path` names
    the field within the event (`$.sources[0].quote`), the caller prefixes the event's place."""

    def __init__(self, rule: Rule, message: str, event_id: UUID | None, path: str) -> None:
        super().__init__(rule, message, event_id)
        self.path = path


def anchored(events: Sequence[AnyEvent], texts: Mapping[str, str | None]) -> Sequence[AnyEvent]:
    """`events` with each quote of a registered source found in its text and its position
    stated; the events themselves when none cites one. `texts` maps each cited source's id
    to its normalised text (None: registered without text); an id it lacks is not registered.
    Raises `QuoteError` for the first citation that does not hold, its path within the append."""
    if not any(source.source is not None for event in events for source in event.sources):
        return events
    return [_anchored(event, n, texts) for n, event in enumerate(events)]


def _anchored(event: AnyEvent, n: int, texts: Mapping[str, str | None]) -> AnyEvent:
    sources = list(event.sources)
    changed = False
    for k, source in enumerate(sources):
        if source.source is None:
            continue
        where = f"$.events[{n}].sources[{k}]"
        if source.source not in texts:
            raise QuoteError(
                "source-not-registered",
                f"no source {source.source!r} is registered: POST /sources first",
                event.id,
                f"{where}.source",
            )
        text = texts[source.source]
        if source.quote is None:
            continue
        if text is None:
            raise QuoteError(
                "source-has-no-text",
                f"source {source.source!r} was registered without its text, so a quote of it "
                "cannot be checked: cite it with an `excerpt`, or register its text",
                event.id,
                f"{where}.quote",
            )
        start, end = find(text, source.quote, event.id, f"{where}.quote")
        position = TextPosition(start=start, end=end)
        if source.position is not None and source.position != position:
            raise QuoteError(
                "quote-not-in-source",
                f"the quote is at {start}-{end} of the source's normalised text, not "
                f"{source.position.start}-{source.position.end}: leave `position` out, the "
                "store states it",
                event.id,
                f"{where}.position",
            )
        sources[k] = msgspec.structs.replace(source, position=position)
        changed = True
    if isinstance(event, StatementMade):
        _check_statement(event, n, texts)
    return msgspec.structs.replace(event, sources=tuple(sources)) if changed else event


def find(text: str, quote: TextQuote, event_id: UUID | None, path: str) -> tuple[int, int]:
    """(start, end) of `quote` in `text` (normalised): the only occurrence of its exact words,
    or the only one with its prefix before and its suffix after."""
    exact = normalised(quote.exact)
    if not exact:
        raise QuoteError("quote-not-in-source", "a quote needs words", event_id, f"{path}.exact")
    starts = _occurrences(text, exact)
    if quote.prefix or quote.suffix:
        prefix = normalised(quote.prefix or "")
        suffix = normalised(quote.suffix or "")
        starts = [
            s
            for s in starts
            if _before(text, s).endswith(prefix) and _after(text, s + len(exact)).startswith(suffix)
        ]
    if not starts:
        raise QuoteError(
            "quote-not-in-source",
            f"the source's text does not hold {_shown(exact)}{_closest(text, exact)}",
            event_id,
            f"{path}.exact",
        )
    if len(starts) > 1:
        shown = ", ".join(str(s) for s in starts[:5])
        raise QuoteError(
            "quote-ambiguous",
            f"the source's text holds {_shown(exact)} {len(starts)} times (at characters "
            f"{shown}): give a `prefix` or `suffix` that tells which",
            event_id,
            path,
        )
    return starts[0], starts[0] + len(exact)


def _check_statement(event: StatementMade, n: int, texts: Mapping[str, str | None]) -> None:
    """A statement's words are a verbatim quote: each part between `[…]` in order, in one of
    the registered texts its sources cite (none with text: nothing to check)."""
    cited = [texts[s.source] for s in event.sources if s.source is not None]
    held = [text for text in cited if text is not None]
    if not held:
        return
    parts = [normalised(part) for part in ELISION.split(event.data.text)]
    parts = [part for part in parts if part]
    for text in held:
        at = 0
        for part in parts:
            found = text.find(part, at)
            if found < 0:
                break
            at = found + len(part)
        else:
            return
    missing = next((p for p in parts if all(p not in text for text in held)), None)
    raise QuoteError(
        "quote-not-in-source",
        "a statement quotes its source word for word, each part between `[…]` in order; "
        f"{_shown(missing) if missing else 'its parts'} "
        f"{'is not in' if missing else 'are out of order in'} the text it cites"
        f"{_closest(held[0], missing) if missing else ''}",
        event.id,
        f"$.events[{n}].data.text",
    )


def _occurrences(text: str, words: str) -> list[int]:
    found: list[int] = []
    at = text.find(words)
    while at >= 0:
        found.append(at)
        at = text.find(words, at + 1)
    return found


def _before(text: str, start: int) -> str:
    return text[:start].rstrip() if text[:start].endswith(" ") else text[:start]


def _after(text: str, end: int) -> str:
    return text[end:].lstrip() if text[end:].startswith(" ") else text[end:]


def _shown(words: str, most: int = 80) -> str:
    return f"“{words}”" if len(words) <= most else f"“{words[:most]}…”"


def _closest(text: str, exact: str) -> str:
    """Where the text nearly holds the quote: its first or last few words found alone, shown
    with what surrounds them (a cheap look, not a fuzzy search over a megabyte)."""
    words = exact.split(" ")
    for probe in (" ".join(words[:PROBE_WORDS]), " ".join(words[-PROBE_WORDS:])):
        at = text.find(probe) if probe else -1
        if at >= 0:
            start = max(0, at - CONTEXT)
            end = min(len(text), at + max(len(exact), len(probe)) + CONTEXT)
            return f"; the closest passage: “{text[start:end]}”"
    return ""


PASSAGE = 160
"""Characters of the text shown on either side of a quote in its passage, about a sentence."""


def passage(text: str, start: int, end: int, around: int = PASSAGE) -> tuple[str, str, str] | None:
    """A quote in its passage: (what comes before, the quoted words, what comes after), cut at
    spaces with `…` where the text goes on, from the normal form its position counts in; None
    for a position the text does not hold."""
    if not 0 <= start < end <= len(text):
        return None
    before = text[max(0, start - around) : start]
    if start - around > 0 and " " in before:
        before = "…" + before[before.index(" ") + 1 :]
    after = text[end : end + around]
    if end + around < len(text) and " " in after:
        after = after[: after.rindex(" ")] + "…"
    return before, text[start:end], after
