"""The event catalogue: every fact about a partnership is one of these, never edited.

An event is an envelope (`id`, `type`, `effective`, `sources`) around a `data`
Struct. All event types form one tagged union on `type`, decoded by one typed
decoder. Schema evolution follows msgspec's rules: new fields get defaults,
names and tags never change; a breaking change raises the type's
`SCHEMA_VERSION` and registers an upcaster in `timeline.upcasts`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, get_type_hints
from uuid import UUID

import msgspec

from timeline.codes import (
    COUNTRY_PATTERN,
    LANGUAGE_PATTERN,
    countries,
    is_country,
    is_language,
    is_lei,
    is_wikidata,
)
from timeline.dates import PartialDate, Period
from timeline.ids import new_id
from timeline.money import UNDISCLOSED, Money, Quantity, Range, check_quantity
from timeline.urls import URL_PATTERN

SLUG_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
STREAM_PREFIX = re.compile(r"(org:)?[a-z0-9-]+|org:", re.ASCII)
"""What may begin a stream id (a feed's or a subscription's `stream` filter): a partnership's,
or an organization's after `org:` (`org:` alone: every organization's)."""
STREAM_PREFIX_SAID = (
    "lowercase letters, digits and hyphens, after `org:` for organizations' streams, "
    "at most 104 characters"
)
STREAM_PREFIX_MAX = 104
"""`org:` and an id."""
SLUG_MAX = 100
"""Ids of streams, organizations and items: lowercase letters, digits, single hyphens."""
ACTOR_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$"
"""Who recorded an event: a token's name, or an importer's plain name; never control characters."""

Slug = Annotated[
    str,
    msgspec.Meta(
        pattern=SLUG_PATTERN,
        max_length=SLUG_MAX,
        description="Lowercase letters, digits and single hyphens",
    ),
]
StreamId = Slug
StoredStreamId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(org:)?[a-z0-9]+(-[a-z0-9]+)*$",
        max_length=SLUG_MAX + 4,
        description="A partnership's id, or `org:` and an organization's id",
    ),
]
"""A stream as an exported line names it: organizations' streams too."""
Actor = Annotated[str, msgspec.Meta(pattern=ACTOR_PATTERN)]
Text = Annotated[str, msgspec.Meta(min_length=1)]
Language = Annotated[
    str, msgspec.Meta(pattern=LANGUAGE_PATTERN, description="BCP 47 tag (ISO 639 language)")
]
WebUrl = Annotated[
    str,
    msgspec.Meta(
        description="An absolute http or https URL",
        extra_json_schema={"format": "uri", "pattern": URL_PATTERN},
    ),
]
"""Stored links decode as written (old rows may hold others); new ones are web addresses."""
Comparator = Literal[">=", ">", "=", "<=", "<", "~"]
Firmness = Literal["planned", "committed"]
"""`planned` when a source states an intention ("plans to invest"), `committed` when it
states a commitment; stored events from before the field decode as `committed`."""


def _check_language(tag: str) -> None:
    if not is_language(tag):
        raise ValueError(f"{tag!r} is not an ISO 639 language tag")


