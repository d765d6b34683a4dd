"""Webhook subscriptions: signed CloudEvents POSTed to a receiver, in order per partnership,
retried, parked and released; the routes that manage them (both backends)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import msgspec
import pytest
from api_helpers import running, services_of, settings_for
from helpers import announce
from litestar.testing import AsyncTestClient
from server_helpers import Server, free_port, request
from standardwebhooks.webhooks import Webhook

from timeline.api import deliverer
from timeline.api.deliverer import LEASE, Deliverer, pinned
from timeline.api.live import message
from timeline.settings import Settings
from timeline.store import open_store, token_registry
from timeline.store.subscriptions import Queued, SQLSubscriptions, Subscription
from timeline.webhooks import (
    Filters,
    SubscriptionError,
    checked_url,
    new_secret,
    next_try,
    private_address,
    retry_schedule,
    signature,
)

VODAFONE = "/partnerships/vodafone-microsoft/events"
TELEFONICA = "/partnerships/telefonica-microsoft/events"


def statement(text: str) -> dict[str, Any]:
    return {
        "type": "StatementMade",
        "effective": "2024-03-01",
        "data": {"speaker": "A spokesperson", "text": text, "language": "en"},
        "sources": [{"title": "A wire report", "language": "en"}],
    }


# --- the pure parts -------------------------------------------------------------------------


def test_a_signature_verifies_with_the_standard_webhooks_reference_library() -> None:
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"specversion":"1.0"}'
    now = datetime.now(UTC)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature(secret, "msg_1", int(now.timestamp()), body),
    }
    assert Webhook(secret).verify(body, headers) == {"specversion": "1.0"}
    tampered = {**headers, "webhook-id": "msg_2"}
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(secret).verify(body, tampered)


def test_retries_follow_the_schedule_with_jitter_then_park() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    schedule = retry_schedule("5, 300,1800")
    assert schedule == (5, 300, 1800)
    rng = random.Random(3)  # noqa: S311 - jitter drawn alike every run
    waits = [(next_try(now, n, schedule, rng=rng) - now).total_seconds() for n in (1, 2, 3)]  # type: ignore[operator]
    for wait, planned in zip(waits, schedule, strict=True):
        assert planned * 0.8 <= wait <= planned * 1.2
    assert next_try(now, 4, schedule) is None  # tried the last time: parked
    later = next_try(now, 1, schedule, retry_after=600)  # a receiver's Retry-After is honoured
    assert later is not None
    assert later - now == timedelta(seconds=600)
    for bad in ("", "5,,6", "0", "-1", "five"):
        with pytest.raises(ValueError, match="second"):
            retry_schedule(bad)


@pytest.mark.parametrize(
    ("address", "private"),
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("192.168.0.9", True),
        ("169.254.169.254", True),  # cloud metadata
        ("0.0.0.0", True),  # noqa: S104 - a test value
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("fe80::1%eth0", True),
        ("224.0.0.1", True),
        ("93.184.216.34", False),
        ("2606:2800:220:1:248:1893:25c8:1946", False),
    ],
)
def test_private_addresses_are_told_apart(address: str, private: bool) -> None:  # noqa: FBT001
    assert private_address(address) is private


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.org/hook", "http or https"),
        ("javascript:alert(1)", "http or https"),
        ("https://user:pw@example.org/hook", "no credentials"),
        ("https:///hook", "names no host"),
        ("https://example.org/a b", "no spaces"),
        ("https://example.org:99999/", "not a URL"),
        ("https://example.org/#frag", "no fragment"),
    ],
)
def test_a_delivery_url_is_checked(url: str, why: str) -> None:
    with pytest.raises(SubscriptionError, match=why):
        checked_url(url)
    assert checked_url("https://example.org/hook") == ("example.org", 443)


# --- a receiver -----------------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP/1.1 endpoint on loopback that keeps what it is sent and answers `answer(body)`."""

    answer: Callable[[bytes], tuple[int, dict[str, str]]] = lambda _body: (204, {})
    got: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")[1:]
        headers = {
            k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)
        }
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.got.append(Received(headers, body))
        self.arrived.set()
        status, extra = self.answer(body)
        more = "".join(f"{k}: {v}\r\n" for k, v in extra.items())
        head = f"HTTP/1.1 {status} X\r\ncontent-length: 2\r\n{more}connection: close\r\n\r\n"
        writer.write(head.encode() + b"ok")
        await writer.drain()
        writer.close()

    async def until(self, count: int, seconds: float = 10) -> list[Received]:
        deadline = asyncio.get_running_loop().time() + seconds
        while len(self.got) < count:
            self.arrived.clear()
            left = deadline - asyncio.get_running_loop().time()
            assert left > 0, f"{len(self.got)} deliveries of {count} arrived"
            await asyncio.wait_for(self.arrived.wait(), left)
        return self.got


