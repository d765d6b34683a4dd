"""How far the published schemas say what the server checks: append bodies generated from
the served spec (Schemathesis's generator, not ours), each sent to a fresh app, every
refusal sorted by what refused it.

A refusal that names a `rule` is about other events (the stream must start with its
announcement, a milestone must exist before it is achieved): no schema of one body can say
it. A refusal with `errors` is about the body itself: a format the schema admitted and the
server did not, unless it is one of the few cross-field rules JSON Schema cannot state.

    .venv/bin/python bench/schema_bodies.py [--bodies 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from litestar.testing import TestClient

from timeline.api.app import create_app
from timeline.settings import Settings
from timeline.store import open_store, token_registry

UNSTATEABLE = {
    "a period's end before its start": re.compile(r"ends before it starts|before it starts"),
    "a range's min above its max": re.compile(r"is greater than max"),
    "a party named twice": re.compile(r"each party appears once"),
    "an integer written 1.0 (JSON Schema's 1.0 is 1)": re.compile(r"Expected `int.*got `float`"),
}
"""What one body may break that JSON Schema cannot state."""
APPEND = "/partnerships/{stream_id}/events"


def _bodies(spec: dict[str, Any], count: int) -> list[tuple[str, object]]:
    operation = schemathesis.openapi.from_dict(spec)[APPEND]["POST"]
    drawn: list[tuple[str, object]] = []

    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate],
    )
    @given(operation.as_strategy())
    def draw(case: Any) -> None:  # noqa: ANN401 - a Schemathesis case
        drawn.append((str(case.path_parameters["stream_id"]), case.body))

    draw()
    return drawn


async def _token(database_url: str) -> str:
    store = await open_store(database_url)
    try:
        return await token_registry(store).create_token("bench", ("append",))
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bodies", type=int, default=2000)
    count = parser.parse_args().bodies
    with tempfile.TemporaryDirectory() as folder:
        settings_ = Settings(
            database_url=f"sqlite:///{Path(folder) / 'bench.db'}",
            curated_dir="",
            public_url="http://bench.local",
        )
        token = asyncio.run(_token(settings_.database_url))
        with TestClient(app=create_app(settings_)) as client:
            headers = {"Authorization": f"Bearer {token}"}
            spec = client.get("/docs/openapi.json").json()
            bodies = _bodies(spec, count)
            outcomes: Counter[str] = Counter()
            admitted_refused: Counter[str] = Counter()
            for stream, body in bodies:
                answer = client.post(
                    f"/partnerships/{stream}/events", content=json.dumps(body), headers=headers
                )
                if answer.status_code < 300:
                    outcomes["stored"] += 1
                    continue
                problem = answer.json()
                if problem.get("rule"):
                    outcomes[f"{answer.status_code} rule {problem['rule']}"] += 1
                elif answer.status_code == 409:
                    outcomes["409 an event id used for other content"] += 1
                else:
                    said = (
                        "; ".join(e["message"] for e in problem.get("errors", ()))
                        or problem["detail"]
                    )
                    kind = next((k for k, rx in UNSTATEABLE.items() if rx.search(said)), None)
                    if kind is not None:
                        outcomes[f"{answer.status_code} {kind}"] += 1
                    else:
                        outcomes[f"{answer.status_code} body refused"] += 1
                        admitted_refused[said[:100]] += 1
    print(f"{len(bodies)} append bodies generated from the served spec")
    print(f"{'outcome':<52} {'bodies':>7}")
    for outcome, n in sorted(outcomes.items(), key=lambda item: -item[1]):
        print(f"{outcome:<52} {n:>7}")
    print(f"\nrefused for a format the schema admitted: {sum(admitted_refused.values())}")
    for said, n in admitted_refused.most_common(10):
        print(f"  {n:>5}  {said}")


if __name__ == "__main__":
    main()
