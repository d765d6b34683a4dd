"""The documentation's reference pages, made from the code: routes from the served OpenAPI
spec, event types from the catalogue, settings from `Settings`, commands from the command
line, rules from `Rule` with what causes each and how to fix the request.

`timeline reference export` writes them under `docs/reference/`; a test fails when the files
differ from what the code makes, so the reference cannot drift from the code.
"""

from __future__ import annotations

import inspect
import json
from functools import cache
from typing import TYPE_CHECKING, Any, get_args

import click
import msgspec
from markdown.extensions.toc import slugify

from timeline import events
from timeline.docstrings import fields_said
from timeline.fold import Rule
from timeline.formats import encode_event, read_import
from timeline.settings import REPO_EVENTS
from timeline.sources import is_source_line

if TYPE_CHECKING:
    from litestar import Litestar

RULES: dict[Rule, tuple[str, str]] = {
    "after-end": (
        "A fact takes effect after the partnership's `PartnershipEnded`.",
        "Date the fact before the end, or correct or retract the ending first.",
    ),
    "alias-present": (
        "`AliasAdded` names an alias the organization has already (case and accents aside).",
        "Leave it out: the alias is there.",
    ),
    "already-retracted": (
        "A retraction or correction targets an event that is retracted.",
        "Append the fact again instead of amending a retracted one.",
    ),
    "announced-once": (
        "A second `PartnershipAnnounced` in one stream.",
        "State the change with its own event (`PartyJoined`, a correction of the announcement).",
    ),
    "announcement-first": (
        (
            "A partnership's stream does not start with `PartnershipAnnounced`, or a fact takes "
            "effect before the announcement's date."
        ),
        "Append the announcement first; date facts on or after it.",
    ),
    "correct-meta-event": (
        "A correction targets a retraction or a correction.",
        "Retract that retraction or correction instead.",
    ),
    "duplicate-event-id": (
        "An event id appears twice in the batch or the stream.",
        "Give each event its own id (an id already stored with the same content is a replay).",
    ),
    "duplicate-id": (
        "An item id (phase, milestone, investment…) is used twice in one partnership.",
        "Use another id, or amend the first item with its own events.",
    ),
    "identifier-present": (
        "`IdentifierAdded` names an identifier the organization has already.",
        "Leave it out: the identifier is there.",
    ),
    "invalid-correction": (
        "A correction's `data` does not fit the corrected event's type.",
        "Send the whole corrected `data` as the target's type defines it (`GET /schemas`).",
    ),
    "merged-once": (
        "A second `OrganizationMerged` for one organization.",
        "Correct or retract the first merger instead.",
    ),
    "merger-cycle": (
        (
            "An organization merges into itself, or into one that merged into it (directly or "
            "not), or names itself as its parent or acquirer."
        ),
        "Name the organization that goes on; check the merger's direction.",
    ),
    "milestone-closed": (
        "A milestone that is achieved or cancelled is moved or closed again.",
        "Correct or retract the event that closed it first.",
    ),
    "milestone-missed": (
        "A milestone reported missed is reported missed again.",
        "Reschedule it (`MilestoneRescheduled`) first.",
    ),
    "party-present": (
        "`PartyJoined` names an organization that is a party already.",
        "Leave it out, or record its leaving first.",
    ),
    "phase-closed": (
        "A phase that is completed or cancelled is changed again.",
        "Correct or retract the event that closed it first.",
    ),
    "phase-started": (
        "`PhaseStarted` for a phase that started already.",
        "Leave it out, or correct the first start's date.",
    ),
    "quote-ambiguous": (
        "A quote occurs more than once in the registered source's text.",
        "Add `prefix` or `suffix` (the words just before or after it) so it occurs once.",
    ),
    "quote-not-in-source": (
        "A quote (or a part of a statement between `[…]`) is not in the source's text.",
        "Quote the words exactly as the source has them (white space and Unicode forms aside).",
    ),
    "registered-once": (
        "A second `OrganizationRegistered` in one organization's stream.",
        "State the change with its own event (`OrganizationRenamed`, `AliasAdded`…).",
    ),
    "registration-first": (
        (
            "An organization's stream does not start with `OrganizationRegistered`, or a fact "
            "takes effect before the registration's date."
        ),
        "Register the organization first; date facts on or after it.",
    ),
    "rename-to-current": (
        "`OrganizationRenamed` to the name the organization has on that date.",
        "Leave it out, or name the new name.",
    ),
    "retract-retraction": (
        "A retraction targets a retraction.",
        "Append the retracted fact again.",
    ),
    "source-has-no-text": (
        "A quote cites a registered source that was registered without its text.",
        (
            "Register a correction of the source with its text (`supersedes`), or cite with "
            "`excerpt` (unverified)."
        ),
    ),
    "source-not-registered": (
        "A citation names a source id no one registered.",
        "`POST /sources` first, or describe the source inline.",
    ),
    "spun-off-once": (
        "A second `OrganizationSpunOff` for one organization.",
        "Correct the first (its firmness or date) instead.",
    ),
    "unknown-alias": (
        "`AliasRemoved` names no alias of the organization.",
        "Name one of its `aliases` as `GET /organizations/{org}` lists them.",
    ),
    "unknown-event": (
        "A retraction or correction targets no earlier event of the stream.",
        "Name the id of an event of the same stream (`GET …/events`).",
    ),
    "unknown-milestone": (
        "An event about a milestone that was never scheduled.",
        "Append `MilestoneScheduled` first, or use the milestone's id.",
    ),
    "unknown-organization": (
        "A spin-off's parent, a merger's successor or an acquirer is not registered.",
        "Register that organization first (`POST /organizations/{org}/events`).",
    ),
    "unknown-party": (
        "`PartyLeft` names an organization that is not a party.",
        "Name a current party, or record its joining first.",
    ),
    "unknown-phase": (
        "An event about a phase that was never scheduled.",
        "Append `PhaseScheduled` first, or use the phase's id.",
    ),
    "wrong-stream": (
        (
            "An organization's fact in a partnership's stream, or a partnership's in an "
            "organization's."
        ),
        (
            "Append organizations' facts to `/organizations/{org}/events`, the rest to "
            "`/partnerships/{id}/events`."
        ),
    ),
}
"""Every rule a 422's `rule` can name: what causes it, and how to fix the request."""

