"""What wraps every request before litestar routes it: HEAD as GET, request ids, access lines.

Litestar answers HEAD only on handlers declared for it and runs its
middleware after routing, so these live around its ASGI handler instead.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

access = logging.getLogger("timeline.access")

REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}", re.ASCII)
"""A client's `X-Request-ID` is echoed only if it is short and harmless in a log line."""


def request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if REQUEST_ID.fullmatch(text):
                return text
    return uuid.uuid4().hex


def edge(app: ASGIApp) -> ASGIApp:
    """`app` answering HEAD like GET without a body, with one access line per request."""

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
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", rid.encode())]
            elif head and message["type"] == "http.response.body":
                if ended:  # the rest of a streamed body, which HEAD never sends
                    return
                ended = True
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        try:
            await app(scope, receive, reply)
        finally:
            access.info(
                "request",
                extra={
                    "method": "HEAD" if head else scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    "request_id": rid,
                    "client": _client(scope),
                },
            )

    return handle


def _client(scope: Scope) -> str | None:
    client: Any = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else None
