"""Synthetic partnerships with valid facts, as `timeline import` reads them (NDJSON).

Each partnership: an announcement of two or three parties (from a pool of
organizations) in one to three regions, then milestones scheduled, moved,
achieved or cancelled, phases scheduled, started and completed, investments,
statements, parties joining and leaving, and for one in ten an ending. Effective
dates rise within a partnership; events are recorded in batches of
`batch` (one append each), interleaved across partnerships in recording order,
as pipelines appending over months would leave them.

    .venv/bin/python bench/synthetic.py OUT.ndjson --partnerships 1000 --events 100
"""

from __future__ import annotations

import argparse
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

REGIONS = ("Europe", "Africa", "Asia", "North America", "South America", "Oceania", "Middle East")
SOURCE = {"title": "Synthetic wire report", "language": "en", "publisher": "Bench News"}
START = date(2020, 1, 1)
RECORDED = datetime(2025, 1, 1, tzinfo=UTC)
NAMESPACE = uuid.UUID("6b0bd3c5-36a9-4e0c-9a53-6a1d1b1b2b10")


def organizations(count: int) -> list[str]:
    return [f"org-{n:04d}" for n in range(count)]


def _event(kind: str, effective: date | str, data: dict[str, Any], key: str) -> dict[str, Any]:
    day = effective.isoformat() if isinstance(effective, date) else effective
    return {
        "type": kind,
        "id": str(uuid.uuid5(NAMESPACE, key)),
        "effective": day,
        "sources": [SOURCE],
        "data": data,
    }


def partnership(  # noqa: C901, PLR0912, PLR0915 - one branch per kind of fact
    n: int, events: int, orgs: list[str], rng: random.Random
) -> list[dict[str, Any]]:
    """`events` valid facts of partnership `n`, in effective order."""
    stream = f"p{n:05d}"
    day = START + timedelta(days=rng.randrange(0, 1500))
    chosen = rng.sample(orgs, rng.choice((2, 2, 3)))
    parties = [{"org": o, "name": o.replace("-", " ").title()} for o in chosen]
    regions = rng.sample(REGIONS, rng.choice((1, 1, 2, 3)))
    out = [
        _event(
            "PartnershipAnnounced",
            day,
            {
                "title": f"Partnership {n}",
                "kind": rng.choice(("strategic", "joint venture", "supply", "research")),
                "parties": parties,
                "regions": regions,
                "summary": f"Synthetic partnership {n} between {' and '.join(chosen)}.",
            },
            f"{stream}-0",
        )
    ]
    members = set(chosen)
    open_milestones: list[str] = []
    phases: dict[str, str] = {}
    ending = rng.random() < 0.1
    last = events - 1 if ending else events
    for i in range(1, last):
        day += timedelta(days=rng.randrange(1, 20))
        key = f"{stream}-{i}"
        roll = rng.random()
        if roll < 0.25:
            item = f"m{i}"
            due = (day + timedelta(days=rng.randrange(30, 400))).isoformat()[: rng.choice((7, 10))]
            out.append(
                _event(
                    "MilestoneScheduled",
                    day,
                    {"id": item, "title": f"Milestone {i} of partnership {n}", "due": due},
                    key,
                )
            )
            open_milestones.append(item)
        elif roll < 0.40 and open_milestones:
            item = open_milestones.pop(rng.randrange(len(open_milestones)))
            kind = rng.choice(("MilestoneAchieved", "MilestoneAchieved", "MilestoneCancelled"))
            out.append(_event(kind, day, {"id": item}, key))
        elif roll < 0.47 and open_milestones:
            item = rng.choice(open_milestones)
            due = (day + timedelta(days=rng.randrange(30, 300))).isoformat()
            out.append(
                _event(
                    "MilestoneRescheduled", day, {"id": item, "due": due, "reason": "delay"}, key
                )
            )
        elif roll < 0.57:
            item = f"ph{i}"
            end = day + timedelta(days=rng.randrange(60, 700))
            data = {"id": item, "name": f"Phase {i}", "period": f"{day}/{end}"}
            out.append(_event("PhaseScheduled", day, data, key))
            phases[item] = "planned"
        elif roll < 0.65 and phases:
            item = rng.choice(list(phases))
            step = {"planned": "PhaseStarted", "started": "PhaseCompleted"}.get(phases[item])
            if step is None:
                out.append(_statement(day, key, n, i))
            else:
                out.append(_event(step, day, {"id": item}, key))
                phases[item] = "started" if step == "PhaseStarted" else "completed"
                if phases[item] == "completed":
                    del phases[item]
        elif roll < 0.72:
            amount = str(rng.randrange(1, 5000) * 1_000_000)
            investor, recipient = rng.sample(sorted(members), 2) if len(members) > 1 else (
                chosen[0], chosen[1])  # fmt: skip
            data = {
                "id": f"inv{i}",
                "investor": investor,
                "recipient": recipient,
                "amount": {"amount": amount, "currency": rng.choice(("USD", "EUR", "GBP"))},
                "purpose": "synthetic investment",
            }
            out.append(_event("InvestmentCommitted", day, data, key))
        elif roll < 0.76:
            org = rng.choice(orgs)
            if org in members:
                out.append(_statement(day, key, n, i))
            else:
                members.add(org)
                name = org.replace("-", " ").title()
                out.append(_event("PartyJoined", day, {"org": org, "name": name}, key))
        elif roll < 0.78 and len(members) > 2:
            org = rng.choice(sorted(members))
            members.discard(org)
            name = org.replace("-", " ").title()
            out.append(_event("PartyLeft", day, {"org": org, "name": name}, key))
        else:
            out.append(_statement(day, key, n, i))
    if ending:
        day += timedelta(days=rng.randrange(1, 60))
        out.append(_event("PartnershipEnded", day, {"reason": "wound down"}, f"{stream}-end"))
    return out


