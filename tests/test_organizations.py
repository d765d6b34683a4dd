"""Organizations as entities: their own streams, names over time, aliases and identifiers that
resolve to them, relations across organizations checked by the writer, on every backend."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient

from timeline.codes import is_lei
from timeline.dates import PartialDate
from timeline.events import (
    Alias,
    AliasAdded,
    Identifier,
    Merger,
    OrganizationMerged,
    OrganizationRegistered,
    OrganizationRenamed,
    OrganizationSpunOff,
    Registration,
    Rename,
    SpinOff,
    organization_stream,
)
from timeline.fold import DomainError
from timeline.store import EventStore, KeyTakenError

MICROSOFT_LEI = "INR2EJN1ERAN0W5ZP974"
"""A real LEI (its check digits are right); the tests' organizations are made up."""


def _registered(name: str, **more: Any) -> OrganizationRegistered:
    return OrganizationRegistered(
        effective=PartialDate.parse("2020-01-01"),
        data=Registration(name=name, kind="company", **more),
    )


async def _append(store: EventStore, stream: str, events: list[Any]) -> None:
    await store.append(stream, events, actor="tester")


def _lei_digits(base: str) -> str:
    """ISO 7064 mod 97-10 check digits of an LEI's first 18 characters, as ISO 17442 makes
    them: letters as 10 to 35, two zeros appended, 98 minus the remainder."""
    number = int("".join(str(int(c, 36)) for c in base) + "00")
    return f"{98 - number % 97:02d}"


@given(st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=18, max_size=18))
def test_an_lei_is_valid_with_its_check_digits_and_no_others(base: str) -> None:
    right = _lei_digits(base)
    assert is_lei(base + right)
    wrong = {f"{n:02d}" for n in range(100)} - {right}
    assert not any(is_lei(base + digits) for digits in wrong)


def test_lei_check_digits() -> None:
    assert _lei_digits(MICROSOFT_LEI[:18]) == MICROSOFT_LEI[18:]
    assert is_lei(MICROSOFT_LEI)
    assert not is_lei(MICROSOFT_LEI[:-1] + "5")  # one check digit off
    assert not is_lei(MICROSOFT_LEI.lower())
    assert not is_lei(MICROSOFT_LEI[:-1])


async def test_keys_resolve_and_are_held_by_one(store: EventStore) -> None:
    """An alias or identifier names one organization: another claiming it is refused with the
    holder, and nothing of that append is stored."""
    await _append(store,
        organization_stream("acme"),
        [_registered("Acme Corp", aliases=("Acme",), identifiers=(
            Identifier(scheme="lei", value=MICROSOFT_LEI),
        ))],
    )  # fmt: skip
    assert await store.read_models.named("lei:" + MICROSOFT_LEI) == ["acme"]
    assert await store.read_models.named("ACME") == ["acme"]
    assert await store.read_models.named("acme corp") == ["acme"]
    with pytest.raises(KeyTakenError) as taken:
        await _append(
            store, organization_stream("other"), [_registered("Other", aliases=("acme",))]
        )
    assert taken.value.holder == "acme"
    assert [e async for e in store.read_stream(organization_stream("other"))] == []
    with pytest.raises(KeyTakenError):
        await _append(
            store,
            organization_stream("other"),
            [_registered("Other", identifiers=(Identifier(scheme="lei", value=MICROSOFT_LEI),))],
        )
    await _append(store, organization_stream("other"), [_registered("Other")])
    with pytest.raises(KeyTakenError):
        await _append(
            store,
            organization_stream("other"),
            [AliasAdded(effective=PartialDate.parse("2021"), data=Alias(alias="Acme"))],
        )


async def test_relations_across_organizations(store: EventStore) -> None:
    """A spin-off from an organization not registered, a merger into itself or into one that
    merged into it: each refused by rule, none stored."""
    spun = OrganizationSpunOff(
        effective=PartialDate.parse("2024-01-16"),
        data=SpinOff(parent="parent-co", firmness="planned", due=PartialDate.parse("2024-04")),
    )
    await _append(store, organization_stream("child-co"), [_registered("Child")])
    with pytest.raises(DomainError) as unknown:
        await _append(store, organization_stream("child-co"), [spun])
    assert unknown.value.rule == "unknown-organization"
    await _append(store, organization_stream("parent-co"), [_registered("Parent")])
    await _append(store, organization_stream("child-co"), [spun])
    assert await store.read_models.related("parent-co") == [("parent", "child-co")]

    def merged(into: str) -> OrganizationMerged:
        return OrganizationMerged(effective=PartialDate.parse("2025"), data=Merger(successor=into))

    with pytest.raises(DomainError) as itself:
        await _append(store, organization_stream("child-co"), [merged("child-co")])
    assert itself.value.rule == "merger-cycle"
    await _append(store, organization_stream("child-co"), [merged("parent-co")])
    with pytest.raises(DomainError) as cycle:
        await _append(store, organization_stream("parent-co"), [merged("child-co")])
    assert cycle.value.rule == "merger-cycle"
    versions = {i.stream: i.version for i in await store.streams()}
    assert versions[organization_stream("parent-co")] == 1
    assert versions[organization_stream("child-co")] == 3


