"""`/sources`: registered sources, immutable like events, their text fingerprinted."""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import PathParameter, QueryParameter

from timeline import logs, wire
from timeline.admission import InadmissibleError, check_new
from timeline.api.auth import append_token, read_guard
from timeline.api.errors import (
    BAD_REQUEST,
    FORBIDDEN,
    JSON,
    UNAUTHORIZED,
    FieldError,
    ProblemError,
    decoded_body,
    not_found,
    problem,
)
from timeline.api.http import (
    Cursor,
    decode_cursor,
    encode_cursor,
    next_page,
    require_json,
    text_param,
    valid_stream_id,
)
from timeline.api.openapi import body_operation
from timeline.api.services import Services
from timeline.codes import is_language
from timeline.events import (
    SLUG_MAX,
    SLUG_PATTERN,
    StoredEvent,
    TextPosition,
    TextQuote,
    type_name,
)
from timeline.sources import (
    TEXT_MAX_BYTES,
    SourceConflictError,
    SourceRecord,
    SourceRegistration,
    UnknownSourceError,
    normalised,
    problems,
)

audit = logging.getLogger("timeline.audit")
BODY_MAX = 6 * TEXT_MAX_BYTES + (1 << 16)
"""A registration's body at most, whatever TIMELINE_MAX_BODY_BYTES says: a text of the most
`TEXT_MAX_BYTES` even if every character were written as a JSON escape (`\u00e9`)."""
_registration = msgspec.json.Decoder(SourceRegistration, dec_hook=wire.dec_hook)
_untyped = msgspec.json.Decoder()

SourceIdPath = Annotated[
    str,
    PathParameter(
        description="The source's id, e.g. vodafone-microsoft-en",
        schema_extra={"pattern": SLUG_PATTERN, "maxLength": SLUG_MAX},
    ),
]


class SourceSummary(msgspec.Struct, frozen=True, kw_only=True):
    """A registered source without its text (`has_text` says whether it has one)."""

    id: str
    title: str
    headline: bool
    publisher: str | None
    url: str | None
    published: str | None
    language: str
    has_text: bool
    sha256: str | None
    supersedes: str | None
    registered_at: str
    actor: str
    href: str


class SourceDoc(SourceSummary, frozen=True, kw_only=True):
    """A registered source whole: its text, and what superseded it, if anything."""

    text: str | None
    superseded_by: str | None


class SourcePage(msgspec.Struct, frozen=True, kw_only=True):
    sources: tuple[SourceSummary, ...]
    next: str | None


class Citation(msgspec.Struct, frozen=True, kw_only=True):
    """An event citing the source: where it is, and what it quotes."""

    stream: str
    version: int
    position: int
    event_id: str
    type: str
    effective: str
    citation: int
    """Which of the event's `sources` cites it (from 0)."""
    quote: TextQuote | None
    """The selector the citation gave, if any; `span` is what it matched."""
    span: TextPosition | None
    passage: str | None
    """The words at `span` in the source's normalised text, with a little on either side."""
    excerpt: str | None
    verified: bool
    """The quote was found in the source's text (at `span`); False for an `excerpt`, or a
    quote of a source registered without text: words as the citing writer gave them."""
    href: str