class Model(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """Shared configuration: immutable, keyword-only, compact on the wire.

    Defaults are only None, False and (): msgspec omits a default by identity,
    and only singletons make that (and so the exported bytes) deterministic.
    """


class TextQuote(Model, frozen=True):
    """The words a citation quotes from a registered source (a W3C Web Annotation
    `TextQuoteSelector`): `exact`, with what comes just before and after it when it occurs
    more than once."""

    exact: Text
    prefix: str | None = None
    suffix: str | None = None


class TextPosition(Model, frozen=True):
    """Where a quote was found (a W3C `TextPositionSelector`): characters `start` to `end` of
    the source's text in its normal form (`sources.normalised`). The store states it, and
    only when it found the quote there: a citation with a position is verified; one with an
    `excerpt`, or quoting a registered source that has no text, is unverified."""

    start: Annotated[int, msgspec.Meta(ge=0)]
    end: Annotated[int, msgspec.Meta(ge=0)]


EXCERPT = (
    "Unverified: words of the source as the citing writer gives them, never checked against"
    " any text. Cite a registered source with `quote` to have them checked."
)


class Source(Model, frozen=True):
    """Where a fact comes from, in the source's own language: described here, and when it
    is registered (`POST /sources`) named by its id, its words quoted and checked."""

    title: Text
    language: Language
    publisher: str | None = None
    url: WebUrl | None = None
    published: PartialDate | None = None
    excerpt: Annotated[str, msgspec.Meta(description=EXCERPT)] | None = None
    """Words of the source as the citing writer gives them; unverified."""
    source: Slug | None = None
    """The id of the registered source this cites."""
    quote: TextQuote | None = None
    """Words quoted from the registered source, checked against its text when it has one."""
    position: TextPosition | None = None
    """Set by the store where it found `quote`: a citation is verified exactly when it has
    one (`TextPosition`'s description says so wherever a schema shows it)."""

    def __post_init__(self) -> None:
        _check_language(self.language)


# --- data of each event type -------------------------------------------------


class Party(Model, frozen=True):
    org: Slug
    name: Text
    role: str | None = None


class Term(Model, frozen=True):
    """How long a partnership runs: a number of years, a period, or both."""

    years: Annotated[int, msgspec.Meta(ge=1, le=1000)] | None = None
    period: Period | None = None

    def __post_init__(self) -> None:
        if self.years is None and self.period is None:
            raise ValueError("a term needs years, a period, or both")


class Figure(Model, frozen=True):
    """A quantity as stated: "more than 300 million businesses" is (>, 300000000, businesses)."""

    value: Quantity
    unit: Text
    comparator: Comparator

    def __post_init__(self) -> None:
        check_quantity("value", self.value)


class Announcement(Model, frozen=True):
    title: Text
    parties: Annotated[tuple[Party, ...], msgspec.Meta(min_length=2)]
    kind: Text
    term: Term | None = None
    regions: tuple[Text, ...] = ()
    reach: Figure | None = None
    summary: str | None = None

    def __post_init__(self) -> None:
        orgs = [party.org for party in self.parties]
        if len(set(orgs)) != len(orgs):
            raise ValueError("each party appears once")


class FocusArea(Model, frozen=True):
    id: Slug
    name: Text
    description: str | None = None
    objectives: tuple[Text, ...] = ()


class FirmnessSaid(Model, frozen=True):
    """How firm one registered source says a pledge is, where the sources differ: the record
    says what each says rather than choosing one."""

    source: Slug
    """A registered source the event cites."""
    firmness: Firmness


def _check_firmness(firmness: Firmness, said: tuple[FirmnessSaid, ...]) -> None:
    """Where sources differ, `firmness` is what they all support: `planned` if one says an
    intention (a commitment is an intention too, not the other way round)."""
    if len({s.source for s in said}) < len(said):
        raise ValueError("firmness_said names a source twice")
    if any(s.firmness == "planned" for s in said) and firmness != "planned":
        raise ValueError(
            "firmness is what every source supports: `planned` when one of firmness_said "
            "says an intention"
        )


class Investment(Model, frozen=True, kw_only=True):
    id: Slug
    investor: Slug
    recipient: Slug | None = None
    """Who receives it, when a source says; absent when none does."""
    amount: Money | Literal["undisclosed"]
    purpose: Text
    equivalents: tuple[Money, ...] = ()
    period: Period | None = None
    firmness: Firmness = "committed"
    firmness_said: tuple[FirmnessSaid, ...] = ()
    """What each source says, when they differ (one a commitment, another an intention)."""

    def __post_init__(self) -> None:
        if self.amount == UNDISCLOSED and self.equivalents:
            raise ValueError("an undisclosed amount has no equivalents")
        _check_firmness(self.firmness, self.firmness_said)


class Commitment(Model, frozen=True):
    id: Slug
    by: Slug
    to: Slug
    description: Text
    firmness: Firmness = "committed"
    firmness_said: tuple[FirmnessSaid, ...] = ()
    """What each source says, when they differ (one a commitment, another an intention)."""

    def __post_init__(self) -> None:
        _check_firmness(self.firmness, self.firmness_said)


class Target(Model, frozen=True):
    id: Slug
    metric: Text
    value: Quantity
    unit: Text
    comparator: Comparator
    due: PartialDate | None = None

    def __post_init__(self) -> None:
        check_quantity("value", self.value)


class Phase(Model, frozen=True):
    id: Slug
    name: Text
    period: Period
    goals: tuple[Text, ...] = ()


class PhaseChange(Model, frozen=True):
    id: Slug
    period: Period
    reason: str | None = None


class PhaseStep(Model, frozen=True):
    id: Slug
    reason: str | None = None


class Milestone(Model, frozen=True):
    id: Slug
    title: Text
    due: PartialDate
    description: str | None = None


class MilestoneChange(Model, frozen=True):
    id: Slug
    due: PartialDate
    reason: str | None = None


class MilestoneStep(Model, frozen=True):
    id: Slug
    reason: str | None = None


class Statement(Model, frozen=True):
    speaker: Text
    text: Text
    language: Language
    role: str | None = None
    org: Slug | None = None

    def __post_init__(self) -> None:
        _check_language(self.language)


class Background(Model, frozen=True):
    """A source's own narration or context, in its exact words (an elision marked `[…]`):
    what an article says in its own voice, which is not a quote of anyone."""

    text: Text
    language: Language
    topic: str | None = None

    def __post_init__(self) -> None:
        _check_language(self.language)


class Forecast(Model, frozen=True):
    by: Text
    claim: Text
    value: Range | None = None
    horizon: PartialDate | None = None


class Risk(Model, frozen=True):
    id: Slug
    description: Text
    mitigations: tuple[Text, ...] = ()


class Governance(Model, frozen=True):
    id: Slug
    body: Text
    responsibilities: tuple[Text, ...] = ()


class Ending(Model, frozen=True):
    reason: Text


class Retraction(Model, frozen=True):
    event_id: UUID
    reason: Text


class Correction(Model, frozen=True):
    """Replaces the target's `data` (checked against the target's type when appended)."""

    event_id: UUID
    data: dict[str, Any]
    effective: PartialDate | None = None
    reason: str | None = None


# --- data of an organization's events ------------------------------------------

Country = Annotated[
    str,
    msgspec.Meta(
        pattern=COUNTRY_PATTERN,
        description="ISO 3166-1 alpha-2 country code",
        extra_json_schema={"enum": countries()},
    ),
]


class Identifier(Model, frozen=True):
    """An id an organization has in a register: `lei` (ISO 17442, its check digits verified),
    `wikidata` (`Q` and digits), or another scheme by its name. Written `scheme:value` wherever
    an organization is named (`lei:5493001KJTIIGC8Y1R12`)."""

    scheme: Slug
    value: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=100,
            pattern=r"^[!-~]+$",
            description="Visible ASCII characters, no space (the register's own spelling)",
        ),
    ]
    """Registers' ids are ASCII. `\\S` would say less: JavaScript's and Python's differ on
    the separators U+001C-U+001F, so a client checking the schema would send what we refuse."""

    def __post_init__(self) -> None:
        if self.scheme == "lei" and not is_lei(self.value):
            raise ValueError(
                f"{self.value!r} is not an LEI: 20 characters whose last two are ISO 7064 "
                "mod 97-10 check digits"
            )
        if self.scheme == "wikidata" and not is_wikidata(self.value):
            raise ValueError(f"{self.value!r} is not a Wikidata id: `Q` and digits")


