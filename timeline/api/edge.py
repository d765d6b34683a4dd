"""What wraps every request before litestar routes it: HEAD as GET, request ids, access lines.

Litestar answers HEAD only on handlers declared for it and runs its
middleware after routing, so these live around its ASGI handler instead.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send

from timeline import logs, metrics
from timeline.api.lean_append import APPEND_PATH, APPEND_ROUTE, lean_append
from timeline.api.replay import Recording, request_key
from timeline.api.services import Services

access = logging.getLogger("timeline.access")

_PARAM_TYPE = re.compile(r"\{(\w+):\w+\}")
REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}", re.ASCII)
"""A client's `X-Request-ID` is echoed only if it is short and harmless in a log line."""


PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
"""Every HTML answer's Content-Security-Policy: scripts, styles and fetches from the app's
own files only (no inline script or style, nothing from elsewhere), never in a frame."""
SAFE_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),  # a private deployment's links carry `?token=`
)
PAGE_HEADERS = (
    (b"content-security-policy", PAGE_POLICY.encode()),
    (b"x-frame-options", b"DENY"),  # frame-ancestors for browsers that predate it
)


def hardened(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` with what every answer says to browsers, and every page besides; and
    `Vary: Accept-Encoding` on every answer that could have been compressed, the plain one
    too, so that a shared cache never hands gzip to a client that did not ask for it."""
    kinds = [v for k, v in headers if k.lower() == b"content-type"]
    page = bool(kinds) and kinds[0].startswith(b"text/html")
    varies = any(k.lower() == b"vary" for k, _ in headers)
    live = bool(kinds) and kinds[0].startswith(b"text/event-stream")
    vary = () if varies or live else ((b"vary", b"Accept-Encoding"),)
    return [*headers, *SAFE_HEADERS, *(PAGE_HEADERS if page else ()), *vary]


def acceptable(accept_encoding: bytes) -> bytes:
    """`Accept-Encoding` without the codings it refuses (`gzip;q=0`), which litestar's
    compression would otherwise choose by name; `identity` is left as it was said."""
    kept = []
    for part in accept_encoding.split(b","):
        coding, _, params = part.strip().partition(b";")
        refused = any(_weight(p) == 0 for p in params.split(b";"))
        if coding and (not refused or coding.strip().lower() == b"identity"):
            kept.append(part.strip())
    return b", ".join(kept) or b"identity"


def _weight(param: bytes) -> float | None:
    """The `q` of one `;`-parameter (`q=0.000` is 0), or None for another parameter."""
    name, _, value = param.replace(b" ", b"").partition(b"=")
    if name.lower() != b"q":
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _refusals_dropped(scope: HTTPScope) -> None:
    headers = scope["headers"]
    for n, (name, value) in enumerate(headers):
        if name == b"accept-encoding" and b"q=0" in value.replace(b" ", b""):
            headers = list(headers)
            headers[n] = (name, acceptable(value))
            scope["headers"] = headers


_PROCESS = os.urandom(8).hex()
_COUNT = itertools.count(1)


def request_id(scope: Scope) -> str:
    """The client's own id if it is plain, else one unique to this process and request.

    A counter behind a random per-process prefix: unique without a system call
    per request (`uuid4` was a tenth of the cost of a small answer).
    """
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if REQUEST_ID.fullmatch(text):
                return text
    return f"{_PROCESS}{next(_COUNT):016x}"


def edge(
    app: ASGIApp,
    allowed: Callable[[str], str | None],
    services: Callable[[], Services | None] = lambda: None,
) -> ASGIApp:
    """`app` answering HEAD like GET without a body, with one access line per request.

    `allowed` names the methods of a path template, for `Allow` on OPTIONS and
    405 answers (litestar's own OPTIONS handler forgets methods registered after
    the first one of a path). `services` gives, once the app has opened its store,
    the answers kept for replay (`replay.py`) and the store whose position they
    rest on, and takes appends on their lean path (`lean_append.py`).
    """

    async def handle(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        _refusals_dropped(scope)
        rid = request_id(scope)
        scope.setdefault("state", {})["request_id"] = rid
        head = scope["method"] == "HEAD"
        if head:
            scope["method"] = "GET"
        answer = _Answer(scope, head, rid)
        try:
            svc = services() if scope["method"] in {"GET", "POST"} else None
            if svc is None:
                await app(scope, receive, answer.sender(send, allowed, None))
            elif scope["method"] == "POST":
                if APPEND_PATH.fullmatch(scope["path"]):
                    answer.route = APPEND_ROUTE
                    await lean_append(
                        scope, receive, answer.sender(send, allowed, None), app,
                        svc=svc, request_id=rid,
                    )  # fmt: skip
                else:
                    await app(scope, receive, answer.sender(send, allowed, None))
            else:
                answers, store = svc.answers, svc.store
                key, fresh = request_key(scope)
                replayed = None
                if key is not None and not fresh:
                    replayed = await answers.replay(
                        key, store.known_position, send, head=head, request_id=answer.request_id
                    )
                if replayed is None:
                    recording = None if key is None else Recording(answers, key, scope)
                    await app(scope, receive, answer.sender(send, allowed, recording))
                else:
                    answer.status, answer.route = replayed.status, replayed.route
        finally:
            seconds = time.perf_counter() - started
            method = "HEAD" if head else scope["method"]
            route = _PARAM_TYPE.sub(
                r"{\1}", answer.route or scope.get("path_template") or "unmatched"
            )
            metrics.observe_request(method, route, answer.status, seconds)
            logs.info(
                access,
                "request",
                {
                    "method": method,
                    "path": scope["path"],
                    "status": answer.status,
                    "duration_ms": round(seconds * 1000, 3),
                    "request_id": rid,
                    "client": _client(scope),
                },
            )

    return handle


class _Answer:
    """One request's answer as the edge sends it on: its status, its id, HEAD without a body."""

    __slots__ = ("head", "request_id", "route", "scope", "status")

    def __init__(self, scope: HTTPScope, head: bool, request_id: str) -> None:  # noqa: FBT001
        self.scope = scope
        self.head = head
        self.request_id = request_id.encode()
        self.status = 0
        self.route: str | None = None

    def sender(
        self, send: Send, allowed: Callable[[str], str | None], recording: Recording | None
    ) -> Send:
        scope, ended = self.scope, False

        async def reply(message: Message) -> None:
            nonlocal ended
            if message["type"] == "http.response.start":
                message["headers"] = hardened(list(message.get("headers", ())))
            if recording is not None:
                recording.see(message)  # kept with the headers above, for its replays
            if message["type"] == "http.response.start":
                self.status = message["status"]
                headers = [*message["headers"], (b"x-request-id", self.request_id)]
                if scope["method"] == "OPTIONS" or self.status == HTTPStatus.METHOD_NOT_ALLOWED:
                    said = b", ".join(v for k, v in headers if k.lower() == b"allow")
                    methods = allowed(scope.get("path_template", "")) or _with_head(said)
                    if methods:
                        headers = [(k, v) for k, v in headers if k.lower() != b"allow"]
                        headers.append((b"allow", methods.encode()))
                message["headers"] = headers
            elif self.head and message["type"] == "http.response.body":
                if ended:  # the rest of a streamed body, which HEAD never sends
                    return
                ended = True
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        return reply


def _with_head(allow: bytes) -> str:
    """Litestar's `Allow` (a 405 has no route template to look up), with HEAD wherever
    GET is: the edge answers HEAD on every GET route."""
    methods = {m.strip() for m in allow.decode("latin-1").split(",") if m.strip()}
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


def _client(scope: Scope) -> str | None:
    client: Any = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else None


def route_methods(app: Litestar) -> Callable[[str], str | None]:
    """The `Allow` value of each of `app`'s path templates (HEAD wherever GET is)."""
    found: dict[str, str] | None = None

    def allowed(template: str) -> str | None:
        nonlocal found
        if found is None:
            found = {}
            for route in app.routes:
                methods = set(getattr(route, "methods", ()))
                if "GET" in methods:
                    methods |= {"HEAD", "OPTIONS"}
                if methods:
                    found[_PARAM_TYPE.sub(r"{\1}", route.path)] = ", ".join(sorted(methods))
        return found.get(_PARAM_TYPE.sub(r"{\1}", template))

    return allowed