def _statement(day: date, key: str, n: int, i: int) -> dict[str, Any]:
    data = {
        "speaker": "A spokesperson",
        "text": f"Statement {i} on partnership {n}: progress is on track.",
        "language": "en",
    }
    return _event("StatementMade", day, data, key)


def alias(org: str) -> str:
    """The alias a synthetic organization is registered with: `Org 0202 Group`."""
    return f"Org {org.removeprefix('org-')} Group"


def wikidata(org: str) -> str:
    """The Wikidata id a synthetic organization is registered with (made up: `Q10202`)."""
    return f"Q{10_000 + int(org.removeprefix('org-'))}"


def registrations(count: int, clock: datetime) -> Iterator[dict[str, Any]]:
    """`count` organizations registered (`org-0000`...), each with an alias and an identifier,
    the first of them the parties the partnerships name."""
    for org in organizations(count):
        data = {
            "name": f"Org {org.removeprefix('org-')}",
            "kind": "company",
            "aliases": [alias(org)],
            "identifiers": [{"scheme": "wikidata", "value": wikidata(org)}],
        }
        head = {
            "stream": f"org:{org}",
            "version": 1,
            "recorded_at": clock.isoformat().replace("+00:00", "Z"),
            "actor": "pipeline",
        }
        yield head | _event("OrganizationRegistered", START.isoformat(), data, f"{org}/registered")


def lines(
    partnerships: int, events: int, batch: int, seed: int = 7, registered: int = 0
) -> Iterator[bytes]:
    """Every event as an import line, in recording order (batches interleaved), after the
    `registered` organizations' registrations."""
    rng = random.Random(seed)
    orgs = organizations(max(20, partnerships // 20))
    streams = [partnership(n, events, orgs, rng) for n in range(partnerships)]
    encoder = msgspec.json.Encoder()
    clock = RECORDED
    for line in registrations(registered, clock):
        yield encoder.encode(line) + b"\n"
    offsets = [0] * partnerships
    remaining = list(range(partnerships))
    while remaining:
        still = []
        for n in remaining:
            stream, start = streams[n], offsets[n]
            chunk = stream[start : start + batch]
            clock += timedelta(seconds=1)
            for version, event in enumerate(chunk, start=start + 1):
                head = {
                    "stream": f"p{n:05d}",
                    "version": version,
                    "recorded_at": clock.isoformat().replace("+00:00", "Z"),
                    "actor": "pipeline",
                }
                yield encoder.encode(head | event) + b"\n"
            offsets[n] = start + len(chunk)
            if offsets[n] < len(stream):
                still.append(n)
        remaining = still


def write(path: Path, partnerships: int, events: int, batch: int, registered: int = 0) -> int:
    count = 0
    with path.open("wb") as out:
        for line in lines(partnerships, events, batch, registered=registered):
            out.write(line)
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--partnerships", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--batch", type=int, default=20, help="events per append")
    parser.add_argument(
        "--organizations",
        type=int,
        default=0,
        help="organizations registered first, each with an alias and a Wikidata id",
    )
    args = parser.parse_args()
    count = write(args.out, args.partnerships, args.events, args.batch, args.organizations)
    print(f"wrote {count} events to {args.out}")


if __name__ == "__main__":
    main()
