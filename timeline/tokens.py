"""Bearer tokens: random secrets shown once, kept only as hashes, named for the record.

A token's name is written as the `actor` of every event appended with it.
Tokens are high-entropy random strings, so a plain SHA-256 is the right hash:
there is nothing to brute-force that a slow hash would protect.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime
from typing import Literal, Protocol, get_args

import msgspec

Scope = Literal["append", "read", "subscribe"]
SCOPES: tuple[str, ...] = get_args(Scope)
PREFIX = "tl_"
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}", re.ASCII)


class TokenError(ValueError):
    """A token operation that cannot be done; the message says why."""


class Token(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None = None


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_name(name: str) -> str:
    if NAME_PATTERN.fullmatch(name) is None:
        raise TokenError(
            f"{name!r} is not a token name: lowercase letters, digits, '.', '_' or '-', "
            "at most 64, starting with a letter or digit"
        )
    return name


def check_scopes(scopes: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise TokenError(f"scopes must be among {', '.join(SCOPES)}; got {', '.join(scopes)}")
    return tuple(sorted(set(scopes)))


class TokenRegistry(Protocol):
    """Where tokens are kept; every store backend provides one."""

    async def create_token(self, name: str, scopes: tuple[str, ...]) -> str:
        """Store a new token and return its secret (the only time it is seen)."""
        ...

    async def revoke_token(self, name: str) -> bool:
        """Revoke the active token of that name; False if there is none."""
        ...

    async def find_token(self, secret: str) -> Token | None:
        """The active token with that secret, if any."""
        ...

    async def tokens(self) -> list[Token]: ...
