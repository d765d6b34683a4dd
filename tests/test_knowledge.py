"""Knowledge diffs as pure functions: what changed between two states, and on whose word."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import msgspec
from helpers import (
    SOURCE,
    T0,
    achieved,
    announce,
    correct,
    d,
    invest,
    milestone,
    recorded,
    retract,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_read_models import STEPS, history

from timeline import fold, wire
from timeline.events import Party, PartyJoined, PartyLeft, StatementMade, StoredEvent
from timeline.events import Statement as StatementData
from timeline.knowledge import (
    ItemChange,
    amendments,
    diff,
    field_changes,
    held_items,
    item_json,
    item_raw,
    items,
    phrase,
    summary,
)
from timeline.projection import folded_pair

DAY = date(2024, 6, 1)


def _between(
    events: list[StoredEvent], since: datetime, until: datetime, day: date = DAY
) -> list[ItemChange]:
    before = fold.fold(fold.known(events, since), as_of=day)
    after = fold.fold(fold.known(events, until), as_of=day)
    window = [e for e in events if since < e.recorded_at <= until]
    return diff("vm", before, after, window, fold.known(events, until))


def _hours(n: int) -> datetime:
    return T0 + timedelta(hours=n)


def test_an_achievement_recorded_later_is_a_change_of_status_citing_it() -> None:
    events = recorded([announce(), milestone(), achieved()])
    changes = _between(events, _hours(1), _hours(2))
    assert [(c.kind, c.id, c.change) for c in changes] == [("milestone", "iot", "changed")]
    fields = {f.path: (f.before, f.after) for f in changes[0].fields}
    assert fields == {"status": ("unreported", "achieved"), "achieved": (None, "2024-05-02")}
    assert changes[0].events == (events[2].event.id,)


def test_a_fact_effective_after_as_of_changes_nothing_on_that_day() -> None:
    events = recorded([announce(), milestone(), achieved()])
    assert _between(events, _hours(1), _hours(2), date(2024, 4, 1)) == []


def test_a_retraction_is_a_removal_citing_it_and_a_correction_a_change_citing_it() -> None:
    first = invest("cloud")
    second = invest("iot", amount="7")
    fix = correct(
        first.id, {**_investment("cloud"), "amount": {"amount": "1600000000", "currency": "USD"}}
    )
    events = recorded([announce(), first, second, retract(second.id), fix])
    changes = _between(events, _hours(2), _hours(4), date(2025, 7, 1))
    by_id = {c.id: c for c in changes}
    assert by_id["iot"].change == "removed"
    assert by_id["iot"].before is not None
    assert msgspec.json.decode(by_id["iot"].before)["amount"]["amount"] == "7"
    assert by_id["iot"].after is None
    assert by_id["iot"].events == (events[3].event.id,)
    assert by_id["cloud"].change == "changed"
    assert [(f.path, f.before, f.after) for f in by_id["cloud"].fields] == [
        ("amount.amount", "1500000000", "1600000000")
    ]
    assert by_id["cloud"].events == (events[4].event.id,)


def test_amendments_name_what_was_taken_back_or_put_right_and_the_items_they_touch() -> None:
    first = invest("cloud")
    second = invest("iot", amount="7")
    goal = milestone("iot-rollout")
    done = achieved("iot-rollout")
    more = {"amount": "1600000000", "currency": "USD"}
    fix = correct(first.id, {**_investment("cloud"), "amount": more})
    events = recorded([announce(), first, second, goal, done, retract(done.id), fix])
    found = amendments("vm", events)
    assert [(a.kind, a.what, a.reason, a.about) for a in found] == [
        ("retracted", "milestone iot-rollout achieved", "wrong", (("milestone", "iot-rollout"),)),
        ("corrected", "investment cloud committed", "typo", (("investment", "cloud"),)),
    ]
    assert [a.recorded_at for a in found] == [_hours(5), _hours(6)]
    assert [a.target for a in found] == [done.id, first.id]
    assert [(f.path, f.before, f.after) for f in found[1].fields] == [
        ("amount.amount", "1500000000", "1600000000")
    ]
    again = correct(first.id, {**_investment("cloud"), "amount": {**more, "amount": "7"}})
    later = amendments("vm", recorded([*(e.event for e in events), again]))[-1]
    assert [(f.before, f.after) for f in later.fields] == [("1600000000", "7")]  # from the last
    assert amendments("vm", events[:5]) == []  # as known before either was recorded


def test_a_partnership_unknown_at_since_is_added_whole_each_item_citing_its_event() -> None:
    events = recorded([announce(), invest("cloud"), milestone()])
    changes = _between(events, T0 - timedelta(hours=1), _hours(2))
    assert [(c.kind, c.id, c.change) for c in changes] == [
        ("partnership", "vm", "added"),
        ("party", "vodafone", "added"),
        ("party", "microsoft", "added"),
        ("investment", "cloud", "added"),
        ("milestone", "iot", "added"),
    ]
    assert changes[3].events == (events[1].event.id,)
    assert changes[0].after is not None
    assert msgspec.json.decode(changes[0].after)["title"] == "Vodafone–Microsoft"


def test_statements_are_items_named_by_the_event_that_made_them() -> None:
    said = StatementMade(
        effective=announce().effective,
        data=StatementData(speaker="Satya Nadella", text="Hello", language="en"),
    )
    events = recorded([announce(), said])
    changes = _between(events, _hours(0), _hours(1))
    assert [(c.kind, c.id, c.label) for c in changes] == [
        ("statement", str(said.id), "Satya Nadella")
    ]


def test_fields_are_compared_by_path_nested_objects_field_by_field_lists_whole() -> None:
    before = {"a": 1, "m": {"x": "1", "y": "USD"}, "l": [1, 2], "revision": 0}
    after = {"a": 1, "m": {"x": "2", "y": "USD"}, "l": [2], "revision": 1, "n": None, "o": 3}
    assert [(f.path, f.before, f.after) for f in field_changes(before, after)] == [
        ("m.x", "1", "2"),
        ("l", [1, 2], [2]),
        ("o", None, 3),
    ]


def test_a_digest_line_names_the_first_events_and_counts_the_rest() -> None:
    events = recorded([announce(), milestone(), achieved(), invest()])
    assert phrase(events[2].event) == "milestone iot achieved"
    assert summary(events[:3], 4) == (
        "4 events: announced: Vodafone–Microsoft; milestone iot scheduled; "
        "milestone iot achieved; and 1 more"
    )
    assert summary(events[2:3], 1) == "1 event: milestone iot achieved"


def _investment(item: str) -> dict[str, Any]:
    return {
        "id": item,
        "investor": "vodafone",
        "recipient": "microsoft",
        "amount": {"amount": "1500000000", "currency": "USD"},
        "purpose": "cloud and AI",
    }


def _apply(before: dict[str, Any], change: ItemChange) -> dict[str, Any]:
    result = {**before}
    for field in change.fields:
        *parents, name = field.path.split(".")
        target = result
        for parent in parents:
            target[parent] = {**target[parent]}
            target = target[parent]
        if field.after is None and name not in msgspec.json.decode(change.after or b"{}"):
            target.pop(name, None)
        else:
            target[name] = field.after
    return result


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(STEPS, st.data())
def test_every_difference_is_listed_field_by_field_and_cites_an_event_recorded_between(
    steps, data
) -> None:
    events = history(steps)
    instants = sorted({e.recorded_at for e in events} | {T0 - timedelta(hours=1)})
    since = data.draw(st.sampled_from(instants))
    until = data.draw(st.sampled_from([i for i in instants if i >= since]))
    day = data.draw(st.sampled_from(sorted({e.event.effective.first_day for e in events})))
    before = fold.fold(fold.known(events, since), as_of=day)
    after = fold.fold(fold.known(events, until), as_of=day)
    window = [e for e in events if since < e.recorded_at <= until]
    changes = diff("ag", before, after, window, fold.known(events, until))

    old, new = items(before), items(after)
    listed = {(c.kind, c.id): c for c in changes}
    assert len(listed) == len(changes)
    assert {k for k, c in listed.items() if c.change == "added"} == new.keys() - old.keys()
    assert {k for k, c in listed.items() if c.change == "removed"} == old.keys() - new.keys()
    window_ids = {e.event.id for e in window}
    for key, change in listed.items():
        # each side is the item's JSON, byte for byte, however it was written
        assert change.before == (msgspec.Raw(wire.encode(old[key][1])) if key in old else None)
        assert change.after == (msgspec.Raw(wire.encode(new[key][1])) if key in new else None)
        assert change.events, f"{key} changed with nothing cited"
        assert set(change.events) <= window_ids
        if change.change == "changed":
            assert change.fields
            assert _apply(old[key][1], change) == {
                **new[key][1],
                **{n: v for n, v in old[key][1].items() if n == "revision"},
            }
    for key in old.keys() & new.keys():
        if key not in listed:
            assert field_changes(old[key][1], new[key][1]) == []
    mirror = diff("ag", after, before, window, fold.known(events, until))
    flipped = {"added": "removed", "removed": "added", "changed": "changed"}
    assert [(c.kind, c.id, flipped[c.change]) for c in mirror] == [
        (c.kind, c.id, c.change) for c in sorted(changes, key=lambda c: _rank(c, mirror))
    ]


def _rank(change: ItemChange, order: list[ItemChange]) -> int:
    return [(c.kind, c.id) for c in order].index((change.kind, change.id))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(STEPS, st.data())
def test_one_fold_for_both_states_of_a_diff_is_two_folds(steps, data) -> None:
    """`folded_pair` goes on from the earlier state to the later one; where it can, each is
    what folding its events from the first gives (bases aside: the caller states them)."""
    events = history(steps)
    first = data.draw(st.integers(0, len(events)))
    days = sorted({e.event.effective.first_day for e in events})
    day = data.draw(st.one_of(st.just(date(2100, 1, 1)), st.sampled_from(days)))  # after all
    both = folded_pair(events, first, day)
    if both is None:  # the later events need the stream from its start, or come after `day`
        return
    before, after = both
    expected = (fold.fold(events[:first], as_of=day), fold.fold(events, as_of=day))
    for found, folded in zip((before, after), expected, strict=True):
        if folded is None:
            assert found is None
        else:
            assert found is not None
            assert msgspec.structs.replace(found, basis=folded.basis) == folded


def test_one_fold_for_both_states_goes_on_where_it_can() -> None:
    """The plain case, new facts after the last: both states from one fold."""
    events = recorded([announce(), milestone("iot", due="2024-06"), achieved("iot")])
    both = folded_pair(events, 2, date(2024, 5, 10))
    assert both is not None
    before, after = both
    assert before is not None
    assert after is not None
    assert [m.status for m in before.milestones] == ["pending"]
    assert [m.status for m in after.milestones] == ["achieved"]
    assert folded_pair(events, 2, date(2024, 1, 1)) is None  # the facts come after the day


def test_an_item_added_or_removed_is_written_as_its_json_is_encoded() -> None:
    """`item_raw` writes what encoding `item_json` writes, for each kind, a party that left
    included (its `former` is spliced in)."""
    joined = PartyJoined(
        effective=d("2024-02-01"), sources=(SOURCE,), data=Party(org="acme", name="Acme", role="x")
    )
    left = PartyLeft(
        effective=d("2024-03-01"), sources=(SOURCE,), data=Party(org="acme", name="Acme")
    )
    events = recorded([announce(), invest("cloud"), milestone(), joined, left])
    state = fold.fold(events, as_of=DAY)
    held = held_items(state)
    assert ("party", "acme") in held
    assert {kind for kind, _ in held} >= {"partnership", "party", "investment", "milestone"}
    for key, (_label, value) in held.items():
        assert bytes(item_raw(key, value)) == wire.encode(item_json(key, value)), key
    changes = diff("vm", None, state, events, events)
    acme = next(c for c in changes if c.id == "acme")
    assert acme.after is not None
    assert msgspec.json.decode(acme.after)["former"] is True
