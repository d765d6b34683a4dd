"""Money as the source states it: decimal amounts in their own currency, never floats."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

import msgspec

from timeline.codes import CURRENCY_PATTERN, is_currency

Currency = Annotated[str, msgspec.Meta(pattern=CURRENCY_PATTERN, description="ISO 4217 code")]

UNDISCLOSED: Literal["undisclosed"] = "undisclosed"


def _check_amount(name: str, value: Decimal) -> None:
    if not value.is_finite():
        raise ValueError(f"{name} must be a finite decimal, not {value}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")


def _check_currency(code: str) -> None:
    if not is_currency(code):
        raise ValueError(f"{code!r} is not an ISO 4217 currency code")


class Money(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An amount in one currency; `approximate` when the source says "about"."""

    amount: Decimal
    currency: Currency
    approximate: bool = False

    def __post_init__(self) -> None:
        _check_amount("amount", self.amount)
        _check_currency(self.currency)


class Range(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """From `min` to `max`: money when `currency` is set, a count of `unit` otherwise."""

    min: Decimal
    max: Decimal
    currency: Currency | None = None
    unit: str | None = None
    approximate: bool = False

    def __post_init__(self) -> None:
        _check_amount("min", self.min)
        _check_amount("max", self.max)
        if self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        if (self.currency is None) == (self.unit is None):
            raise ValueError("a range has exactly one of currency (money) or unit (a number)")
        if self.currency is not None:
            _check_currency(self.currency)

    @property
    def is_money(self) -> bool:
        return self.currency is not None
