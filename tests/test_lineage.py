"""A fact's lineage: its versions on both time axes, the state's word, and the route."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import msgspec
from helpers import T0, achieved, announce, correct, d, milestone, phase, recorded, retract
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient
from test_read_models import STEPS, history

from timeline import fold, wire
from timeline.events import (
    Correction,
    EventCorrected,
    MilestoneScheduled,
    PartnershipAnnounced,
    PhaseScheduled,
    StoredEvent,
)
from timeline.knowledge import diff, items
from timeline.lineage import PATH_KINDS, lineage


def _hours(n: int) -> datetime:
    return T0 + timedelta(hours=n)


def test_a_late_achievement_closes_the_version_it_changes_and_says_which_event_did() -> None:
    events = recorded([announce(), milestone(due="2024-04"), achieved(effective="2024-05-02")])
    found = lineage("vm", events, "milestone", "iot", as_of=date(2024, 6, 1))
    assert found is not None
    rows = [
        (
            v.recorded_from,
            v.recorded_to,
            v.effective_from,
            v.effective_to,
            v.value["status"],
            v.superseded_by,
        )
        for v in found.versions
    ]
    achievement = events[2].event.id
    assert rows == [
        # known at 1h: pending until its deadline, then no source says what happened
        (_hours(1), None, date(2024, 1, 16), date(2024, 4, 30), "pending", ()),
        (_hours(1), _hours(2), date(2024, 5, 1), None, "unreported", (achievement,)),
        # known at 2h: from the day it was achieved, achieved
        (_hours(2), None, date(2024, 5, 1), date(2024, 5, 1), "unreported", ()),
        (_hours(2), None, date(2024, 5, 2), None, "achieved", ()),
    ]
    assert found.versions[-1].events == (events[1].event.id, achievement)
    assert found.first_recorded == _hours(1)
    assert found.current == found.versions[-1].value
    learned = {entry.field: entry.learned_at for entry in found.learned}
    assert learned["due"] == _hours(1)
    assert learned["title"] == _hours(1)
    assert learned["status"] == _hours(2)
    assert learned["achieved"] == _hours(2)


def test_a_retraction_ends_every_version_and_the_fact_holds_nowhere_after() -> None:
    events = recorded([announce(), milestone(due="2030-01")])
    events = recorded([*(s.event for s in events), retract(events[1].event.id)])
    found = lineage("vm", events, "milestone", "iot", as_of=date(2024, 6, 1))
    assert found is not None
    assert [(v.recorded_from, v.recorded_to, v.value["status"]) for v in found.versions] == [
        (_hours(1), _hours(2), "pending"),
        (_hours(1), _hours(2), "unreported"),  # from February 2030, as known then
    ]
    assert {v.superseded_by for v in found.versions} == {(events[2].event.id,)}
    assert found.current is None
    assert found.learned == ()
    assert found.at(date(2024, 6, 1), _hours(1)) == found.versions[0].value
    assert found.at(date(2024, 6, 1), None) is None


def test_a_correction_is_behind_the_version_it_makes() -> None:
    first = recorded([announce(), milestone(due="2024-04")])
    fix = correct(first[1].event.id, {"id": "iot", "title": "IoT company", "due": "2024-09"})
    events = recorded([*(s.event for s in first), fix])
    found = lineage("vm", events, "milestone", "iot", as_of=date(2024, 6, 1))
    assert found is not None
    latest = [v for v in found.versions if v.recorded_to is None]
    assert {v.value["title"] for v in latest} == {"IoT company"}
    assert all(v.events == (first[1].event.id, fix.id) for v in latest)
    assert {entry.field: entry.learned_at for entry in found.learned}["title"] == _hours(2)


def test_a_correction_that_gives_back_an_id_ends_what_the_earlier_one_made() -> None:
    """Found by the property: m0 corrected to m1, then back to m0. The second correction is
    about m1 too, so m1's lineage ends there and a diff cites it for m1's removal."""
    first = recorded([announce(), milestone("m0", due="2024-04")])
    scheduled = first[1].event.id
    to_m1 = correct(scheduled, {"id": "m1", "title": "m", "due": "2024-04"})
    back = correct(scheduled, {"id": "m0", "title": "m", "due": "2024-04"})
    events = recorded([*(s.event for s in first), to_m1, back])
    found = lineage("vm", events, "milestone", "m1", as_of=date(2024, 3, 1))
    assert found is not None
    assert {(v.recorded_from, v.recorded_to) for v in found.versions} == {(_hours(2), _hours(3))}
    assert {v.superseded_by for v in found.versions} == {(back.id,)}
    assert found.current is None
    changes = diff(
        "vm",
        fold.fold(events[:3], as_of=date(2024, 3, 1)),
        fold.fold(events, as_of=date(2024, 3, 1)),
        events[3:],
        events,
    )
    assert {(c.id, c.change, c.events) for c in changes} == {
        ("m1", "removed", (back.id,)),
        ("m0", "added", (back.id,)),
    }


def test_a_phase_turns_with_its_window() -> None:
    events = recorded([announce(), phase(period="2024-02/2024-03")])
    found = lineage("vm", events, "phase", "pilot", as_of=date(2024, 6, 1))
    assert found is not None
    assert [(v.effective_from, v.effective_to, v.value["schedule"]) for v in found.versions] == [
        (date(2024, 1, 16), date(2024, 1, 31), "upcoming"),
        (date(2024, 2, 1), date(2024, 3, 31), "in_window"),
        (date(2024, 4, 1), None, "past_window"),
    ]


def test_a_fact_never_held_has_no_lineage() -> None:
    events = recorded([announce(), milestone()])
    assert lineage("vm", events, "milestone", "other", as_of=date(2024, 6, 1)) is None
    assert lineage("vm", events, "phase", "iot", as_of=date(2024, 6, 1)) is None


def test_a_party_named_in_the_announcement_has_it_behind_it() -> None:
    events = recorded([announce()])
    found = lineage("vm", events, "party", "microsoft", as_of=date(2024, 6, 1))
    assert found is not None
    assert found.current is not None
    assert found.current["name"] == "Microsoft"
    assert found.current["former"] is False
    assert found.versions[0].events == (events[0].event.id,)
    assert found.versions[0].sources == events[0].event.sources


FIXES = st.lists(
    st.tuples(
        st.integers(0, 40),  # which announcement, milestone or phase
        st.integers(-20, 20),  # days its effective date moves
        st.integers(0, 3),  # the milestone id it is given (m3: a new one)
        st.booleans(),  # recorded with the previous event
    ),
    max_size=4,
)
"""Corrections `history` does not make: of a milestone's or phase's date and id, and of the
announcement's date (which decides from when anything holds)."""