_SAID = {"title": "Example wire report", "language": "en", "url": "https://example.org/report"}
EXAMPLES: dict[str, dict[str, Any]] = {
    "PartyJoined": {"effective": "2025-03", "data": {"org": "acme", "name": "Acme"}},
    "PartyLeft": {"effective": "2026-01", "data": {"org": "acme", "name": "Acme"}},
    "PhaseRescheduled": {
        "effective": "2024-09-01",
        "data": {"id": "migration", "period": "2024/2026", "reason": "scope widened"},
    },
    "PhaseStarted": {"effective": "2024-02", "data": {"id": "migration"}},
    "PhaseCompleted": {"effective": "2025-12", "data": {"id": "migration"}},
    "PhaseCancelled": {"effective": "2025-06", "data": {"id": "pilot", "reason": "merged"}},
    "MilestoneRescheduled": {
        "effective": "2024-03-10",
        "data": {"id": "launch", "due": "2024-Q3", "reason": "regulatory review"},
    },
    "MilestoneAchieved": {"effective": "2024-05-02", "data": {"id": "launch"}},
    "MilestoneMissed": {"effective": "2024-10-01", "data": {"id": "launch"}},
    "MilestoneCancelled": {"effective": "2024-11", "data": {"id": "launch"}},
    "PartnershipEnded": {"effective": "2030-01-16", "data": {"reason": "term ran out"}},
    "EventRetracted": {
        "effective": "2024-02-02",
        "data": {"event_id": "654a3e45-7450-5c66-84fc-a869b4840edd", "reason": "misread"},
    },
    "EventCorrected": {
        "effective": "2024-02-02",
        "data": {
            "event_id": "654a3e45-7450-5c66-84fc-a869b4840edd",
            "data": {"id": "launch", "title": "Launch", "due": "2024-05"},
            "reason": "the month was misread",
        },
    },
    "OrganizationRenamed": {"effective": "2025-04-01", "data": {"name": "Acme Group"}},
    "AliasAdded": {"effective": "2025-04-01", "data": {"alias": "Acme Corp"}},
    "AliasRemoved": {"effective": "2026-01", "data": {"alias": "Acme Corp"}},
    "IdentifierAdded": {
        "effective": "2025",
        "data": {"scheme": "lei", "value": "5493001KJTIIGC8Y1R12"},
    },
    "OrganizationMerged": {"effective": "2027-07", "data": {"successor": "globex"}},
    "OrganizationAcquired": {"effective": "2027-07", "data": {"acquirer": "globex"}},
}
"""Example events of the types the curated data has none of: illustrations, not facts of the
curated partnerships (each is checked by the tests as an append would check it)."""

