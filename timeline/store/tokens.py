"""API tokens kept beside the events, in the backend's own database: written once for SQL.

A `TokenRegistry` of its own, not part of `EventStore`: the API authenticates
with it and the CLI manages it, and neither needs the other's methods.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Protocol

from timeline.lru import LRU
from timeline.store import base
from timeline.store.mapper import Dialect, Query, Row
from timeline.tokens import Token, TokenError, check_name, check_scopes, digest, new_secret

COLUMNS = "name, scopes, created_at, revoked_at"
KEPT_TOKENS = 1024


class TokenConnection(Protocol):
    async def fetch(self, query: Query) -> list[Row]: ...

    async def execute(self, query: Query) -> int:
        """Run a statement; how many rows it changed."""
        ...


Exclusive = Callable[[str], AbstractAsyncContextManager[TokenConnection]]
"""A transaction no other creation of the same token name can interleave with."""


class SQLTokens:
    """The `TokenRegistry` of a SQL backend."""

    def __init__(
        self, dialect: Dialect, connection: Callable[[], TokenConnection], exclusive: Exclusive
    ) -> None:
        self._dialect = dialect
        self._connection = connection
        self._exclusive = exclusive
        self._found: LRU[str, tuple[float, Token]] = LRU(KEPT_TOKENS)
        """Tokens found lately, by hash, with when: an append asks the database once a second."""

    def _query(self) -> Query:
        return Query(self._dialect)

    async def create_token(self, name: str, scopes: tuple[str, ...]) -> str:
        name, scopes = check_name(name), check_scopes(scopes)
        secret = new_secret()
        async with self._exclusive(name) as conn:
            q = self._query()
            q.sql = f"SELECT 1 FROM tokens WHERE name = {q.param(name)} AND revoked_at IS NULL"
            if await conn.fetch(q):
                raise TokenError(f"a token named {name!r} exists; revoke it first")
            q = self._query()
            q.sql = f"DELETE FROM tokens WHERE name = {q.param(name)}"  # a revoked one
            await conn.execute(q)
            q = self._query()
            values = (name, digest(secret), " ".join(scopes), self._now())
            q.sql = (
                "INSERT INTO tokens (name, hash, scopes, created_at)"
                f" VALUES ({', '.join(q.param(v) for v in values)})"
            )
            await conn.execute(q)
        self._found = LRU(KEPT_TOKENS)
        return secret

    async def revoke_token(self, name: str) -> bool:
        q = self._query()
        q.sql = (
            f"UPDATE tokens SET revoked_at = {q.param(self._now())}"
            f" WHERE name = {q.param(name)} AND revoked_at IS NULL"
        )
        revoked = await self._connection().execute(q) > 0
        self._found = LRU(KEPT_TOKENS)
        return revoked

    async def find_token(self, secret: str) -> Token | None:
        """Unknown secrets are asked for each time: guessing must not fill the memory."""
        hashed = digest(secret)
        found = self._found.get(hashed)
        asked_at = time.monotonic()
        if found is not None and asked_at - found[0] < base.TRUSTED_SECONDS:
            return found[1]
        q = self._query()
        q.sql = (
            f"SELECT {COLUMNS} FROM tokens WHERE hash = {q.param(hashed)} AND revoked_at IS NULL"
        )
        rows = await self._connection().fetch(q)
        if not rows:
            self._found.pop(hashed)
            return None
        token = self._token(rows[0])
        self._found[hashed] = (asked_at, token)
        return token

    async def tokens(self) -> list[Token]:
        rows = await self._connection().fetch(
            Query(self._dialect, f"SELECT {COLUMNS} FROM tokens ORDER BY name")
        )
        return [self._token(row) for row in rows]

    def _now(self) -> object:
        return self._dialect.instant(datetime.now(UTC))

    def _token(self, row: Row) -> Token:
        name, scopes, created_at, revoked_at = row
        read = self._dialect.read_instant
        return Token(
            name=name,
            scopes=tuple(scopes.split()),
            created_at=read(created_at),
            revoked_at=read(revoked_at) if revoked_at else None,
        )