class CitationPage(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    citations: tuple[Citation, ...]
    next: str | None


POSITION = re.compile(r"[0-9]{1,16}")
"""A citations cursor: the position a page ended at (ASCII digits, below 2^53)."""
PASSAGE_CONTEXT = 60
"""Characters of the source's text shown on either side of a quote in `passage`."""


def _summary_fields(record: SourceRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "title": record.title,
        "headline": record.headline,
        "publisher": record.publisher,
        "url": record.url,
        "published": None if record.published is None else str(record.published),
        "language": record.language,
        "has_text": record.sha256 is not None,  # lists read no text: the fingerprint says
        "sha256": record.sha256,
        "supersedes": record.supersedes,
        "registered_at": record.registered_at.isoformat().replace("+00:00", "Z"),
        "actor": record.actor,
        "href": f"/sources/{record.id}",
    }


def decode_registration(body: bytes) -> SourceRegistration:
    """The body typed, refused when it carries a field a registration has not (a misspelt
    `headline` is never dropped) or a value the type lets through (`problems`)."""
    registration = _registration.decode(body)
    check_new(_untyped.decode(body), SourceRegistration, [])
    found = problems(registration)
    if found:
        raise InadmissibleError(found)
    return registration


class Sources(Controller):
    path = "/sources"
    tags = ["sources"]  # noqa: RUF012 - litestar reads it as a class attribute

    @post(
        "/",
        summary="Register a source: an article, a filing, with its text if you have it",
        description="Needs a bearer token with the `append` scope. Sources are immutable: the "
        "same registration again answers 200 with the stored one; other content under a "
        "taken id is a 409; a correction is a new registration that `supersedes` the old. "
        "Without an `id`, one is made from the title. `sha256` fingerprints the text after "
        "Unicode NFC with every run of white space one space.",
        responses={
            201: ResponseSpec(SourceSummary, description="Registered", generate_examples=False),
            200: ResponseSpec(
                SourceSummary,
                description="The same registration, stored before",
                generate_examples=False,
            ),
            400: problem("Malformed JSON"),
            401: UNAUTHORIZED,
            403: FORBIDDEN,
            409: problem("The id holds another registration (`holder`), or it is superseded"),
            415: problem("The body is not `application/json`"),
            422: problem("An invalid field: `errors` names each one"),
        },
        status_code=201,
        request_max_body_size=BODY_MAX,
        operation_class=body_operation(SourceRegistration, "The source to register."),
    )
    async def register(
        self, request: Request[Any, Any, Any], svc: NamedDependency[Services]
    ) -> Response[Any]:
        token = await append_token(request, svc)
        require_json(request)
        registration = decoded_body(await request.body(), decode_registration, "a source")
        try:
            record, created = await svc.store.sources.register(registration, actor=token.name)
        except UnknownSourceError as error:
            detail = f"{error} (at {error.path})"
            raise ProblemError(422, detail, errors=(FieldError(error.path, str(error)),)) from None
        except SourceConflictError as error:
            raise ProblemError(409, str(error), holder=error.holder) from None
        logs.info(
            audit,
            "source",
            {"actor": token.name, "source": record.id, "created": created, "sha256": record.sha256},
        )
        content = wire.encode(SourceSummary(**_summary_fields(record)))
        return Response(
            content,
            status_code=201 if created else 200,
            media_type=JSON,
            headers={"Location": f"/sources/{record.id}"},
        )

    @get(
        "/{source_id:str}",
        guards=[read_guard],
        summary="A registered source, with its text and what superseded it",
        description="The source as registered (never changed since), its whole text when it "
        "was given one, and `superseded_by`: the registration that corrects it, if any.",
        responses={
            200: ResponseSpec(SourceDoc, description="The source", generate_examples=False),
            400: BAD_REQUEST,
            401: UNAUTHORIZED,
            404: problem("No source with that id"),
        },
    )
    async def source(
        self, svc: NamedDependency[Services], source_id: SourceIdPath
    ) -> Response[Any]:
        valid_stream_id(source_id, "source_id")
        record = await svc.store.sources.get(source_id)
        if record is None:
            raise not_found(f"no source {source_id!r} is registered")
        superseded_by = await svc.store.sources.superseded_by(source_id)
        doc = SourceDoc(**_summary_fields(record), text=record.text, superseded_by=superseded_by)
        return Response(wire.encode(doc), media_type=JSON)

    @get(
        "/",
        guards=[read_guard],
        summary="Registered sources by id, filtered by language and words",
        description="Without their texts (read one at its `href`); each word of `q` must "
        "begin a word of the title or the publisher, in any case, with or without accents; "
        "follow `next` for more.",
        responses={
            200: ResponseSpec(SourcePage, description="One page, by id", generate_examples=False),
            400: BAD_REQUEST,
            401: UNAUTHORIZED,
        },
    )
    async def list_sources(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        *,
        q: Annotated[
            str | None, QueryParameter(description="Words in the title or the publisher")
        ] = None,
        language: Annotated[
            str | None, QueryParameter(description="ISO 639 language of the sources, e.g. fr")
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        cursor: Cursor = None,
    ) -> Response[Any]:
        words = None if q is None else text_param(q, "q").strip() or None
        if language is not None and not is_language(language):
            raise ProblemError(
                400,
                f"{language!r} is not an ISO 639 language tag",
                errors=(FieldError("query.language", "not an ISO 639 language tag"),),
            )
        after = decode_cursor(cursor)
        found = await svc.store.sources.page(
            words=words, language=language, after=after, limit=limit + 1
        )
        page = found[:limit]
        next_link = None
        if len(found) > limit:
            next_link = next_page(request, cursor=encode_cursor(page[-1].id))
        listed = SourcePage(
            sources=tuple(SourceSummary(**_summary_fields(r)) for r in page), next=next_link
        )
        headers = {} if next_link is None else {"Link": f'<{next_link}>; rel="next"'}
        return Response(wire.encode(listed), media_type=JSON, headers=headers)

    @get(
        "/{source_id:str}/citations",
        guards=[read_guard],
        summary="Every fact that cites a registered source, with the passage it quotes",
        description="The events citing the source, in position order, each with which of its "
        "sources cites it, the quote it gave, the span the store found and the passage "
        "around it; follow `next` for more. Read by an index of citations, whatever the "
        "store's size.",
        responses={
            200: ResponseSpec(CitationPage, description="One page", generate_examples=False),
            400: BAD_REQUEST,
            401: UNAUTHORIZED,
            404: problem("No source with that id"),
        },
    )
    async def citations(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        source_id: SourceIdPath,
        *,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        cursor: Cursor = None,
    ) -> Response[Any]:
        valid_stream_id(source_id, "source_id")
        record = await svc.store.sources.get(source_id)
        if record is None:
            raise not_found(f"no source {source_id!r} is registered")
        after_text = decode_cursor(cursor)
        if after_text is not None and POSITION.fullmatch(after_text) is None:
            raise ProblemError(
                400,
                f"{cursor!r} is not a cursor this API gave out",
                errors=(FieldError("query.cursor", "not a cursor this API gave out"),),
            )
        after = int(after_text or 0)
        found = await svc.store.sources.citations(source_id, after=after, limit=limit + 1)
        text = None if record.text is None else normalised(record.text)
        page = found[:limit]
        next_link = None
        if len(found) > limit:
            split = found[limit][1].position
            if page[-1][1].position == split:  # a page ends after an event's last citation
                page = [(n, e) for n, e in page if e.position < split] or page
            next_link = next_page(request, cursor=encode_cursor(str(page[-1][1].position)))
        listed = CitationPage(
            source=source_id,
            citations=tuple(_citation(n, stored, text) for n, stored in page),
            next=next_link,
        )
        headers = {} if next_link is None else {"Link": f'<{next_link}>; rel="next"'}
        return Response(wire.encode(listed), media_type=JSON, headers=headers)


def _citation(n: int, stored: StoredEvent, text: str | None) -> Citation:
    cited = stored.event.sources[n]
    span = cited.position
    passage = None
    if text is not None and span is not None:
        start = max(0, span.start - PASSAGE_CONTEXT)
        end = min(len(text), span.end + PASSAGE_CONTEXT)
        passage = text[start:end]
    return Citation(
        stream=stored.stream,
        version=stored.version,
        position=stored.position,
        event_id=str(stored.event.id),
        type=type_name(stored.event),
        effective=str(stored.event.effective),
        citation=n,
        quote=cited.quote,
        span=span,
        passage=passage,
        excerpt=cited.excerpt,
        verified=span is not None,
        href=f"/partnerships/{stored.stream}/events?from_version={stored.version}&limit=1",
    )
