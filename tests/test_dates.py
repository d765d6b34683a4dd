from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from edtf import parse_edtf
from hypothesis import given
from hypothesis import strategies as st

from timeline.dates import (
    InvalidDateError,
    PartialDate,
    Period,
    Precision,
    Qualifier,
    parse_day,
    parse_instant,
)


@pytest.mark.parametrize(
    ("text", "first", "last", "precision"),
    [
        ("2024", date(2024, 1, 1), date(2024, 12, 31), Precision.YEAR),
        ("2024-Q1", date(2024, 1, 1), date(2024, 3, 31), Precision.QUARTER),
        ("2024-Q4", date(2024, 10, 1), date(2024, 12, 31), Precision.QUARTER),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29), Precision.MONTH),
        ("2023-02", date(2023, 2, 1), date(2023, 2, 28), Precision.MONTH),
        ("2024-04", date(2024, 4, 1), date(2024, 4, 30), Precision.MONTH),
        ("2024-01-16", date(2024, 1, 16), date(2024, 1, 16), Precision.DAY),
    ],
)
def test_partial_date_bounds(text: str, first: date, last: date, precision: Precision) -> None:
    """A partial date spans from its first to its last day at the precision given."""
    parsed = PartialDate.parse(text)
    assert (parsed.first_day, parsed.last_day, parsed.precision) == (first, last, precision)
    assert str(parsed) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "24",
        "2024-1",
        "2024-13",
        "2024-Q5",
        "2024-Q0",
        "2024-02-30",
        "2024-13-01",  # ten characters with the dashes of a day: the same words as any other
        "0000-01-01",
        "2024-01-1x",
        "２０２４-01-01",
        "2024-01-1٦",
        "2024/01",
        "０２０２４",
        "2024-01-16T00:00",
        " 2024",
        "2024-00",
        "0000",
    ],
)
def test_invalid_partial_date_quotes_input_and_grammar(text: str) -> None:
    """Invalid text raises an error that quotes it and names the accepted forms."""
    with pytest.raises(InvalidDateError) as caught:
        PartialDate.parse(text)
    assert repr(text) in str(caught.value)
    assert "YYYY-Qn" in str(caught.value)


def test_ordering_is_by_first_day_then_coarser_first() -> None:
    """Partial dates order by first day; on the same first day the coarser span comes first."""
    texts = ["2024-01-16", "2024-01", "2023-12-31", "2024", "2024-Q1", "2024-02"]
    ordered = sorted(PartialDate.parse(t) for t in texts)
    assert [str(p) for p in ordered] == [
        "2023-12-31",
        "2024",
        "2024-Q1",
        "2024-01",
        "2024-01-16",
        "2024-02",
    ]


def test_containment() -> None:
    """A day is in a partial date exactly when it lies within its span."""
    april = PartialDate.parse("2024-04")
    assert date(2024, 4, 1) in april
    assert date(2024, 4, 30) in april
    assert date(2024, 5, 1) not in april
    assert date(2024, 3, 31) not in april


@pytest.mark.parametrize(
    ("text", "first", "last", "canonical"),
    [
        ("2023/2024", date(2023, 1, 1), date(2024, 12, 31), "2023/2024"),
        ("2026/..", date(2026, 1, 1), None, "2026/.."),
        ("2025", date(2025, 1, 1), date(2025, 12, 31), "2025"),
        ("2025/2025", date(2025, 1, 1), date(2025, 12, 31), "2025"),
        ("2024-Q2/2024-08-15", date(2024, 4, 1), date(2024, 8, 15), "2024-Q2/2024-08-15"),
    ],
)
def test_period_bounds(text: str, first: date, last: date | None, canonical: str) -> None:
    """A period runs from its start's first day to its end's last day; `..` leaves it open."""
    period = Period.parse(text)
    assert (period.first_day, period.last_day) == (first, last)
    assert str(period) == canonical
    assert period.is_open is (last is None)


def test_open_period_contains_every_later_day() -> None:
    """An open period contains its first day and every day after, none before."""
    period = Period.parse("2026/..")
    assert date(2026, 1, 1) in period
    assert date(9999, 12, 31) in period
    assert date(2025, 12, 31) not in period


@pytest.mark.parametrize(
    "text",
    [
        "2024/",
        "/2024",
        "2025/2024",
        "2024/2023-12",
        "../2024/2025",
        "2023/../2024",
        "..2024",
        "x/..",
    ],
)
def test_invalid_period(text: str) -> None:
    """A malformed or backwards period is refused with the period grammar in the message."""
    with pytest.raises(InvalidDateError) as caught:
        Period.parse(text)
    words = str(caught.value)
    assert repr(text) in words or "ends before it starts" in words or "bound" in words


def test_parse_day_and_instant() -> None:
    """`as_of` takes a full date; `known_at` takes an ISO instant, UTC when no offset is given."""
    assert parse_day("2024-02-01") == date(2024, 2, 1)
    for bad in ["2024-02", "2024-2-1", "yesterday", "2024-02-30"]:
        with pytest.raises(InvalidDateError, match="YYYY-MM-DD"):
            parse_day(bad)
    assert parse_instant("2024-02-01T12:00:00Z") == datetime(2024, 2, 1, 12, tzinfo=UTC)
    assert parse_instant("2024-02-01T13:00:00+01:00") == datetime(2024, 2, 1, 12, tzinfo=UTC)
    assert parse_instant("2024-02-01") == datetime(2024, 2, 1, tzinfo=UTC)
    with pytest.raises(InvalidDateError, match="ISO 8601"):
        parse_instant("soon")


days = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31))
precisions = st.sampled_from(list(Precision))


@st.composite
def partial_dates(draw: st.DrawFn, *, bounded: bool = True) -> PartialDate:
    day = draw(days)
    precision = draw(precisions)
    sure = draw(st.sampled_from(Qualifier))
    no_later = draw(st.booleans()) if bounded else False
    if precision is Precision.YEAR:
        day = day.replace(month=1, day=1)
    elif precision is Precision.QUARTER:
        day = day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    elif precision is Precision.MONTH:
        day = day.replace(day=1)
    return PartialDate(day, precision, sure, no_later=no_later)


@given(partial_dates())
def test_partial_date_round_trip(value: PartialDate) -> None:
    """Formatting then parsing gives the same partial date, and the text back exactly."""
    text = str(value)
    assert PartialDate.parse(text) == value
    assert str(PartialDate.parse(text)) == text


@given(partial_dates())
def test_partial_date_span_is_contiguous(value: PartialDate) -> None:
    """The span holds its first and last day and not the days either side of it."""
    assert value.first_day <= value.last_day
    assert value.first_day in value
    assert value.last_day in value
    if value.first_day > date.min:
        assert value.first_day - timedelta(days=1) not in value
    if value.last_day < date.max:
        assert value.last_day + timedelta(days=1) not in value


@given(partial_dates(bounded=False), partial_dates(bounded=False))
def test_period_round_trip(start: PartialDate, end: PartialDate) -> None:
    """Any valid period formats to text that parses back to it."""
    low, high = sorted([start, end], key=lambda p: p.first_day)
    for period in (Period(low, high), Period(low, None)):
        assert Period.parse(str(period)) == period


@pytest.mark.parametrize(
    ("text", "first", "last", "words", "exact"),
    [
        ("2024?", date(2024, 1, 1), date(2024, 12, 31), "2024 (uncertain)", False),
        ("2024-04~", date(2024, 4, 1), date(2024, 4, 30), "about April 2024", False),
        ("2024-Q2%", date(2024, 4, 1), date(2024, 6, 30), "about Q2 2024 (uncertain)", False),
        ("2024-05-02?", date(2024, 5, 2), date(2024, 5, 2), "2 May 2024 (uncertain)", False),
        ("../2023", date.min, date(2023, 12, 31), "no later than 2023", False),
        ("../2023-06~", date.min, date(2023, 6, 30), "no later than about June 2023", False),
        ("2024-05-02", date(2024, 5, 2), date(2024, 5, 2), "2 May 2024", True),
    ],
)
def test_dates_say_how_sure_they_are(
    text: str, first: date, last: date, words: str, *, exact: bool
) -> None:
    """A qualifier changes no day and is said in words; "no later than" reads from the start of
    time (the widest reading) to the end of its span; only an unqualified day is exact."""
    parsed = PartialDate.parse(text)
    assert (parsed.first_day, parsed.last_day, parsed.describe()) == (first, last, words)
    assert parsed.is_exact is exact
    assert str(parsed) == text
    assert parsed != PartialDate.parse(text.replace("../", "").rstrip("?~%")) or exact


def test_a_bound_orders_first_and_a_qualifier_is_kept_apart() -> None:
    """`../2023` sorts before any dated fact; `2024?` and `2024` are different values that
    sort together by their first day."""
    dates = [PartialDate.parse(t) for t in ("2024", "../2023", "2020-06", "2024?")]
    assert [str(d) for d in sorted(dates)] == ["../2023", "2020-06", "2024", "2024?"]
    assert len(set(dates)) == 4
    assert Period.parse("../2023").first_day == date.min
    assert str(Period.parse("2023?/2024~")) == "2023?/2024~"
    assert Period.parse("2023?/2024~").describe() == "2023 (uncertain) to about 2024"


EDTF_FORMS = st.builds(
    lambda day, precision, sure, bound: (
        ("../" if bound else "")
        + {"y": f"{day.year:04d}", "m": f"{day.year:04d}-{day.month:02d}", "d": day.isoformat()}[
            precision
        ]
        + sure
    ),
    st.dates(date(1000, 1, 1), date(2999, 12, 31)),
    st.sampled_from("ymd"),
    st.sampled_from(["", "?", "~", "%"]),
    st.booleans(),
)


@given(EDTF_FORMS)
def test_every_edtf_form_we_take_reads_as_the_edtf_library_reads_it(text: str) -> None:
    """The reference implementation of EDTF (the `edtf` package, levels 0 to 2) agrees with our
    parser on every form both know (quarters are ours): the same days, the same qualifier."""
    reference = parse_edtf(text)
    ours = PartialDate.parse(text)
    if ours.no_later:
        assert str(reference.lower_strict()) == "-inf"
        upper = reference.upper_strict()
    else:
        assert _day(reference.lower_strict()) == ours.first_day
        upper = reference.upper_strict()
    assert _day(upper) == ours.last_day
    mark = text[-1] if text[-1] in "?~%" else ""
    inner = reference.upper if ours.no_later else reference
    assert str(getattr(inner, "ua", None) or "") == mark


def _day(value: object) -> date:
    return date(value.tm_year, value.tm_mon, value.tm_mday)  # type: ignore[attr-defined]