async def test_facts_stay_in_their_kind_of_stream(store: EventStore) -> None:
    with pytest.raises(DomainError) as wrong:
        await _append(store, "some-partnership", [_registered("Acme")])
    assert wrong.value.rule == "wrong-stream"
    await _append(store, organization_stream("acme"), [_registered("Acme")])
    with pytest.raises(DomainError) as rename:
        await _append(
            store,
            organization_stream("acme"),
            [OrganizationRenamed(effective=PartialDate.parse("2022"), data=Rename(name="ACME"))],
        )
    assert rename.value.rule == "rename-to-current"


async def _post(
    client: AsyncTestClient[Any], auth: dict[str, str], org: str, *events: dict[str, Any]
) -> Any:
    return await client.post(f"/organizations/{org}/events", json={"events": events}, headers=auth)


async def test_names_over_time_through_the_api(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    """The name on `as_of` as known at `known_at`; former names with their dates; a former
    name or an identifier in the path redirects to the organization."""
    answer = await _post(client, auth, "nordlicht", {
        "type": "OrganizationRegistered", "effective": "2019-05-01",
        "data": {"name": "Nordlicht Telecom", "kind": "telecommunications group",
                 "country": "NO", "identifiers": [{"scheme": "wikidata", "value": "Q4242"}]},
    })  # fmt: skip
    assert answer.status_code == 201, answer.text
    assert answer.headers["location"] == "/organizations/nordlicht"
    renamed = await _post(client, auth, "nordlicht", {
        "type": "OrganizationRenamed", "effective": "2023-03", "data": {"name": "Nordlys"},
    })  # fmt: skip
    assert renamed.status_code == 201, renamed.text
    after = (await client.get("/organizations/nordlicht?as_of=2024-01-01")).json()
    assert after["name"] == "Nordlys"
    assert after["registered"]["country"] == "NO"
    assert [(n["name"], n["since"], n["until"]) for n in after["registered"]["former_names"]] == [
        ("Nordlicht Telecom", "2019-05-01", "2023-03")
    ]
    before = (await client.get("/organizations/nordlicht?as_of=2022-12-31")).json()
    assert before["name"] == "Nordlicht Telecom"
    assert before["registered"]["former_names"] == []
    known_then = renamed.json()["events"][0]["recorded_at"]
    earlier = (
        await client.get(
            "/organizations/nordlicht",
            params={"as_of": "2024-01-01", "known_at": answer.json()["events"][0]["recorded_at"]},
        )
    ).json()
    assert earlier["name"] == "Nordlicht Telecom", known_then
    for name in ("Nordlicht%20Telecom", "wikidata:Q4242"):
        moved = await client.get(f"/organizations/{name}?as_of=2020-01-01", follow_redirects=False)
        assert moved.status_code == 308, name
        assert moved.headers["location"] == "/organizations/nordlicht?as_of=2020-01-01"
    missing = await client.get("/organizations/nobody-at-all")
    assert missing.status_code == 404
    for malformed in ("%00", "a%0Ab", "%20%20", "x" * 301):
        refused = await client.get(f"/organizations/{malformed}")
        assert refused.status_code == 400, malformed
        assert refused.json()["errors"][0]["path"] == "path.org"


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"name": "X", "kind": "company", "identifiers": [
            {"scheme": "lei", "value": MICROSOFT_LEI[:-1] + "5"}]},
         "$.events[0].data.identifiers[0]"),
        ({"name": "X", "kind": "company", "identifiers": [
            {"scheme": "wikidata", "value": "P31"}]}, "$.events[0].data.identifiers[0]"),
        ({"name": "X", "kind": "company", "country": "XX"}, "$.events[0].data"),
    ],
)  # fmt: skip
async def test_bad_identifiers_are_refused_by_name(
    client: AsyncTestClient[Any], auth: dict[str, str], data: dict[str, Any], path: str
) -> None:
    answer = await _post(client, auth, "bad-org", {
        "type": "OrganizationRegistered", "effective": "2020", "data": data,
    })  # fmt: skip
    assert answer.status_code == 422, answer.text
    assert path in answer.text
    assert (await client.get("/organizations/bad-org")).status_code == 404


