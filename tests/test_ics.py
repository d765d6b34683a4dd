"""`timeline.ics` writes exactly the VEVENT bytes icalendar writes, on random items."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Event

from timeline import ics

TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("\\;,:\n\r^\"' aAzZ09-–’ééü日本\N{GRINNING FACE}\t")),
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
    ),
    max_size=300,
)
INSTANTS = st.datetimes(
    min_value=datetime(1900, 1, 1),  # noqa: DTZ001 - hypothesis takes naive bounds
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)
DAYS = st.one_of(st.dates(min_value=date(1, 1, 1)), st.just(date.max))
URLS = st.sampled_from(
    ["http://127.0.0.1:8000", "https://timeline.example.org/a/very/long/base/path/prefix"]
).map(lambda base: base + "/partnerships/some-partnership-id")


def reference(**fields: object) -> bytes:
    """The VEVENT as icalendar builds it (how `calendar.render_event` wrote it before)."""
    event = Event()
    event.add("uid", fields["uid"])
    event.add("dtstamp", fields["changed_at"])
    event.add("last-modified", fields["changed_at"])
    event.add("sequence", fields["sequence"])
    day = fields["day"]
    assert isinstance(day, date)
    event.add("dtstart", day)
    if day < date.max:
        event.add("dtend", day + timedelta(days=1))
    else:
        event.add("duration", timedelta(days=1))
    event.add("transp", "TRANSPARENT")
    event.add("status", fields["status"])
    event.add("summary", fields["summary"])
    event.add("description", fields["description"])
    event.add("url", fields["url"])
    event.add("categories", [fields["categories"]])
    return bytes(event.to_ical())


@settings(max_examples=400, deadline=None)
@given(
    uid=TEXT.filter(bool),
    changed_at=INSTANTS,
    sequence=st.integers(0, 10_000),
    day=DAYS,
    status=st.sampled_from(["CONFIRMED", "TENTATIVE", "CANCELLED"]),
    summary=TEXT,
    description=TEXT,
    url=URLS,
    categories=st.sampled_from(["Milestone", "Phase", "Investment", "Announcement"]),
)
def test_vevent_bytes_equal_icalendar(**fields: object) -> None:
    assert ics.vevent(**fields) == reference(**fields)  # type: ignore[arg-type]


@given(st.text(alphabet=st.sampled_from(list("ab\\^é日\N{GRINNING FACE}")), max_size=400))
def test_folding_never_splits_an_escape_or_a_character(line: str) -> None:
    folded = ics.fold(line)
    pieces = folded.split("\r\n ")
    assert "".join(pieces) == line
    assert all(len(piece.encode()) < ics.LIMIT for piece in pieces)


ASCII = st.text(alphabet=st.sampled_from(list("\\;,^\nab ")), min_size=60, max_size=400)


@settings(max_examples=300, deadline=None)
@given(summary=ASCII, description=ASCII, day=DAYS, changed_at=INSTANTS)
def test_ascii_lines_fold_by_position_as_icalendar_does(
    summary: str, description: str, day: date, changed_at: datetime
) -> None:
    """The fast path for ASCII lines: escapes at every fold boundary."""
    fields = {
        "uid": "p.milestone.m@partnership-timeline",
        "changed_at": changed_at,
        "sequence": 1,
        "day": day,
        "status": "TENTATIVE",
        "summary": summary,
        "description": description,
        "url": "http://127.0.0.1:8000/partnerships/p",
        "categories": "Milestone",
    }
    assert ics.vevent(**fields) == reference(**fields)  # type: ignore[arg-type]
