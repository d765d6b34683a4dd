"""A fact's lineage as a page: every version the store has held, in words. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from timeline.events import Source
from timeline.lineage import Lineage, Version
from timeline.web.markup import Markup, html, join
from timeline.web.pages import Passages, cited_sources, document, in_words

UNSHOWN = frozenset({"event_id", "sources"})
"""Fields a version says elsewhere: its events and its sources are listed with it."""


def _fields(value: dict[str, Any], names: Iterable[str] | None = None) -> Markup:
    """The fields in words, those with no value left out (or just `names`, blank ones said)."""
    chosen = [n for n in value if n not in UNSHOWN and value[n] is not None]
    if names is not None:
        chosen = [n for n in names if n not in UNSHOWN]
    return html(
        "<dl class='fields'>{}</dl>",
        join(
            html(
                "<div><dt>{}</dt><dd>{}</dd></div>",
                name.replace("_", " "),
                in_words(value.get(name)),
            )
            for name in chosen
        ),
    )


def _instant(at: datetime | None, open_word: str) -> str:
    return open_word if at is None else at.isoformat()


def _days(first: date, last: date | None) -> str:
    if last is None:
        return f"from {first.isoformat()} on"
    if last == first:
        return f"on {first.isoformat()}"
    return f"from {first.isoformat()} to {last.isoformat()}"


def _what_it_said(value: dict[str, Any], current: dict[str, Any] | None) -> Markup:
    """A version's fields: where there is a value now, those in which it differs, and every
    field on demand."""
    if current is None:
        return _fields(value)
    differs = [n for n in value if n not in UNSHOWN and value.get(n) != current.get(n)]
    said = (
        html("<p>Where it differs from the value above:</p>{}", _fields(value, differs))
        if differs
        else Markup("<p>The value above.</p>")
    )
    return html("{}<details><summary>Every field</summary>{}</details>", said, _fields(value))


def _version(
    version: Version, current: dict[str, Any] | None, stream: str, passages: Passages
) -> Markup:
    events = join(html("<li><code>{}</code></li>", event_id) for event_id in version.events)
    superseded = ""
    if version.superseded_by:
        superseded = html(
            "<p class='superseded'>Superseded by {}.</p>",
            ", ".join(str(event_id) for event_id in version.superseded_by),
        )
    sources: tuple[Source, ...] = version.sources
    return html(
        "<li class='version{}'><p><strong>Holds {}</strong>; the latest knowledge from {} "
        "until {}.</p>{}<details><summary>Events behind it ({})</summary><ul>{}</ul>"
        "<p><a href='/partnerships/{}/events'>The partnership's history</a></p></details>"
        "{}{}</li>",
        "" if version.recorded_to is None else " superseded",
        _days(version.effective_from, version.effective_to),
        version.recorded_from.isoformat(),
        _instant(version.recorded_to, "now"),
        _what_it_said(version.value, current),
        len(version.events),
        events,
        stream,
        superseded,
        cited_sources(sources, passages),
    )


def fact_page(found: Lineage, passages: Passages) -> Markup:
    """The fact now (on `as_of`, as known at `known_at`), when each of its fields came to be
    known, and every version, latest knowledge first."""
    query = {"as_of": found.as_of.isoformat()}
    if found.known_at is not None:
        query["known_at"] = found.known_at.isoformat()
    here = urlencode(query)
    known = _instant(found.known_at, "now")
    current: Markup | str = html(
        "<p>On {}, as known at {}, it does not hold.</p>", found.as_of.isoformat(), known
    )
    if found.current is not None:
        by_instant: dict[datetime, list[str]] = {}
        for entry in found.learned:
            if entry.field not in UNSHOWN and found.current.get(entry.field) is not None:
                by_instant.setdefault(entry.learned_at, []).append(entry.field.replace("_", " "))
        learned = join(
            html("<li>Since {}: {}</li>", at.isoformat(), ", ".join(names))
            for at, names in sorted(by_instant.items())
        )
        current = html(
            "<p>On {}, as known at {}:</p>{}<h2>When we learned it</h2><ul>{}</ul>",
            found.as_of.isoformat(),
            known,
            _fields(found.current),
            learned,
        )
    versions = sorted(found.versions, key=lambda v: (v.recorded_from, v.effective_from))
    listed = join(
        _version(v, found.current, found.partnership, passages) for v in reversed(versions)
    )
    body = html(
        "<header class='top'><p><a href='/partnerships/{stream}/timeline?{here}'>Back to the "
        "timeline</a></p><h1>{label}</h1><p class='meta'>A {kind}; first recorded {first}.</p>"
        "</header><main class='lineage'>{current}<h2>Every version we have held ({count})</h2>"
        "<ol class='versions'>{listed}</ol><nav class='links'>"
        "<a href='/partnerships/{stream}/facts/{kind_path}/{fact}?{here}'>JSON</a></nav></main>",
        stream=found.partnership,
        here=here,
        label=found.label,
        kind=found.kind.replace("-", " "),
        first=found.first_recorded.isoformat(),
        current=current,
        count=len(versions),
        listed=listed,
        kind_path=found.kind,
        fact=found.id,
    )
    return document(f"{found.label} — history", body)
