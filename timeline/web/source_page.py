"""A registered source as a page: what it is, and its text in paragraphs with a quote marked.

Quotes are found, and their positions counted, in the text's normal form (Unicode NFC, every
run of white space one space); the page shows the text as registered, paragraph by paragraph,
so a position is carried back to the NFC text before it is marked. Pure.
"""

from __future__ import annotations

import re
import unicodedata

from timeline.sources import SourceRecord
from timeline.web.markup import Markup, html, join, web_url
from timeline.web.pages import document

_PARAGRAPHS = re.compile(r"\n\s*")


def nfc_offsets(nfc: str) -> list[int]:
    """For each character of the normal form of `nfc` (already NFC), where it is in `nfc`; and
    one past the last, so that an end maps too."""
    found: list[int] = []
    spacing = False
    for at, char in enumerate(nfc):
        if char.isspace():  # what `\s` matches in `normalised`
            if found and not spacing:
                found.append(at)  # a run of white space is the one space at its start
            spacing = True
            continue
        spacing = False
        found.append(at)
    while found and nfc[found[-1]].isspace():
        found.pop()  # the normal form is stripped
    found.append(found[-1] + 1 if found else 0)
    return found


def _marked(piece: str, start: int, lo: int, hi: int) -> Markup:
    """`piece` (at `start` of the text) with the characters `lo` to `hi` of the text marked."""
    a, b = max(lo - start, 0), min(hi - start, len(piece))
    if a >= b:
        return html("{}", piece)
    if lo >= start:  # where the quote begins: the address's `#quote` scrolls to it
        return html(
            "{}<mark class='quote' id='quote'>{}</mark>{}", piece[:a], piece[a:b], piece[b:]
        )
    return html("{}<mark class='quote'>{}</mark>{}", piece[:a], piece[a:b], piece[b:])


def source_page(
    record: SourceRecord, superseded_by: str | None, span: tuple[int, int] | None
) -> Markup:
    """The source's record and its text; `span` (of the normal form) marked where it is."""
    text = unicodedata.normalize("NFC", record.text or "")
    marked: tuple[int, int] | None = None
    if span is not None and text:
        offsets = nfc_offsets(text)
        start, end = span
        if 0 <= start < end < len(offsets):
            marked = (offsets[start], offsets[end - 1] + 1)
    paragraphs: list[Markup] = []
    at = 0
    for piece in _PARAGRAPHS.split(text):
        begins = text.index(piece, at) if piece else at
        at = begins + len(piece)
        if not piece.strip():
            continue
        shown = html("{}", piece) if marked is None else _marked(piece, begins, *marked)
        paragraphs.append(html("<p>{}</p>", shown))
    link = web_url(record.url)
    facts = [
        ("Title", record.title + ("" if record.headline else " (a description, not its headline)")),
        ("Publisher", record.publisher or "not given"),
        ("Published", record.published.describe() if record.published else "not given"),
        ("Language", record.language),
        ("Fingerprint (SHA-256 of the normalised text)", record.sha256 or "no text registered"),
        ("Registered", f"{record.registered_at.isoformat()} by {record.actor}"),
    ]
    if record.supersedes:
        facts.append(("Corrects", record.supersedes))
    if superseded_by:
        facts.append(("Corrected by", superseded_by))
    listed = join(html("<div><dt>{}</dt><dd>{}</dd></div>", name, value) for name, value in facts)
    body = html(
        "<header class='top'><p><a href='/'>All partnerships</a></p><h1>{}</h1>{}</header>"
        "<main class='source'><dl class='fields'>{}</dl>{}<nav class='links'>"
        "<a href='/sources/{}'>JSON</a><a href='/sources/{}/citations'>What cites it</a></nav>"
        "</main>",
        record.title,
        html("<p class='meta'><a href='{}' rel='noopener noreferrer'>The source</a></p>", link)
        if link
        else "",
        listed,
        html(
            "<article class='source-text' lang='{}'>{}</article>", record.language, join(paragraphs)
        )
        if paragraphs
        else Markup("<p>Registered without its text.</p>"),
        record.id,
        record.id,
    )
    return document(record.title, body)