PAGES = ("routes.md", "events.md", "settings.md", "commands.md", "rules.md")


def rules_page() -> str:
    lines = [
        "# Rules",
        "",
        "A 422 that breaks a rule of the domain names it in `rule`; nothing of the request",
        "was stored.",
        "",
        "| rule | caused by | fix |",
        "|---|---|---|",
    ]
    for rule in get_args(Rule):
        cause, fix = RULES[rule]
        lines.append(f"| `{rule}` | {cause} | {fix} |")
    return "\n".join(lines) + "\n"


def _doc(kind: type) -> str:
    return " ".join((inspect.getdoc(kind) or "").split())


def example(name: str) -> tuple[dict[str, Any], bool]:
    """An event of type `name` as an append body holds it, and whether it is the curated
    data's (else an illustration from `EXAMPLES`)."""
    for event in _curated():
        if type(event).__name__ == name:
            return msgspec.json.decode(encode_event(event)), True
    return {"type": name, **EXAMPLES[name], "sources": [_SAID]}, False


@cache
def _curated() -> tuple[events.AnyEvent, ...]:
    """Every event of the curated data (`events/`), in file order."""
    lines = [
        line
        for path in sorted(REPO_EVENTS.glob("*.ndjson"))
        for line in path.read_bytes().splitlines()
        if line.strip() and not is_source_line(line)
    ]
    return tuple(read_import(line).event for line in lines)


def events_page() -> str:
    lines = [
        "# Event types",
        "",
        "Each type's JSON Schema is served at `GET /schemas/{type}` and kept in `schemas/`.",
        "An example is the curated data's own where it has one; else an illustration.",
        "",
    ]
    for kind in sorted(events.EVENT_TYPES, key=lambda k: k.__name__):
        name = kind.__name__
        about = "an organization's" if kind in events.ORGANIZATION_TYPES else "a partnership's"
        if kind in events.META_TYPES:
            about = "either kind of stream's"
        data = events.DATA_TYPES[name]
        fields = ", ".join(f"`{field}`" for field in data.__struct_fields__)
        lines += [
            f"## {name}",
            "",
            f"In {about} stream; schema version {kind.SCHEMA_VERSION}.",
            "",
            *([_doc(kind), ""] if kind.__doc__ and kind.__doc__ != events.Event.__doc__ else []),
            f"`data` ({data.__name__}): {fields}.",
            "",
        ]
        shown, curated = example(name)
        lines += [
            "From the curated data:" if curated else "For example (an illustration):",
            "",
            "```json",
            json.dumps(shown, ensure_ascii=False, indent=2),
            "```",
            "",
        ]
    return "\n".join(lines)