def _check_country(code: str | None) -> None:
    if code is not None and not is_country(code):
        raise ValueError(f"{code!r} is not an ISO 3166-1 country code")


class Registration(Model, frozen=True):
    """An organization as a source names it: what it is, where, and what else it is called."""

    name: Text
    kind: Text
    """What it is, in the source's words (`telecommunications group`, `software publisher`)."""
    country: Country | None = None
    identifiers: tuple[Identifier, ...] = ()
    aliases: tuple[Text, ...] = ()

    def __post_init__(self) -> None:
        _check_country(self.country)


class Rename(Model, frozen=True):
    name: Text
    reason: str | None = None


class Alias(Model, frozen=True):
    """Another name the organization goes by (`Vodafone Group`)."""

    alias: Text


class SpinOff(Model, frozen=True):
    """The organization comes out of `parent` as a company of its own: `planned` when a source
    states an intention, with the date it is due by when one is given."""

    parent: Slug
    firmness: Firmness = "committed"
    due: PartialDate | None = None


class Merger(Model, frozen=True):
    """The organization merged into `successor`, which goes on in its place."""

    successor: Slug


class Acquisition(Model, frozen=True):
    acquirer: Slug


# --- envelopes ----------------------------------------------------------------


class Event(Model, frozen=True, tag_field="type", kw_only=True):
    """What a client appends and what the store keeps, minus the store's own fields."""

    SCHEMA_VERSION: ClassVar[int] = 1

    id: UUID = msgspec.field(default_factory=new_id)
    effective: PartialDate
    sources: tuple[Source, ...] = ()


