"""Bearer tokens on requests: who appends (the token's name becomes the events' `actor`)."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from timeline.api.errors import ProblemError
from timeline.api.services import services
from timeline.tokens import Scope, Token

CHALLENGE = 'Bearer realm="timeline"'
audit = logging.getLogger("timeline.audit")


def bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization")
    if header is None:
        return None
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


async def authenticate(
    connection: ASGIConnection[Any, Any, Any, Any], scope: Scope, secret: str | None = None
) -> Token:
    """The token that grants `scope`, or a 401 (no or unknown token) / 403 (other scope)."""
    secret = secret or bearer(connection)
    if secret is None:
        raise ProblemError(
            401,
            f"this needs a bearer token with the {scope!r} scope "
            "(Authorization: Bearer <token>; create one with `timeline tokens create`)",
            headers={"WWW-Authenticate": CHALLENGE},
        )
    token = await services(connection).tokens.find_token(secret)
    if token is None:
        raise ProblemError(
            401,
            "the token is unknown or revoked",
            headers={"WWW-Authenticate": f'{CHALLENGE}, error="invalid_token"'},
        )
    audit.info(
        "token used",
        extra={"token": token.name, "scope": scope, "granted": scope in token.scopes},
    )
    if scope not in token.scopes:
        raise ProblemError(
            403,
            f"token {token.name!r} lacks the {scope!r} scope (it has: {', '.join(token.scopes)})",
            headers={"WWW-Authenticate": f'{CHALLENGE}, error="insufficient_scope"'},
        )
    return token


async def append_token(request: Request[Any, Any, Any]) -> Token:
    """Dependency of the append endpoint."""
    return await authenticate(request, "append")


async def read_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Reads are public unless TIMELINE_PUBLIC_READ=false; then they need a `read` token.

    Writes on the same paths are guarded by their own `append` dependency: an
    append-only token must not need the `read` scope too.
    """
    if connection.scope.get("method") not in {"GET", "HEAD"}:
        return
    if not services(connection).settings.public_read:
        await authenticate(connection, "read")


def reader_secret(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The reader's own token in a private deployment, for links that must carry it."""
    if services(connection).settings.public_read:
        return None
    return bearer(connection) or connection.query_params.get("token")
