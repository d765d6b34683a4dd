"""End to end: the real `timeline serve` process over a real socket, stopped and started again."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from server_helpers import Server, free_port, request

STREAM = "/partnerships/vodafone-microsoft"


def test_serve_append_restart_and_read(tmp_path: Path) -> None:
    """Serve, append with the first-start token, SIGTERM, serve again, and find the data."""
    port = free_port()
    first = Server(tmp_path, port, first_start=True)
    try:
        banner = first.read_banner()
        assert banner[1].startswith(f"listening on http://127.0.0.1:{port}")
        assert banner[2].startswith(f"API docs at http://127.0.0.1:{port}/docs")
        assert banner[3].startswith("first start: created token 'default'")
        token = first.first_token()
        assert token.startswith("tl_")
        assert token not in "\n".join(banner)
        first.wait_healthy()
        event = {
            "type": "MilestoneAchieved",
            "effective": "2024-07-01",
            "data": {"id": "iot-platform-independent", "reason": "spin-off completed"},
        }
        status, body = request(
            f"{first.base}{STREAM}/events", body={"events": [event]}, token=token
        )
        assert (status, body["version"], body["events"][0]["actor"]) == (201, 13, "default")
        status, state = request(f"{first.base}{STREAM}?as_of=2024-08-01")
        assert state["milestones"][0]["status"] == "achieved"
    finally:
        assert first.stop() == 0
    second = Server(tmp_path, port)
    try:
        banner = second.read_banner()
        assert not any(line.startswith("first start") for line in banner)
        second.wait_healthy()
        status, state = request(f"{second.base}{STREAM}?as_of=2024-08-01")
        assert (status, state["milestones"][0]["status"]) == (200, "achieved")
        assert state["basis"]["version"] == 13
    finally:
        assert second.stop() == 0


def test_sigterm_keeps_every_acknowledged_append(tmp_path: Path) -> None:
    """Appends answered 201 while the server is being stopped with SIGTERM are all stored."""
    port = free_port()
    server = Server(tmp_path, port, first_start=True)
    acknowledged: list[str] = []
    stop = threading.Event()
    threads: list[threading.Thread] = []
    try:
        token = server.first_token()
        server.wait_healthy()

        def writer(worker: int) -> None:
            for n in range(10_000):
                if stop.is_set():
                    return
                stream = f"{server.base}/partnerships/load-{worker}-{n}/events"
                try:
                    status, body = request(stream, body={"events": [ANNOUNCEMENT]}, token=token)
                except OSError:
                    return  # the server is gone: refused or reset, never acknowledged
                if status == 201:
                    acknowledged.append(body["stream"])

        threads += [threading.Thread(target=writer, args=(w,)) for w in range(8)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
    finally:
        code = server.stop()
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert code == 0
    assert len(acknowledged) > 10
    again = Server(tmp_path, port)
    try:
        again.read_banner()
        again.wait_healthy()
        missing = [
            stream
            for stream in acknowledged
            if request(f"{again.base}/partnerships/{stream}")[0] != 200
        ]
        assert missing == []
    finally:
        again.stop()


ANNOUNCEMENT = {
    "type": "PartnershipAnnounced",
    "effective": "2024-01-01",
    "data": {
        "title": "Load test",
        "kind": "test",
        "parties": [{"org": "a", "name": "A"}, {"org": "b", "name": "B"}],
    },
}
