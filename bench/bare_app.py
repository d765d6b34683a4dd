"""The reference: a bare litestar endpoint under the same server, for bench/endpoints.py."""

from litestar import Litestar, get


@get("/ping", sync_to_thread=False)
def ping() -> dict[str, bool]:
    return {"ok": True}


app = Litestar([ping])
