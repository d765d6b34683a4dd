"""The pages people read, as HTML and SVG made on the server: pure functions of states.

A partnership's timeline draws one lane per kind of fact. Each date is drawn at its real
precision: a milestone due in April covers April; an uncertain or approximate date is
hatched; an open end or a "no later than" start fades. The text beside the drawing says the
same in words, so that it reads without the picture (screen readers, 360 px screens).
The sliders ask the server again for the body (`part=body`): one renderer, no client copy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import LiteralString, NamedTuple, TypeVar
from urllib.parse import quote, urlencode
from uuid import UUID

import msgspec

from timeline.dates import PartialDate
from timeline.events import Source
from timeline.knowledge import Amendment, ItemChange, Subject
from timeline.lineage import PATH_KINDS
from timeline.money import Money
from timeline.quotes import passage
from timeline.state import (
    BackgroundState,
    CommitmentState,
    FocusAreaState,
    ForecastState,
    GovernanceState,
    InvestmentState,
    MilestoneState,
    Outline,
    PartnershipState,
    PartyState,
    PhaseState,
    RiskState,
    StatementState,
    TargetState,
)
from timeline.web.markup import Markup, html, join, web_url
from timeline.web.static import asset
from timeline.words import amount_words, equivalent_words, figure_words, firmness_differs

WIDTH = 1000
GUTTER = 190
"""Room on the left for the lanes' names; dates are drawn from there to `WIDTH`."""
LANE = 46
TOP = 8
CHAR_WIDTH = 6.8
"""About the width of a character of the drawing's 12-unit text."""
LANES = ("Phases", "Milestones", "Investments", "Statements and forecasts")
STATUS_COLOURS = {
    "pending": "#2b6cb0",
    "achieved": "#2f855a",
    "missed": "#c53030",
    "unreported": "#718096",
    "cancelled": "#a0aec0",
}


def document(title: str, body: Markup) -> Markup:
    return html(
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>{}</title>"
        "<link rel='icon' href='{}' type='image/svg+xml'>"
        "<link rel='stylesheet' href='{}'>"
        "<script src='{}' defer></script>"
        "</head><body>{}</body></html>",
        title,
        asset("icon.svg"),
        asset("timeline.css"),
        asset("timeline.js"),
        body,
    )


def error_page(status: int, title: str, detail: str, fields: Sequence[tuple[str, str]]) -> Markup:
    """A problem said to a person: what went wrong, which field, and the way back."""
    listed = join(html("<li><code>{}</code>: {}</li>", path, message) for path, message in fields)
    body = html(
        "<header class='top'><p><a href='/'>All partnerships</a></p>"
        "<h1>{} {}</h1></header><main><p class='problem'>{}</p>{}</main>",
        status,
        title,
        detail,
        html("<ul>{}</ul>", listed) if listed else "",
    )
    return document(f"{status} {title}", body)


# --- the index -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IndexQuery:
    party: str | None = None
    region: str | None = None
    status: str | None = None
    text: str | None = None

    def shown(self) -> dict[str, str]:
        """The filters in force, as the index's query names them."""
        chosen = {"q": self.text, "party": self.party, "region": self.region, "status": self.status}
        return {name: value for name, value in chosen.items() if value}


def index_page(
    rows: Sequence[tuple[str, Outline, int]], query: IndexQuery, next_href: str | None
) -> Markup:
    """The partnerships, filtered by party, region and status, a page at a time."""
    items = join(
        html(
            "<li class='card'><h2><a href='/partnerships/{stream}/timeline'>{title}</a></h2>"
            "<p class='meta'><span class='status status-{status}'>{status}</span>"
            " · announced {announced}{regions}</p><p class='parties'>{parties}</p></li>",
            stream=stream,
            title=o.title,
            status=o.status,
            announced=o.announced.describe(),
            regions=" · " + ", ".join(o.regions) if o.regions else "",
            parties=", ".join(p.name for p in o.parties),
        )
        for stream, o, _version in rows
    )
    statuses = join(
        html(
            "<option value='{}'{}>{}</option>",
            value,
            Markup(" selected") if query.status == value else "",
            label,
        )
        for value, label in (("", "any status"), ("active", "active"), ("ended", "ended"))
    )
    form = html(
        "<form class='filters' method='get' action='/' role='search'>"
        "<label>Search <input type='search' name='q' value='{}' "
        "placeholder='title, party, region…'></label>"
        "<label>Party <input name='party' value='{}' "
        "placeholder='e.g. microsoft' pattern='[a-z0-9]+(-[a-z0-9]+)*'></label>"
        "<label>Region <input name='region' value='{}' "
        "placeholder='e.g. Africa'></label>"
        "<label>Status <select name='status'>{}</select></label>"
        "<button type='submit'>Filter</button></form>",
        query.text or "",
        query.party or "",
        query.region or "",
        statuses,
    )
    more = html("<p class='pager'><a href='{}' rel='next'>Next page</a></p>", next_href)
    body = html(
        "<header class='top'><h1>Partnership Timeline</h1>"
        "<p>Business partnerships as their sources tell them, on any date, as known at any "
        "time. <a href='/guide/'>Guides</a> · <a href='/docs'>API</a></p></header><main>"
        "{}<ul class='cards' aria-label='Partnerships'>{}</ul>{}{}</main>",
        form,
        items,
        "" if items else Markup("<p>No partnership matches these filters.</p>"),
        more if next_href else "",
    )
    return document("Partnership Timeline", body)