@asynccontextmanager
async def receiving(receiver: Receiver) -> AsyncIterator[Receiver]:
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    receiver.port = server.sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        server.close()


@asynccontextmanager
async def served(
    tmp_path: Path, url: str | None = None, **settings: Any
) -> AsyncIterator[tuple[AsyncTestClient[Any], dict[str, str], dict[str, str]]]:
    """The API with private receivers allowed; headers of a `subscribe` and an `append` token."""
    values: dict[str, Any] = {"webhook_allow_private": True, **settings}
    if url is not None:
        values["database_url"] = url
    configured = settings_for(tmp_path, **values)
    async with running(configured) as client:
        # tokens made through a store of this loop: the app's own runs in the client's
        side = await open_store(configured.database_url)
        try:
            tokens = token_registry(side)
            hooks = await tokens.create_token("hooks", ("subscribe",))
            writer = await tokens.create_token("writer", ("append",))
        finally:
            await side.close()
        yield client, {"Authorization": f"Bearer {hooks}"}, {"Authorization": f"Bearer {writer}"}


async def _token(url: str, name: str, scope: str) -> str:
    store = await open_store(url)
    try:
        return await token_registry(store).create_token(name, (scope,))
    finally:
        await store.close()


# --- the routes -----------------------------------------------------------------------------


async def test_subscriptions_are_made_read_changed_rotated_and_deleted(tmp_path: Path) -> None:
    async with served(tmp_path) as (client, hooks, writer):
        asked = {
            "url": "http://127.0.0.1:9/hook",
            "type": ["MilestoneAchieved"],
            "stream": "vodafone-",
        }
        assert (await client.post("/subscriptions", json=asked)).status_code == 401
        refused = await client.post("/subscriptions", json=asked, headers=writer)
        assert refused.status_code == 403
        assert "subscribe" in refused.json()["detail"]
        made = await client.post("/subscriptions", json=asked, headers=hooks)
        assert made.status_code == 201, made.text
        body = made.json()
        assert body["secret"].startswith("whsec_")
        assert (body["type"], body["stream"], body["status"]) == (
            ["MilestoneAchieved"],
            "vodafone-",
            "active",
        )
        assert made.headers["location"] == f"/subscriptions/{body['id']}"
        feed = (await client.get("/events?after=0&limit=1000")).json()
        assert body["checkpoint"] == feed["last_position"]  # from now on
        one = (await client.get(body["href"], headers=hooks)).json()
        assert "secret" not in one
        assert (one["lag"], one["parked"], one["delivered_position"]) == (0, 0, None)
        listed = (await client.get("/subscriptions", headers=hooks)).json()
        assert [s["id"] for s in listed["subscriptions"]] == [body["id"]]
        assert "secret" not in listed["subscriptions"][0]
        assert (await client.get("/subscriptions", headers=writer)).status_code == 403

        paused = await client.patch(
            body["href"], json={"status": "paused", "stream": None}, headers=hooks
        )
        assert paused.status_code == 200, paused.text
        assert (paused.json()["status"], paused.json()["stream"]) == ("paused", None)
        rotated = await client.post(
            f"{body['href']}/secret", json={"overlap_seconds": 60}, headers=hooks
        )
        assert rotated.status_code == 200, rotated.text
        assert rotated.json()["secret"] not in {body["secret"], None}
        assert rotated.json()["old_secret_until"] is not None
        gone = await client.delete(body["href"], headers=hooks)
        assert gone.status_code == 204
        assert (await client.get(body["href"], headers=hooks)).status_code == 404


