"""`POST /partnerships/{id}/events` answered before litestar routes it, when all goes well.

Litestar's pipeline (middleware, routing, dependency injection, the
signature model, response building) cost more than the append itself: a
bare litestar POST that decodes its body made 5,200 requests/s on the
development machine, so an append through it could not reach 4,000. This
path takes the common case only: a plain bearer token with the `append`
scope, a JSON body within the limits that decodes to events, no query, no
`Origin` (CORS), and an append the store accepts. Anything else, including
every refusal, goes to litestar's handler with the body as it came, which
answers it (and counts it) as before; that is only ever done before anything
was stored, so it cannot store twice. A refusal (a rule, a version, an id) is
handed over with what the store raised, which the handler answers instead of
appending again (a full disk or a lost database is tried again): a refused
append took two turns of the writer (a tenth of `bench/random_append.lua`'s go
to ended partnerships: 2.7% fewer instructions an append of that mix). Its
answer is never compressed (an append's answer echoes the events just sent;
identity is always acceptable unless a client refuses it, and such a request
goes to litestar).
"""

from __future__ import annotations

import re

import msgspec
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from timeline.api.auth import CHECKED_KEY, REFUSED_KEY, bearer_secret, token_used
from timeline.api.http import is_json
from timeline.api.models import AppendRequest
from timeline.api.partnerships import appended_answer, decode_append
from timeline.api.services import Services
from timeline.events import SLUG_MAX, SLUG_PATTERN
from timeline.fold import DomainError
from timeline.store.base import StoreError, StoreFullError
from timeline.tokens import Token

APPEND_PATH = re.compile(rf"/partnerships/({SLUG_PATTERN.strip('^$')})/events", re.ASCII)
APPEND_ROUTE = "/partnerships/{stream_id}/events"
_NOT_HERE = frozenset({b"origin", b"expect", b"content-encoding"})
"""Requests with these headers go to litestar: CORS, and refusing an encoded body, are its."""


async def lean_append(
    scope: Scope, receive: Receive, send: Send, app: ASGIApp, *, svc: Services, request_id: str
) -> int:
    """Answer the append in `scope`, or hand it to `app`; the status sent either way."""
    body, received = await _body(receive, svc.settings.max_body_bytes)
    try:
        taken = None if body is None else await _taken(scope, body, svc)
    except Exception:  # noqa: BLE001 - the token store failed: the handler answers that
        taken = None
    if taken is None:
        return await _hand_over(scope, received, receive, send, app)
    stream, token, appended = taken
    try:
        result = await svc.store.append(
            stream,
            appended.events,
            actor=token.name,
            expected_version=appended.expected_version,
            decoded=True,
        )
    except Exception as error:  # noqa: BLE001 - an append that raises stored nothing: the
        if _refused(error):  # handler answers and counts it; a refusal without a second turn
            scope.setdefault("state", {})[REFUSED_KEY] = error  # of the writer
        return await _hand_over(scope, received, receive, send, app)
    status, content, location = appended_answer(svc, token.name, stream, result, request_id)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
                (b"location", location.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": content, "more_body": False})
    return status


def _refused(error: Exception) -> bool:
    """Whether the store refused the append for what it says, so that trying it again would
    say the same; a full disk or a lost database is tried again by the handler."""
    return isinstance(error, DomainError | StoreError) and not isinstance(error, StoreFullError)


async def _taken(
    scope: Scope, body: bytes, svc: Services
) -> tuple[str, Token, AppendRequest] | None:
    """(stream, token, events) of an append this path takes; None for litestar's handler."""
    if svc.settings.limits_writes:
        return None  # the rate limits are litestar middleware: its pipeline counts the append
    found = APPEND_PATH.fullmatch(scope["path"])
    headers = _headers(scope)
    if found is None or headers is None or scope["query_string"] or len(found[1]) > SLUG_MAX:
        return None
    secret = bearer_secret(_text(headers.get(b"authorization")))
    if secret is None or not is_json(_text(headers.get(b"content-type")) or ""):
        return None
    if b"q=0" in headers.get(b"accept-encoding", b"").replace(b" ", b""):
        return None  # identity may be refused: litestar negotiates
    token = await svc.tokens.find_token(secret)
    if token is None or "append" not in token.scopes:
        return None  # litestar's handler says why, in its words and audit line
    token_used(token, "append")
    scope.setdefault("state", {})[CHECKED_KEY] = token  # its handler asks no more
    appended = _decoded(body, svc.settings.max_batch)
    return None if appended is None else (found[1], token, appended)


def _headers(scope: Scope) -> dict[bytes, bytes] | None:
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name in _NOT_HERE or name in found:  # a repeated header: litestar's to judge
            return None
        found[name] = value
    return found


def _text(header: bytes | None) -> str | None:
    """A header as litestar reads it."""
    return None if header is None else header.decode("latin-1")


def _decoded(body: bytes, max_batch: int) -> AppendRequest | None:
    try:
        appended = decode_append(body)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError):
        return None
    return appended if len(appended.events) <= max_batch else None


async def _body(receive: Receive, limit: int) -> tuple[bytes | None, list[ReceiveMessage]]:
    """The whole body, or None past `limit` bytes; and the messages read, to hand over."""
    received: list[ReceiveMessage] = []
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        received.append(message)
        if message["type"] != "http.request":
            return None, received
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > limit:
            return None, received
        if not message.get("more_body", False):
            return b"".join(chunks), received


async def _hand_over(
    scope: Scope, received: list[ReceiveMessage], receive: Receive, send: Send, app: ASGIApp
) -> int:
    """Route the request through `app`, its body read again from what was received."""
    pending = list(received)
    status = 0

    async def again() -> ReceiveMessage:
        return pending.pop(0) if pending else await receive()

    async def sent(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        await send(message)

    await app(scope, again, sent)
    return status
