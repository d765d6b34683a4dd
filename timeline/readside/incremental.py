"""A fold kept open while a stream grows, stored and restored, and the append check it makes
cheap: what the writer, the read models and cold reads share. The rules stay in `fold`.

`Folding` takes a stream's events as they come; `Snapshot` is a folding at rest, stored
with the read models; `check_append` checks an append against a folding by what it adds.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import date
from itertools import accumulate, groupby, pairwise

import msgspec
import zstandard

from timeline import wire
from timeline.dates import PartialDate
from timeline.events import (
    DATA_TYPES,
    PARTNERSHIP_TYPES,
    BackgroundNoted,
    EventCorrected,
    EventRetracted,
    ForecastPublished,
    InvestmentCommitted,
    MilestoneAchieved,
    MilestoneCancelled,
    MilestoneMissed,
    MilestoneRescheduled,
    MilestoneScheduled,
    PartnershipAnnounced,
    PartnershipEnded,
    Party,
    PartyJoined,
    PartyLeft,
    PhaseCancelled,
    PhaseCompleted,
    PhaseRescheduled,
    PhaseScheduled,
    PhaseStarted,
    Source,
    StatementMade,
    StoredEvent,
    type_name,
)
from timeline.fold import (
    END_OF_TIME,
    DomainError,
    _Applied,
    _apply,
    _Milestone,
    _Notes,
    _Partnership,
    _Phase,
    _state,
    _StateMemo,
    check,
    known,
    resolve,
)
from timeline.state import (
    BackgroundState,
    Basis,
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

_NOTED = (StatementMade, BackgroundNoted, ForecastPublished)
"""Facts no rule looks back at: checked against a snapshot's head alone (`Folding._rest`)."""
_OUTLINED = (PartnershipAnnounced, PartyJoined, PartyLeft, PartnershipEnded)
"""Facts that change an outline (corrections and retractions fold again from the start)."""

_ITEM_KINDS: dict[type, str] = {
    **dict.fromkeys(
        (
            MilestoneScheduled,
            MilestoneRescheduled,
            MilestoneAchieved,
            MilestoneMissed,
            MilestoneCancelled,
        ),
        "milestone",
    ),
    **dict.fromkeys(
        (PhaseScheduled, PhaseRescheduled, PhaseStarted, PhaseCompleted, PhaseCancelled), "phase"
    ),
    InvestmentCommitted: "investment",
}
"""Facts that change one phase, milestone or investment, by the kind they change."""


