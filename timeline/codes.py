"""ISO code lists (ISO 4217 currencies, ISO 639 languages), from pycountry's maintained data."""

from __future__ import annotations

import re
from functools import cache, lru_cache

import pycountry

CURRENCY_PATTERN = r"^[A-Z]{3}$"
LANGUAGE_PATTERN = r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$"

_LANGUAGE = re.compile(LANGUAGE_PATTERN, re.ASCII)


@cache
def _currencies() -> frozenset[str]:
    return frozenset(c.alpha_3 for c in pycountry.currencies)


@cache
def _languages() -> frozenset[str]:
    codes: set[str] = set()
    for language in pycountry.languages:
        codes.add(language.alpha_3)
        alpha_2 = getattr(language, "alpha_2", None)
        if alpha_2:
            codes.add(alpha_2)
    return frozenset(codes)


def currencies() -> list[str]:
    """Every ISO 4217 alphabetic code, sorted: the enum the published schemas give."""
    return sorted(_currencies())


@cache
def language_schema_pattern() -> str:
    """`LANGUAGE_PATTERN` as published: the primary subtag one of ISO 639's codes, so that a
    schema-valid tag is one `is_language` takes (longest codes first, as regex engines try
    alternatives in order)."""
    codes = sorted(_languages(), key=lambda code: (-len(code), code))
    return rf"^({'|'.join(codes)})(-[A-Za-z0-9]{{1,8}})*$"


def is_currency(code: str) -> bool:
    """True for an ISO 4217 alphabetic code such as USD or EUR."""
    return code in _currencies()


@lru_cache(maxsize=4096)
def is_language(tag: str) -> bool:
    """True for a BCP 47 tag whose primary subtag is an ISO 639 code (`fr`, `en-GB`)."""
    if _LANGUAGE.fullmatch(tag) is None:
        return False
    return tag.split("-", 1)[0] in _languages()