class PartnershipAnnounced(Event, frozen=True, tag="PartnershipAnnounced"):
    data: Announcement


class PartyJoined(Event, frozen=True, tag="PartyJoined"):
    data: Party


class PartyLeft(Event, frozen=True, tag="PartyLeft"):
    data: Party


class FocusAreaDefined(Event, frozen=True, tag="FocusAreaDefined"):
    data: FocusArea


class InvestmentCommitted(Event, frozen=True, tag="InvestmentCommitted"):
    data: Investment


class CommitmentMade(Event, frozen=True, tag="CommitmentMade"):
    data: Commitment


class TargetSet(Event, frozen=True, tag="TargetSet"):
    data: Target


class PhaseScheduled(Event, frozen=True, tag="PhaseScheduled"):
    data: Phase


class PhaseRescheduled(Event, frozen=True, tag="PhaseRescheduled"):
    data: PhaseChange


class PhaseStarted(Event, frozen=True, tag="PhaseStarted"):
    data: PhaseStep


class PhaseCompleted(Event, frozen=True, tag="PhaseCompleted"):
    data: PhaseStep


class PhaseCancelled(Event, frozen=True, tag="PhaseCancelled"):
    data: PhaseStep


class MilestoneScheduled(Event, frozen=True, tag="MilestoneScheduled"):
    data: Milestone


class MilestoneRescheduled(Event, frozen=True, tag="MilestoneRescheduled"):
    data: MilestoneChange


class MilestoneAchieved(Event, frozen=True, tag="MilestoneAchieved"):
    data: MilestoneStep


class MilestoneMissed(Event, frozen=True, tag="MilestoneMissed"):
    """A source reports the milestone missed; a deadline passing with no news is not this."""

    data: MilestoneStep


class MilestoneCancelled(Event, frozen=True, tag="MilestoneCancelled"):
    data: MilestoneStep


class StatementMade(Event, frozen=True, tag="StatementMade"):
    """Version 2 renamed `quote` to `text` and made `language` required."""

    SCHEMA_VERSION: ClassVar[int] = 2
    data: Statement


class BackgroundNoted(Event, frozen=True, tag="BackgroundNoted"):
    data: Background


class ForecastPublished(Event, frozen=True, tag="ForecastPublished"):
    data: Forecast


class RiskIdentified(Event, frozen=True, tag="RiskIdentified"):
    data: Risk


