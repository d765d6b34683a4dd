"""ISO code lists (ISO 4217 currencies, ISO 639 languages, ISO 3166 countries), from pycountry's
maintained data, and the check digits of the identifiers organizations are known by."""

from __future__ import annotations

import re
from functools import cache, lru_cache

import pycountry

CURRENCY_PATTERN = r"^[A-Z]{3}$"
LANGUAGE_PATTERN = r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$"
COUNTRY_PATTERN = r"^[A-Z]{2}$"
LEI_PATTERN = r"^[0-9A-Z]{18}[0-9]{2}$"
WIKIDATA_PATTERN = r"^Q[1-9][0-9]*$"

_LEI = re.compile(LEI_PATTERN, re.ASCII)
_WIKIDATA = re.compile(WIKIDATA_PATTERN, re.ASCII)

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


@cache
def _countries() -> frozenset[str]:
    return frozenset(c.alpha_2 for c in pycountry.countries)


def is_country(code: str) -> bool:
    """True for an ISO 3166-1 alpha-2 code of a country (`GB`, `US`)."""
    return code in _countries()


def countries() -> list[str]:
    """Every ISO 3166-1 alpha-2 code, sorted: the enum the published schemas give."""
    return sorted(_countries())


def is_lei(code: str) -> bool:
    """True for an ISO 17442 Legal Entity Identifier: 18 characters, then two check digits
    (02 to 98) that make the whole, read as a number (letters as 10 to 35), 1 modulo 97
    (ISO 7064 MOD 97-10)."""
    if _LEI.fullmatch(code) is None or not 2 <= int(code[18:]) <= 98:  # noqa: PLR2004 - ISO 7064
        return False
    return int("".join(str(int(c, 36)) for c in code)) % 97 == 1


def is_wikidata(code: str) -> bool:
    """True for a Wikidata item id: `Q` and a number."""
    return _WIKIDATA.fullmatch(code) is not None


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