# --- a partnership's timeline ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PageBasis:
    """What the page shows: the world on `as_of`, as known at `known_at` (None: now)."""

    stream: str
    as_of: date
    known_at: datetime | None
    instants: Sequence[datetime]
    """Every instant something was recorded: the `known_at` slider's stops."""
    calendar: str
    """The partnership's feed, `https://…`."""
    subscribe: str = ""
    """The link calendar apps subscribe with (`webcal:`, or the https feed when it carries a
    token); the feed's own `webcal:` form when empty."""
    since: datetime | None = None
    """Compared with what was known then: `changes` are the knowledge diff up to `known_at`."""
    changes: Sequence[ItemChange] = ()
    amendments: Sequence[Amendment] = ()
    """The retractions and corrections known at `known_at`: each item says what befell it."""
    passages: Passages = field(default_factory=dict)
    registered: Mapping[str, str] = field(default_factory=dict)
    """Registered organizations' names on `as_of`, by id: what an investment's recipient or a
    commitment's side that is no party is called (a party keeps the name its source gives)."""


def fact_href(basis: PageBasis, key: Subject) -> str:
    """The page of a fact's lineage, on the same basis; none for the partnership itself."""
    kind = PATH_KINDS.get(key[0])
    if kind is None:
        return ""
    query = {"as_of": basis.as_of.isoformat()}
    if basis.known_at is not None:
        query["known_at"] = basis.known_at.isoformat()
    return f"/partnerships/{basis.stream}/timeline/{kind}/{key[1]}?{urlencode(query)}"


@dataclass(frozen=True, slots=True)
class _Axis:
    start: date
    end: date

    def x(self, day: date) -> float:
        span = max(1, (self.end - self.start).days)
        offset = (min(max(day, self.start), self.end) - self.start).days
        return round(GUTTER + offset / span * (WIDTH - GUTTER), 1)


def _days(state: PartnershipState) -> Iterable[date]:
    yield state.announced.marked_day
    for phase in state.phases:
        yield phase.period.start.marked_day
        if phase.period.last_day is not None:
            yield phase.period.last_day
    for m in state.milestones:
        yield m.deadline
        for done in (m.achieved, m.missed):
            if done is not None:
                yield done.marked_day
    for since in (
        *(i.since for i in state.investments),
        *(s.since for s in state.statements),
        *(f.since for f in state.forecasts),
    ):
        yield since.marked_day


def axis(state: PartnershipState, as_of: date) -> _Axis:
    """From a little before the first day shown to a little after the last (and `as_of`)."""
    days = [*_days(state), as_of]
    start, end = min(days), max(days)
    margin = max(timedelta(days=60), (end - start) / 20)
    return _Axis(_shifted(start, -margin), _shifted(end, margin))


def _shifted(day: date, by: timedelta) -> date:
    """`day + by`, held within the calendar (an `as_of` of 9999-12-31 has no day after)."""
    try:
        return day + by
    except OverflowError:
        return date.max if by > timedelta(0) else date.min


YEAR_TICKS = 12
"""At most about this many years are marked on the axis (an `as_of` far away spans millennia)."""