class GovernanceEstablished(Event, frozen=True, tag="GovernanceEstablished"):
    data: Governance


class PartnershipEnded(Event, frozen=True, tag="PartnershipEnded"):
    data: Ending


class EventRetracted(Event, frozen=True, tag="EventRetracted"):
    data: Retraction


class EventCorrected(Event, frozen=True, tag="EventCorrected"):
    data: Correction


class OrganizationRegistered(Event, frozen=True, tag="OrganizationRegistered"):
    data: Registration


class OrganizationRenamed(Event, frozen=True, tag="OrganizationRenamed"):
    data: Rename


class AliasAdded(Event, frozen=True, tag="AliasAdded"):
    data: Alias


class AliasRemoved(Event, frozen=True, tag="AliasRemoved"):
    data: Alias


class IdentifierAdded(Event, frozen=True, tag="IdentifierAdded"):
    data: Identifier


class OrganizationSpunOff(Event, frozen=True, tag="OrganizationSpunOff"):
    data: SpinOff


class OrganizationMerged(Event, frozen=True, tag="OrganizationMerged"):
    data: Merger


class OrganizationAcquired(Event, frozen=True, tag="OrganizationAcquired"):
    data: Acquisition


AnyEvent = (
    PartnershipAnnounced
    | PartyJoined
    | PartyLeft
    | FocusAreaDefined
    | InvestmentCommitted
    | CommitmentMade
    | TargetSet
    | PhaseScheduled
    | PhaseRescheduled
    | PhaseStarted
    | PhaseCompleted
    | PhaseCancelled
    | MilestoneScheduled
    | MilestoneRescheduled
    | MilestoneAchieved
    | MilestoneMissed
    | MilestoneCancelled
    | StatementMade
    | BackgroundNoted
    | ForecastPublished
    | RiskIdentified
    | GovernanceEstablished
    | PartnershipEnded
    | EventRetracted
    | EventCorrected
    | OrganizationRegistered
    | OrganizationRenamed
    | AliasAdded
    | AliasRemoved
    | IdentifierAdded
    | OrganizationSpunOff
    | OrganizationMerged
    | OrganizationAcquired
)

EVENT_TYPES: tuple[type[Event], ...] = AnyEvent.__args__
BY_TYPE: dict[str, type[Event]] = {cls.__name__: cls for cls in EVENT_TYPES}
DATA_TYPES: dict[str, type[Model]] = {
    name: get_type_hints(cls)["data"] for name, cls in BY_TYPE.items()
}


ORGANIZATION_TYPES: tuple[type[Event], ...] = (
    OrganizationRegistered,
    OrganizationRenamed,
    AliasAdded,
    AliasRemoved,
    IdentifierAdded,
    OrganizationSpunOff,
    OrganizationMerged,
    OrganizationAcquired,
)
"""What only an organization's stream holds; the rest, but for retractions and corrections
(which both hold), only a partnership's."""
META_TYPES: tuple[type[Event], ...] = (EventRetracted, EventCorrected)
PARTNERSHIP_TYPES: tuple[type[Event], ...] = tuple(
    kind for kind in EVENT_TYPES if kind not in ORGANIZATION_TYPES
)
ORGANIZATION_STREAM = "org:"
"""How an organization's stream is named: `org:` and its id, never a partnership id (which has
no colon)."""


def organization_stream(org: str) -> str:
    return ORGANIZATION_STREAM + org


def is_organization_stream(stream: str) -> bool:
    return stream.startswith(ORGANIZATION_STREAM)


def type_name(event: Event) -> str:
    return type(event).__name__


class StoredEvent(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """An event as the store keeps it: where it stands, when and by whom it was recorded."""

    stream: str
    version: int
    position: int
    recorded_at: datetime
    actor: str
    schema_version: int
    event: AnyEvent

    @property
    def type(self) -> str:
        return type_name(self.event)