@pytest.mark.parametrize(
    ("asked", "path"),
    [
        ({"url": "http://127.0.0.1:9/", "type": ["NoSuchType"]}, "$.type[0]"),
        ({"url": "ftp://127.0.0.1/"}, "$.url"),
        ({"url": "http://me:pw@127.0.0.1/"}, "$.url"),
        ({"url": "http://127.0.0.1/", "colour": "red"}, "$.colour"),
        ({"url": "http://127.0.0.1/", "party": "Not A Slug"}, "$.party"),
        ({"url": "http://127.0.0.1/", "party": "a--b"}, "$.party"),  # no organization is named so
        ({"url": "http://127.0.0.1/", "stream": "x_y"}, "$.stream"),
        ({"url": "http://127.0.0.1/", "after": 10**9}, "$.after"),
        ({"url": "http://no-such-host.invalid/"}, "$.url"),
        ({"type": []}, "$"),
    ],
)
async def test_a_bad_subscription_is_a_422_naming_the_field(
    tmp_path: Path, asked: dict[str, Any], path: str
) -> None:
    async with served(tmp_path) as (client, hooks, _writer):
        refused = await client.post("/subscriptions", json=asked, headers=hooks)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["path"] == path


async def test_private_receivers_are_refused_unless_allowed(tmp_path: Path) -> None:
    async with served(tmp_path, webhook_allow_private=False) as (client, hooks, _writer):
        for url in ("http://127.0.0.1:8080/", "http://169.254.169.254/latest", "http://[::1]/"):
            refused = await client.post("/subscriptions", json={"url": url}, headers=hooks)
            assert refused.status_code == 422, refused.text
            assert "TIMELINE_WEBHOOK_ALLOW_PRIVATE" in refused.json()["detail"]


async def test_unknown_subscriptions_and_deliveries_are_404_and_a_replay_beyond_is_400(
    tmp_path: Path,
) -> None:
    async with served(tmp_path) as (client, hooks, _writer):
        assert (await client.get("/subscriptions/sub_nope", headers=hooks)).status_code == 404
        made = (
            await client.post("/subscriptions", json={"url": "http://127.0.0.1:9/"}, headers=hooks)
        ).json()
        nothing = await client.post(f"{made['href']}/deliveries/1/retry", headers=hooks)
        assert nothing.status_code == 404
        huge = await client.post(f"{made['href']}/deliveries/{2**64}/retry", headers=hooks)
        assert huge.status_code == 400  # was a 500: SQLite takes no integer that large
        assert huge.json()["errors"][0]["path"] == "path.position"
        typo = await client.post(
            "/subscriptions", json={"url": made["url"], "types": []}, headers=hooks
        )
        assert "did you mean `type`" in typo.json()["detail"]
        beyond = await client.post(f"{made['href']}/replay?after=999999", headers=hooks)
        assert beyond.status_code == 400
        assert beyond.json()["errors"][0]["path"] == "query.after"


# --- deliveries -----------------------------------------------------------------------------


