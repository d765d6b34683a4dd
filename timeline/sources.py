"""Sources as records: an article or a filing registered once, immutable like events, its text
fingerprinted so that a quote can later be checked against the very words it cites.

A correction is a new registration that `supersedes` the old one; the old one stays as it
was, and says what superseded it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import datetime
from typing import Protocol

import msgspec

from timeline.codes import is_language
from timeline.dates import PartialDate
from timeline.events import SLUG_MAX, Language, Model, Slug, StoredEvent, Text, WebUrl
from timeline.urls import is_web_url

TEXT_MAX_BYTES = 1 << 20
"""A source's text at most (UTF-8): an article or a filing, not a book."""
PUBLISHER_MAX = 200
SLUG_FROM_TITLE = 60
"""Characters of a title an id is made from when the registration names none."""

_SPACES = re.compile(r"\s+")


class SourceConflictError(Exception):
    """A registration that would change what is registered (409): `holder` is the source in
    the way, when there is one."""

    def __init__(self, message: str, holder: str | None) -> None:
        super().__init__(message)
        self.holder = holder


class UnknownSourceError(LookupError):
    """A source named (by `supersedes`, later by a citation) that is not registered."""

    def __init__(self, source_id: str, path: str) -> None:
        super().__init__(f"no source {source_id!r} is registered")
        self.source_id = source_id
        self.path = path


class SourceRegistration(Model, frozen=True, kw_only=True):
    """What `POST /sources` takes."""

    id: Slug | None = None
    """Left out: made from the title (`vodafone-and-microsoft-sign-...`)."""
    title: Text
    """What the source is called: its headline, or a description of it."""
    headline: bool = False
    """True when `title` is the publisher's own headline; otherwise it describes the source
    (an untitled page, a filing), and pages say so."""
    publisher: str | None = None
    """Who published it."""
    url: WebUrl | None = None
    published: PartialDate | None = None
    language: Language
    text: str | None = None
    """The source's full text, as published; quotes citing the source are checked against it."""
    supersedes: Slug | None = None
    """The id of the registration this one corrects."""


class SourceRecord(Model, frozen=True, kw_only=True):
    """A registered source as stored and answered."""

    id: Slug
    title: str
    headline: bool = False
    publisher: str | None = None
    url: str | None = None
    published: PartialDate | None = None
    language: str
    text: str | None = None
    sha256: str | None = None
    """Of the text normalised (`normalised`): the same words give the same fingerprint
    whatever their spacing or Unicode composition."""
    supersedes: str | None = None
    registered_at: datetime
    actor: str

    def same_registration(self, other: SourceRecord) -> bool:
        """Whether `other` registers what this one did (a replay), whenever and by whom."""
        mine = msgspec.structs.replace(self, registered_at=other.registered_at, actor=other.actor)
        return mine == other


class SourceRegistry(Protocol):
    """Where a store keeps its registered sources (`store/sources.py` for SQL backends)."""

    async def register(
        self, registration: SourceRegistration, *, actor: str
    ) -> tuple[SourceRecord, bool]:
        """The record stored and whether it is new (False: the same registration replayed)."""
        ...

    async def get(self, source_id: str) -> SourceRecord | None: ...

    async def superseded_by(self, source_id: str) -> str | None: ...

    async def page(
        self, *, words: str | None, language: str | None, after: str | None, limit: int
    ) -> list[SourceRecord]:
        """Records without their texts, by id."""
        ...

    async def citations(
        self, source_id: str, *, after: int, limit: int
    ) -> list[tuple[int, StoredEvent]]:
        """(which of its sources, the event) for the events citing a source, by position."""
        ...

    async def restore(self, record: SourceRecord) -> bool:
        """Store an exported record as it was (its registration time and actor kept); False
        when it is stored already. Raises as `register` does."""
        ...


class SourceLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A registered source as `timeline export` writes it, before the events that cite it."""

    source: SourceRecord


_SOURCE_LINE = re.compile(rb'^\s*\{\s*"source"\s*:')


def is_source_line(line: bytes) -> bool:
    """Whether an NDJSON line is a source (`{"source": {...}}`), not an event."""
    return _SOURCE_LINE.match(line) is not None


def record_problems(record: SourceRecord) -> list[tuple[str, str]]:
    """What an imported record may not be: what a registration may not be, and a fingerprint
    that is not its text's."""
    registration = SourceRegistration(
        id=record.id,
        title=record.title,
        headline=record.headline,
        publisher=record.publisher,
        url=record.url,
        published=record.published,
        language=record.language,
        text=record.text,
        supersedes=record.supersedes,
    )
    found = [(f"$.source{path[1:]}", message) for path, message in problems(registration)]
    expected = None if record.text is None else fingerprint(record.text)
    if record.sha256 != expected:
        found.append(("$.source.sha256", "not the fingerprint of the text it holds"))
    return found


def normalised(text: str) -> str:
    """Unicode NFC, and every run of white space (no-break spaces included) one space: how
    quotes are compared with a source's text, and what its fingerprint is of."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def fingerprint(text: str) -> str:
    return hashlib.sha256(normalised(text).encode()).hexdigest()


def slug_of(title: str) -> str:
    """An id made from a title: lowercase ASCII letters and digits, single hyphens."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_title.lower())
    slug = ""
    for word in words:
        longer = f"{slug}-{word}" if slug else word
        if len(longer) > SLUG_FROM_TITLE:
            break
        slug = longer
    return slug or "source"


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""Control characters a text may not hold (tabs and line ends it may): PostgreSQL stores no
NUL, and the rest are no part of a published text."""


def _controls(registration: SourceRegistration) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for name in ("title", "publisher", "text"):
        value = getattr(registration, name)
        if value is None:
            continue
        if _CONTROL.search(value) or (name != "text" and any(c in value for c in "\t\r\n")):
            found.append((f"$.{name}", "control characters are not allowed here"))
    return found


def problems(registration: SourceRegistration) -> list[tuple[str, str]]:
    """What the typed decode lets through but a source may not be: each (path, message)."""
    found = _controls(registration)
    if not is_language(registration.language):
        found.append(("$.language", f"{registration.language!r} is not an ISO 639 language tag"))
    if registration.url is not None and not is_web_url(registration.url):
        found.append(("$.url", "a link must be an absolute http or https URL"))
    if not registration.title.strip():
        found.append(("$.title", "a title needs words, not only white space"))
    if registration.publisher is not None and not 0 < len(registration.publisher) <= PUBLISHER_MAX:
        found.append(("$.publisher", f"a publisher's name is 1 to {PUBLISHER_MAX} characters"))
    text = registration.text
    if text is not None:
        if len(text.encode()) > TEXT_MAX_BYTES:
            found.append(("$.text", f"a source's text is at most {TEXT_MAX_BYTES:,} bytes (UTF-8)"))
        elif not normalised(text):
            found.append(("$.text", "a text needs words, not only white space"))
    if registration.supersedes is not None and registration.supersedes == registration.id:
        found.append(("$.supersedes", "a source cannot supersede itself"))
    return found


def record_of(
    registration: SourceRegistration, source_id: str, *, registered_at: datetime, actor: str
) -> SourceRecord:
    text = registration.text
    return SourceRecord(
        id=source_id,
        title=registration.title,
        headline=registration.headline,
        publisher=registration.publisher,
        url=registration.url,
        published=registration.published,
        language=registration.language,
        text=text,
        sha256=None if text is None else fingerprint(text),
        supersedes=registration.supersedes,
        registered_at=registered_at,
        actor=actor,
    )


def candidate_ids(registration: SourceRegistration) -> list[str]:
    """The ids a registration may take, in order: the one it names, else its title's slug and
    then that slug numbered (a second source titled alike is `...-2`)."""
    if registration.id is not None:
        return [registration.id]
    base = slug_of(registration.title)[: SLUG_MAX - 4]
    return [base, *(f"{base}-{n}" for n in range(2, 100))]