class Folding:
    """A fold kept open while a stream grows, for the read models.

    New facts that take effect on or after everything folded so far are
    applied to the working state; a late fact, a retraction or a correction
    folds the stream again from its start. Either way the result is what
    `fold` and `outlines` give for the whole stream.
    """

    def __init__(self, restored: _Partnership | None = None) -> None:
        self._stages: list[tuple[date, Outline]] = []
        self._reset(restored)

    @property
    def stages(self) -> list[tuple[date, Outline]]:
        """(day, outline) from which each outline holds, as `outlines` gives them."""
        self._whole()
        return self._stages

    def clear(self) -> None:
        """Forget everything taken in (after a failed advance left the working state spoiled)."""
        self._reset()

    def _reset(self, restored: _Partnership | None = None) -> None:
        self._p = _Partnership() if restored is None else restored
        self._memo = _StateMemo()
        self._everything = True
        self._touched: set[tuple[str, str]] = set()
        self._count = 0
        self._key: tuple[date, int] | None = None
        self._stream = ""
        self._last_position = 0
        self._stages = []
        self._rest: bytes | None = None
        """What a restored snapshot holds beyond what notes are checked against, not decoded
        yet (`_Rest`): a statement appended to a cold stream decodes only the snapshot's head."""

    def advance(self, events: Sequence[StoredEvent]) -> None:
        """Take in `events`: the whole stream so far (the folding remembers what it has seen)."""
        new = events[self._count :]
        if not new:
            return
        if self._from_start(new):
            if self._count or self._key is not None:  # one that took nothing in forgets nothing
                self._reset()
            self._take(resolve(known(events, None)), events)
        else:
            self._take(_in_effective_order(new), events)

    def extend(self, tail: Sequence[StoredEvent]) -> bool:
        """Take in `tail`, the stream's events after those taken in, unless they need the stream
        from its start (a late fact, a retraction, a correction): False, and nothing taken."""
        if not tail:
            return True
        if self._from_start(tail):
            return False
        self._take(_in_effective_order(tail), tail, before=self._count)
        return True

    def _from_start(self, new: Sequence[StoredEvent]) -> bool:
        key = self._key
        return key is None or any(
            isinstance(e.event, EventRetracted | EventCorrected)
            or (e.event.effective.first_day, e.position) < key
            for e in new
        )

    def _take(
        self, applied: list[_Applied], events: Sequence[StoredEvent], before: int = 0
    ) -> None:
        """Apply facts in effective order; `events` ends the stream, after `before` others."""
        if self._rest is not None and not all(isinstance(a.event, _NOTED) for a in applied):
            self._whole()
        for day, on_day in groupby(applied, lambda a: a.event.effective.first_day):
            outlined = False
            for item in on_day:
                _apply(self._p, item)
                self._key = (day, item.position)
                outlined = outlined or isinstance(item.event, _OUTLINED)
                kind = _ITEM_KINDS.get(type(item.event))
                if kind is not None:
                    self._touched.add((kind, item.event.data.id))  # type: ignore[union-attr]
            self._everything = self._everything or outlined
            if outlined:  # other facts leave the outline as it was
                self._outline_from(day)
        self._count = before + len(events)
        self._stream = events[0].stream
        self._last_position = events[-1].position

    def _outline_from(self, day: date) -> None:
        outline = _outline(self._p)
        if outline is None:
            return
        stages = self._stages
        if stages and stages[-1][0] == day:  # more facts of the day folded last time
            stages.pop()
        if not stages or stages[-1][1] != outline:
            stages.append((day, outline))

    @property
    def version(self) -> int:
        """How many events it has taken in."""
        return self._count

    def changes(self) -> tuple[bool, set[tuple[str, str]]]:
        """What changed since the last call: (True, _) when anything may have (a fold from the
        start, or a fact that changes the outline); else the (kind, id) of each phase,
        milestone and investment a fact touched. Calendar items are rewritten by this."""
        everything, touched = self._everything, self._touched
        self._everything, self._touched = False, set()
        return everything, touched

    def touched_states(
        self, touched: Iterable[tuple[str, str]]
    ) -> tuple[list[MilestoneState], list[PhaseState], list[InvestmentState]]:
        """The states at the end of time of these phases, milestones and investments."""
        self._whole()
        p, memo = self._p, self._memo
        milestones = [
            memo.milestone(p.milestones[i], END_OF_TIME) for k, i in touched if k == "milestone"
        ]
        phases = [memo.phase(p.phases[i], END_OF_TIME) for k, i in touched if k == "phase"]
        investments = [p.investments[i] for k, i in touched if k == "investment"]
        return milestones, phases, investments

    def headline(self) -> tuple[PartialDate, str | None, str, tuple[Source, ...]] | None:
        """(announced, summary, status, sources) at the end of time; None before an announcement."""
        p = self._p  # the head of a snapshot holds all this: nothing to decode
        announcement = p.announcement()
        if announcement is None:
            return None
        status = "ended" if p.ended is not None else "active"
        return announcement.effective, announcement.data.summary, status, tuple(p.sources.values())

    def state(self) -> PartnershipState | None:
        """The state at the end of time of everything taken in."""
        self._whole()
        basis = Basis(
            as_of=END_OF_TIME,
            known_at=None,
            version=self._count,
            last_position=self._last_position,
        )
        return _state(self._p, self._stream, basis, self._memo)

    def covers(self, as_of: date) -> bool:
        """Whether every fact taken in took effect by `as_of`: then `state_on(as_of)` is what
        `fold` gives for that day (phases and milestones judged on it)."""
        return self._key is not None and self._key[0] <= as_of

    def state_on(self, as_of: date) -> PartnershipState | None:
        """The state on `as_of` of everything taken in; only where `covers(as_of)`."""
        self._whole()
        basis = Basis(
            as_of=as_of, known_at=None, version=self._count, last_position=self._last_position
        )
        return _state(self._p, self._stream, basis)

    def snapshot(self) -> bytes | None:
        """What it has folded, as stored bytes (`restore`); None before it has taken in a fact."""
        if self._key is None:
            return None
        p = self._p
        rest = self._rest
        if rest is None:
            rest = wire.encoder.encode(
                _Rest(
                    stages=tuple(self._stages),
                    parties=p.parties,
                    former=p.former,
                    focus_areas=p.focus_areas,
                    investments=p.investments,
                    commitments=p.commitments,
                    targets=p.targets,
                    risks=p.risks,
                    governance=p.governance,
                    phases=tuple(p.phases.values()),  # dataclasses msgspec writes as they are
                    milestones=tuple(p.milestones.values()),
                )
            )
        notes = [p.statements.encoded(), p.background.encoded(), p.forecasts.encoded()]
        head = Snapshot(
            stream=self._stream,
            version=self._count,
            last_position=self._last_position,
            key=self._key,
            announced=p.announced,
            ended=p.ended,
            sources=tuple(p.sources.values()),
            notes=(len(notes[0]), len(notes[1]), len(notes[2])),
        )
        return _zstd.compressor.compress(b"".join([wire.encoder.encode(head), b"\n", *notes, rest]))

    @classmethod
    def restore(cls, body: bytes) -> Folding | None:
        """The folding `snapshot` stored, going on from there; None when the bytes are of
        another shape (or hold events of an older schema): fold the stream from its events."""
        try:
            plain = _zstd.decompressor.decompress(body)
            cut = plain.find(b"\n")
            s = _snapshot_decoder.decode(plain[:cut] if cut >= 0 else plain)
        except (zstandard.ZstdError, msgspec.DecodeError, msgspec.ValidationError):
            return None
        if s.shape != SNAPSHOT_SHAPE or s.schemas != EVENT_SCHEMAS or cut < 0:
            return None
        ends = list(accumulate(s.notes, initial=cut + 1))
        if ends[-1] > len(plain):
            return None
        notes = [plain[start:end] for start, end in pairwise(ends)]
        folding = cls(_thaw(s, notes))  # not a fresh working state to be thrown away
        folding._rest = plain[ends[-1] :]
        folding._key = s.key
        folding._count = s.version
        folding._stream = s.stream
        folding._last_position = s.last_position
        return folding

    def _whole(self) -> None:
        """Decode what the snapshot holds beyond the head, before anything reads it."""
        if self._rest is None:
            return
        r = _rest_decoder.decode(self._rest)
        self._rest = None
        p = self._p
        p.parties, p.former, p.focus_areas = r.parties, r.former, r.focus_areas
        p.investments, p.commitments, p.targets = r.investments, r.commitments, r.targets
        p.risks, p.governance = r.risks, r.governance
        p.phases = {phase.id: phase for phase in r.phases}
        p.milestones = {milestone.id: milestone for milestone in r.milestones}
        self._stages = list(r.stages)

    def framing(self) -> tuple[str, str, tuple[PartyState, ...]] | None:
        """(stream, title, parties) at the end of time: what every calendar item repeats."""
        self._whole()
        announcement = self._p.announcement()
        if announcement is None:
            return None
        return self._stream, announcement.data.title, tuple(self._p.parties.values())


