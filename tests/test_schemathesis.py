"""Schemathesis over the served OpenAPI spec: every operation, the append body with a token.

Bounded in time (`SECONDS`); the seed is fixed, so a failure reproduces with
the command the output prints. Checks: no 5xx, responses, statuses, content
types and headers as the spec says, schema-valid data accepted (within the
statuses `tests/schemathesis.toml` allows) and invalid data refused.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from server_helpers import Server, free_port

CONFIG = Path(__file__).with_name("schemathesis.toml")
SECONDS = 90
EXAMPLES = 20


def test_the_served_spec_holds_under_schemathesis(tmp_path: Path) -> None:
    """Thousands of generated requests, and stateful sequences along the spec's links:
    zero server errors, zero schema violations."""
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    if st is None:
        pytest.skip("schemathesis is not installed (pip install -e '.[dev]')")
    port = free_port()
    # a min_position not yet stored is a 503 at once, not after waiting for it
    server = Server(tmp_path, port, first_start=True, env={"TIMELINE_MIN_POSITION_WAIT": "0"})
    try:
        token = server.first_token()
        server.wait_healthy()
        run = subprocess.run(
            [
                st,
                "--config-file",
                str(CONFIG),
                "run",
                f"{server.base}/docs/openapi.json",
                "--header",
                f"Authorization: Bearer {token}",
                "--checks",
                "all",
                "--max-examples",
                str(EXAMPLES),
                "--max-time",
                str(SECONDS),
                "--seed",
                "1",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=SECONDS * 3,
            check=False,
        )
    finally:
        assert server.stop() == 0
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert " passed" in run.stdout
    assert "✅  Stateful" in run.stdout  # the append's links lead on to its state and history
    log = (tmp_path / f"server-{port}.log").read_text()
    faults = re.findall(r'"status":5(?!03)[0-9]{2}', log)  # 503: a min_position not stored
    assert faults == [], "a 5xx answer is in the server's access log"