async def test_matching_events_arrive_signed_as_cloudevents_in_order(
    tmp_path: Path, store_url: str
) -> None:
    async with receiving(Receiver()) as receiver, served(tmp_path, store_url) as (c, hooks, writer):
        made = await c.post(
            "/subscriptions", json={"url": receiver.url, "stream": "vodafone-"}, headers=hooks
        )
        secret = made.json()["secret"]
        for n in range(3):
            stored = await c.post(
                VODAFONE, json={"events": [statement(f"Vodafone {n}")]}, headers=writer
            )
            assert stored.status_code == 201, stored.text
        other = await c.post(
            TELEFONICA, json={"events": [statement("not matched")]}, headers=writer
        )
        assert other.status_code == 201
        got = await receiver.until(3)
        await asyncio.sleep(0.3)  # nothing else comes: the other partnership is filtered out
        assert len(receiver.got) == 3
        events = [Webhook(secret).verify(r.body, r.headers) for r in got]
        assert [e["data"]["data"]["text"] for e in events] == [f"Vodafone {n}" for n in range(3)]
        first, head = events[0], got[0].headers
        assert head["content-type"] == "application/cloudevents+json"
        assert head["webhook-id"] == first["id"] == first["data"]["id"]
        assert first["specversion"] == "1.0"
        assert first["type"] == "org.partnership-timeline.StatementMade"
        assert first["subject"] == "vodafone-microsoft"
        assert first["source"] == "http://testserver.local/partnerships/vodafone-microsoft"
        assert first["effective"] == "2024-03-01"
        positions = [int(e["sequence"]) for e in events]
        assert positions == sorted(positions)
        assert first["data"]["position"] == positions[0]
        deadline = asyncio.get_running_loop().time() + 10
        while (summary := (await c.get(made.json()["href"], headers=hooks)).json())["lag"]:
            assert asyncio.get_running_loop().time() < deadline  # the last answer, recorded
            await asyncio.sleep(0.05)
        assert summary["delivered_position"] == positions[-1]
        assert (summary["lag"], summary["last_attempt"]["status"]) == (0, 204)


