"""Request and response bodies of the API that are not domain types themselves."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from timeline.dates import PartialDate
from timeline.events import AnyEvent, Party, Source
from timeline.knowledge import ChangeKind, FieldChange, ItemKind
from timeline.organization import OrganizationState
from timeline.state import Basis, PartnershipState

MAX_EXPECTED_VERSION = 2**53


class AppendRequest(msgspec.Struct, frozen=True, kw_only=True):
    """`expected_version`: the stream's version you saw (0 = must not exist); omit for any.

    Unknown keys are refused by `admission.check_new`, here as in every event, with the
    field likely meant."""

    events: Annotated[list[AnyEvent], msgspec.Meta(min_length=1)]
    """The events, in order: stored together or not at all."""
    expected_version: Annotated[int, msgspec.Meta(ge=0, le=MAX_EXPECTED_VERSION)] | None = None
    """The stream's version you saw (0: it must not exist yet); left out, any version."""


class FeedLinks(msgspec.Struct, frozen=True, kw_only=True):
    """A calendar feed: `url` to fetch, `webcal` to subscribe from a calendar app (the https
    address itself when it carries a token: apps fetch `webcal:` over plain http)."""

    url: str
    webcal: str


class OrganizationLink(msgspec.Struct, frozen=True, kw_only=True):
    """A registered organization as a partnership names it: its name on the answer's date."""

    name: str
    href: str


class PartnershipView(PartnershipState, frozen=True, kw_only=True):
    """The state, with the addresses of its calendar feed and of its page for people."""

    calendar: FeedLinks
    page: str
    """The partnership's timeline page on this basis (HTML, `/partnerships/{id}/timeline`)."""
    organizations: dict[str, OrganizationLink] = msgspec.field(default_factory=dict)
    """Each registered organization the state names (parties, former parties, investors and
    recipients, who commits to whom), by id: its name on `as_of` as known at `known_at` (after
    a rename, older dates keep the old name; a party's own `name` is what its source said)."""


class PartnershipSummary(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    title: str
    kind: str
    status: Literal["active", "ended"]
    announced: PartialDate
    parties: tuple[Party, ...]
    regions: tuple[str, ...]
    version: int
    href: str


class PartnershipPage(msgspec.Struct, frozen=True, kw_only=True):
    partnerships: tuple[PartnershipSummary, ...]
    next: str | None
    """The next page's address (also the `Link` header), or null on the last page."""


class Membership(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    title: str
    role: str | None
    status: Literal["active", "ended"]
    current_party: bool
    href: str
    via: str | None = None
    """The predecessor that was the party, for a partnership of one that merged into this
    organization."""


class Organization(msgspec.Struct, frozen=True, kw_only=True):
    org: str
    name: str
    """Its registered name on `as_of`; else the name its first partnership gives it."""
    partnerships: tuple[Membership, ...]
    href: str
    calendar: FeedLinks
    next: str | None = None
    """More of its partnerships (on `GET /organizations/{org}`, paged by partnership id)."""
    registered: OrganizationState | None = None
    """The organization as its own events say (`POST /organizations/{org}/events`) on `as_of`
    as known at `known_at`; absent when none is registered under this id."""
    spin_offs: tuple[str, ...] = ()
    predecessors: tuple[str, ...] = ()
    """Organizations that merged into this one."""
    acquisitions: tuple[str, ...] = ()


class UnregisteredParty(msgspec.Struct, frozen=True, kw_only=True):
    """A party no registered organization is: its id, the name its first partnership gives it,
    how many partnerships name it, and the registered organizations it may be misspelt from."""

    org: str
    name: str
    partnerships: int
    similar_to: tuple[str, ...]
    href: str


class UnregisteredParties(msgspec.Struct, frozen=True, kw_only=True):
    parties: tuple[UnregisteredParty, ...]
    next: str | None = None


class OrganizationList(msgspec.Struct, frozen=True, kw_only=True):
    organizations: tuple[Organization, ...]
    next: str | None = None


class Health(msgspec.Struct, frozen=True, kw_only=True):
    status: Literal["ok"]
    backend: str
    events: int
    last_position: int


class SchemaEntry(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    schema_version: int
    href: str


class SchemaIndex(msgspec.Struct, frozen=True, kw_only=True):
    types: tuple[SchemaEntry, ...]


# --- documentation of bodies that are written as bytes -----------------------------------


class StoredEventDoc(msgspec.Struct, frozen=True, kw_only=True):
    """A stored event: the store's fields, then the event (`type`, `data`, `id`, …).

    `data` is typed per event type: see `GET /schemas/{type}`.
    """

    stream: str
    version: int
    position: int
    recorded_at: datetime
    actor: str
    schema_version: int
    type: str
    data: dict[str, Any]
    id: UUID
    effective: PartialDate
    sources: tuple[Source, ...] = ()


class HistoryDoc(msgspec.Struct, frozen=True, kw_only=True):
    stream: str
    events: tuple[StoredEventDoc, ...]
    next: str | None


class FeedDoc(msgspec.Struct, frozen=True, kw_only=True):
    events: tuple[StoredEventDoc, ...]
    last_position: int
    next: str


class AppendedDoc(msgspec.Struct, frozen=True, kw_only=True):
    stream: str
    version: int
    last_position: int
    events: tuple[StoredEventDoc, ...]


class ItemChangeDoc(msgspec.Struct, frozen=True, kw_only=True):
    """An item added, removed or changed: its JSON `before` and `after` (None where it was not
    there), the fields that differ by dotted path, and the ids of the `events` that caused it."""

    kind: ItemKind
    id: str
    label: str
    change: ChangeKind
    fields: tuple[FieldChange, ...] = ()
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    events: tuple[UUID, ...] = ()


class ChangesDoc(msgspec.Struct, frozen=True, kw_only=True):
    """A knowledge diff: `before` and `after` are the two bases (None: nothing known at
    `since`); each change names the ids of the `events` that caused it."""

    stream: str
    since: datetime
    until: datetime | None
    as_of: date
    before: Basis | None
    after: Basis
    changes: tuple[ItemChangeDoc, ...]
    next: str | None
    events: tuple[StoredEventDoc, ...]


class ChangedPartnership(msgspec.Struct, frozen=True, kw_only=True):
    """A partnership with events recorded in the window, in a line; `changes` is its diff."""

    id: str
    title: str | None
    events: int
    first_position: int
    last_position: int
    summary: str
    href: str
    changes: str


class ChangedPage(msgspec.Struct, frozen=True, kw_only=True):
    since: datetime
    until: datetime | None
    partnerships: tuple[ChangedPartnership, ...]
    next: str | None
