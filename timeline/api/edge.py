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
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from timeline import metrics

access = logging.getLogger("timeline.access")

_PARAM_TYPE = re.compile(r"\{(\w+):\w+\}")
REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}", re.ASCII)
"""A client's `X-Request-ID` is echoed only if it is short and harmless in a log line."""


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


def edge(app: ASGIApp, allowed: Callable[[str], str | None]) -> ASGIApp:
    """`app` answering HEAD like GET without a body, with one access line per request.

    `allowed` names the methods of a path template, for `Allow` on OPTIONS and
    405 answers (litestar's own OPTIONS handler forgets methods registered after
    the first one of a path).
    """

    async def handle(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = request_id(scope)
        scope.setdefault("state", {})["request_id"] = rid
        head = scope["method"] == "HEAD"
        if head:
            scope["method"] = "GET"
        status = 0
        ended = False

        async def reply(message: Message) -> None:
            nonlocal status, ended
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", ()), (b"x-request-id", rid.encode())]
                if scope["method"] == "OPTIONS" or status == HTTPStatus.METHOD_NOT_ALLOWED:
                    methods = allowed(scope.get("path_template", ""))
                    if methods is not None:
                        headers = [(k, v) for k, v in headers if k.lower() != b"allow"]
                        headers.append((b"allow", methods.encode()))
                message["headers"] = headers
            elif head and message["type"] == "http.response.body":
                if ended:  # the rest of a streamed body, which HEAD never sends
                    return
                ended = True
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        try:
            await app(scope, receive, reply)
        finally:
            seconds = time.perf_counter() - started
            method = "HEAD" if head else scope["method"]
            route = _PARAM_TYPE.sub(r"{\1}", scope.get("path_template") or "unmatched")
            metrics.observe_request(method, route, status, seconds)
            access.info(
                "request",
                extra={
                    "method": method,
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                    "request_id": rid,
                    "client": _client(scope),
                },
            )

    return handle


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
