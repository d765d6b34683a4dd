"""The event catalogue: decoding, domain checks on values, schemas and upcasting."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import jsonschema_rs
import msgspec
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from timeline import schemas
from timeline.admission import citation_problems
from timeline.api.partnerships import decode_append
from timeline.codes import currencies, is_country
from timeline.dates import PARTIAL_DATE_SCHEMA_PATTERN
from timeline.events import (
    BY_TYPE,
    EVENT_TYPES,
    AnyEvent,
    Identifier,
    InvestmentCommitted,
    Source,
    StatementMade,
)
from timeline.formats import decode_event, encode_event
from timeline.money import QUANTITY_PATTERN, Money, Range
from timeline.urls import URL_PATTERN, is_web_url

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"


def decode(document: dict[str, object]) -> AnyEvent:
    return decode_event(json.dumps(document).encode())


def investment(amount: object, **extra: object) -> dict[str, object]:
    return {
        "type": "InvestmentCommitted",
        "effective": "2024-01-16",
        "data": {
            "id": "cloud",
            "investor": "vodafone",
            "recipient": "microsoft",
            "amount": amount,
            "purpose": "cloud",
            **extra,
        },
    }


def test_money_keeps_decimal_amounts_and_currency() -> None:
    """Amounts are exact decimals in their own currency; equivalents are kept beside them."""
    event = decode(
        investment(
            {"amount": "1500000000", "currency": "USD"},
            equivalents=[{"amount": "1370000000", "currency": "EUR", "approximate": True}],
        )
    )
    assert isinstance(event, InvestmentCommitted)
    assert event.data.amount == Money(amount=Decimal(1_500_000_000), currency="USD")
    assert event.data.equivalents[0].approximate is True
    assert b'"amount":"1500000000"' in encode_event(event)


@pytest.mark.parametrize("code", ["USD", "EUR", "GBP", "JPY", "CHF", "XAF", "ZAR", "KES"])
def test_real_iso_4217_codes_are_accepted(code: str) -> None:
    """Currencies are checked against the ISO 4217 list, not a handful of codes."""
    assert Money(amount=Decimal(1), currency=code).currency == code


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ({"amount": "1", "currency": "ABC"}, "'ABC' is not an ISO 4217 currency code"),
        ({"amount": "1", "currency": "usd"}, "Expected `str` matching regex"),
        ({"amount": "-5", "currency": "USD"}, "must not be negative"),
        ({"amount": "lots", "currency": "USD"}, "Invalid decimal"),
        ({"amount": "NaN", "currency": "USD"}, "finite"),
        ("unknown", "Invalid enum value 'unknown'"),
    ],
)
def test_bad_money_is_refused_with_the_field_path(amount: object, message: str) -> None:
    """Bad amounts and currencies fail decoding with a message and the path of the field."""
    with pytest.raises(msgspec.ValidationError) as caught:
        decode(investment(amount))
    assert message in str(caught.value)
    assert "$.data.amount" in str(caught.value)


def test_undisclosed_amount() -> None:
    """An investment of unknown size is `undisclosed`, and then has no equivalents."""
    event = decode(investment("undisclosed"))
    assert isinstance(event, InvestmentCommitted)
    assert event.data.amount == "undisclosed"
    with pytest.raises(msgspec.ValidationError, match="no equivalents"):
        decode(investment("undisclosed", equivalents=[{"amount": "1", "currency": "EUR"}]))


def test_ranges_are_money_or_a_count() -> None:
    """A range has a currency (money) or a unit (a number), never both or neither."""
    assert Range(min=Decimal(3), max=Decimal(5), currency="USD").is_money
    assert not Range(min=Decimal(12), max=Decimal(18), unit="months").is_money
    with pytest.raises(ValueError, match="exactly one"):
        Range(min=Decimal(1), max=Decimal(2))
    with pytest.raises(ValueError, match="greater than max"):
        Range(min=Decimal(5), max=Decimal(3), currency="USD")


def test_unknown_event_type_is_refused() -> None:
    """A type outside the catalogue names the bad tag."""
    with pytest.raises(msgspec.ValidationError, match="Invalid value 'PartnershipMerged'"):
        decode({"type": "PartnershipMerged", "effective": "2024", "data": {}})


@pytest.mark.parametrize(
    ("effective", "fragment"),
    [("2024-13", "'2024-13' is not a calendar date"), ("soon", "'soon' is not a partial date")],
)
def test_invalid_effective_date_names_the_field(effective: str, fragment: str) -> None:
    """A bad partial date says what it got, what is accepted, and where."""
    with pytest.raises(msgspec.ValidationError) as caught:
        decode(investment("undisclosed") | {"effective": effective})
    assert fragment in str(caught.value)
    assert "$.effective" in str(caught.value)


def test_languages_are_iso_639() -> None:
    """Sources and statements carry a real language tag; `fr` is French."""
    statement = {
        "type": "StatementMade",
        "effective": "2024-01-16",
        "data": {"speaker": "X", "text": "Bonjour", "language": "fr"},
        "sources": [{"title": "Article", "language": "fr-FR"}],
    }
    assert isinstance(decode(statement), StatementMade)
    with pytest.raises(msgspec.ValidationError, match="'qq' is not an ISO 639"):
        decode(statement | {"data": {"speaker": "X", "text": "?", "language": "qq"}})


def test_every_type_is_in_the_union_with_its_own_tag() -> None:
    """The catalogue of DESIGN.md §4 is complete, one Struct per type, tagged by its name."""
    assert set(BY_TYPE) == {
        "PartnershipAnnounced", "PartyJoined", "PartyLeft", "FocusAreaDefined",
        "InvestmentCommitted", "CommitmentMade", "TargetSet", "PhaseScheduled",
        "PhaseRescheduled", "PhaseStarted", "PhaseCompleted", "PhaseCancelled",
        "MilestoneScheduled", "MilestoneRescheduled", "MilestoneAchieved", "MilestoneMissed",
        "MilestoneCancelled", "StatementMade", "BackgroundNoted", "ForecastPublished",
        "RiskIdentified",
        "GovernanceEstablished", "PartnershipEnded", "EventRetracted", "EventCorrected",
        "OrganizationRegistered", "OrganizationRenamed", "AliasAdded", "AliasRemoved",
        "IdentifierAdded", "OrganizationSpunOff", "OrganizationMerged", "OrganizationAcquired",
    }  # fmt: skip
    for kind in EVENT_TYPES:
        assert kind.__struct_config__.tag == kind.__name__
        assert kind.__struct_config__.frozen


def test_checked_in_schemas_match_the_code() -> None:
    """`schemas/` holds exactly what `timeline schemas export` generates from the Structs."""
    on_disk = {path.name: path.read_bytes() for path in (REPO / "schemas").glob("*.json")}
    assert on_disk == schemas.rendered(), "run `timeline schemas export` and commit schemas/"


def test_schema_documents_partial_dates() -> None:
    """A schema states the partial date grammar where the type has one."""
    schema = json.loads(schemas.rendered()["MilestoneScheduled.json"])
    milestone = schema["$defs"]["Milestone"]["properties"]["due"]
    assert milestone["pattern"] == PARTIAL_DATE_SCHEMA_PATTERN
    assert re.fullmatch(PARTIAL_DATE_SCHEMA_PATTERN, "../2023-04~")
    assert re.fullmatch(PARTIAL_DATE_SCHEMA_PATTERN, "2024-02-29")
    for unreal in ("0000", "2023-02-29", "2024-02-30", "2024-04-31", "2024-13", "2024-Q5"):
        assert not re.fullmatch(PARTIAL_DATE_SCHEMA_PATTERN, unreal), unreal
    assert schema["x-schema-version"] == 1


def test_published_schemas_are_closed_where_appends_are() -> None:
    """Every object of a published event schema admits no field beyond its own, as an
    append refuses them; codes, amounts and links are as strict as the server."""
    for name, text in schemas.rendered().items():
        for title, definition in json.loads(text)["$defs"].items():
            if "properties" in definition:
                assert definition["additionalProperties"] is False, (name, title)
    investment = json.loads(schemas.rendered()["InvestmentCommitted.json"])["$defs"]
    money = investment["Money"]["properties"]
    assert "USD" in money["currency"]["enum"]
    assert "AAA" not in money["currency"]["enum"]
    assert not re.fullmatch(money["amount"]["pattern"], "-1")
    url = investment["Source"]["properties"]["url"]["anyOf"][0]
    assert re.fullmatch(url["pattern"], "https://example.org/x")
    assert not re.fullmatch(url["pattern"], "javascript:alert(1)")


@settings(max_examples=300, deadline=None)
@given(
    day=st.from_regex(PARTIAL_DATE_SCHEMA_PATTERN, fullmatch=True),
    amount=st.from_regex(QUANTITY_PATTERN, fullmatch=True),
    currency=st.sampled_from(currencies()),
    link=st.from_regex(URL_PATTERN, fullmatch=True),
)
def test_what_the_schemas_admit_the_server_takes(
    day: str, amount: str, currency: str, link: str
) -> None:
    """A date, amount, currency or link that the published patterns admit is one the
    server's decoder and its admission check take (a period whose end precedes its start,
    or a party named twice, are rules JSON Schema cannot state)."""
    assume(is_web_url(link))  # the pattern cannot say "printable": the check can
    body = {
        "events": [
            {
                "type": "InvestmentCommitted",
                "effective": day,
                "sources": [{"title": "t", "language": "en", "url": link}],
                "data": {
                    "id": "i",
                    "investor": "a",
                    "amount": {"amount": amount, "currency": currency},
                    "purpose": "p",
                },
            }
        ]
    }
    decode_append(json.dumps(body).encode())


def test_statement_v1_is_upcast_on_read() -> None:
    """A StatementMade stored at schema version 1 (`quote`, no language) reads as version 2."""
    body = (FIXTURES / "statement_made_v1.json").read_bytes().strip()
    event = decode_event(body, 1)
    assert isinstance(event, StatementMade)
    assert event.data.text.startswith("This new generation of AI")
    assert event.data.language == "en"  # taken from the first source
    assert event.data.speaker == "Satya Nadella"
    assert StatementMade.SCHEMA_VERSION == 2
    with pytest.raises(msgspec.ValidationError, match="text"):
        decode_event(body)  # read as current shape, v1 lacks `text`


def test_the_schemas_state_what_a_citation_may_hold() -> None:
    """A client checking a body against the published schema learns what admission refuses of
    a citation (a quote needs a registered `source` and no `excerpt`; a `position` comes with a
    `quote`), and what it admits passes both (explicit nulls included)."""
    schema = json.loads(schemas.rendered()["StatementMade.json"])
    source_doc = {**schema["$defs"]["Source"], "$defs": schema["$defs"]}
    validator = jsonschema_rs.Draft202012Validator(source_doc)
    quote = {"exact": "the words"}
    position = {"start": 0, "end": 9}
    base = {"title": "t", "language": "en"}
    cases = [
        ({"quote": quote, "source": "s"}, True),
        ({"quote": quote, "source": "s", "excerpt": None}, True),
        ({"quote": None, "excerpt": "e"}, True),
        ({"excerpt": "e", "position": None}, True),
        ({"quote": quote}, False),
        ({"quote": quote, "source": None}, False),
        ({"quote": quote, "source": "s", "excerpt": "e"}, False),
        ({"position": position}, False),
        ({"position": position, "quote": None, "source": "s"}, False),
    ]
    for fields, admitted in cases:
        citation = {**base, **fields}
        assert validator.is_valid(citation) is admitted, citation
        problems = citation_problems(msgspec.convert(citation, Source))
        assert (not problems) is admitted, citation


@settings(max_examples=200, deadline=None)
@given(value=st.text(min_size=1, max_size=100))
def test_an_identifier_the_schema_admits_is_one_the_server_takes(value: str) -> None:
    """The identifier's pattern reads the same in every regex dialect (ECMA 262's `\\S` admits
    U+001F, Python's does not): what the published schema admits, the decoder takes."""
    schema = json.loads(schemas.rendered()["IdentifierAdded.json"])
    pattern = schema["$defs"]["Identifier"]["properties"]["value"]["pattern"]
    taken = True
    try:
        msgspec.convert({"scheme": "isin", "value": value}, Identifier)
    except msgspec.ValidationError:
        taken = False
    assert taken is bool(jsonschema_rs.is_valid({"type": "string", "pattern": pattern}, value))


def test_the_schemas_list_the_countries_an_organization_may_be_in() -> None:
    """`country` is ISO 3166-1's list in the schema too, not any two capitals (`AA` matches the
    pattern, and the server refuses it)."""
    schema = json.loads(schemas.rendered()["OrganizationRegistered.json"])
    country = schema["$defs"]["Registration"]["properties"]["country"]["anyOf"][0]
    assert "GB" in country["enum"]
    assert "AA" not in country["enum"]
    assert country["enum"] == [code for code in country["enum"] if is_country(code)]
