"""Quotes of registered sources, checked against their texts: found word for word (spacing and
Unicode composition aside), told apart by prefix and suffix, stored with where they are."""

from __future__ import annotations

import base64
import html
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from api_helpers import services_of
from hypothesis import given
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient

from timeline.events import TextQuote
from timeline.lru import LRU
from timeline.quotes import QuoteError, find, passage
from timeline.sources import normalised
from timeline.store.recorder import SQLTransaction
from timeline.web.source_page import nfc_offsets

SEEDS = Path(__file__).parent / "fixtures" / "seeds"
EN = (SEEDS / "000_63054e1fb7fe6de0.txt").read_text()
FR = (SEEDS / "001_30cf3419a4757e4c.txt").read_text()
VODAFONE = "/partnerships/vodafone-microsoft/events"


def quoted(exact: str, **around: str) -> tuple[int, int]:
    return find(normalised(EN), TextQuote(exact=exact, **around), None, "$.quote")


def test_a_quote_is_found_whatever_its_spacing() -> None:
    words = "strategic partnership spanning 10 years"
    start, end = quoted(words.replace(" ", "\u00a0 \n"))
    assert normalised(EN)[start:end] == words
    assert start == normalised(EN).index(words)


def test_an_absent_quote_names_the_closest_passage() -> None:
    with pytest.raises(QuoteError) as caught:
        quoted("strategic partnership spanning 12 years")
    assert caught.value.rule == "quote-not-in-source"
    assert caught.value.path == "$.quote.exact"
    assert "the closest passage: “" in caught.value.message
    assert "strategic partnership spanning 10 years" in caught.value.message


def test_a_repeated_quote_is_told_apart_by_its_prefix_or_suffix() -> None:
    text = normalised(EN)
    word = "Microsoft"
    assert text.count(word) > 1
    with pytest.raises(QuoteError) as caught:
        quoted(word)
    assert caught.value.rule == "quote-ambiguous"
    first = text.index(word)
    last = text.rindex(word)
    before = text[last - 30 : last]
    assert text.count(before + word) == 1
    assert quoted(word, prefix=before) == (last, last + len(word))
    after = text[first + len(word) : first + len(word) + 30]
    assert text.count(word + after) == 1
    assert quoted(word, suffix=after) == (first, first + len(word))
    with pytest.raises(QuoteError, match="does not hold"):
        quoted(word, prefix="nothing like this")


async def _register(client: AsyncTestClient[Any], auth: dict[str, str], **fields: Any) -> None:
    body = {"id": "vm-en", "title": "Vodafone and Microsoft", "language": "en", **fields}
    answer = await client.post("/sources", json=body, headers=auth)
    assert answer.status_code == 201, answer.text


def _milestone(source: dict[str, Any], item: str = "quoted") -> dict[str, Any]:
    return {
        "type": "MilestoneScheduled",
        "effective": "2024-01-16",
        "data": {"id": item, "title": "A quoted milestone", "due": "2025"},
        "sources": [{"title": "Vodafone and Microsoft", "language": "en", **source}],
    }


