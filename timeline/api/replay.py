"""Answers kept as the bytes litestar sent, replayed at the edge while what they rest on holds.

A handler whose answer depends only on the store's position (and on the day, when `as_of`
defaults to today) marks it with `replayable`. The edge keeps the status, headers and body it
sent, by everything in the request that can change them, and answers the same request again
without routing it while the store's position is unchanged: a repeated state or `/health`
costs a dictionary lookup and no database round trip.

An answer that says "as known now" keeps its body in two parts around that instant, and each
replay puts the current instant between them, so `basis.known_at` stays true. When the client
took it compressed, the two parts are kept deflated apart, and each replay is a gzip stream of
the first, the instant in a stored block, and the second (`Gzipped`): no compression per
request, which cost ~0.3 ms for a 12 KB state.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import msgspec
from litestar.types import Message, Scope, Send

from timeline.lru import LRU

KEPT_BYTES = 32 * 1024 * 1024
"""What the kept answers may weigh together."""
LARGEST = 256 * 1024
"""A larger answer is not kept: it would push out many small ones."""
VARIES = (b"accept", b"accept-encoding", b"origin", b"if-none-match")
"""Request headers an answer may depend on: each is part of the key."""
ACCEPT_ENCODING = VARIES.index(b"accept-encoding")
PERSONAL = (b"authorization", b"cookie")
"""Requests carrying these are neither answered from nor kept: who asks may change the answer,
and a revoked token must not go on reading."""
FRESH = (b"cache-control", b"pragma")
"""`no-cache` in these asks for a fresh answer (RFC 9111): it is computed, then kept."""
DROPPED = frozenset({b"content-length", b"x-request-id"})
"""Set again on each replay."""
KEPT_STATUSES = (200, 304)
REPLAYABLE = "replayable"
"""The key of a handler's mark in the request's scope state."""

Key = tuple[str, bytes, tuple[bytes, ...]]


@dataclass(frozen=True, slots=True)
class Replayable:
    """A handler's word that its answer holds while the store's last position is `position`
    (and, for a default `as_of`, while the day is `day`)."""

    position: int
    day: date | None = None
    now: bytes | None = None
    """The instant the body gives as "now", encoded as in the body: each replay puts its own."""
    body: bytes | None = None
    """The body before compression (with `now` in it), for an answer litestar compresses."""


@dataclass(frozen=True, slots=True)
class Kept:
    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    parts: tuple[bytes, ...]
    """The body, split where the current instant goes (one part when nothing is)."""
    position: int
    day: date | None
    route: str
    gzipped: Gzipped | None = None
    """Set when the answer goes out compressed: the parts, deflated apart."""

    @property
    def weight(self) -> int:
        size = sum(map(len, self.parts)) + 64 * len(self.headers) + 256
        return size + (
            0 if self.gzipped is None else len(self.gzipped.head) + len(self.gzipped.tail)
        )

    def body(self, said: bytes) -> bytes:
        if self.gzipped is not None:
            return self.gzipped.around(said)
        return said.join(self.parts)


STORED_MAX = 0xFFFF
"""What one stored deflate block holds (an instant is some 30 bytes)."""
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
"""RFC 1952: deflate, no name, no time, unknown system."""


@dataclass(frozen=True, slots=True)
class Gzipped:
    """A body of two deflated parts, to be sent as one gzip stream with bytes put between.

    The head ends in a full flush (byte-aligned, no history carried on), the middle goes in a
    stored block, and the tail is deflated on its own, so the three are one valid deflate
    stream; the trailer's CRC-32 runs over the middle and tail each time (microseconds).
    """

    head: bytes
    tail: bytes
    head_crc: int
    head_size: int
    tail_plain: bytes

    @classmethod
    def of(cls, head: bytes, tail: bytes) -> Gzipped:
        first = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        second = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        return cls(
            head=first.compress(head) + first.flush(zlib.Z_FULL_FLUSH),
            tail=second.compress(tail) + second.flush(zlib.Z_FINISH),
            head_crc=zlib.crc32(head),
            head_size=len(head),
            tail_plain=tail,
        )

    def around(self, middle: bytes) -> bytes:
        if len(middle) > STORED_MAX:
            raise ValueError(f"{len(middle)} bytes do not fit one stored block")
        stored = b"\x00" + struct.pack("<HH", len(middle), len(middle) ^ 0xFFFF) + middle
        crc = zlib.crc32(self.tail_plain, zlib.crc32(middle, self.head_crc))
        size = (self.head_size + len(middle) + len(self.tail_plain)) & 0xFFFFFFFF
        return b"".join((GZIP_HEADER, self.head, stored, self.tail, struct.pack("<II", crc, size)))


def accepts_gzip(accept_encoding: bytes) -> bool:
    """Whether an `Accept-Encoding` value admits gzip (RFC 9110: `gzip` or `*`, q above 0)."""
    for entry in accept_encoding.lower().split(b","):
        name, _, params = entry.partition(b";")
        if name.strip() not in (b"gzip", b"*"):
            continue
        weight = params.strip()
        if not weight.startswith(b"q="):
            return True
        try:
            return float(weight[2:]) > 0
        except ValueError:
            return False
    return False


def replayable(
    scope: Scope,
    position: int,
    day: date | None = None,
    now: datetime | None = None,
    body: bytes | None = None,
) -> None:
    """Mark the answer being made for `scope` as replayable on these terms; `body` is what the
    handler sends, before litestar may compress it."""
    said = msgspec.json.encode(now)[1:-1] if now is not None else None
    scope["state"][REPLAYABLE] = Replayable(position, day, said, body)


def now_bytes() -> tuple[datetime, bytes]:
    now = datetime.now(UTC)
    return now, msgspec.json.encode(now)[1:-1]


class Answers:
    """The kept answers of one app, bounded by what they weigh."""

    def __init__(self, size: int = KEPT_BYTES) -> None:
        self._kept: LRU[Key, Kept] = LRU(size, weight=lambda kept: kept.weight)

    def __len__(self) -> int:
        return len(self._kept)

    def clear(self) -> None:
        self._kept = LRU(self._kept.size, weight=lambda kept: kept.weight)

    async def replay(
        self,
        key: Key,
        known_position: Callable[[], Awaitable[int]],
        send: Send,
        *,
        head: bool,
        request_id: bytes,
    ) -> Kept | None:
        """Send the kept answer to `key` if it still holds; None (nothing sent) if not."""
        kept = self._kept.get(key)
        if kept is None:
            return None
        now, said = now_bytes()
        if kept.day is not None and kept.day != now.date():
            return None
        try:
            position = await known_position()
        except Exception:  # noqa: BLE001 - routed instead: the handler answers it as a problem
            return None
        if kept.position != position:
            return None
        body = kept.body(said)
        headers = [
            *kept.headers,
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id),
        ]
        await send({"type": "http.response.start", "status": kept.status, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if head else body, "more_body": False}
        )
        return kept

    def keep(
        self,
        key: Key,
        mark: Replayable,
        *,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        route: str,
    ) -> None:
        """Keep what litestar sent, if it can be replayed exactly (or, compressed, as gzip)."""
        if status not in KEPT_STATUSES or len(body) > LARGEST:
            return
        kept_headers = tuple(
            (name, value) for name, value in headers if name.lower() not in DROPPED
        )
        if any(name.lower() == b"set-cookie" for name, _ in kept_headers):
            return
        gzipped = None
        parts = (body,) if mark.now is None else tuple(body.split(mark.now))
        if len(parts) != (1 if mark.now is None else 2):  # compressed, or "now" not there once
            if mark.now is None or mark.body is None or not accepts_gzip(key[2][ACCEPT_ENCODING]):
                return
            parts = tuple(mark.body.split(mark.now))
            if len(parts) != 2:  # noqa: PLR2004 - before and after "now"
                return
            gzipped = Gzipped.of(*parts)
            kept_headers = tuple(
                (name, b"gzip" if name.lower() == b"content-encoding" else value)
                for name, value in kept_headers
            )
        kept = Kept(status, kept_headers, parts, mark.position, mark.day, route, gzipped)
        self._kept[key] = kept


class Recording:
    """What litestar sends for one request, gathered to be kept if its handler marked it.

    Only a marked answer is gathered, and only up to `LARGEST`: a live event stream or a
    calendar feed passes through untouched.
    """

    __slots__ = ("_answers", "_body", "_headers", "_key", "_mark", "_scope", "_size", "_status")

    def __init__(self, answers: Answers, key: Key, scope: Scope) -> None:
        self._answers = answers
        self._key = key
        self._scope = scope
        self._mark: Replayable | None = None
        self._status = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._size = 0

    def see(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            mark = self._scope["state"].get(REPLAYABLE)
            self._mark = mark if isinstance(mark, Replayable) else None
            self._status = message["status"]
            self._headers = list(message.get("headers", ()))
            return
        if message["type"] != "http.response.body" or self._mark is None:
            return
        chunk = message.get("body", b"")
        self._size += len(chunk)
        if self._size > LARGEST:
            self._mark, self._body = None, []
            return
        self._body.append(chunk)
        if not message.get("more_body", False):
            route = self._scope.get("path_template") or "unmatched"
            body, mark, self._mark, self._body = b"".join(self._body), self._mark, None, []
            self._answers.keep(
                self._key, mark, status=self._status, headers=self._headers, body=body, route=route
            )


def request_key(scope: Scope) -> tuple[Key | None, bool]:
    """The key of a GET's answer, and whether the client asked for a fresh one.

    No key for a request that must not share answers (it says who asks).
    """
    found: dict[bytes, bytes] = {}
    fresh = False
    for name, value in scope.get("headers", ()):
        lowered = name.lower()
        if lowered in PERSONAL:
            return None, True
        if lowered in FRESH and b"no-cache" in value.lower():
            fresh = True
        elif lowered in VARIES:
            found[lowered] = found[lowered] + b"," + value if lowered in found else value
    varies = tuple(found.get(name, b"") for name in VARIES)
    return (scope["path"], scope.get("query_string", b""), varies), fresh
