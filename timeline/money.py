"""Money as the source states it: decimal amounts in their own currency, never floats."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

import msgspec

from timeline.codes import CURRENCY_PATTERN, currencies, is_currency

Currency = Annotated[
    str,
    msgspec.Meta(
        pattern=CURRENCY_PATTERN,
        description="ISO 4217 code",
        extra_json_schema={"enum": currencies()},
    ),
]
QUANTITY_PATTERN = r"^[0-9]{1,30}(\.[0-9]{1,30})?$"
Quantity = Annotated[
    Decimal,
    msgspec.Meta(
        description="A decimal as a string: not negative, below 10^30, at most 30 decimals",
        extra_json_schema={"pattern": QUANTITY_PATTERN},
    ),
]
"""What `check_quantity` admits, as the published schemas say it (the server also reads
exponents and JSON numbers; the schema gives the one plain form)."""

UNDISCLOSED: Literal["undisclosed"] = "undisclosed"


LARGEST = Decimal("1e30")
"""Above any amount or count a source states; it keeps `1e999999999` out of the store."""


def check_quantity(name: str, value: Decimal) -> None:
    """A stated amount or count: finite, not negative, below 10^30, at most 30 decimals."""
    if not value.is_finite():
        raise ValueError(f"{name} must be a finite decimal, not {value}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    if value >= LARGEST:
        raise ValueError(f"{name} must be below 10^30, got {value}")
    if value and value.adjusted() < -LARGEST.adjusted():
        raise ValueError(f"{name} has more than 30 decimals, got {value}")


def _check_currency(code: str) -> None:
    if not is_currency(code):
        raise ValueError(f"{code!r} is not an ISO 4217 currency code")


class Money(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """An amount in one currency; `approximate` when the source says "about"."""

    amount: Quantity
    currency: Currency
    approximate: bool = False

    def __post_init__(self) -> None:
        check_quantity("amount", self.amount)
        _check_currency(self.currency)


class Range(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """From `min` to `max`: money when `currency` is set, a count of `unit` otherwise."""

    min: Quantity
    max: Quantity
    currency: Currency | None = None
    unit: str | None = None
    approximate: bool = False

    def __post_init__(self) -> None:
        check_quantity("min", self.min)
        check_quantity("max", self.max)
        if self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        if (self.currency is None) == (self.unit is None):
            raise ValueError("a range has exactly one of currency (money) or unit (a number)")
        if self.currency is not None:
            _check_currency(self.currency)

    @property
    def is_money(self) -> bool:
        return self.currency is not None