def _with_fixes(events: list[StoredEvent], fixes: list[tuple[int, int, int, bool]]):
    stated = [stored.event for stored in events]
    times = [stored.recorded_at for stored in events]
    for which, shift, new_id, same_instant in fixes:
        targets = [
            e
            for e in stated
            if isinstance(e, PartnershipAnnounced | MilestoneScheduled | PhaseScheduled)
        ]
        target = targets[which % len(targets)]
        data = msgspec.to_builtins(target.data, enc_hook=wire.enc_hook)
        if isinstance(target, MilestoneScheduled):
            data["id"] = f"m{new_id}"
        moved = target.effective.first_day + timedelta(days=shift)
        fix = EventCorrected(
            effective=target.effective,
            data=Correction(
                event_id=target.id, data=data, effective=d(moved.isoformat()), reason="fix"
            ),
        )
        at = times[-1] if same_instant else times[-1] + timedelta(hours=1)
        trial = recorded([*stated, fix], stream="ag", at=[*times, at])
        try:
            fold.check(trial)
        except fold.DomainError:
            continue
        stated.append(fix)
        times.append(at)
    return recorded(stated, stream="ag", at=times)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(STEPS, FIXES, st.data())
def test_the_value_a_lineage_gives_for_a_basis_is_the_states(steps, fixes, data) -> None:
    """At any (`as_of`, `known_at`), what the lineage gives is what the state holds of the fact,
    and nothing where the state has no such fact: late facts, retractions and corrections
    (of dates and ids too) included."""
    events = _with_fixes(history(steps), fixes)
    instants = sorted({e.recorded_at for e in events})
    days = sorted(
        {e.event.effective.first_day + timedelta(days=k) for e in events for k in (-1, 0, 1)}
        | {date(2100, 1, 1)}
    )
    every = {
        key
        for at in instants
        for day in days[::3]
        for key in items(fold.fold(fold.known(events, at), as_of=day))
    }
    facts = sorted(key for key in every if key[0] in PATH_KINDS)
    if not facts:
        return
    kind, fact_id = data.draw(st.sampled_from(facts))

    found = lineage("ag", events, PATH_KINDS[kind], fact_id, as_of=days[-1])
    assert found is not None, "a fact some state held has a lineage"
    probes = data.draw(
        st.lists(st.tuples(st.sampled_from(instants), st.sampled_from(days)), min_size=8)
    )
    for at, day in probes:
        state = fold.fold(fold.known(events, at), as_of=day)
        held = items(state).get((kind, fact_id))
        assert found.at(day, at) == (None if held is None else held[1]), (at, day)
    latest = items(fold.fold(events, as_of=days[-1])).get((kind, fact_id))
    assert found.current == (None if latest is None else latest[1])
    for entry in found.learned:  # known since then, and the same value ever after
        assert found.current is not None
        for at in instants:
            if at >= entry.learned_at:
                then = found.at(days[-1], at)
                assert then is not None
                assert then[entry.field] == found.current[entry.field]