def _in_effective_order(events: Sequence[StoredEvent]) -> list[_Applied]:
    applied = [_Applied(e.event, e.position) for e in events]
    applied.sort(key=lambda a: (a.event.effective.first_day, a.position))
    return applied


def _outline(p: _Partnership) -> Outline | None:
    announcement = p.announcement()
    if announcement is None:
        return None
    data = announcement.data
    return Outline(
        title=data.title,
        kind=data.kind,
        status="ended" if p.ended is not None else "active",
        announced=announcement.effective,
        ended=p.ended.event.effective if p.ended is not None else None,
        parties=tuple(Party(org=s.org, name=s.name, role=s.role) for s in p.parties.values()),
        former_parties=tuple(Party(org=s.org, name=s.name, role=s.role) for s in p.former.values()),
        regions=data.regions,
        summary=data.summary,
    )


def check_append(
    existing: Sequence[StoredEvent], new: Sequence[StoredEvent], folding: Folding | None = None
) -> None:
    """`check` of the stream with `new` appended. Given a `folding` that has taken in exactly
    `existing`, only what the append adds is folded (a late fact, a retraction or a correction
    still folds from the start); the folding then holds `new` too, or is cleared by the
    `DomainError` (its next advance folds from the start).
    """
    if folding is None or folding.version != len(existing):
        check([*existing, *new])
        return
    if not existing and not isinstance(new[0].event, PartnershipAnnounced):
        check(new)  # says so as `check` does
    try:
        if not folding.extend(new):  # a late fact, a retraction or a correction
            folding.advance([*existing, *new])
    except DomainError:
        folding.clear()
        raise


def check_new(existing: Sequence[StoredEvent], new: Sequence[StoredEvent]) -> None:
    """Rules only new events must keep: a correction states nothing its target cannot hold.

    Stored corrections are never re-judged by this, so a stricter rule never
    makes an existing stream unreadable.
    """
    corrections = [s.event for s in new if isinstance(s.event, EventCorrected)]
    if not corrections:  # the common append: nothing to look up in the stream
        return
    wanted = {correction.data.event_id for correction in corrections}
    types = {s.event.id: type_name(s.event) for s in (*existing, *new) if s.event.id in wanted}
    for event in corrections:
        target = types.get(event.data.event_id)
        if target is None or target not in DATA_TYPES:
            continue  # an unknown target is `unknown-event`, said by `check`
        unknown = wire.unknown_fields(event.data.data, DATA_TYPES[target], "data")
        if unknown:
            raise DomainError(
                "invalid-correction",
                f"corrected data has fields {target} does not have: {', '.join(unknown[:5])}",
                event.id,
            )


