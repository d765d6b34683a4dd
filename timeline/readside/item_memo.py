"""Calendar items rewritten by what changed: a stream's read models keep the items already
written, by the state they were written from, so an append rewrites only those its facts
touched (`calendar.stream_items` is the rule they must match, checked by the tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial

from timeline.calendar import (
    FeedOptions,
    Headline,
    ItemContent,
    _announcement,
    _Draft,
    _Frame,
    _investment,
    _milestone,
    _phase_markers,
)
from timeline.events import Party
from timeline.state import InvestmentState, MilestoneState, PartnershipState, PhaseState


@dataclass(slots=True)
class ItemMemo:
    """One stream's items already written, by the state they were written from.

    Keyed by identity: a `incremental.Folding` hands out the same phase, milestone and
    investment objects while they do not change, so a lookup hashes nothing.
    Drafts outlive a change of what every item repeats (title, parties); the
    framed items do not.
    """

    context: tuple[object, ...] = ()
    frame: _Frame | None = None
    drafts: dict[tuple[int, str], tuple[object, list[_Draft]]] = field(default_factory=dict)
    written: dict[tuple[int, str], tuple[object, list[ItemContent]]] = field(default_factory=dict)


def _context(stream: str, title: str, parties: Sequence[Party]) -> tuple[object, ...]:
    return (stream, title, tuple((p.org, p.name, p.role) for p in parties))


def prime(memo: ItemMemo, stream: str, title: str, parties: Sequence[Party]) -> None:
    """Give `memo` the frame of a state whose items are already written (read models loaded
    with a folding restored from its snapshot), so the next change rewrites only its items."""
    memo.context = _context(stream, title, parties)
    memo.frame = _Frame.framing(stream, title, parties)


def items_of(
    state: PartnershipState, options: FeedOptions, memo: ItemMemo | None = None
) -> dict[str, ItemContent]:
    """The calendar items a state shows now; `memo` saves rewriting items that did not change."""
    memo = ItemMemo() if memo is None else memo
    context = _context(state.id, state.title, state.parties)
    if memo.frame is None or context != memo.context:
        memo.context, memo.frame, memo.written = context, _Frame.of(state), {}
    frame, drafted, written = memo.frame, memo.drafts, memo.written
    drafts: dict[tuple[int, str], tuple[object, list[_Draft]]] = {}
    now: dict[tuple[int, str], tuple[object, list[ItemContent]]] = {}

    def take(source: object, detail: str, draft: Callable[[], list[_Draft]]) -> None:
        key = (id(source), detail)
        found = written.get(key)
        if found is not None and found[0] is source:
            drafts[key] = drafted[key]
            now[key] = found
            return
        chosen = drafted.get(key)
        if chosen is None or chosen[0] is not source:
            chosen = (source, draft())
        drafts[key] = chosen
        now[key] = (source, [each.framed(frame) for each in chosen[1]])

    for m in state.milestones:
        take(m, "", partial(_milestone, m))
    for phase in state.phases:
        take(phase, "", partial(_phase_markers, phase))
    if options.investments:
        for i in state.investments:
            investor = frame.names.get(i.investor, i.investor)
            take(i, investor, partial(_investment, i, investor))
    items = [item for _source, each in now.values() for item in each]
    if options.announcements:
        headline = Headline(state.announced, state.summary, state.status, state.sources)
        items.append(_announcement(headline).framed(frame))
    memo.drafts, memo.written = drafts, now  # the memo holds what the state shows now, no more
    return {item.uid: item for item in items}


def touched_items(
    memo: ItemMemo,
    milestones: Iterable[MilestoneState],
    phases: Iterable[PhaseState],
    investments: Iterable[InvestmentState],
    headline: Headline,
) -> tuple[dict[str, ItemContent], list[str]]:
    """The items of these phases, milestones and investments and the announcement, written
    in the frame `memo` last saw (the caller knows the title and parties did not change since),
    and the UIDs of markers a phase no longer has (its end, when it became open-ended)."""
    frame = memo.frame
    if frame is None:
        raise ValueError("touched_items needs a memo that has seen the whole state once")
    drafts = [draft for m in milestones for draft in _milestone(m)]
    gone: list[str] = []
    for phase in phases:
        markers = _phase_markers(phase)
        drafts += markers
        if len(markers) == 1:
            gone.append(f"{frame.id}.phase.{phase.id}.end")
    for i in investments:
        drafts += _investment(i, frame.names.get(i.investor, i.investor))
    drafts.append(_announcement(headline))
    now = {item.uid: item for item in (draft.framed(frame) for draft in drafts)}
    return now, gone