async def test_an_append_quoting_a_registered_text_stores_where_the_words_are(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    await _register(client, auth, text=EN)
    words = "more than 300 million businesses"
    event = _milestone({"source": "vm-en", "quote": {"exact": words}})
    body = {"events": [{**event, "id": "6f1c6a40-8c55-4d4e-9a51-0c8a3e1f2b77"}]}
    stored = await client.post(VODAFONE, json=body, headers=auth)
    assert stored.status_code == 201, stored.text
    cited = stored.json()["events"][0]["sources"][0]
    start = normalised(EN).index(words)
    assert cited["position"] == {"start": start, "end": start + len(words)}
    assert cited["quote"] == {"exact": words}
    again = await client.post(VODAFONE, json=body, headers=auth)
    assert again.status_code == 200  # the same append, anchored alike: a replay
    history = (await client.get(f"{VODAFONE}?type=MilestoneScheduled")).json()["events"]
    assert history[-1]["sources"][0]["position"] == cited["position"]


@pytest.mark.parametrize(
    ("registered", "source", "rule", "path"),
    [
        ({"text": EN}, {"source": "vm-en", "quote": {"exact": "a billion businesses"}},
         "quote-not-in-source", "$.events[0].sources[0].quote.exact"),
        ({"text": EN}, {"source": "vm-en", "quote": {"exact": "Vodafone"}},
         "quote-ambiguous", "$.events[0].sources[0].quote"),
        ({}, {"source": "vm-en", "quote": {"exact": "Vodafone"}},
         "source-has-no-text", "$.events[0].sources[0].quote"),
        ({"text": EN}, {"source": "nowhere", "quote": {"exact": "Vodafone"}},
         "source-not-registered", "$.events[0].sources[0].source"),
        ({"text": EN}, {"source": "vm-en", "quote": {"exact": "10 years"},
                        "position": {"start": 0, "end": 8}},
         "quote-not-in-source", "$.events[0].sources[0].position"),
    ],
    ids=["absent", "ambiguous", "no text", "not registered", "forged position"],
)  # fmt: skip
async def test_a_quote_its_source_does_not_bear_out_is_refused(
    client: AsyncTestClient[Any],
    auth: dict[str, str],
    registered: dict[str, Any],
    source: dict[str, Any],
    rule: str,
    path: str,
) -> None:
    await _register(client, auth, **registered)
    before = len((await client.get(VODAFONE)).json()["events"])
    refused = await client.post(VODAFONE, json={"events": [_milestone(source)]}, headers=auth)
    assert refused.status_code == 422, refused.text
    assert refused.json()["rule"] == rule
    assert [e["path"] for e in refused.json()["errors"]] == [path]
    assert len((await client.get(VODAFONE)).json()["events"]) == before


@pytest.mark.parametrize(
    ("source", "path"),
    [
        ({"quote": {"exact": "Vodafone"}}, "$.events[0].sources[0].quote"),
        ({"source": "vm-en", "quote": {"exact": "x"}, "excerpt": "x"},
         "$.events[0].sources[0].excerpt"),
        ({"source": "vm-en", "position": {"start": 1, "end": 2}},
         "$.events[0].sources[0].position"),
    ],
    ids=["quote without a source", "quote and excerpt", "position without a quote"],
)  # fmt: skip
async def test_a_citation_of_the_wrong_shape_is_refused_before_any_lookup(
    client: AsyncTestClient[Any], auth: dict[str, str], source: dict[str, Any], path: str
) -> None:
    refused = await client.post(VODAFONE, json={"events": [_milestone(source)]}, headers=auth)
    assert refused.status_code == 422, refused.text
    assert [e["path"] for e in refused.json()["errors"]] == [path]


async def test_a_statement_quotes_its_source_word_for_word_in_order(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    await _register(client, auth, id="vm-fr", language="fr", text=FR)
    text = normalised(FR)
    first, second = text[300:340].strip(), text[600:640].strip()

    def statement(words: str) -> dict[str, Any]:
        return {
            "type": "StatementMade",
            "effective": "2024-01-16",
            "data": {"speaker": "L'article", "text": words, "language": "fr"},
            "sources": [{"title": "Vodafone et Microsoft", "language": "fr", "source": "vm-fr"}],
        }

    kept = await client.post(
        VODAFONE, json={"events": [statement(f"{first} […] {second}")]}, headers=auth
    )
    assert kept.status_code == 201, kept.text
    for words in (f"{second} […] {first}", f"{first} […] {second} et plus encore"):
        refused = await client.post(VODAFONE, json={"events": [statement(words)]}, headers=auth)
        assert refused.status_code == 422, refused.text
        assert refused.json()["rule"] == "quote-not-in-source"
        assert [e["path"] for e in refused.json()["errors"]] == ["$.events[0].data.text"]


async def test_a_source_lists_the_facts_citing_it_with_their_passages(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    await _register(client, auth, text=EN)
    words = ["more than 300 million businesses", "strategic partnership spanning 10 years"]
    events = [
        _milestone({"source": "vm-en", "quote": {"exact": w}}, item=f"m{n}")
        for n, w in enumerate(words)
    ]
    events.append(_milestone({"source": "vm-en", "excerpt": "unchecked words"}, item="m2"))
    stored = await client.post(VODAFONE, json={"events": events}, headers=auth)
    assert stored.status_code == 201, stored.text
    positions = [e["position"] for e in stored.json()["events"]]
    first = await client.get("/sources/vm-en/citations?limit=2")
    assert first.status_code == 200
    page = first.json()
    assert [c["position"] for c in page["citations"]] == positions[:2]
    cited = page["citations"][0]
    assert cited["quote"] == {"exact": words[0]}
    start = normalised(EN).index(words[0])
    assert cited["span"] == {"start": start, "end": start + len(words[0])}
    assert words[0] in cited["passage"]
    assert cited["type"] == "MilestoneScheduled"
    assert [c["verified"] for c in page["citations"]] == [True, True]
    rest = (await client.get(page["next"])).json()
    assert [(c["position"], c["excerpt"], c["span"], c["verified"]) for c in rest["citations"]] == [
        (positions[2], "unchecked words", None, False)
    ]
    assert rest["next"] is None
    assert (await client.get("/sources/nowhere/citations")).status_code == 404
    for cursor in (b"nope", b"9" * 40, "٣".encode(), b"-1"):  # words, huge, not ASCII, signed
        coded = base64.urlsafe_b64encode(cursor).decode().rstrip("=")
        asked = await client.get(f"/sources/vm-en/citations?cursor={coded}")
        assert asked.status_code == 400, (cursor, asked.text)
    bad_id = await client.get("/sources/Not_An_Id/citations")
    assert bad_id.status_code == 400
    assert "is not a source id" in bad_id.json()["detail"]


async def test_the_page_tells_a_checked_quote_from_an_unchecked_excerpt(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    await _register(client, auth, text=EN)
    quoted = _milestone({"source": "vm-en", "quote": {"exact": "more than 300 million businesses"}})
    excerpt = _milestone({"excerpt": "Words as a pipeline gave them"}, item="excerpted")
    stored = await client.post(VODAFONE, json={"events": [quoted, excerpt]}, headers=auth)
    assert stored.status_code == 201, stored.text
    page = (await client.get("/partnerships/vodafone-microsoft/timeline")).text
    text = normalised(EN)
    start = text.index("more than 300 million businesses")
    shown = passage(text, start, start + len("more than 300 million businesses"))
    assert shown is not None
    before, words, after = (html.escape(part, quote=True) for part in shown)
    assert before.endswith(" ")
    assert len(after) > 40  # the quote stands in its passage, marked
    assert f"{before}<mark class='quote'>{words}</mark>{after}</blockquote>" in page
    assert "<p class='checked'>Found word" in page
    # registered without `headline`: its title describes it, and the page says so
    assert "<cite>Vodafone and Microsoft</cite> (untitled; described)" in page
    link = f"/sources/vm-en/read?start={start}&amp;end={start + len(shown[1])}#quote"
    assert f"<a href='{link}'>registered text</a>" in page
    reading = await client.get(html.unescape(link).split("#")[0])
    assert reading.status_code == 200
    assert reading.headers["content-type"].startswith("text/html")
    body = reading.text
    assert f"<mark class='quote' id='quote'>{words}</mark>" in body
    assert body.count("<p>") >= EN.count("\n\n")  # the text in its paragraphs
    assert "(a description, not its headline)" in body  # registered without `headline`
    missing = await client.get("/sources/nowhere/read")
    assert (missing.status_code, missing.headers["content-type"][:9]) == (404, "text/html")
    assert "<p class='unverified'>An excerpt as given, not checked" in page


async def test_a_registered_text_is_read_once_for_the_appends_that_quote_it(
    client: AsyncTestClient[Any], auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    await _register(client, auth, text=EN)
    read: list[list[str]] = []
    real = SQLTransaction.source_texts

    async def spy(self: SQLTransaction, ids: Any) -> dict[str, str | None]:
        read.append(sorted(ids))
        return await real(self, ids)

    monkeypatch.setattr(SQLTransaction, "source_texts", spy)
    for n, words in enumerate(["more than 300 million businesses", "Europe and Africa"]):
        event = _milestone({"source": "vm-en", "quote": {"exact": words}}, item=f"q{n}")
        stored = await client.post(VODAFONE, json={"events": [event]}, headers=auth)
        assert stored.status_code == 201, stored.text
    missing = _milestone({"source": "later", "quote": {"exact": "x"}}, item="q2")
    for _ in range(2):  # an id not registered is asked again: it may be registered meanwhile
        refused = await client.post(VODAFONE, json={"events": [missing]}, headers=auth)
        assert refused.json()["rule"] == "source-not-registered"
    assert read.count(["vm-en"]) == 1  # kept after the first group
    assert read.count(["later"]) >= 2  # each refused post asked again (the handler retries it)
    assert len(read) == 1 + read.count(["later"])


async def test_a_group_may_quote_more_sources_than_the_writer_keeps(
    client: AsyncTestClient[Any], auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = services_of(client).store._writer  # the store's grouping writer
    kept._texts = LRU(2)
    events = []
    for n in range(5):
        await _register(client, auth, id=f"s{n}", text=f"The words of source {n}.")
        quote = {"exact": f"source {n}"}
        events.append(_milestone({"source": f"s{n}", "quote": quote}, item=f"m{n}"))
    stored = await client.post(VODAFONE, json={"events": events}, headers=auth)
    assert stored.status_code == 201, stored.text
    assert [e["sources"][0]["position"] for e in stored.json()["events"]] == [
        {"start": 13, "end": 21}
    ] * 5


def test_a_quote_is_shown_in_its_passage_cut_at_spaces() -> None:
    text = "one two three four five six seven eight nine ten"
    start = text.index("five")
    before, words, after = passage(text, start, start + len("five six"), around=10)
    assert (before, words, after) == ("…four ", "five six", " seven…")  # "ee four": cut
    assert passage(text, 0, 3, around=100) == ("", "one", text[3:])
    assert passage(text, 40, 99) is None  # a position the text does not hold
    assert passage(text, 5, 5) is None


async def test_where_sources_differ_on_firmness_each_says_its_own_and_the_record_what_all_support(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    await _register(client, auth, text=EN)
    french = {"id": "vm-fr", "title": "Vodafone et Microsoft", "language": "fr", "text": FR}
    assert (await client.post("/sources", json=french, headers=auth)).status_code == 201
    sources = [
        {"title": "Vodafone and Microsoft", "language": "en", "source": "vm-en",
         "quote": {"exact": "a substantial commitment from Vodafone"}},
        {"title": "Vodafone et Microsoft", "language": "fr", "source": "vm-fr",
         "quote": {"exact": "Vodafone a annoncé son intention d’investir"}},
    ]  # fmt: skip
    said = [
        {"source": "vm-en", "firmness": "committed"},
        {"source": "vm-fr", "firmness": "planned"},
    ]

    def pledge(firmness: str, firmness_said: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "type": "InvestmentCommitted",
            "effective": "2024-01-16",
            "data": {"id": "cloud", "investor": "vodafone", "amount": "undisclosed",
                     "purpose": "cloud", "firmness": firmness, "firmness_said": firmness_said},
            "sources": sources,
        }  # fmt: skip

    overstated = await client.post(
        VODAFONE, json={"events": [pledge("committed", said)]}, headers=auth
    )
    assert overstated.status_code == 422, overstated.text
    assert "what every source supports" in overstated.text
    stranger = [*said[:1], {"source": "somebody-else", "firmness": "planned"}]
    uncited = await client.post(
        VODAFONE, json={"events": [pledge("planned", stranger)]}, headers=auth
    )
    assert uncited.status_code == 422, uncited.text
    assert uncited.json()["errors"][0]["path"] == "$.events[0].data.firmness_said[1].source"
    stored = await client.post(VODAFONE, json={"events": [pledge("planned", said)]}, headers=auth)
    assert stored.status_code == 201, stored.text
    state = (await client.get("/partnerships/vodafone-microsoft")).json()
    cloud = next(i for i in state["investments"] if i["id"] == "cloud")
    assert (cloud["firmness"], cloud["firmness_said"]) == ("planned", said)
    page = (await client.get("/partnerships/vodafone-microsoft/timeline")).text
    assert "Sources differ: committed in Vodafone and Microsoft; planned in Vodafone et" in page


@given(
    st.lists(
        st.sampled_from(["a", "é", "e\u0301", " ", "\n", "\u00a0", "\t", "«", "x"]), max_size=40
    ).map("".join)
)
def test_a_position_in_the_normal_form_is_carried_back_to_the_text(text: str) -> None:
    """`nfc_offsets`: each character of the normal form is the one at its offset in the NFC
    text (a space for a run of white space), and an end maps one past the last."""
    nfc = unicodedata.normalize("NFC", text)
    flat = normalised(text)
    offsets = nfc_offsets(nfc)
    assert len(offsets) == len(flat) + 1
    for n, char in enumerate(flat):
        assert nfc[offsets[n]] == char or (char == " " and nfc[offsets[n]].isspace())


async def test_a_source_page_shows_hostile_words_as_text(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    hostile = {
        "id": "hostile",
        "title": "<script>alert(1)</script>",
        "language": "en",
        "publisher": "'><img src=x onerror=alert(2)>",
        "url": "https://example.org/?q='><script>alert(3)</script>",
        "text": "First <b>paragraph</b>.\n\n<script>alert(4)</script> and more words here.",
    }
    assert (await client.post("/sources", json=hostile, headers=auth)).status_code == 201
    page = (await client.get("/sources/hostile/read?start=0&end=5")).text
    assert "<script>alert" not in page
    assert "<img" not in page
    assert "&lt;script&gt;alert(4)&lt;/script&gt;" in page
    assert "<mark class='quote' id='quote'>First</mark>" in page
