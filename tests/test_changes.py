"""`/partnerships/{id}/changes`, `/changes` and `timeline changes`: what changed in what we
know, as a user asks it, on the curated data plus appends made through the API."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from conftest import BACKENDS
from helpers import announce, milestone
from litestar.testing import AsyncTestClient

from timeline.api import changes
from timeline.cli import cli
from timeline.projection import knowledge_diff
from timeline.store import EventStore

VM = "/partnerships/vodafone-microsoft"
IOT = "iot-platform-independent"
CLOUD = "vodafone-cloud-ai"
MICROSOFT_IOT = "microsoft-iot-platform"
RISK = {"id": "r", "description": "d"}
SOURCE = {"title": "Vodafone results", "language": "en", "publisher": "Vodafone"}


def _at(instant: datetime) -> str:
    return quote(instant.isoformat())


async def _state(client: AsyncTestClient[Any]) -> dict[str, Any]:
    return (await client.get(VM)).json()


async def _append(
    client: AsyncTestClient[Any], auth: dict[str, str], events: list[dict[str, Any]]
) -> dict[str, Any]:
    answer = await client.post(f"{VM}/events", json={"events": events}, headers=auth)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def _news(client: AsyncTestClient[Any], auth: dict[str, str]) -> datetime:
    """An achievement, a correction and a retraction recorded after the returned instant."""
    state = await _state(client)
    ids = {i["id"]: i["event_id"] for i in state["investments"]}
    cloud = next(i for i in state["investments"] if i["id"] == CLOUD)
    since = datetime.now(UTC)
    kept = ("id", "investor", "recipient", "amount", "purpose", "equivalents", "period")
    corrected = {key: cloud[key] for key in (*kept, "firmness", "firmness_said")}
    corrected["amount"] = {"amount": "1600000000", "currency": "USD"}
    await _append(
        client,
        auth,
        [
            {
                "type": "MilestoneAchieved",
                "effective": "2024-05-02",
                "data": {"id": IOT},
                "sources": [SOURCE],
            },
            {
                "type": "EventCorrected",
                "effective": "2024-06-01",
                "data": {"event_id": ids[CLOUD], "data": corrected, "reason": "misread"},
            },
            {
                "type": "EventRetracted",
                "effective": "2024-06-01",
                "data": {"event_id": ids[MICROSOFT_IOT], "reason": "not in the sources"},
            },
        ],
    )
    return since


async def test_changes_name_each_field_and_cite_the_events_with_their_sources(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    since = await _news(client, auth)
    answer = await client.get(f"{VM}/changes?since={_at(since)}&as_of=2024-07-01")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["before"]["version"] == 12
    assert body["after"]["version"] == 15
    assert body["after"]["known_at"] is None
    found = {(c["kind"], c["id"]): c for c in body["changes"]}
    assert set(found) == {("investment", CLOUD), ("investment", MICROSOFT_IOT), ("milestone", IOT)}
    events = {e["id"]: e for e in body["events"]}
    assert [e["type"] for e in body["events"]] == [
        "MilestoneAchieved",
        "EventCorrected",
        "EventRetracted",
    ]

    iot = found[("milestone", IOT)]
    assert iot["change"] == "changed"
    assert [(f["path"], f["before"], f["after"]) for f in iot["fields"]] == [
        ("status", "unreported", "achieved"),
        ("achieved", None, "2024-05-02"),
    ]
    assert events[iot["events"][0]]["sources"] == [SOURCE]

    cloud = found[("investment", CLOUD)]
    assert cloud["change"] == "changed"
    assert [(f["path"], f["before"], f["after"]) for f in cloud["fields"]] == [
        ("amount.amount", "1500000000", "1600000000")
    ]
    assert events[cloud["events"][0]]["data"]["reason"] == "misread"

    gone = found[("investment", MICROSOFT_IOT)]
    assert gone["change"] == "removed"
    assert gone["after"] is None
    assert gone["before"]["amount"] == "undisclosed"
    assert events[gone["events"][0]]["data"]["reason"] == "not in the sources"


async def test_the_window_and_the_day_bound_what_counts_as_changed(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    since = await _news(client, auth)
    before_news = await client.get(f"{VM}/changes?since=2026-11-01&until={_at(since)}")
    assert before_news.status_code == 200
    curated = {(c["kind"], c["change"]) for c in before_news.json()["changes"]}
    assert ("partnership", "added") in curated  # the curated data was recorded in between
    assert before_news.json()["before"] is None

    nothing = await client.get(f"{VM}/changes?since={_at(since)}&until={_at(since)}")
    assert nothing.json()["changes"] == []
    assert nothing.json()["events"] == []

    april = (await client.get(f"{VM}/changes?since={_at(since)}&as_of=2024-04-01")).json()
    kinds = {(c["kind"], c["id"]) for c in april["changes"]}
    assert ("milestone", IOT) not in kinds  # achieved on 2 May: not yet on 1 April
    assert ("investment", MICROSOFT_IOT) in kinds  # a retraction applies to every day


async def test_pages_follow_next_and_hold_still_while_events_arrive(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    since = await _news(client, auth)
    whole = (await client.get(f"{VM}/changes?since={_at(since)}")).json()["changes"]
    first = (await client.get(f"{VM}/changes?since={_at(since)}&limit=2")).json()
    assert [c["id"] for c in first["changes"]] == [c["id"] for c in whole[:2]]
    assert {e["id"] for e in first["events"]} == {i for c in whole[:2] for i in c["events"]}
    await _append(
        client,
        auth,
        [
            {
                "type": "RiskIdentified",
                "effective": "2024-02-01",
                "data": {"id": "late-risk", "description": "arrives between the pages"},
            }
        ],
    )
    second = (await client.get(first["next"])).json()
    assert [c["id"] for c in second["changes"]] == [c["id"] for c in whole[2:]]
    assert second["next"] is None
    now = (await client.get(f"{VM}/changes?since={_at(since)}")).json()["changes"]
    assert [c["id"] for c in now] == [*(c["id"] for c in whole), "late-risk"]


async def test_an_unchanged_diff_answers_304_until_something_is_recorded(
    client: AsyncTestClient[Any], auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that holds the tag is answered from the two views alone, without the diff."""
    since = await _news(client, auth)
    url = f"{VM}/changes?since={_at(since)}"
    first = await client.get(url)
    tag = first.headers["etag"]
    diffs: list[str] = []

    async def counted(projector: Any, stream: str, **window: Any) -> Any:
        diffs.append(stream)
        return await knowledge_diff(projector, stream, **window)

    monkeypatch.setattr(changes, "knowledge_diff", counted)
    assert (await client.get(url, headers={"If-None-Match": tag})).status_code == 304
    assert diffs == []
    other = f"{VM}/changes?since={_at(since - timedelta(seconds=1))}"  # another tag: a diff
    assert (await client.get(other, headers={"If-None-Match": tag})).status_code == 200
    assert diffs == ["vodafone-microsoft"]
    await _append(
        client,
        auth,
        [
            {
                "type": "RiskIdentified",
                "effective": "2024-02-01",
                "data": {"id": "r", "description": "d"},
            }
        ],
    )
    again = await client.get(url, headers={"If-None-Match": tag})
    assert again.status_code == 200
    assert again.headers["etag"] != tag


