"""Event ids: random (version 4) UUIDs, their randomness drawn from the OS in bulk.

`uuid4` makes a system call per id; it was a twelfth of an append's time over HTTP.
The bytes are as strong as `uuid4`'s (`os.urandom`): ids are visible to every reader, and
predictable ones would let a writer take the ids another is about to use. A forked process
(a server worker, a rebuild worker) starts with none of its parent's bytes, so no two
processes hand out the same id.
"""

from __future__ import annotations

import os
from uuid import UUID

IDS_PER_DRAW = 256
_SIZE = 16

_pool = bytearray()


class DrawnId(UUID):
    """An id this process drew, equal to and encoded as any UUID. Drawn for an event decoded
    from a request, it is new (122 random bits): the append need not look it up as it looks
    up ids a client sent, to answer a replay or a conflict (`AppendOptions.decoded`; the
    lookup was 3% of a server's appends)."""

    __slots__ = ()


def new_id() -> UUID:
    global _pool  # noqa: PLW0603 - the process's one pool of random bytes
    if not _pool:
        _pool = bytearray(os.urandom(_SIZE * IDS_PER_DRAW))
    drawn = bytes(_pool[-_SIZE:])
    del _pool[-_SIZE:]
    return DrawnId(bytes=drawn, version=4)


def _forget() -> None:
    _pool.clear()


os.register_at_fork(after_in_child=_forget)