async def test_with_no_active_subscription_appends_claim_nothing_and_a_new_one_wakes_it(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each round's claim is a write transaction: with no active subscription there is nothing
    it could claim, and the deliverer waits for its poll (made an hour here) or for the API
    that makes a subscription, instead of a round after every append."""
    monkeypatch.setattr(deliverer, "POLL", 3600.0)
    claims = 0
    claim = SQLSubscriptions.claim

    async def counted(self: SQLSubscriptions, *args: Any) -> Any:
        nonlocal claims
        claims += 1
        return await claim(self, *args)

    monkeypatch.setattr(SQLSubscriptions, "claim", counted)
    async with receiving(Receiver()) as receiver, served(tmp_path, store_url) as (c, hooks, writer):
        for n in range(5):
            stored = await c.post(VODAFONE, json={"events": [statement(f"{n}")]}, headers=writer)
            assert stored.status_code == 201, stored.text
            await asyncio.sleep(0.1)  # each append its own round, as it was before
        assert claims == 0
        made = await c.post(
            "/subscriptions", json={"url": receiver.url, "stream": "vodafone-"}, headers=hooks
        )
        assert made.status_code == 201
        stored = await c.post(VODAFONE, json={"events": [statement("heard")]}, headers=writer)
        assert stored.status_code == 201
        [got] = await receiver.until(1)  # within seconds, not at the hour's poll
        assert b'"text":"heard"' in got.body
        assert claims >= 1


async def test_a_failing_partnership_is_retried_parked_and_released_while_others_go_on(
    tmp_path: Path, store_url: str
) -> None:
    failing = {"on": True}

    def answer(body: bytes) -> tuple[int, dict[str, str]]:
        subject = msgspec.json.decode(body)["subject"]
        return (
            (503, {"retry-after": "1"})
            if failing["on"] and subject == "vodafone-microsoft"
            else (200, {})
        )

    receiver = Receiver(answer=answer)
    async with (
        receiving(receiver),
        served(tmp_path, store_url, webhook_retries="1") as (c, hooks, writer),
    ):
        made = (await c.post("/subscriptions", json={"url": receiver.url}, headers=hooks)).json()
        for path, text in ((VODAFONE, "first"), (VODAFONE, "second"), (TELEFONICA, "elsewhere")):
            stored = await c.post(path, json={"events": [statement(text)]}, headers=writer)
            assert stored.status_code == 201, stored.text
        # the first Vodafone event: tried, tried again a second later, then parked
        await receiver.until(3)
        subjects = [msgspec.json.decode(r.body)["data"]["data"]["text"] for r in receiver.got]
        assert subjects.count("second") == 0  # it waits behind the first
        assert "elsewhere" in subjects  # another partnership is not held up
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            parked = (await c.get(f"{made['href']}/deliveries?status=parked", headers=hooks)).json()
            if parked["deliveries"] or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.2)
        [held] = parked["deliveries"]
        assert [a["status"] for a in held["attempts"]] == [503, 503]
        assert held["attempts"][0]["answer"] == "ok"
        summary = (await c.get(made["href"], headers=hooks)).json()
        assert (summary["parked"], summary["pending"]) == (1, 1)
        scraped = (await c.get("/metrics")).text
        sub = f'subscription="{made["id"]}"'
        assert f"timeline_webhook_parked{{{sub}}} 1.0" in scraped
        assert f"timeline_webhook_lag_events{{{sub}}} 2.0" in scraped
        assert f'timeline_webhook_attempts_total{{outcome="parked",{sub}}} 1.0' in scraped
        assert f'timeline_webhook_attempts_total{{outcome="failed",{sub}}} 1.0' in scraped
        failing["on"] = False
        released = await c.post(held["retry"], headers=hooks)
        assert released.status_code == 200, released.text
        got = await receiver.until(5)
        texts = [msgspec.json.decode(r.body)["data"]["data"]["text"] for r in got]
        assert texts[-2:] == ["first", "second"]
        ids = [r.headers["webhook-id"] for r in got if b'"first"' in r.body]
        assert len(set(ids)) == 1
        assert len(ids) == 3
        again = await c.post(held["retry"], headers=hooks)
        assert again.status_code == 409


async def test_gone_disables_the_subscription(tmp_path: Path) -> None:
    receiver = Receiver(answer=lambda _body: (410, {}))
    async with receiving(receiver), served(tmp_path) as (c, hooks, writer):
        made = (await c.post("/subscriptions", json={"url": receiver.url}, headers=hooks)).json()
        await c.post(VODAFONE, json={"events": [statement("anyone there?")]}, headers=writer)
        await receiver.until(1)
        deadline = asyncio.get_running_loop().time() + 5
        while (held := (await c.get(made["href"], headers=hooks)).json())["status"] != "disabled":
            assert asyncio.get_running_loop().time() < deadline, held
            await asyncio.sleep(0.1)
        assert held["disabled_reason"] == "the receiver answered 410 Gone"
        resumed = await c.patch(made["href"], json={"status": "active"}, headers=hooks)
        assert (resumed.json()["status"], resumed.json().get("disabled_reason")) == ("active", None)


# --- a crash --------------------------------------------------------------------------------


class _Hook(BaseHTTPRequestHandler):
    """A receiver in a thread, for the real server: keeps what it got, answers `status`."""

    got: ClassVar[list[tuple[str, bytes]]] = []
    status: ClassVar[int] = 503

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        type(self).got.append((self.headers["webhook-id"], body))
        self.send_response(type(self).status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        return


def _kill_all(pid: int) -> None:
    """SIGKILL a process and every process under it (granian's worker holds the store)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    below = [int(c) for c in children.read_text().split()] if children.exists() else []
    os.kill(pid, signal.SIGKILL)
    for child in below:
        _kill_all(child)


def test_a_server_killed_with_deliveries_owed_delivers_them_after_a_restart(
    tmp_path: Path,
) -> None:
    hook = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    _Hook.got, _Hook.status = [], 503
    env = {"TIMELINE_WEBHOOK_ALLOW_PRIVATE": "true", "TIMELINE_WEBHOOK_RETRIES": "1,1,1,1,1"}
    try:
        server = Server(tmp_path, free_port(), first_start=True, env=env)
        try:
            token = server.first_token()
            server.wait_healthy()
            hooks = asyncio.run(_token(f"sqlite:///{tmp_path / 'served.db'}", "hooks", "subscribe"))
            status, made = request(
                f"{server.base}/subscriptions",
                body={"url": f"http://127.0.0.1:{hook.server_port}/hook"},
                token=hooks,
            )
            assert status == 201, made
            ids = []
            for n in range(5):
                status, stored = request(
                    f"{server.base}{VODAFONE}",
                    body={"events": [statement(f"owed {n}")]},
                    token=token,
                )
                assert status == 201, stored
                ids.append(stored["events"][0]["id"])
            deadline = time.monotonic() + 10
            while not _Hook.got and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _Hook.got, "no delivery was tried"
        finally:  # kill -9, the server and its worker: no shutdown, deliveries owed
            _kill_all(server.process.pid)
            server.process.wait()
            server.log.close()
            if server.process.stdout is not None:
                server.process.stdout.close()
        _Hook.status = 200
        again = Server(tmp_path, free_port(), env=env)
        try:
            again.wait_healthy()
            # one claimed by the killed server mid-try is due again once its lease ends
            deadline = time.monotonic() + LEASE.total_seconds() + 15
            while time.monotonic() < deadline:
                if set(ids) <= {i for i, _body in _Hook.got}:
                    break
                time.sleep(0.1)
        finally:
            again.stop()
    finally:
        hook.shutdown()
        hook.server_close()
    delivered = [i for i, _body in _Hook.got]
    assert set(ids) <= set(delivered), (ids, delivered)
    last_tries = list(dict.fromkeys(reversed(delivered)))[::-1]
    assert [i for i in last_tries if i in ids] == ids  # in position order, each one


# --- replicas -------------------------------------------------------------------------------


async def test_two_replicas_never_claim_the_same_delivery_and_a_lapsed_claim_is_taken_over(
    store_url: str,
) -> None:
    """Two stores on one database (two replicas) claim due deliveries at once: each gets its
    own, only the first of each partnership, and one claimed by a replica that then died is
    due again once its lease has run out."""
    now = datetime.now(UTC)
    first, second = await open_store(store_url), await open_store(store_url)
    try:
        subscription = Subscription(
            id="sub_replicas",
            url="http://127.0.0.1:9/hook",
            filters=Filters(),
            status="active",
            checkpoint=0,
            created_at=now,
            created_by="test",
            updated_at=now,
            secret=new_secret(),
        )
        await first.subscriptions.create(subscription)
        owed = [(n, f"p{n % 10}", f"event-{n}") for n in range(1, 41)]  # 10 partnerships
        batch = Queued(subscription.id, 0, 40, owed)
        assert await first.subscriptions.queue([batch], now) == {subscription.id}
        assert await second.subscriptions.queue([batch], now) == set()  # queued already
        lease = timedelta(seconds=30)
        claims = await asyncio.gather(
            *(store.subscriptions.claim(now, 8, lease) for store in (first, second, first))
        )
        positions = [d.position for claimed in claims for d in claimed]
        assert len(positions) == len(set(positions)) == 10  # never twice
        assert sorted(positions) == list(range(1, 11))  # the first of each partnership
        assert await second.subscriptions.claim(now + timedelta(seconds=29), 50, lease) == []
        lapsed = await second.subscriptions.claim(now + timedelta(seconds=31), 50, lease)
        assert sorted(d.position for d in lapsed) == list(range(1, 11))
    finally:
        await first.close()
        await second.close()


# --- the same shape as a pull and a stream ---------------------------------------------------


async def test_the_feed_and_the_live_stream_give_the_delivery_s_cloudevents(
    tmp_path: Path,
) -> None:
    async with served(tmp_path) as (client, _hooks, writer):
        before = (await client.get("/events?after=0&limit=1000")).json()["last_position"]
        stored = await client.post(VODAFONE, json={"events": [statement("pulled")]}, headers=writer)
        assert stored.status_code == 201
        batch = await client.get(
            f"/events?after={before}", headers={"Accept": "application/cloudevents-batch+json"}
        )
        assert batch.status_code == 200
        assert batch.headers["content-type"] == "application/cloudevents-batch+json"
        assert batch.headers["vary"] == "Accept, Accept-Encoding"
        [event] = batch.json()
        assert (event["specversion"], event["sequence"], event["subject"]) == (
            "1.0",
            str(before + 1),
            "vodafone-microsoft",
        )
        assert event["data"]["data"]["text"] == "pulled"
        plain = await client.get(f"/events?after={before}")
        assert plain.headers["etag"] != batch.headers["etag"]  # one tag per shape
        assert plain.json()["events"][0]["id"] == event["id"]
        [stored_event] = [e async for e in services_of(client).store.read_all(after=before)]
    sse = message(stored_event, "http://testserver.local").decode()
    assert sse.startswith(f"id: {before + 1}\nevent: StatementMade\ndata: ")
    assert msgspec.json.decode(sse.split("data: ", 1)[1]) == event


async def test_a_parked_delivery_skipped_lets_the_next_go_and_a_replay_delivers_again(
    tmp_path: Path,
) -> None:
    failing = {"on": True}

    def answer(body: bytes) -> tuple[int, dict[str, str]]:
        text = msgspec.json.decode(body)["data"]["data"]["text"]
        return (500, {}) if failing["on"] and text == "refused" else (200, {})

    receiver = Receiver(answer=answer)
    async with receiving(receiver), served(tmp_path, webhook_retries="1") as (c, hooks, writer):
        made = (await c.post("/subscriptions", json={"url": receiver.url}, headers=hooks)).json()
        positions = []
        for text in ("refused", "after it"):
            stored = await c.post(VODAFONE, json={"events": [statement(text)]}, headers=writer)
            positions.append(stored.json()["events"][0]["position"])
        deadline = asyncio.get_running_loop().time() + 10
        while not (
            parked := (
                await c.get(f"{made['href']}/deliveries?status=parked", headers=hooks)
            ).json()
        )["deliveries"]:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.1)
        [held] = parked["deliveries"]
        assert held["position"] == positions[0]
        skipped = await c.post(held["skip"], headers=hooks)
        assert skipped.json()["status"] == "skipped"
        got = await receiver.until(3)  # two tries of the first, then the one after it
        texts = [msgspec.json.decode(r.body)["data"]["data"]["text"] for r in got]
        assert texts == ["refused", "refused", "after it"]
        deadline = asyncio.get_running_loop().time() + 10
        while not (  # arrived at the receiver; recorded once its answer is read
            delivered := (
                await c.get(f"{made['href']}/deliveries?status=delivered", headers=hooks)
            ).json()["deliveries"]
        ):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        assert [d["position"] for d in delivered] == [positions[1]]
        failing["on"] = False
        replayed = await c.post(f"{made['href']}/replay?after={positions[0] - 1}", headers=hooks)
        assert replayed.status_code == 200, replayed.text
        assert replayed.json()["checkpoint"] == positions[0] - 1
        got = await receiver.until(5)
        texts = [msgspec.json.decode(r.body)["data"]["data"]["text"] for r in got[3:]]
        assert texts == ["refused", "after it"]  # delivered again, in order
        missing = await c.post(f"{made['href']}/replay", headers=hooks)
        assert missing.status_code == 400


# --- where a delivery connects --------------------------------------------------------------


def test_a_delivery_connects_to_the_address_it_checked() -> None:
    assert pinned("http://hooks.example:8080/in?a=1", "203.0.113.7") == (
        "http://203.0.113.7:8080/in?a=1",
        {"host": "hooks.example:8080"},
        {},
    )
    assert pinned("https://hooks.example/in", "2001:db8::7") == (
        "https://[2001:db8::7]/in",
        {"host": "hooks.example"},
        {"sni_hostname": "hooks.example"},  # the certificate is still checked for the name
    )


async def test_the_checked_address_is_the_one_reached_and_a_private_one_is_refused(
    tmp_path: Path,
) -> None:
    """A receiver named by a host only our resolver knows (no DNS would find it): the delivery
    reaches it, so the connection went to the address checked, with the name in `Host`. A
    name that resolves to a private address is refused before any connection."""
    asked: list[str] = []

    async def resolver(host: str, _port: int) -> list[str]:
        asked.append(host)
        return {"hooks.example": ["127.0.0.1"], "sneaky.example": ["10.0.0.1"]}[host]

    def subscription(name: str, url: str) -> Subscription:
        now = datetime.now(UTC)
        return Subscription(
            id=name, url=url, filters=Filters(), status="active", checkpoint=0, created_at=now,
            created_by="test", updated_at=now, secret=new_secret(),
        )  # fmt: skip

    settings = Settings(database_url="sqlite:///unused", webhook_allow_private=True)
    receiver = Receiver()
    async with receiving(receiver):
        store = await open_store(f"sqlite:///{tmp_path / 'pinned.db'}")
        try:
            url = f"http://hooks.example:{receiver.port}/hook"
            await store.subscriptions.create(subscription("sub_pinned", url))
            await store.append("pinned", [announce()], actor="test")
            allowing = Deliverer(store, settings, resolver=resolver)
            await allowing.step()
            await allowing.settle()
            await allowing.stop()
            await store.subscriptions.create(subscription("sub_sneaky", "http://sneaky.example/"))
            refusing = Deliverer(
                store,
                msgspec.structs.replace(settings, webhook_allow_private=False),
                resolver=resolver,
            )
            await refusing.step()
            await refusing.settle()
            await refusing.stop()
            [sneaky] = await store.subscriptions.deliveries(
                "sub_sneaky", status=None, after=0, limit=5
            )
        finally:
            await store.close()
    [got] = receiver.got
    assert got.headers["host"] == f"hooks.example:{receiver.port}"
    [attempt] = sneaky.attempts
    assert attempt.status is None
    assert "10.0.0.1" in (attempt.error or "")
    assert asked == ["hooks.example", "sneaky.example"]


async def test_while_a_rotation_overlaps_both_secrets_sign_and_redirects_are_not_followed(
    tmp_path: Path,
) -> None:
    def answer(body: bytes) -> tuple[int, dict[str, str]]:
        text = msgspec.json.decode(body)["data"]["data"]["text"]
        return (302, {"location": "http://169.254.169.254/"}) if text == "moved" else (200, {})

    receiver = Receiver(answer=answer)
    async with receiving(receiver), served(tmp_path, webhook_retries="60") as (c, hooks, writer):
        made = (await c.post("/subscriptions", json={"url": receiver.url}, headers=hooks)).json()
        rotated = await c.post(f"{made['href']}/secret", headers=hooks)  # a day's overlap
        await c.post(VODAFONE, json={"events": [statement("signed twice")]}, headers=writer)
        await c.post(TELEFONICA, json={"events": [statement("moved")]}, headers=writer)
        got = await receiver.until(2)
        signed = next(r for r in got if b"signed twice" in r.body)
        assert len(signed.headers["webhook-signature"].split(" ")) == 2
        for secret in (made["secret"], rotated.json()["secret"]):  # either verifies it
            assert Webhook(secret).verify(signed.body, signed.headers)["subject"]
        await asyncio.sleep(0.3)
        assert len(receiver.got) == 2  # the redirect was not followed
        failed = (await c.get(f"{made['href']}/deliveries?status=failed", headers=hooks)).json()
        [moved] = failed["deliveries"]
        assert [a["status"] for a in moved["attempts"]] == [302]
        ended = await c.post(f"{made['href']}/secret", json={"overlap_seconds": 0}, headers=hooks)
        assert "old_secret_until" not in ended.json()  # no overlap: the old one stops at once


async def test_a_subscription_for_an_alias_keeps_the_organization_id(tmp_path: Path) -> None:
    """`party` may be an alias or an identifier: the subscription is stored with the id, so a
    later alias of another organization changes nothing it delivers."""
    async with served(tmp_path) as (client, hooks, _writer):
        asked = {"url": "http://127.0.0.1:9/hook", "party": "Vodafone Group"}
        made = await client.post("/subscriptions", json=asked, headers=hooks)
        assert made.status_code == 201, made.text
        assert made.json()["party"] == "vodafone"
        unknown = {"url": "http://127.0.0.1:9/hook", "party": "Nobody At All"}
        refused = await client.post("/subscriptions", json=unknown, headers=hooks)
        assert refused.status_code == 422, refused.text
