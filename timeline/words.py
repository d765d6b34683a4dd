"""Amounts and figures as people write them, in their own currency and unit: "USD 1.5
billion (≈ EUR 1.37 billion)", "at least 1 million workloads". Calendars and pages say them
alike (CLDR `en` long forms, through babel)."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

import msgspec
from babel import Locale
from babel.numbers import format_compact_decimal

from timeline.events import Comparator, FirmnessSaid, Source
from timeline.money import Money


@lru_cache(maxsize=1 << 12)
def amount_words(amount: Money) -> str:
    """An amount as people write it, in its own currency: "USD 1.5 billion" (cached: CLDR
    formatting costs ~45 µs, and a replay writes the same amounts again and again)."""
    about = "about " if amount.approximate else ""
    return f"{about}{amount.currency} {_number(amount.amount)}"


def equivalent_words(amount: Money) -> str:
    """A stated equivalent after the amount: " (≈ EUR 1.37 billion)" when approximate."""
    if amount.approximate:
        return f" (≈ {amount_words(msgspec.structs.replace(amount, approximate=False))})"
    return f" (= {amount_words(amount)})"


COMPARATOR_WORDS: dict[Comparator, str] = {
    ">=": "at least ",
    ">": "more than ",
    "=": "",
    "<=": "at most ",
    "<": "under ",  # for counts and amounts alike ("fewer" fits only the first)
    "~": "about ",
}


def firmness_differs(said: tuple[FirmnessSaid, ...], sources: tuple[Source, ...]) -> str | None:
    """Where sources differ on how firm a pledge is: what each says, by its title."""
    if not said:
        return None
    titles = {s.source: s.title for s in sources if s.source is not None}
    each = "; ".join(f"{s.firmness} in {titles.get(s.source, s.source)}" for s in said)
    return f"Sources differ: {each}"


def figure_words(value: Decimal, unit: str, comparator: Comparator) -> str:
    """A stated figure: "more than 300 million businesses", "at least 1 million workloads"."""
    return f"{COMPARATOR_WORDS[comparator]}{_number(value)} {unit}"


_EN = Locale.parse("en")
"""Parsed once: babel parses a locale named by its code on every call (a quarter of it)."""


@lru_cache(maxsize=1 << 14)
def _number(value: Decimal) -> str:
    """Cached by value as well: `amount_words` keys the currency and whether it is approximate
    too, and 75,000 synthetic investments of 5,000 amounts missed it (18 us each in CLDR)."""
    return format_compact_decimal(value, format_type="long", locale=_EN, fraction_digits=2)