@pytest.mark.parametrize(
    ("query", "path", "words"),
    [
        ("", "query.since", "since is required"),
        ("since=yesterday", "query.since", "'yesterday' is not an instant"),
        ("since=2026-01-01&until=soon", "query.until", "'soon' is not an instant"),
        ("since=2026-02-01&until=2026-01-01", "query.since", "is after until"),
        ("since=2999-01-01", "query.since", "is after until (now)"),
        ("since=2026-01-01&as_of=2024-13-01", "query.as_of", "is not a date"),
        ("since=2026-01-01&cursor=bm9wZQ", "query.cursor", "is not a cursor"),
        ("since=2026-01-01&sinse=2026-01-01", "query.sinse", "did you mean 'since'"),
    ],
)
async def test_bad_windows_are_400s_naming_the_parameter(
    client: AsyncTestClient[Any], query: str, path: str, words: str
) -> None:
    for url in (f"{VM}/changes?{query}", f"/changes?{query}"):
        if url.startswith("/changes") and ("as_of" in query or "cursor" in query):
            continue  # the digest has no day, and its cursor is a partnership id
        answer = await client.get(url)
        assert answer.status_code == 400, (url, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        problem = answer.json()
        assert words in problem["detail"], problem
        assert problem["errors"][0]["path"] == path


async def test_an_unknown_partnership_or_one_unknown_at_until_is_404(
    client: AsyncTestClient[Any],
) -> None:
    unknown = await client.get("/partnerships/nobody-here/changes?since=2026-01-01")
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "no partnership 'nobody-here'"
    early = await client.get(f"{VM}/changes?since=2020-01-01&until=2021-01-01")
    assert early.status_code == 404
    assert "nothing was known of partnership 'vodafone-microsoft'" in early.json()["detail"]


async def test_the_digest_lists_what_changed_by_partnership_with_a_line_each(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    since = await _news(client, auth)
    body = (await client.get(f"/changes?since={_at(since)}")).json()
    assert [p["id"] for p in body["partnerships"]] == ["vodafone-microsoft"]
    line = body["partnerships"][0]
    assert line["events"] == 3
    assert line["title"] == "Vodafone–Microsoft strategic partnership"
    assert line["summary"].startswith("3 events: milestone iot-platform-independent achieved; ")
    assert "retracted: not in the sources" in line["summary"]
    diff = await client.get(line["changes"])
    assert len(diff.json()["changes"]) == 3

    assert (await client.get(f"/changes?since={_at(since)}&party=telefonica")).json()[
        "partnerships"
    ] == []
    assert [
        p["id"]
        for p in (await client.get(f"/changes?since={_at(since)}&party=vodafone")).json()[
            "partnerships"
        ]
    ] == ["vodafone-microsoft"]


async def test_the_digest_pages_by_partnership_and_answers_304_while_nothing_is_recorded(
    client: AsyncTestClient[Any], auth: dict[str, str]
) -> None:
    first = await client.get("/changes?since=2026-01-01&limit=1")
    assert [p["id"] for p in first.json()["partnerships"]] == ["telefonica-microsoft"]
    assert first.json()["partnerships"][0]["events"] == 25
    assert first.headers["link"] == f'<{first.json()["next"]}>; rel="next"'
    second = (await client.get(first.json()["next"])).json()
    assert [p["id"] for p in second["partnerships"]] == ["vodafone-microsoft"]
    assert second["next"] is None
    url = "/changes?since=2026-01-01&limit=1"
    tag = first.headers["etag"]
    assert (await client.get(url, headers={"If-None-Match": tag})).status_code == 304
    await _news(client, auth)
    assert (await client.get(url, headers={"If-None-Match": tag})).status_code == 200


@pytest.mark.parametrize("store_url", BACKENDS, indirect=True)
async def test_the_store_finds_the_positions_of_a_window_of_time(store: EventStore) -> None:
    t = datetime(2025, 1, 1, tzinfo=UTC)
    appends = [("b", announce()), ("a", announce()), ("b", milestone()), ("c", announce())]
    for hours, (stream, event) in enumerate(appends):
        await store.append(stream, [event], actor="test", recorded_at=t + timedelta(hours=hours))
    models = store.read_models
    assert await models.position_known_at(t - timedelta(seconds=1)) == 0
    assert await models.position_known_at(t + timedelta(hours=1, minutes=30)) == 2
    assert await models.position_known_at(None) == 4
    day = date(2026, 1, 1)
    found = await models.changed(0, 4, party=None, day=day, after=None, limit=10)
    assert [(c.stream, c.events, c.first_position, c.last_position) for c in found] == [
        ("a", 1, 2, 2),
        ("b", 2, 1, 3),
        ("c", 1, 4, 4),
    ]
    window = await models.changed(1, 3, party=None, day=day, after="a", limit=10)
    assert [(c.stream, c.events) for c in window] == [("b", 1)]


def test_the_cli_prints_the_diff_as_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIMELINE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("TIMELINE_CURATED_DIR", str(Path(__file__).parent.parent / "events"))
    runner = CliRunner()
    result = runner.invoke(
        cli, ["changes", "vodafone-microsoft", "--since", "2026-01-01", "--as-of", "2024-02-01"]
    )
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["before"] is None
    assert body["changes"][0]["kind"] == "partnership"
    assert body["changes"][0]["change"] == "added"
    assert len(body["events"]) == 12
    late = runner.invoke(cli, ["changes", "vodafone-microsoft", "--since", "2999-01-01"])
    assert late.exit_code == 1
    assert late.stderr == "timeline: error: --since 2999-01-01 is after --until (now)\n"


def test_the_cli_prints_the_digest_a_line_a_partnership(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIMELINE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("TIMELINE_CURATED_DIR", str(Path(__file__).parent.parent / "events"))
    runner = CliRunner()
    result = runner.invoke(cli, ["changes", "--since", "2026-01-01", "--party", "vodafone"])
    assert result.exit_code == 0, result.stderr
    line = (
        "vodafone-microsoft: 12 events: announced: Vodafone–Microsoft strategic partnership; "
        "investment vodafone-cloud-ai committed; investment microsoft-iot-platform committed; "
        "and 9 more"
    )
    assert result.stdout.splitlines() == [line]
    quiet = runner.invoke(cli, ["changes", "--since", "2026-11-29"])
    assert quiet.stdout == "nothing was recorded in that window\n"
    both = runner.invoke(cli, ["changes", "vodafone-microsoft", "--since", "2026-01-01",
                               "--party", "vodafone"])  # fmt: skip
    assert both.exit_code == 1