def settings_fields() -> list[tuple[str, str, str]]:
    """(variable, default, what it does) of each setting, from `Settings` and the docstring
    written under each field (`TIMELINE_X: what it does`)."""
    from timeline.settings import Settings  # noqa: PLC0415 - the settings import the app's

    found = []
    for said in fields_said(Settings).values():
        variable, _, does = said.doc.partition(": ")
        found.append((variable, said.default, does))
    return found


def settings_page() -> str:
    lines = [
        "# Settings",
        "",
        "Environment variables, read once at start; a misspelt `TIMELINE_` variable is",
        "refused with the one it resembles.",
        "",
        "| variable | default | what it does |",
        "|---|---|---|",
    ]
    for variable, default, said in settings_fields():
        shown = "the checkout's `events/`" if "REPO_EVENTS" in default else f"`{default}`"
        lines.append(f"| `{variable}` | {shown} | {said} |")
    return "\n".join(lines) + "\n"


def commands_page() -> str:
    from timeline.cli import cli  # noqa: PLC0415 - the command line imports the app

    lines = ["# Commands", "", "`timeline COMMAND --help` says the same.", ""]
    context = click.Context(cli, info_name="timeline")
    for name in cli.list_commands(context):
        command = cli.get_command(context, name)
        if command is None:
            continue
        lines += _command(f"timeline {name}", command)
    return "\n".join(lines)


def _command(path: str, command: click.Command) -> list[str]:
    usage = " ".join(param.human_readable_name.upper() for param in command.params
                     if isinstance(param, click.Argument))  # fmt: skip
    lines = [
        f"## `{path}{' ' + usage if usage else ''}`",
        "",
        " ".join((command.help or "").split()),
        "",
    ]
    options = [param for param in command.params if isinstance(param, click.Option)]
    lines += [f"- `{', '.join(o.opts)}`: {' '.join((o.help or '').split())}" for o in options]
    if options:
        lines.append("")
    if isinstance(command, click.Group):
        context = click.Context(command, info_name=path)
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            if sub is not None:
                lines += _command(f"{path} {name}", sub)
    return lines


class Page(msgspec.Struct, frozen=True):
    """A route answered as HTML for people, which the OpenAPI spec leaves out."""

    path: str
    said: str


def routes_page(spec: dict[str, Any], pages: list[Page]) -> str:
    lines = [
        "# Routes",
        "",
        "From the served OpenAPI spec (`GET /docs/openapi.json`, browsable at `/docs`), which",
        "has every schema; conventions every route shares (problems, paging, `min_position`,",
        "tokens, limits) are in [Using the API](../guides/api.md).",
        "",
        "| method | path | what |",
        "|---|---|---|",
    ]
    sections: list[str] = []
    for path, method, operation in _operations(spec):
        heading = f"{method.upper()} {path}"
        summary = " ".join(str(operation.get("summary", "")).split())
        lines.append(f"| {method.upper()} | [`{path}`](#{slugify(heading, '-')}) | {summary} |")
        sections += ["", f"## {heading}", "", f"**{summary}**"]
        if description := operation.get("description"):
            sections += ["", " ".join(str(description).split())]
        sections += _parameters(operation.get("parameters", []))
        sections += _body(spec, operation.get("requestBody"))
        sections += ["", "| answer | when |", "|---|---|"]
        for status, answer in sorted(operation["responses"].items()):
            said = " ".join(str(answer.get("description", "")).split())
            sections.append(f"| {status} | {_cell(said)} |")
    lines += sections
    lines += [
        "",
        "## Pages",
        "",
        "Answered as HTML for people (each page links to the JSON it shows):",
        "",
        "| path | what |",
        "|---|---|",
    ]
    lines += [f"| `{page.path}` | {_cell(page.said)} |" for page in pages]
    return "\n".join(lines) + "\n"


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, operations in sorted(spec["paths"].items())
        for method, operation in sorted(operations.items())
        if isinstance(operation, dict) and "responses" in operation
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _parameters(parameters: list[dict[str, Any]]) -> list[str]:
    if not parameters:
        return []
    lines = ["", "| parameter | in | what |", "|---|---|---|"]
    for parameter in parameters:
        schema = parameter.get("schema", {})
        said = " ".join(str(parameter.get("description", "")).split())
        choices = [repr(v).strip("'") for v in schema.get("enum", ()) if v is not None]
        if not choices:
            choices = [str(v) for option in schema.get("oneOf", ()) for v in option.get("enum", ())]
        if choices:
            said += (" " if said else "") + "One of " + ", ".join(f"`{c}`" for c in choices) + "."
        if {"minimum", "maximum"} <= schema.keys() and not said:
            said = f"From {int(schema['minimum'])} to {int(schema['maximum']):,}."
        if "default" in schema:
            said += f" Default `{json.dumps(schema['default'])}`."
        name = f"`{parameter['name']}`" + (" (required)" if parameter.get("required") else "")
        lines.append(f"| {name} | {parameter['in']} | {_cell(said.strip())} |")
    return lines