VM = "/partnerships/vodafone-microsoft"
IOT = "iot-platform-independent"


async def test_the_lineage_route_answers_each_version_with_its_events_and_sources(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    before = (await client.get(f"{VM}/facts/milestone/{IOT}?as_of=2024-07-01")).json()
    assert len(before["versions"]) >= 1
    assert all(v["recorded_to"] is None for v in before["versions"])
    assert before["current"]["status"] == "unreported"
    achievement = {
        "type": "MilestoneAchieved",
        "effective": "2024-05-02",
        "data": {"id": IOT},
        "sources": [{"title": "Vodafone results", "language": "en"}],
    }
    posted = await client.post(f"{VM}/events", json={"events": [achievement]}, headers=auth)
    assert posted.status_code == 201, posted.text
    answer = await client.get(f"{VM}/facts/milestone/{IOT}?as_of=2024-07-01")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    state = (await client.get(f"{VM}?as_of=2024-07-01")).json()
    assert body["current"] == next(m for m in state["milestones"] if m["id"] == IOT)
    assert body["current"]["status"] == "achieved"
    latest = [v for v in body["versions"] if v["recorded_to"] is None]
    assert latest[-1]["effective_from"] == "2024-05-02"
    assert latest[-1]["events"][-1] == posted.json()["events"][0]["id"]
    assert {"title": "Vodafone results", "language": "en"} in latest[-1]["sources"]
    superseded = [v for v in body["versions"] if v["recorded_to"] is not None]
    assert superseded, "the achievement closed the version that said unreported"
    assert all(v["superseded_by"] == [latest[-1]["events"][-1]] for v in superseded)
    learned = {entry["field"]: entry["learned_at"] for entry in body["learned"]}
    assert learned["status"] == latest[-1]["recorded_from"]
    assert learned["due"] == body["first_recorded"]

    then = await client.get(
        f"{VM}/facts/milestone/{IOT}?as_of=2024-07-01&known_at={quote(body['first_recorded'])}"
    )
    assert then.json()["current"]["status"] == "unreported"
    assert all(v["recorded_to"] is None for v in then.json()["versions"])

    tag = answer.headers["etag"]
    again = await client.get(
        f"{VM}/facts/milestone/{IOT}?as_of=2024-07-01", headers={"If-None-Match": tag}
    )
    assert again.status_code == 304


async def test_the_lineage_route_names_what_is_wrong_with_a_request(
    client: AsyncTestClient[Any],
) -> None:
    cases = {
        f"{VM}/facts/meeting/{IOT}": (400, "path.kind"),
        f"{VM}/facts/milestone/Not%20An%20Id": (400, "path.fact_id"),
        f"{VM}/facts/milestone/{IOT}?as_of=2024-13-01": (400, "query.as_of"),
        f"{VM}/facts/milestone/{IOT}?known_at=yesterday": (400, "query.known_at"),
        f"{VM}/facts/milestone/no-such-milestone": (404, None),
        f"{VM}/facts/phase/{IOT}": (404, None),
        f"/partnerships/nobody/facts/milestone/{IOT}": (404, None),
        f"{VM}/facts/milestone/{IOT}?known_at=2001-01-01T00:00:00Z": (404, None),
    }
    for url, (status, where) in cases.items():
        answer = await client.get(url)
        assert answer.status_code == status, (url, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        if where is not None:
            assert where in answer.text, (url, answer.text)


async def test_the_timeline_links_each_fact_to_its_history_page(
    client: AsyncTestClient[Any],
) -> None:
    timeline = (await client.get(f"{VM}/timeline?as_of=2024-07-01")).text
    href = f"{VM}/timeline/milestone/{IOT}?as_of=2024-07-01"
    assert f"<a class='history' href='{href}'>history of this fact</a>" in timeline
    assert f"{VM}/timeline/party/microsoft?as_of=2024-07-01" in timeline
    page = await client.get(href)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    body = page.text
    state = (await client.get(f"{VM}?as_of=2024-07-01")).json()
    milestone = next(m for m in state["milestones"] if m["id"] == IOT)
    assert f"<h1>{milestone['title']}</h1>" in body
    assert "Every version we have held (" in body
    assert f"<a href='{VM}/facts/milestone/{IOT}?as_of=2024-07-01'>JSON</a>" in body
    assert "<mark class='quote'>" in body  # its quote, in the passage of the registered text
    # the English article is titled by its first sentence, the French one by its headline
    assert "spanning 10 years</cite> (untitled; described)" in body
    assert "<cite>Vodafone et Microsoft conviennent d’un partenariat</cite> [fr]" in body
    missing = await client.get(f"{VM}/timeline/milestone/no-such-milestone")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "has held no milestone" in missing.text
