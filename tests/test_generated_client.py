"""A client generated from the served spec by a tool nobody here wrote (openapi-python-client)
appends, reads a state, gets a 304 and reads 409 and 422 problems, against `timeline serve`."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from server_helpers import Server

GENERATOR = Path(sys.executable).parent / "openapi-python-client"
PACKAGE = "timeline_client"

pytestmark = pytest.mark.skipif(
    not GENERATOR.exists(), reason="openapi-python-client is not installed (pip install -e .[dev])"
)


def _generate(spec_url: str, folder: Path) -> str:
    """Generate the client package into `folder`; what the generator printed."""
    import urllib.request  # noqa: PLC0415 - only here

    with urllib.request.urlopen(spec_url, timeout=10) as answer:  # noqa: S310 - loopback
        (folder / "spec.json").write_bytes(answer.read())
    (folder / "config.yaml").write_text("post_hooks: []\n")
    done = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path", str(folder / "spec.json"),
            "--output-path", str(folder / PACKAGE),
            "--meta", "none",
            "--config", str(folder / "config.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )  # fmt: skip
    return done.stdout + done.stderr


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_a_generated_client_appends_and_reads(
    served: tuple[Server, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The generator warns of nothing, and its client can do what a pipeline does."""
    server, token = served
    printed = _generate(f"{server.base}/docs/openapi.json", tmp_path)
    assert "Warning" not in printed, printed
    monkeypatch.syspath_prepend(str(tmp_path))
    client_module = _module("client")
    append = _module("api.partnerships.partnerships_stream_id_events_append")
    read = _module("api.partnerships.partnerships_stream_id_get_partnership")
    models = _module("models")
    client = client_module.AuthenticatedClient(base_url=server.base, token=token)

    def body(expected: int | None, events: list[dict[str, Any]]) -> Any:
        raw: dict[str, Any] = {"events": events}
        if expected is not None:
            raw["expected_version"] = expected
        return models.AppendRequest.from_dict(raw)

    achieved = {"type": "MilestoneAchieved", "effective": "2024-05-02",
                "data": {"id": "iot-platform-independent"}}  # fmt: skip
    stored = append.sync_detailed("vodafone-microsoft", client=client, body=body(12, [achieved]))
    assert stored.status_code == 201, stored.content
    assert isinstance(stored.parsed, models.AppendedDoc)
    assert stored.parsed.version == 13

    state = read.sync_detailed("vodafone-microsoft", client=client, as_of="2024-06-01")
    assert state.status_code == 200
    assert isinstance(state.parsed, models.PartnershipView)
    assert state.parsed.basis.version == 13
    iot = next(m for m in state.parsed.milestones if m.id == "iot-platform-independent")
    assert iot.status == "achieved"
    unchanged = read.sync_detailed(
        "vodafone-microsoft",
        client=client,
        as_of="2024-06-01",
        if_none_match=state.headers["etag"],
    )
    assert unchanged.status_code == 304

    stale = append.sync_detailed("vodafone-microsoft", client=client, body=body(12, [achieved]))
    assert stale.status_code == 409
    assert isinstance(stale.parsed, models.Problem)
    assert stale.parsed.current_version == 13

    again = append.sync_detailed("vodafone-microsoft", client=client, body=body(None, [achieved]))
    assert again.status_code == 422
    assert isinstance(again.parsed, models.Problem)
    assert again.parsed.rule == models.Rule.MILESTONE_CLOSED

    unreal = {**achieved, "effective": "2024-02-30"}
    refused = append.sync_detailed("vodafone-microsoft", client=client, body=body(None, [unreal]))
    assert refused.status_code == 422
    assert isinstance(refused.parsed, models.Problem)
    assert [e.path for e in refused.parsed.errors] == ["$.events[0].effective"]

    # a body the handler decodes itself has its model too: a pipeline registers its sources
    register = _module("api.sources.sources_register")
    source = models.SourceRegistration.from_dict(
        {"title": "Quarterly filing", "language": "en", "text": "Revenue rose."}
    )
    registered = register.sync_detailed(client=client, body=source)
    assert registered.status_code == 201, registered.content
    assert isinstance(registered.parsed, models.SourceSummary)
    assert registered.parsed.id == "quarterly-filing"
    client.get_httpx_client().close()