def _body(spec: dict[str, Any], body: dict[str, Any] | None) -> list[str]:
    if body is None:
        return []
    schema = body["content"]["application/json"]["schema"]
    ref = str(schema.get("$ref", ""))
    name = ref.rpartition("/")[2]
    said = " ".join(str(body.get("description", "")).split())
    lines = ["", f"Body (JSON, {'required' if body.get('required') else 'optional'}): {said}"]
    component = spec.get("components", {}).get("schemas", {}).get(name)
    if component is None:
        return lines
    required = set(component.get("required", ()))
    lines += ["", f"| `{name}` field | what |", "|---|---|"]
    for field, doc in component.get("properties", {}).items():
        options = [doc, *doc.get("anyOf", ())]
        what = next(
            (" ".join(str(d["description"]).split()) for d in options if "description" in d), ""
        )
        if field == "events":
            what = (what + " " if what else "") + "Each an [event type](events.md)."
        if "default" in doc:
            what += f" Default `{json.dumps(doc['default'])}`."
        shown = f"`{field}`" + (" (required)" if field in required else "")
        lines.append(f"| {shown} | {_cell(what.strip())} |")
    return lines


def rendered(spec: dict[str, Any], pages: list[Page]) -> dict[str, str]:
    """Each reference page by its file name."""
    return {
        "routes.md": routes_page(spec, pages),
        "events.md": events_page(),
        "settings.md": settings_page(),
        "commands.md": commands_page(),
        "rules.md": rules_page(),
    }


@cache
def _served_app() -> Litestar:
    from timeline.api.app import complete_spec, create_app  # noqa: PLC0415 - big to import
    from timeline.settings import Settings  # noqa: PLC0415

    app = create_app(Settings(database_url="sqlite:///:memory:", curated_dir=""))
    complete_spec(app)
    return app


def served_pages() -> list[Page]:
    """The app's pages for people: its GET routes the spec leaves out, but the API docs' own
    and static files, by path, with the first paragraph of each handler's docstring."""
    found: dict[str, str] = {}
    for route in _served_app().routes:
        for handler in getattr(route, "route_handlers", ()):
            if "GET" not in handler.http_methods or handler.resolve_include_in_schema():
                continue
            if route.path.startswith(("/docs", "/static", "/favicon")):
                continue
            doc = (inspect.getdoc(handler.fn) or "").split("\n\n")[0]
            path = route.path.replace(":str}", "}").replace(":path}", "}")
            found[path] = " ".join(doc.split())
    return [Page(path, said) for path, said in sorted(found.items())]


def served_spec() -> dict[str, Any]:
    """The OpenAPI spec the app serves, made without serving it."""
    from litestar.serialization import encode_json  # noqa: PLC0415

    from timeline.api.spec import polish  # noqa: PLC0415

    app = _served_app()
    spec: dict[str, Any] = polish(app.openapi_schema.to_schema(), public_reads=True)
    return msgspec.json.decode(encode_json(spec))  # type: ignore[no-any-return]