# --- a folding at rest ---------------------------------------------------------------------

SNAPSHOT_SHAPE = 9
"""The shape of `Snapshot`; a stored snapshot of another shape is ignored (the stream is folded
from its events). Raise it when `_Partnership`, `_Phase`, `_Milestone` or a state type change,
or the compression. 8: zstd frames instead of zlib (older bodies fail to inflate, and are
ignored like any other shape). 9: the notes and the rest after the head, not in it."""
SNAPSHOT_COMPRESSION = 1
"""zstd's level: a snapshot's JSON repeats its events' keys and sources, and shrinks to a
seventh (30.7 to 4.5 KB for 100 synthetic events). Measured on 2,000 of them at 1M events:
zstd inflates one in 30-34 us and deflates it in 46-60 us, zlib (level 1, shapes 6 and 7) in
94 and 175 us, 5.5 KB; inflating was two thirds of restoring a snapshot, which every append to
a stream no longer kept and every cold state read does."""
EVENT_SCHEMAS = ",".join(
    f"{kind.__name__}:{kind.SCHEMA_VERSION}"
    for kind in sorted(PARTNERSHIP_TYPES, key=lambda kind: kind.__name__)
)
"""The event types' schema versions a snapshot's events are in. A snapshot holds events in the
shape of their day, and an upcast may rename or move a field that a newer type would decode
without complaint but wrongly: a snapshot from other versions is ignored."""


class _Rest(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What a snapshot holds beyond its head: decoded only when a fact other than a note is
    folded or the state is read (`Folding._whole`)."""

    parties: dict[str, PartyState]
    former: dict[str, PartyState]
    focus_areas: dict[str, FocusAreaState]
    investments: dict[str, InvestmentState]
    commitments: dict[str, CommitmentState]
    targets: dict[str, TargetState]
    risks: dict[str, RiskState]
    governance: dict[str, GovernanceState]
    phases: tuple[_Phase, ...]
    milestones: tuple[_Milestone, ...]
    stages: tuple[tuple[date, Outline], ...]


class Snapshot(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A `Folding` at rest: what a stream folds to at the end of time, and what the domain
    checks and the facets need to go on from there (`Folding.restore`). Its head is what a
    note (statement, background, forecast) is checked against; the rest stays JSON until
    needed."""

    shape: int = SNAPSHOT_SHAPE
    schemas: str = EVENT_SCHEMAS
    stream: str
    version: int
    last_position: int
    key: tuple[date, int]
    """(first day, position) of the last fact folded: a new fact before it folds from the start."""
    announced: _Applied | None
    ended: _Applied | None
    sources: tuple[Source, ...]
    notes: tuple[int, int, int]
    """The bytes of the JSON arrays of `StatementState`, `BackgroundState` and `ForecastState`
    that follow the head and a newline, then `_Rest` as JSON to the end. Out of the head, so
    that restoring one parses only the head: as the head's `Raw` fields the decoder still
    scanned them (42 us of a synthetic snapshot's 30 KB, where the head alone takes 5)."""


class _Zstd(threading.local):
    """zstd contexts, one pair per thread (one is not shared safely): a context made for each
    snapshot cost more than the work, 30 us to inflate one where a kept one takes 13."""

    def __init__(self) -> None:
        self.compressor = zstandard.ZstdCompressor(level=SNAPSHOT_COMPRESSION)
        self.decompressor = zstandard.ZstdDecompressor()


_zstd = _Zstd()
_snapshot_decoder = msgspec.json.Decoder(Snapshot, dec_hook=wire.dec_hook)
_rest_decoder = msgspec.json.Decoder(_Rest, dec_hook=wire.dec_hook)


def _thaw(s: Snapshot, notes: list[bytes]) -> _Partnership:
    """The head of a snapshot as a working state; the rest comes with `Folding._whole`."""
    return _Partnership(
        announced=s.announced,
        ended=s.ended,
        statements=_Notes(StatementState, notes[0]),
        background=_Notes(BackgroundState, notes[1]),
        forecasts=_Notes(ForecastState, notes[2]),
        sources={(source.title, source.url): source for source in s.sources},
    )
