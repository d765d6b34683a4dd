"""Partial dates and periods: facts in the news are as precise as the text, no more.

A `PartialDate` is a year, a quarter, a month or a day, and stands for every
day of its span. A `Period` runs from the first day of its start to the last
day of its end; an open period has no end.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime
from enum import IntEnum, StrEnum
from functools import lru_cache, total_ordering

PARTIAL_DATE_FORMS = (
    "YYYY, YYYY-Qn, YYYY-MM or YYYY-MM-DD, optionally ending in ? (uncertain), "
    "~ (approximate) or % (both), or after ../ for no later than (../2023)"
)
PERIOD_FORMS = (
    f"a partial date ({PARTIAL_DATE_FORMS}), or START/END with START a partial date and END "
    "a partial date or '..' (open)"
)

_DATE = r"[0-9]{4}(-Q[1-4]|-[0-9]{2}(-[0-9]{2})?)?[?~%]?"
PARTIAL_DATE_PATTERN = rf"^(\.\./)?{_DATE}$"
PERIOD_PATTERN = rf"^(\.\./{_DATE}|{_DATE}(/({_DATE}|\.\.))?)$"

_YEAR = r"([1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"
_LEAP_YEAR = r"([0-9]{2}(0[48]|[2468][048]|[13579][26])|(0[48]|[2468][048]|[13579][26])00)"
_MONTH_DAY = (
    r"(0[1-9]|1[0-2])(-(0[1-9]|1[0-9]|2[0-8]))?|(0[13-9]|1[0-2])-(29|30)|(0[13578]|1[02])-31"
)
_REAL_DATE = rf"({_YEAR}(-Q[1-4]|-({_MONTH_DAY}))?|{_LEAP_YEAR}-02-29)[?~%]?"
PARTIAL_DATE_SCHEMA_PATTERN = rf"^(\.\./)?{_REAL_DATE}$"
PERIOD_SCHEMA_PATTERN = rf"^(\.\./{_REAL_DATE}|{_REAL_DATE}(/({_REAL_DATE}|\.\.))?)$"
"""The published forms: only real days (no year 0, no 30 February, 29 February in leap
years), so that a schema-valid date is one the parser takes. No lookahead, for the
regex dialects of JSON Schema tools."""

MONTHS = (
    "",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
"""English month names, whatever the process's locale (`calendar.month_name` follows it, and
formats a date on every lookup)."""

_DAY_LENGTH = len("2024-01-16")
_PARTIAL = re.compile(r"(\.\./)?(\d{4})(?:-Q([1-4])|-(\d{2})(?:-(\d{2}))?)?([?~%])?", re.ASCII)


class Precision(IntEnum):
    """Coarser first, so that equal first days order year < quarter < month < day."""

    YEAR = 0
    QUARTER = 1
    MONTH = 2
    DAY = 3


class Qualifier(StrEnum):
    """How sure a source is of a date, after EDTF: written after it (`2024?`, `2024-04~`)."""

    NONE = ""
    UNCERTAIN = "?"
    APPROXIMATE = "~"
    BOTH = "%"


class InvalidDateError(ValueError):
    """Text that is not a partial date or period; the message quotes it and the grammar."""


@total_ordering
class PartialDate:
    """A span of days named at the precision the source gave, as sure as the source was.

    A `qualifier` says the source is unsure (`?`), approximate (`~`) or both (`%`); it is
    kept and said in words, and changes no day. `no_later` (`../2023`) bounds a fact the
    source dates only from above: its widest reading starts at the beginning of time, so
    `first_day` is `date.min` and it folds on every `as_of` (DESIGN.md §3: ordering uses the
    first day of the widest reading). `stated` is the first day of the span as written.
    Ordered by first day, coarser first on a tie. A plain class rather than a dataclass so
    that msgspec hands it to our hooks and writes it as text.
    """

    __slots__ = (
        "_hash",
        "_said",
        "_text",
        "first_day",
        "no_later",
        "precision",
        "qualifier",
        "stated",
    )

    def __init__(
        self,
        stated: date,
        precision: Precision,
        qualifier: Qualifier = Qualifier.NONE,
        *,
        no_later: bool = False,
    ) -> None:
        self.stated = stated
        self.first_day = date.min if no_later else stated
        self.precision = precision
        self.qualifier = qualifier
        self.no_later = no_later
        self._hash = hash(self._key())  # hashed often: memo keys of calendar items
        self._text: str | None = None
        """The wire form, once written (every state, snapshot and calendar writes it)."""
        self._said: tuple[str | None, str | None] = (None, None)
        """`describe` without and with `precision`, once said (calendars say a date again for
        each item and each recording instant a replay passes)."""

    def _key(self) -> tuple[date, Precision, bool, date, str]:
        return (self.first_day, self.precision, self.no_later, self.stated, self.qualifier)

    def __eq__(self, other: object) -> bool:
        if self is other:  # decoded dates are shared (`wire._parsed`): the usual case
            return True
        if not isinstance(other, PartialDate):
            return NotImplemented
        return self._hash == other._hash and self._key() == other._key()

    def __lt__(self, other: PartialDate) -> bool:
        return self._key() < other._key()

    def __hash__(self) -> int:
        return self._hash

    @classmethod
    def parse(cls, text: str) -> PartialDate:
        if len(text) == _DAY_LENGTH and text[4] == text[7] == "-" and text.isascii():
            try:  # a plain day, most dates: without the regex (a fifth of a diff's parsing)
                return cls(date.fromisoformat(text), Precision.DAY)
            except ValueError:
                pass  # said in the grammar's words below
        match = _PARTIAL.fullmatch(text)
        if match is None:
            raise InvalidDateError(f"{text!r} is not a partial date; expected {PARTIAL_DATE_FORMS}")
        bound, year_text, quarter, month, day, mark = match.groups()
        year = int(year_text)
        sure = Qualifier(mark or "")
        try:
            if quarter is not None:
                first, precision = date(year, 3 * int(quarter) - 2, 1), Precision.QUARTER
            elif month is None:
                first, precision = date(year, 1, 1), Precision.YEAR
            elif day is None:
                first, precision = date(year, int(month), 1), Precision.MONTH
            else:
                first, precision = date(year, int(month), int(day)), Precision.DAY
        except ValueError:
            raise InvalidDateError(
                f"{text!r} is not a calendar date; expected {PARTIAL_DATE_FORMS}"
            ) from None
        return cls(first, precision, sure, no_later=bound is not None)

    @classmethod
    def of(cls, day: date) -> PartialDate:
        return cls(day, Precision.DAY)

    @property
    def last_day(self) -> date:
        start = self.stated
        if self.precision is Precision.DAY:
            return start
        if self.precision is Precision.MONTH:
            return start.replace(day=calendar.monthrange(start.year, start.month)[1])
        if self.precision is Precision.QUARTER:
            end_month = start.month + 2
            return date(start.year, end_month, calendar.monthrange(start.year, end_month)[1])
        return date(start.year, 12, 31)

    @property
    def is_exact(self) -> bool:
        """One day, stated for sure: what a calendar may mark `CONFIRMED`."""
        return self.precision is Precision.DAY and not self.qualifier and not self.no_later

    @property
    def marked_day(self) -> date:
        """The one day that stands for it on a calendar: its first, or for "no later than"
        its last (the only day the source vouches for)."""
        return self.last_day if self.no_later else self.first_day

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first_day <= day <= self.last_day

    def __str__(self) -> str:
        text = self._text
        if text is None:
            text = self._text = _written(self)
        return text

    def __repr__(self) -> str:
        return f"PartialDate({str(self)!r})"

    def describe(self, *, precision: bool = False) -> str:
        """Say the span and how sure it is in words, for people reading a calendar or a report;
        with `precision`, name a precision coarser than a day too ("(month precision)")."""
        said = self._said[precision]
        if said is None:
            said = _described(self, precision=precision)
            self._said = (said, self._said[1]) if not precision else (self._said[0], said)
        return said


def _written(day: PartialDate) -> str:
    """The wire form (kept by each date: a replay writes the same few dates again and again)."""
    start = day.stated
    if day.precision is Precision.YEAR:
        core = f"{start.year:04d}"
    elif day.precision is Precision.QUARTER:
        core = f"{start.year:04d}-Q{(start.month + 2) // 3}"
    elif day.precision is Precision.MONTH:
        core = f"{start.year:04d}-{start.month:02d}"
    else:
        core = start.isoformat()
    return f"{'../' if day.no_later else ''}{core}{day.qualifier.value}"


@lru_cache(maxsize=4096)
def _described(day: PartialDate, *, precision: bool) -> str:
    """Said once per date (`PartialDate.describe` keeps it): decoded dates are shared, a few
    thousand at most (`wire.DATES_KEPT`), so the words are kept as long as their date."""
    start = day.stated
    if day.precision is Precision.YEAR:
        words = f"{start.year}"
    elif day.precision is Precision.QUARTER:
        words = f"Q{(start.month + 2) // 3} {start.year}"
    elif day.precision is Precision.MONTH:
        words = f"{MONTHS[start.month]} {start.year}"
    else:
        words = f"{start.day} {MONTHS[start.month]} {start.year}"
    if day.qualifier in (Qualifier.APPROXIMATE, Qualifier.BOTH):
        words = f"about {words}"
    notes = []
    if precision and day.precision is not Precision.DAY:
        notes.append(f"{day.precision.name.lower()} precision")
    if day.qualifier in (Qualifier.UNCERTAIN, Qualifier.BOTH):
        notes.append("uncertain")
    if notes:
        words = f"{words} ({', '.join(notes)})"
    return f"no later than {words}" if day.no_later else words


class Period:
    """From the first day of `start` to the last day of `end`; `end=None` is open.

    A bare partial date is its own span (`end == start`) and is written bare,
    so `2025/2025` reads as `2025`.
    """

    __slots__ = ("end", "start")

    def __init__(self, start: PartialDate, end: PartialDate | None) -> None:
        self.start = start
        self.end = end
        if start.no_later and end != start:
            raise InvalidDateError(f"'{start}' is a bound: as a period it stands alone")
        if end is not None and end.no_later and end != start:
            raise InvalidDateError(f"a period's end cannot be a bound ('{end}'); write END alone")
        if end is not None and end.last_day < start.first_day:
            raise InvalidDateError(f"period {self!s} ends before it starts")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Period):
            return NotImplemented
        return (self.start, self.end) == (other.start, other.end)

    def __hash__(self) -> int:
        return hash((self.start, self.end))

    @classmethod
    def parse(cls, text: str) -> Period:
        if text.startswith("../"):  # "no later than": a bounded partial date, its own span
            try:
                bounded = PartialDate.parse(text)
            except InvalidDateError:
                raise InvalidDateError(
                    f"{text!r} is not a period; expected {PERIOD_FORMS}"
                ) from None
            return cls(bounded, bounded)
        start_text, slash, end_text = text.partition("/")
        try:
            start = PartialDate.parse(start_text)
            if not slash:
                return cls(start, start)
            end = None if end_text == ".." else PartialDate.parse(end_text)
        except InvalidDateError:
            raise InvalidDateError(f"{text!r} is not a period; expected {PERIOD_FORMS}") from None
        return cls(start, end)

    @property
    def first_day(self) -> date:
        return self.start.first_day

    @property
    def last_day(self) -> date | None:
        """The last day, or None for an open period."""
        return None if self.end is None else self.end.last_day

    @property
    def is_open(self) -> bool:
        return self.end is None

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, date) or day < self.first_day:
            return False
        last = self.last_day
        return last is None or day <= last

    def __str__(self) -> str:
        if self.end is None:
            return f"{self.start}/.."
        if self.end == self.start:
            return str(self.start)
        return f"{self.start}/{self.end}"

    def __repr__(self) -> str:
        return f"Period({str(self)!r})"

    def describe(self) -> str:
        if self.end is None:
            return f"from {self.start.describe()} on"
        if self.end == self.start:
            return self.start.describe()
        return f"{self.start.describe()} to {self.end.describe()}"


def parse_day(text: str) -> date:
    """A full calendar date `YYYY-MM-DD`, as `as_of` takes."""
    try:
        return date.fromisoformat(text) if len(text) == 10 else _no_day(text)  # noqa: PLR2004
    except ValueError:
        return _no_day(text)


def _no_day(text: str) -> date:
    raise InvalidDateError(f"{text!r} is not a date; expected YYYY-MM-DD")


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant, as `known_at` takes; no offset means UTC, a bare date its midnight."""
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidDateError(
            f"{text!r} is not an instant; expected ISO 8601 such as 2024-02-01T12:00:00Z"
        ) from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    try:
        return instant.astimezone(UTC)
    except OverflowError:
        raise InvalidDateError(
            f"{text!r} is outside the instants this store can name (years 1 to 9999, in UTC)"
        ) from None