async def test_conflicts_and_rules_through_the_api(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    first = {"type": "OrganizationRegistered", "effective": "2020",
             "data": {"name": "Alpha", "kind": "company", "aliases": ["Alpha Group"]}}  # fmt: skip
    assert (await _post(client, auth, "alpha", first)).status_code == 201
    second = {"type": "OrganizationRegistered", "effective": "2020",
              "data": {"name": "Beta", "kind": "company", "aliases": ["alpha group"]}}  # fmt: skip
    taken = await _post(client, auth, "beta", second)
    assert taken.status_code == 409, taken.text
    assert taken.json()["holder"] == "alpha"
    wrong = await client.post(
        "/partnerships/alpha-beta/events", json={"events": [first]}, headers=auth
    )
    assert wrong.status_code == 422
    assert wrong.json()["rule"] == "wrong-stream"
    spun = {"type": "OrganizationSpunOff", "effective": "2024-01-16",
            "data": {"parent": "nobody", "firmness": "planned", "due": "2024-04"}}  # fmt: skip
    refused = await _post(client, auth, "alpha", spun)
    assert refused.status_code == 422
    assert refused.json()["rule"] == "unknown-organization"


async def test_curated_organizations(client: AsyncTestClient[Any]) -> None:
    """The curated data registers the three companies and Vodafone's IoT connectivity platform
    as a planned spin-off, due by April 2024, that Microsoft plans to invest in."""
    vodafone = (await client.get("/organizations/vodafone?as_of=2024-02-01")).json()
    assert vodafone["registered"]["country"] == "GB"
    assert vodafone["spin_offs"] == ["vodafone-iot-platform"]
    iot = (await client.get("/organizations/vodafone-iot-platform?as_of=2024-02-01")).json()
    spun = iot["registered"]["spun_off_from"]
    assert (spun["org"], spun["firmness"], spun["due"]) == ("vodafone", "planned", "2024-04")
    assert iot["registered"]["status"] == "planned"
    assert iot["registered"]["identifiers"] == []
    state = (await client.get("/partnerships/vodafone-microsoft?as_of=2024-02-01")).json()
    recipients = {i["id"]: i.get("recipient") for i in state["investments"]}
    assert recipients["microsoft-iot-platform"] == "vodafone-iot-platform"
    listed = (await client.get("/organizations")).json()["organizations"]
    assert [(o["org"], o["name"], len(o["partnerships"])) for o in listed] == [
        ("microsoft", "Microsoft", 2),
        ("telefonica", "Telefónica", 1),
        ("vodafone", "Vodafone", 1),
        ("vodafone-iot-platform", "Vodafone IoT connectivity platform", 0),  # registered only
    ]
    telefonica = (await client.get("/organizations/telefonica")).json()
    assert telefonica["registered"]["name"] == "Telefónica"
    assert telefonica["registered"]["country"] is None  # the source does not say
    assert date.fromisoformat(vodafone["registered"]["basis"]["as_of"]) == date(2024, 2, 1)


async def test_party_filters_resolve_names(client: AsyncTestClient[Any]) -> None:
    """`party=` takes an alias or a name as well as an id; one that names nobody is a 400."""
    by_alias = (await client.get("/partnerships", params={"party": "Vodafone Group"})).json()
    assert [p["id"] for p in by_alias["partnerships"]] == ["vodafone-microsoft"]
    by_name = (await client.get("/partnerships", params={"party": "telefónica"})).json()
    assert [p["id"] for p in by_name["partnerships"]] == ["telefonica-microsoft"]
    by_id = (await client.get("/partnerships", params={"party": "microsoft"})).json()
    assert len(by_id["partnerships"]) == 2
    nobody = await client.get("/partnerships", params={"party": "lei:" + MICROSOFT_LEI})
    assert nobody.status_code == 400
    assert nobody.json()["errors"][0]["path"] == "query.party"
    digest = await client.get(
        "/changes", params={"since": "2000-01-01T00:00:00Z", "party": "Vodafone Group"}
    )
    assert digest.status_code == 200, digest.text
    assert [c["id"] for c in digest.json()["partnerships"]] == ["vodafone-microsoft"]


async def test_a_partnership_names_its_parties_on_its_date(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    """After a rename, the state on an older date keeps the old name, and as known before the
    rename too; each registered organization links to its page; the ETag moves with a rename."""
    await _post(client, auth, "nordlicht", {
        "type": "OrganizationRegistered", "effective": "2019",
        "data": {"name": "Nordlicht Telecom", "kind": "telecommunications group"},
    })  # fmt: skip
    announced = await client.post("/partnerships/nordlicht-microsoft/events", json={"events": [{
        "type": "PartnershipAnnounced", "effective": "2021-06-01",
        "data": {"title": "Nordlicht and Microsoft", "kind": "cloud",
                 "parties": [{"org": "nordlicht", "name": "Nordlicht"},
                             {"org": "microsoft", "name": "Microsoft"}]},
    }]}, headers=auth)  # fmt: skip
    assert announced.status_code == 201, announced.text
    url = "/partnerships/nordlicht-microsoft"
    before = await client.get(url, params={"as_of": "2024-01-01"})
    assert before.json()["organizations"] == {
        "microsoft": {"name": "Microsoft", "href": "/organizations/microsoft"},
        "nordlicht": {"name": "Nordlicht Telecom", "href": "/organizations/nordlicht"},
    }
    renamed = await _post(client, auth, "nordlicht", {
        "type": "OrganizationRenamed", "effective": "2023-03-01", "data": {"name": "Nordlys"},
    })  # fmt: skip
    assert renamed.status_code == 201
    after = await client.get(url, params={"as_of": "2024-01-01"})
    assert after.json()["organizations"]["nordlicht"]["name"] == "Nordlys"
    assert after.json()["parties"][0]["name"] == "Nordlicht"  # as the announcement said
    assert after.headers["etag"] != before.headers["etag"]
    older = await client.get(url, params={"as_of": "2022-12-31"})
    assert older.json()["organizations"]["nordlicht"]["name"] == "Nordlicht Telecom"
    then = announced.json()["events"][0]["recorded_at"]
    known_then = await client.get(url, params={"as_of": "2024-01-01", "known_at": then})
    assert known_then.json()["organizations"]["nordlicht"]["name"] == "Nordlicht Telecom"


async def test_curated_state_links_its_organizations(client: AsyncTestClient[Any]) -> None:
    state = (await client.get("/partnerships/vodafone-microsoft?as_of=2024-02-01")).json()
    assert {org: link["name"] for org, link in state["organizations"].items()} == {
        "microsoft": "Microsoft",
        "vodafone": "Vodafone",
        "vodafone-iot-platform": "Vodafone IoT connectivity platform",
    }


async def test_names_resolve_in_the_feed_and_calendars(client: AsyncTestClient[Any]) -> None:
    by_alias = (await client.get("/events", params={"party": "Vodafone Group"})).json()
    assert by_alias["events"]
    assert {e["stream"] for e in by_alias["events"]} == {"vodafone-microsoft"}
    by_id = (await client.get("/events", params={"party": "vodafone"})).json()
    assert by_alias["events"] == by_id["events"]
    aliased = await client.get(
        "/calendars/organizations/Vodafone Group.ics?investments=true", follow_redirects=False
    )
    assert aliased.status_code == 308
    assert aliased.headers["location"] == "/calendars/organizations/vodafone.ics?investments=true"
    assert (await client.get(aliased.headers["location"])).status_code == 200


async def test_a_successor_shows_its_predecessors_partnerships(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    for org, name in (("oldco", "OldCo"), ("newco", "NewCo")):
        registered = await _post(client, auth, org, {
            "type": "OrganizationRegistered", "effective": "2015",
            "data": {"name": name, "kind": "company"},
        })  # fmt: skip
        assert registered.status_code == 201
    announced = await client.post("/partnerships/oldco-microsoft/events", json={"events": [{
        "type": "PartnershipAnnounced", "effective": "2020-01-01",
        "data": {"title": "OldCo and Microsoft", "kind": "cloud",
                 "parties": [{"org": "oldco", "name": "OldCo"},
                             {"org": "microsoft", "name": "Microsoft"}]},
    }]}, headers=auth)  # fmt: skip
    assert announced.status_code == 201
    merged = await _post(client, auth, "oldco", {
        "type": "OrganizationMerged", "effective": "2022-07-01", "data": {"successor": "newco"},
    })  # fmt: skip
    assert merged.status_code == 201, merged.text
    newco = (await client.get("/organizations/newco")).json()
    assert newco["predecessors"] == ["oldco"]
    assert [(p["id"], p["via"]) for p in newco["partnerships"]] == [("oldco-microsoft", "oldco")]
    oldco = (await client.get("/organizations/oldco")).json()
    assert oldco["registered"]["status"] == "merged"
    assert oldco["registered"]["merged_into"]["org"] == "newco"
    assert [(p["id"], p["via"]) for p in oldco["partnerships"]] == [("oldco-microsoft", None)]


async def test_curators_see_unregistered_parties_and_likely_typos(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    announced = await client.post("/partnerships/typo-deal/events", json={"events": [{
        "type": "PartnershipAnnounced", "effective": "2020-01-01",
        "data": {"title": "A deal", "kind": "cloud",
                 "parties": [{"org": "microsfot", "name": "Microsfot"},
                             {"org": "acme", "name": "Acme"}]},
    }]}, headers=auth)  # fmt: skip
    assert announced.status_code == 201
    assert (await client.get("/parties/unregistered")).status_code == 401
    found = (await client.get("/parties/unregistered", headers=auth)).json()
    assert [
        (p["org"], p["name"], p["partnerships"], p["similar_to"]) for p in found["parties"]
    ] == [
        ("acme", "Acme", 1, []),
        ("microsfot", "Microsfot", 1, ["microsoft"]),
    ]
    paged = (await client.get("/parties/unregistered", params={"limit": 1}, headers=auth)).json()
    assert [p["org"] for p in paged["parties"]] == ["acme"]
    assert paged["next"] is not None


async def test_the_organization_page(client: AsyncTestClient[Any]) -> None:
    """For people: the names, the family as a tree (the parent above, its spin-off below), the
    partnerships; a name it goes by redirects to the page of its id."""
    page = await client.get("/organizations/vodafone-iot-platform/page?as_of=2024-02-01")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    text = page.text
    assert "<h1>Vodafone IoT connectivity platform</h1>" in text
    assert "planned spin-off" in text
    tree = text[text.index("<ul class='family'>") :]
    assert tree.index("href='/organizations/vodafone/page'>Vodafone</a>") < tree.index(
        "<strong aria-current='page'>Vodafone IoT connectivity platform</strong>"
    )
    assert "spin-off planned, 16 January 2024 (due by" in text
    parent = (await client.get("/organizations/vodafone/page")).text
    assert "href='/organizations/vodafone-iot-platform/page'" in parent
    assert "href='/partnerships/vodafone-microsoft/timeline'" in parent
    assert "Vodafone Group" in parent  # its alias
    moved = await client.get("/organizations/Vodafone Group/page", follow_redirects=False)
    assert (moved.status_code, moved.headers["location"]) == (308, "/organizations/vodafone/page")
    nobody = await client.get("/organizations/<img src=x onerror=alert(1)>/page")
    assert nobody.status_code == 404
    assert "<img" not in nobody.text
    timeline = (await client.get("/partnerships/vodafone-microsoft/timeline")).text
    assert "href='/organizations/vodafone/page'" in timeline
    assert "href='/organizations/microsoft/page'" in timeline


async def test_an_organizations_events_with_their_sources(client: AsyncTestClient[Any]) -> None:
    history = (await client.get("/organizations/vodafone-iot-platform/events")).json()
    assert history["stream"] == "org:vodafone-iot-platform"
    assert [e["type"] for e in history["events"]] == [
        "OrganizationRegistered",
        "OrganizationSpunOff",
    ]
    spun = history["events"][1]
    assert [s["source"] for s in spun["sources"]] == [
        "vodafone-microsoft-en",
        "vodafone-microsoft-fr",
    ]
    assert all("position" in s for s in spun["sources"])  # each quote found where it says
    paged = (await client.get("/organizations/vodafone-iot-platform/events?limit=1")).json()
    assert paged["next"] == "/organizations/vodafone-iot-platform/events?limit=1&from_version=2"
    assert (await client.get("/organizations/nobody/events")).status_code == 404


async def test_a_later_fact_is_not_held_to_relations_checked_before(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    """The IoT platform was spun off from Vodafone when it was appended: an alias added later
    is checked for what it adds, not for the spin-off again."""
    added = await _post(client, auth, "vodafone-iot-platform", {
        "type": "AliasAdded", "effective": "2024-05", "data": {"alias": "Vodafone IoT"},
    })  # fmt: skip
    assert added.status_code == 201, added.text
    again = await _post(client, auth, "vodafone-iot-platform", {
        "type": "AliasAdded", "effective": "2024-06", "data": {"alias": "vodafone iot"},
    })  # fmt: skip
    assert again.status_code == 422
    assert again.json()["rule"] == "alias-present"
