"""Bearer tokens on requests: who appends (the token's name becomes the events' `actor`)."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from timeline import logs
from timeline.api.errors import ProblemError
from timeline.api.services import Services
from timeline.tokens import Scope, Token, TokenRegistry

CHALLENGE = 'Bearer realm="timeline"'
audit = logging.getLogger("timeline.audit")


def bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    return bearer_secret(connection.headers.get("authorization"))


def bearer_secret(header: str | None) -> str | None:
    """The secret of an `Authorization: Bearer <secret>` header; None for any other."""
    if header is None:
        return None
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


async def authenticate(
    connection: ASGIConnection[Any, Any, Any, Any],
    tokens: TokenRegistry,
    scope: Scope,
    secret: str | None = None,
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
    token = await tokens.find_token(secret)
    if token is None:
        raise ProblemError(
            401,
            "the token is unknown or revoked",
            headers={"WWW-Authenticate": f'{CHALLENGE}, error="invalid_token"'},
        )
    token_used(token, scope)
    if scope not in token.scopes:
        raise ProblemError(
            403,
            f"token {token.name!r} lacks the {scope!r} scope (it has: {', '.join(token.scopes)})",
            headers={"WWW-Authenticate": f'{CHALLENGE}, error="insufficient_scope"'},
        )
    return token


def token_used(token: Token, scope: Scope) -> None:
    logs.info(
        audit, "token used", {"token": token.name, "scope": scope, "granted": scope in token.scopes}
    )


CHECKED_KEY = "append_token"
"""Where in the request's scope state the edge leaves the append token it checked (and logged)
before handing the request to litestar (`lean_append.py`): one check per request."""
REFUSED_KEY = "append_refused"
"""Where the edge leaves what the store raised for the append it tried, so that the handler
answers it rather than queue the same append again (`lean_append.py`)."""


async def append_token(request: Request[Any, Any, Any], svc: Services) -> Token:
    """The token of an append, asked for first thing by its handler (resolved by injection
    it cost a twentieth of an append over HTTP)."""
    checked = request.scope.get("state", {}).get(CHECKED_KEY)
    if isinstance(checked, Token):
        return checked
    return await authenticate(request, svc.tokens, "append")


async def read_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Reads are public unless TIMELINE_PUBLIC_READ=false; then they need a `read` token.

    Writes on the same paths are guarded by their own `append` dependency: an
    append-only token must not need the `read` scope too.
    """
    if connection.scope.get("method") not in {"GET", "HEAD"}:
        return
    svc = _services(connection)
    if not svc.settings.public_read:
        await authenticate(connection, svc.tokens, "read")


async def feed_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Private deployments: calendar apps and a browser's `EventSource` cannot send headers,
    so on feeds and live streams a `read` token is also taken as `?token=` (the access log
    writes the path alone, never the query)."""
    svc = _services(connection)
    if not svc.settings.public_read:
        await authenticate(connection, svc.tokens, "read", connection.query_params.get("token"))


SUBSCRIBER_KEY = "subscribe_token"


async def subscribe_guard(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Every route of `/subscriptions`, reads included: receivers' URLs are no one else's
    business. The token is left in the request's state for the audit line."""
    token = await authenticate(connection, _services(connection).tokens, "subscribe")
    connection.scope.setdefault("state", {})[SUBSCRIBER_KEY] = token


def subscriber(request: Request[Any, Any, Any]) -> str:
    """The name of the token `subscribe_guard` let through."""
    token: Token = request.scope["state"][SUBSCRIBER_KEY]
    return token.name


def reader_secret(request: Request[Any, Any, Any], svc: Services) -> str | None:
    """The reader's own token in a private deployment, for links that must carry it."""
    if svc.settings.public_read:
        return None
    return bearer(request) or request.query_params.get("token")


def _services(connection: ASGIConnection[Any, Any, Any, Any]) -> Services:
    """Guards run before dependencies are resolved, so they read the app's state."""
    found: Services = connection.app.state.services
    return found