def _ticks(ax: _Axis) -> range:
    """The years marked on the axis: every one, or every 2nd, 5th, 10th… so few enough show."""
    first, last = ax.start.year + 1, ax.end.year
    span = max(1, last - first + 1)
    step = next(
        (n for n in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000) if span / n <= YEAR_TICKS),
        5000,
    )
    return range(-(-first // step) * step, last + 1, step)


Mark = tuple[str, Markup]
"""A drawn item: its name in words (for the tooltip and screen readers), and its SVG."""


def _year_mark(x: float, year: int, height: int) -> Markup:
    """A year's line, named below it; a name near the right edge ends there, uncut."""
    edge = x > WIDTH - 30  # about the width of a year's name
    return html(
        "<text class='year' x='{tx}' y='{ty}'{anchor}>{year}</text>"
        "<line class='year' x1='{x}' x2='{x}' y1='{top}' y2='{height}'/>",
        tx=WIDTH - 2 if edge else x,
        ty=height + 14,
        anchor=Markup(" text-anchor='end'") if edge else "",
        year=year,
        x=x,
        top=TOP,
        height=height,
    )


def _fuzzy(day: PartialDate) -> str:
    """The fill of a span by how sure its date is: hatched when uncertain or approximate."""
    return " fuzzy" if day.qualifier.value else ""


def _phase_band(phase: PhaseState, row: int, ax: _Axis, *, later: bool) -> Mark:
    period = phase.period
    x0 = ax.x(period.start.marked_day if period.start.no_later else period.first_day)
    open_end = period.last_day is None
    x1 = WIDTH if open_end else ax.x(period.last_day or ax.end)
    y = TOP + row * LANE + 8
    classes = f"band status-{phase.status}{_fuzzy(period.start)}"
    classes += " open" if open_end else ""
    classes += " later" if later else ""
    label = f"{phase.name}: {period.describe()} ({phase.status})"
    room = int((x1 - x0 - 8) / CHAR_WIDTH)  # the name fits its band, or is cut with an ellipsis
    name = phase.name if len(phase.name) <= room else phase.name[: max(0, room - 1)] + "…"
    text = html("<text x='{}' y='{}'>{}</text>", x0 + 4, y + 18, name) if room >= 4 else ""  # noqa: PLR2004
    return label, html(
        "<g class='{}'><rect x='{}' y='{}' width='{}' height='{}' rx='4'/>{}</g>",
        classes,
        x0,
        y,
        max(2.0, x1 - x0),
        LANE - 18,
        text,
    )


def _milestone_mark(m: MilestoneState, row: int, ax: _Axis, *, later: bool) -> Mark:
    y = TOP + row * LANE + LANE // 2
    colour = STATUS_COLOURS.get(m.status, "#4a5568")
    happened = m.achieved if m.status == "achieved" else m.missed if m.status == "missed" else None
    shown = happened or m.due
    span = Markup()
    if not shown.is_exact:  # the month (or quarter, year) it covers
        x0, x1 = ax.x(shown.first_day if not shown.no_later else ax.start), ax.x(shown.last_day)
        span = html(
            "<rect class='span{}' x='{}' y='{}' width='{}' height='18' rx='3' fill='{}'/>",
            _fuzzy(shown),
            x0,
            y - 9,
            max(2.0, x1 - x0),
            colour,
        )
    cx = ax.x(shown.marked_day if happened else m.deadline)
    label = f"{m.title}: {m.status}, due {m.due.describe()}"
    return label, html(
        "<g class='mark{}'>{}<circle cx='{}' cy='{}' r='7' fill='{}'/></g>",
        " later" if later else "",
        span,
        cx,
        y,
        colour,
    )


def _point(day: PartialDate, row: int, ax: _Axis, label: str, *, later: bool) -> Mark:
    y = TOP + row * LANE + LANE // 2
    x = ax.x(day.marked_day)
    return label, html(
        "<g class='point{}{}'><rect x='{}' y='{}' width='10' height='10' "
        "transform='rotate(45 {} {})'/></g>",
        _fuzzy(day),
        " later" if later else "",
        x - 5,
        y - 5,
        x,
        y,
    )


def _svg(
    whole: PartnershipState,
    on_day: PartnershipState | None,
    ax: _Axis,
    as_of: date,
    *,
    changed: frozenset[Subject] = frozenset(),
    amended: frozenset[Subject] = frozenset(),
    registered: Mapping[str, str] | None = None,
) -> Markup:
    seen = _by_event(on_day)
    names = _names(whole, registered or {})

    def ring(key: Subject, mark: Mark) -> Markup:
        """A mark links to its entry in the words (so the keyboard reaches every item and its
        sources); one that changed since the compared instant, or was amended, is outlined."""
        label, drawn = mark
        classes = " ".join(
            name for name, on in (("changed", key in changed), ("amended", key in amended)) if on
        )
        return html(
            "<a href='#{}' aria-label='{}'{}><title>{}</title>{}</a>",
            anchor(key),
            label,
            html(" class='{}'", classes) if classes else "",
            label,
            drawn,
        )

    marks = [
        *(
            ring(
                ("phase", p.id),
                _phase_band(_current(p, seen), 0, ax, later=p.event_id not in seen),
            )
            for p in whole.phases
        ),
        *(
            ring(
                ("milestone", m.id),
                _milestone_mark(_current(m, seen), 1, ax, later=m.event_id not in seen),
            )
            for m in whole.milestones
        ),
        *(
            ring(
                ("investment", i.id),
                _point(
                    i.since,
                    2,
                    ax,
                    f"Investment, {_investment(i, names)}: {i.purpose}",
                    later=i.event_id not in seen,
                ),
            )
            for i in whole.investments
        ),
        *(
            ring(
                ("statement", str(s.event_id)),
                _point(s.since, 3, ax, f"{s.speaker}: {s.text}", later=s.event_id not in seen),
            )
            for s in whole.statements
        ),
        *(
            ring(
                ("forecast", str(f.event_id)),
                _point(f.since, 3, ax, f"Forecast: {f.claim}", later=f.event_id not in seen),
            )
            for f in whole.forecasts
        ),
    ]
    height = TOP + LANE * len(LANES) + 4
    lanes = join(
        html(
            "<text class='lane' x='6' y='{}'>{}</text>"
            "<line class='lane' x1='0' x2='{}' y1='{line}' y2='{line}'/>",
            TOP + n * LANE + LANE // 2 + 4,
            name,
            WIDTH,
            line=TOP + (n + 1) * LANE,
        )
        for n, name in enumerate(LANES)
    )
    years = join(_year_mark(ax.x(date(year, 1, 1)), year, height) for year in _ticks(ax))
    today = ax.x(as_of)
    return html(
        "<svg class='timeline' viewBox='0 0 {width} {box}' role='group' "
        "aria-label='Timeline of the partnership on {day}'>"
        "<defs><pattern id='hatch' width='6' height='6' patternUnits='userSpaceOnUse' "
        "patternTransform='rotate(45)'><rect width='3' height='6' fill='currentColor' "
        "opacity='0.35'/></pattern><linearGradient id='fade'><stop offset='0.6' "
        "stop-color='#90cdf4'/><stop offset='1' stop-color='#90cdf4' stop-opacity='0'/>"
        "</linearGradient></defs>"
        "{years}{lanes}{marks}"
        "<line class='as-of' x1='{today}' x2='{today}' y1='{top}' y2='{height}'/></svg>",
        width=WIDTH,
        box=height + 20,
        day=as_of.isoformat(),
        years=years,
        lanes=lanes,
        marks=join(marks),
        today=today,
        top=TOP,
        height=height,
    )


def _by_event(state: PartnershipState | None) -> dict[UUID, object]:
    """The items of the state on `as_of`, by the event that brought each: what was there then."""
    if state is None:
        return {}
    return {
        item.event_id: item
        for group in (
            state.parties,
            state.focus_areas,
            state.investments,
            state.commitments,
            state.targets,
            state.phases,
            state.milestones,
            state.statements,
            state.forecasts,
            state.background,
            state.risks,
            state.governance,
        )
        for item in group
    }


Item = TypeVar("Item", PhaseState, MilestoneState)
Fact = (
    PartyState
    | FocusAreaState
    | InvestmentState
    | CommitmentState
    | TargetState
    | PhaseState
    | MilestoneState
    | StatementState
    | ForecastState
    | BackgroundState
    | RiskState
    | GovernanceState
)
"""The items a page lists (and draws, the kinds with a lane)."""


def _current(item: Item, on_day: Mapping[UUID, object]) -> Item:
    """The item as it stands on `as_of` (its status then), when it was already there."""
    found = on_day.get(item.event_id)
    return found if isinstance(found, type(item)) else item


class Registered(NamedTuple):
    """What a page needs of a registered source a citation names: its text in its normal form
    ("" when registered without one), where a checked quote is shown in its passage, and
    whether its title is the publisher's headline or a description of it."""

    text: str
    headline: bool


Passages = Mapping[str, Registered]
"""Registered sources by id."""


def _cited_title(s: Source, passages: Passages) -> Markup:
    """A citation's title; one a registered source says is no headline (an untitled article
    named by its first words, say) is said to be a description, lest it read as a headline."""
    registered = None if s.source is None else passages.get(s.source)
    if registered is not None and not registered.headline:
        return html("<cite>{}</cite> (untitled; described)", s.title)
    return html("<cite>{}</cite>", s.title)


def cited_sources(sources: Sequence[Source], passages: Passages) -> Markup:
    if not sources:
        return Markup()
    listed = join(
        html(
            "<li>{}{} [{}]{}{}{}</li>",
            _cited_title(s, passages),
            ", " + s.publisher if s.publisher else "",
            s.language,
            " · " + s.published.describe() if s.published else "",
            _link(s.url),
            _cited_words(s, passages),
        )
        for s in sources
    )
    return html("<details class='sources'><summary>Sources</summary><ul>{}</ul></details>", listed)


def _cited_words(s: Source, passages: Passages) -> Markup | str:
    """What a citation quotes: words checked against a registered text say so, link to it and
    stand in their passage where the text is at hand; an excerpt says it was not checked."""
    if s.quote is not None and s.position is not None and s.source is not None:
        registered = passages.get(s.source)
        text = "" if registered is None else registered.text
        shown = passage(text, s.position.start, s.position.end) if text else None
        quoted: Markup | str = s.quote.exact
        if shown is not None:
            quoted = html("{}<mark class='quote'>{}</mark>{}", *shown)
        return html(
            "<blockquote lang='{}' class='checked'>{}</blockquote><p class='checked'>Found word"
            " for word in the <a href='/sources/{}/read?start={}&amp;end={}#quote'>registered "
            "text</a> (characters {} to {}).</p>",
            s.language,
            quoted,
            s.source,
            s.position.start,
            s.position.end,
            s.position.start,
            s.position.end,
        )
    if s.excerpt:
        return html(
            "<blockquote lang='{}' class='unverified'>{}</blockquote><p class='unverified'>An"
            " excerpt as given, not checked against the source's text.</p>",
            s.language,
            s.excerpt,
        )
    return ""


def _link(url: str | None) -> Markup | str:
    """A source's link; one that is no web address (kept from before appends refused it)
    is shown as text, never as a link."""
    if url is None:
        return ""
    checked = web_url(url)
    if checked is None:
        return html(" · <span class='unsafe-link'>link not shown: {}</span>", url)
    return html(" · <a href='{}' rel='noopener noreferrer'>link</a>", checked)


def anchor(key: Subject) -> str:
    """The id of an item's entry in the words, which its mark in the drawing links to."""
    return f"item-{key[0]}-{key[1]}"


def _amended(amendment: Amendment) -> Markup:
    """ "Retracted on 2026-11-30: <del>investment x committed</del> — why", as HTML."""
    what: Markup | str = amendment.what
    if amendment.kind == "retracted":
        what = html("<del>{}</del>", what)
    changed = "; ".join(
        f"{field.path}: {in_words(field.before)} → {in_words(field.after)}"
        for field in amendment.fields
    )
    return html(
        "{} on {}: {}{}{}",
        amendment.kind.capitalize(),
        amendment.recorded_at.date().isoformat(),
        what,
        " — " + amendment.reason if amendment.reason else "",
        " (" + changed + ")" if changed else "",
    )


def in_words(value: object) -> str:
    """A field's value in a line of text: as written, JSON for anything not a word."""
    if value is None:
        return "(none)"
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()


def _item(
    key: Subject,
    title: str,
    when: str,
    status: str | None,
    sources: Sequence[Source],
    *,
    later: bool,
    change: ItemChange | None = None,
    amended: Sequence[Amendment] = (),
    detail: Sequence[str] = (),
    history: str = "",
    passages: Passages,
) -> Markup:
    badge = html(" <span class='status status-{0}'>{0}</span>", status) if status else ""
    note = Markup(" <span class='later-note'>(not yet on this date)</span>") if later else ""
    changed: Markup | str = ""
    if change is not None:
        what = (
            "new"
            if change.change == "added"
            else "changed: " + ", ".join(field.path for field in change.fields)
        )
        changed = html(" <mark class='change'>{}</mark>", what)
    said = html("<br><span class='when'>{}</span>", when) if when else Markup()
    if detail:
        said += html(
            "<ul class='detail'>{}</ul>", join(html("<li>{}</li>", line) for line in detail)
        )
    notes = join(html("<br><span class='amended'>{}</span>", _amended(a)) for a in amended)
    classes = "item" + (" later" if later else "") + (" changed" if change else "")
    lineage = html(" <a class='history' href='{}'>history of this fact</a>", history)
    return html(
        "<li class='{}' id='{}' tabindex='-1'><strong>{}</strong>{}{}{}{}{}{}{}</li>",
        classes,
        anchor(key),
        title,
        badge,
        note,
        changed,
        said,
        notes,
        cited_sources(sources, passages),
        lineage if history else "",
    )


@dataclass(frozen=True, slots=True)
class _Lister:
    """What every item's entry needs to know besides the item: the state on `as_of`, the
    compared instant's changes and the amendments, by item."""

    seen: Mapping[UUID, object]
    changed: Mapping[Subject, ItemChange]
    befell: Mapping[Subject, Sequence[Amendment]]
    basis: PageBasis

    def item(
        self,
        key: Subject,
        title: str,
        when: str,
        fact: Fact,
        *,
        status: str | None = None,
        detail: Sequence[str] = (),
    ) -> Markup:
        return _item(
            key,
            title,
            when,
            status,
            fact.sources,
            later=fact.event_id not in self.seen,
            change=self.changed.get(key),
            amended=self.befell.get(key, ()),
            detail=detail,
            history=fact_href(self.basis, key),
            passages=self.basis.passages,
        )


def _lists(whole: PartnershipState, on_day: PartnershipState | None, basis: PageBasis) -> Markup:
    """Every item in words; one not yet there on `as_of` is greyed and shows no status, one
    that changed since the compared instant is marked with what changed, and one a
    retraction or correction touched says so, with when and why."""
    changes, amendments = basis.changes, basis.amendments
    seen = _by_event(on_day)
    names = _names(whole, basis.registered)
    befell: dict[Subject, list[Amendment]] = {}
    for amendment in amendments:
        for key in amendment.about:
            befell.setdefault(key, []).append(amendment)
    lister = _Lister(seen, {(c.kind, c.id): c for c in changes}, befell, basis)
    item = lister.item

    def status(fact: PhaseState | MilestoneState) -> str | None:
        """Its status on `as_of`; none before it is there."""
        then = seen.get(fact.event_id)
        return then.status if isinstance(then, PhaseState | MilestoneState) else None

    def since(fact: Fact) -> str:
        return f"since {fact.since.describe()}"

    parties = join(
        [
            *(item(("party", p.org), f"{p.name}{', ' + p.role if p.role else ''}", since(p), p)
              for p in whole.parties),
            *(item(("party", p.org), p.name, "a former party", p, status="left")
              for p in whole.former_parties),
            html("<li class='item organizations'>Each as an organization: {}</li>", join(
                (html("<a href='/organizations/{}/page'>{}</a>", quote(p.org, safe=""), p.name)
                 for p in (*whole.parties, *whole.former_parties)), " · ")),
        ]
    )  # fmt: skip
    phases = join(
        item(("phase", p.id), p.name, p.period.describe(), p, status=status(p))
        for p in whole.phases
    )
    milestones = join(
        item(("milestone", m.id), m.title, f"due {m.due.describe()}", m, status=status(m),
             detail=[m.description] if m.description else ())
        for m in whole.milestones
    )  # fmt: skip
    investments = join(
        item(("investment", i.id), _investment(i, names),
             f"{i.since.describe()} · {i.purpose}", i, status=i.firmness,
             detail=[*([f"Period: {i.period.describe()}"] if i.period else ()),
                     *_firmness_differs(i)])
        for i in whole.investments
    )  # fmt: skip
    commitments = join(
        item(("commitment", c.id),
             f"{names.get(c.by, c.by)} → {names.get(c.to, c.to)}: {c.description}", since(c), c,
             status=c.firmness, detail=_firmness_differs(c))
        for c in whole.commitments
    )  # fmt: skip
    targets = join(
        item(("target", t.id), f"{t.metric}: {figure_words(t.value, t.unit, t.comparator)}",
             f"by {t.due.describe()}" if t.due else "no date stated", t)
        for t in whole.targets
    )  # fmt: skip
    areas = join(
        item(("focus_area", f.id), f.name, f.description or "", f, detail=f.objectives)
        for f in whole.focus_areas
    )
    said = join(
        item(("statement", str(s.event_id)), f"{s.speaker}{', ' + s.role if s.role else ''}",
             f"“{s.text}” ({s.since.describe()})", s)
        for s in whole.statements
    )  # fmt: skip
    forecasts = join(
        item(("forecast", str(f.event_id)), f"{f.by}: {f.claim}",
             f"by {f.horizon.describe()}" if f.horizon else "no horizon stated", f)
        for f in whole.forecasts
    )  # fmt: skip
    background = join(
        item(("background", str(b.event_id)), b.topic or "The source's own words",
             f"“{b.text}” [{b.language}]", b)
        for b in whole.background
    )  # fmt: skip
    risks = join(
        item(("risk", r.id), r.description, "", r,
             detail=[f"Mitigation: {m}" for m in r.mitigations])
        for r in whole.risks
    )  # fmt: skip
    governance = join(
        item(("governance", g.id), g.body, "", g, detail=g.responsibilities)
        for g in whole.governance
    )
    removed = join(
        html(
            "<li class='item changed removed'><strong>{}</strong> "
            "<mark class='change'>removed ({})</mark></li>",
            c.label,
            c.kind.replace("_", " "),
        )
        for c in changes
        if c.change == "removed"
    )
    amended = join(
        html(
            "<li class='item amended'>{}{}</li>",
            _amended(a),
            cited_sources(a.sources, basis.passages),
        )
        for a in amendments
    )
    parts = (
        ("Parties", parties),
        ("Phases", phases),
        ("Milestones", milestones),
        ("Investments", investments),
        ("Commitments", commitments),
        ("Targets", targets),
        ("Focus areas", areas),
        ("Statements", said),
        ("Forecasts", forecasts),
        ("Background", background),
        ("Risks", risks),
        ("Governance", governance),
        ("Removed since the compared instant", removed),
        ("Retracted and corrected", amended),
    )
    return join(
        html("<section class='lane-list'><h3>{}</h3><ul>{}</ul></section>", name, items)
        for name, items in parts
        if items
    )


def _firmness_differs(pledge: InvestmentState | CommitmentState) -> list[str]:
    said = firmness_differs(pledge.firmness_said, pledge.sources)
    return [] if said is None else [said]


def _names(state: PartnershipState, registered: Mapping[str, str]) -> dict[str, str]:
    """Organization ids to the names the sources give them (former parties too), else to their
    registered names."""
    return {**registered, **{p.org: p.name for p in (*state.parties, *state.former_parties)}}


def _investment(i: InvestmentState, names: Mapping[str, str]) -> str:
    """ "Vodafone → recipient not stated: USD 1.5 billion (≈ EUR 1.37 billion)"."""
    recipient = names.get(i.recipient, i.recipient) if i.recipient else "recipient not stated"
    stated = "".join(equivalent_words(e) for e in i.equivalents)
    return f"{names.get(i.investor, i.investor)} → {recipient}: {_amount(i.amount)}{stated}"


def _amount(amount: object) -> str:
    return amount_words(amount) if isinstance(amount, Money) else "undisclosed amount"


def _lane_names() -> Markup:
    """The lanes' names again, in HTML that narrow screens keep in view while the drawing
    scrolls sideways (the SVG's own names scroll away); hidden from screen readers, which
    read the SVG's. Each lane's place is a class: the pages allow no inline style."""
    names = join(html("<li class='lane-{}'>{}</li>", n, name) for n, name in enumerate(LANES))
    return html("<ul class='lane-names' aria-hidden='true'>{}</ul>", names)


def _swatch(shape: Markup) -> Markup:
    return html("<svg class='swatch' viewBox='0 0 16 16' aria-hidden='true'>{}</svg>", shape)


def _legend(*, compared: bool, amended: bool) -> Markup:
    """What the drawing's marks mean, in words (only the outlines in use are named)."""
    keys = [
        *(
            (_swatch(html("<circle cx='8' cy='8' r='6' fill='{}'/>", colour)),
             f"milestone {status}")
            for status, colour in STATUS_COLOURS.items()
        ),
        (_band("fill='#90cdf4' stroke='#2b6cb0'"), "phase"),
        (_band("fill='url(#fade)'"), "open end"),
        (_band("fill='url(#hatch)'"), "uncertain or approximate date"),
        (_band("fill='#90cdf4' opacity='0.35'"), "not yet on this date"),
        (
            _swatch(Markup("<rect x='4' y='4' width='8' height='8' fill='#805ad5' "
                           "transform='rotate(45 8 8)'/>")),
            "investment, statement or forecast",
        ),
    ]  # fmt: skip
    if compared:
        keys.append((_band("fill='none' stroke='#dd6b20' stroke-width='3'"), "changed"))
    if amended:
        keys.append(
            (
                _band("fill='none' stroke='#c53030' stroke-width='2' stroke-dasharray='4 2'"),
                "retracted or corrected",
            )
        )
    listed = join(html("<li>{}{}</li>", swatch, words) for swatch, words in keys)
    return html("<ul class='legend' aria-label='What the marks mean'>{}</ul>", listed)


def _band(paint: LiteralString) -> Markup:
    """A phase band's swatch, painted by fixed SVG attributes."""
    return _swatch(html("<rect x='1' y='3' width='14' height='10' rx='2' {}/>", Markup(paint)))


def timeline_body(
    whole: PartnershipState, on_day: PartnershipState | None, basis: PageBasis
) -> Markup:
    """What the sliders replace: the summary, the drawing and the lists, on `basis`."""
    state = on_day or whole
    ax = axis(whole, basis.as_of)
    known = basis.known_at.isoformat() if basis.known_at else "now"
    announced = f"announced {state.announced.describe()}"
    if on_day is None:
        announced = f"not yet announced on {basis.as_of.isoformat()} ({announced})"
    term = ""
    if state.term_ends is not None:
        term = f" · term ends {state.term_ends.isoformat()} ({state.term_status})"
    if basis.since is not None:
        count = len(basis.changes)
        term += (
            f" · {count} change{'' if count == 1 else 's'} in what we know since "
            f"{basis.since.isoformat()}"
        )
    own = next((c for c in basis.changes if c.kind == "partnership"), None)
    if own is not None:  # the partnership's own fields: its summary, status, term…
        term += (
            " · new since then"
            if own.change == "added"
            else " · changed: " + ", ".join(field.path for field in own.fields)
        )
    changed = frozenset((c.kind, c.id) for c in basis.changes)
    amended = frozenset(key for a in basis.amendments for key in a.about)
    return html(
        "<p class='basis' aria-live='polite'>On <strong>{}</strong>, "
        "as known at <strong>{}</strong>: {}, {}{}.</p>"
        "<div class='drawing' tabindex='0' role='region' aria-label='Timeline drawing'>"
        "<div class='canvas'>{}{}</div></div>{}{}",
        basis.as_of.isoformat(),
        known,
        state.status,
        announced,
        term,
        _lane_names(),
        _svg(
            whole,
            on_day,
            ax,
            basis.as_of,
            changed=changed,
            amended=amended,
            registered=basis.registered,
        ),
        _legend(compared=basis.since is not None, amended=bool(amended)),
        _lists(whole, on_day, basis),
    )


def timeline_page(
    whole: PartnershipState, on_day: PartnershipState | None, basis: PageBasis
) -> Markup:
    """A partnership's page: header, sliders, permalink, feeds, and its timeline body."""
    ax = axis(whole, basis.as_of)
    span = max(1, (ax.end - ax.start).days)
    day_index = (basis.as_of - ax.start).days
    stops = [i.isoformat() for i in basis.instants]
    known_index = len(stops) - 1
    if basis.known_at is not None:
        known_index = max(0, sum(1 for i in basis.instants if i <= basis.known_at) - 1)
    query = {"as_of": basis.as_of.isoformat()}
    if basis.known_at is not None:
        query["known_at"] = basis.known_at.isoformat()
    if basis.since is not None:
        query["since"] = basis.since.isoformat()
    permalink = f"/partnerships/{basis.stream}/timeline?{urlencode(query)}"
    chosen = basis.since.isoformat() if basis.since else ""
    compare = join(
        html("<option value='{0}'{1}>{0}</option>", stop, " selected" if stop == chosen else "")
        for stop in stops[:-1]
    )
    https = basis.calendar
    webcal = basis.subscribe or "webcal:" + https.split(":", 1)[1]
    parties = ", ".join(f"{p.name}{' (' + p.role + ')' if p.role else ''}" for p in whole.parties)
    header = html(
        "<header class='top'><p><a href='/'>All partnerships</a></p>"
        "<h1>{}</h1><p class='meta'>{}{}</p>{}</header>",
        whole.title,
        parties,
        " · " + ", ".join(whole.regions) if whole.regions else "",
        html("<p>{}</p>", whole.summary) if whole.summary else "",
    )
    known_value = stops[known_index] if stops else "now"
    controls = html(
        "<form class='sliders' data-stream='{stream}' data-start='{start}' "
        "data-instants='{instants}'>"
        "<label for='as-of'>World date (as of)</label>"
        "<input type='range' id='as-of' min='0' max='{span}' value='{day_index}' "
        "aria-valuetext='{as_of}'>"
        "<output for='as-of' id='as-of-value'>{as_of}</output>"
        "<label for='known-at'>What we knew (known at)</label>"
        "<input type='range' id='known-at' min='0' max='{last_stop}' "
        "value='{known_index}' aria-valuetext='{known_value}'>"
        "<output for='known-at' id='known-at-value'>{known_shown}</output>"
        "<label for='since'>Show what changed since</label>"
        "<select id='since'><option value=''>(nothing compared)</option>{compare}</select>"
        "<span></span></form>",
        stream=basis.stream,
        start=ax.start,
        instants=" ".join(stops),
        span=span,
        day_index=day_index,
        as_of=basis.as_of.isoformat(),
        last_stop=max(0, len(stops) - 1),
        known_index=known_index,
        known_value=known_value,
        known_shown=known_value if basis.known_at else "now",
        compare=compare,
    )
    links = html(
        "<nav class='links' aria-label='This partnership elsewhere'>"
        "<a id='permalink' href='{}'>Permalink</a>"
        "<a href='{}'>Subscribe (Apple, Outlook)</a>"
        "<a href='{}'>Subscribe (Google)</a>"
        "<a href='{}'>Calendar (.ics)</a>"
        "<a id='json' href='/partnerships/{}?{}'>JSON</a>"
        "</nav>",
        permalink,
        webcal,
        "https://calendar.google.com/calendar/r?" + urlencode({"cid": webcal}),
        https,
        basis.stream,
        urlencode({k: v for k, v in query.items() if k != "since"}),
    )
    body = html(
        "{}<main>{}{}<div id='timeline-body'>{}</div></main>",
        header,
        controls,
        links,
        timeline_body(whole, on_day, basis),
    )
    return document(whole.title, body)
