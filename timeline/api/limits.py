"""Write rate limits, per token and per client: litestar's rate-limit middleware, twice.

Off by default (a pipeline importing a backlog should not be throttled by surprise); an
operator sets `TIMELINE_WRITE_LIMIT_PER_TOKEN` and `TIMELINE_WRITE_LIMIT_PER_CLIENT`
(appends a minute). A refusal is a 429 problem with `Retry-After` and the `RateLimit-*`
headers; every write within the limit carries those headers too. Reads are never limited.
While a limit is set, appends leave the edge's lean path for litestar's pipeline, which is
where the middleware runs.
"""

from __future__ import annotations

import hashlib
from typing import Any

from litestar import Request
from litestar.exceptions import TooManyRequestsException
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.rate_limit import RateLimitConfig, RateLimitMiddleware
from litestar.types import Receive, Scope, Send

from timeline.api.auth import bearer

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class _Limit(RateLimitMiddleware):
    """Litestar's middleware, adding `Retry-After` (RFC 9110) to its 429."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except TooManyRequestsException as refused:
            if "Retry-After" in (refused.headers or {}):
                raise  # said by the limit inside this one, which refused it
            wait = (refused.headers or {}).get(self.config.rate_limit_reset_header_key, "60")
            refused.headers = {**(refused.headers or {}), "Retry-After": wait}
            who = self.config.store.removeprefix("writes-")
            refused.detail = f"too many writes from this {who}; retry in {wait} s"
            raise


def _is_write(request: Request[Any, Any, Any]) -> bool:
    return request.method in WRITES


def _token(request: Request[Any, Any, Any]) -> str:
    """A digest of the bearer token (the secret itself is kept nowhere); none: its client."""
    secret = bearer(request)
    if secret is None:
        return f"client:{_client(request)}"
    return hashlib.sha256(secret.encode()).hexdigest()


def _client(request: Request[Any, Any, Any]) -> str:
    """The client's address (behind TIMELINE_TRUSTED_PROXIES, the one the proxy names)."""
    return request.client.host if request.client else "unknown"


def write_limits(per_token: int, per_client: int) -> list[DefineMiddleware]:
    """The middleware for the limits that are set (0: no limit)."""
    found = []
    for count, name, identify in (
        (per_token, "writes-token", _token),
        (per_client, "writes-client", _client),
    ):
        if count > 0:
            config = RateLimitConfig(
                rate_limit=("minute", count),
                identifier_for_request=identify,
                check_throttle_handler=_is_write,
                middleware_class=_Limit,
                store=name,
            )
            found.append(config.middleware)
    return found
