"""The served OpenAPI document, finished where litestar's generator cannot say it.

Litestar writes operations from the handlers; it does not know which reads a private
deployment guards, which headers our answers carry (`ETag`, `Link`, `Retry-After`…),
that its own generic 400 is answered here as a problem, or that `rule` is one named list.
`polish` adds that to the generated document (a pure function of it and the settings),
so that linters (Redocly, Spectral) and client generators read what the server does.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from litestar import Request
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.serialization import encode_json

ALWAYS_PUBLIC: Final = frozenset({"/health", "/health/live", "/health/ready", "/metrics"})
"""Operations no deployment guards (the spec and docs are not operations)."""
TOKEN_IN_QUERY: Final = ("/calendars/", "/events/stream", "/partnerships/{stream_id}/events/stream")
"""Where a `read` token may come as `?token=` (calendar apps and `EventSource` send no header)."""

PAGED: Final = frozenset(
    {
        "/partnerships",
        "/partnerships/{stream_id}/events",
        "/partnerships/{stream_id}/changes",
        "/events",
        "/changes",
        "/organizations",
        "/organizations/{org}",
    }
)
"""Answers a page at a time: `next` in the body and `Link: <…>; rel="next"` name the next."""

TAGS: Final = {
    "partnerships": "A partnership's state on any date as known at any instant, its sourced "
    "history, and appends.",
    "changes": "What changed in what the store knows: one partnership's knowledge diff, and "
    "the digest of all that changed in a window.",
    "events": "The global feed of stored events in position order, and live streams (SSE).",
    "organizations": "The parties and the partnerships they are or were in.",
    "sources": "Registered sources: articles and filings, immutable, their text fingerprinted.",
    "calendars": "iCalendar feeds of milestones and phases, for calendar apps.",
    "schemas": "JSON Schemas of the event types an append may carry.",
    "subscriptions": "Webhooks: each matching event POSTed to a receiver as a signed "
    "CloudEvent, in order per partnership, retried and parked (the `subscribe` scope).",
    "health": "Probes and metrics for operators (always public).",
}

_HEADERS: Final[dict[str, dict[str, Any]]] = {
    "ETag": {"description": "A strong tag of this answer; send it back as `If-None-Match`."},
    "Cache-Control": {"description": "`no-cache`: ask again, with `If-None-Match`."},
    "Location": {
        "description": "What was made: the history page that starts with the first stored "
        "event, the registered source, the subscription."
    },
    "Link": {"description": 'The next page, `<…>; rel="next"`, while there is one.'},
    "Retry-After": {"description": "Seconds to wait before trying again."},
    "WWW-Authenticate": {"description": "`Bearer`, with the reason the token was not taken."},
    "Last-Modified": {"description": "When anything the feed shows last changed."},
    "RateLimit-Limit": {"description": "Writes a minute allowed (when a limit is set)."},
    "RateLimit-Remaining": {"description": "Writes left in this minute."},
    "RateLimit-Reset": {"description": "Seconds until the minute's count starts again."},
}
_GENERIC_400 = "Bad request syntax or unsupported method"
_PROBLEM = {"$ref": "#/components/schemas/Problem"}


def polish(spec: dict[str, Any], *, public_reads: bool) -> dict[str, Any]:
    """`spec` as litestar generated it, finished (a new dict; `spec` is left as it was)."""
    done = copy.deepcopy(spec)
    done["info"].setdefault("license", {"name": "MIT", "identifier": "MIT"})
    done["info"].setdefault("contact", {"name": "Partnership Timeline"})
    components = done.setdefault("components", {})
    if not public_reads:
        components.setdefault("securitySchemes", {})["token"] = {
            "type": "apiKey",
            "in": "query",
            "name": "token",
            "description": "A `read` token as `?token=`, for clients that cannot send headers "
            "(calendar apps, a browser's `EventSource`).",
        }
    components["headers"] = {
        name: {**doc, "schema": {"type": "string"}} for name, doc in _HEADERS.items()
    }
    _name_rules(components.get("schemas", {}))
    used: set[str] = set()
    for path, item in done.get("paths", {}).items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            used.update(operation.get("tags", ()))
            operation["security"] = _security(path, method, public_reads=public_reads)
            if method == "get":
                _read_your_writes(operation)
            _finish_responses(path, operation)
    _link_appends(done.get("paths", {}))
    done["tags"] = [{"name": name, "description": TAGS[name]} for name in TAGS if name in used]
    done["tags"] += [{"name": name, "description": name} for name in sorted(used - set(TAGS))]
    return done


def _read_your_writes(operation: dict[str, Any]) -> None:
    """Every read takes `min_position` (handled before routing, so no handler declares it)."""
    operation.setdefault("parameters", []).append(
        {
            "name": "min_position",
            "in": "query",
            "required": False,
            "description": "The position an append of yours answered: this read waits until "
            "the replica has seen it (TIMELINE_MIN_POSITION_WAIT), else 503.",
            "schema": {"type": "integer", "minimum": 0, "maximum": 2**53 - 1},
        }
    )
    operation.setdefault("responses", {}).setdefault(
        "503",
        {
            "description": "This replica has not yet seen `min_position` (or cannot read the "
            "store); retry after `Retry-After` seconds",
            "content": {"application/problem+json": {"schema": _PROBLEM}},
        },
    )


def _security(path: str, method: str, *, public_reads: bool) -> list[dict[str, list[str]]]:
    if method != "get" or path.startswith("/subscriptions"):
        return [{"bearer": []}]  # appends: a token with the `append` scope
    if path in ALWAYS_PUBLIC or public_reads:
        return []
    if path.startswith(TOKEN_IN_QUERY):
        return [{"bearer": []}, {"token": []}]
    return [{"bearer": []}]


def _finish_responses(path: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status, response in responses.items():
        if response.get("description") == _GENERIC_400:  # litestar's own, answered as a problem
            responses[status] = {
                "description": "A path or query value is malformed (the problem names it)",
                "content": {"application/problem+json": {"schema": _PROBLEM}},
            }
    if not any(status.startswith("4") for status in responses):
        responses["400"] = {
            "description": "A query parameter this path does not take (the problem names it)",
            "content": {"application/problem+json": {"schema": _PROBLEM}},
        }
    headers = _answer_headers(path, responses)
    for status, names in headers.items():
        if status in responses:
            responses[status].setdefault("headers", {}).update(
                {name: {"$ref": f"#/components/headers/{name}"} for name in names}
            )
    if "304" in responses:
        parameters = operation.setdefault("parameters", [])
        if not any(p.get("name") == "If-None-Match" for p in parameters):
            parameters.append(
                {
                    "name": "If-None-Match",
                    "in": "header",
                    "required": False,
                    "description": "The `ETag` of an earlier answer: 304 while it still holds.",
                    "schema": {"type": "string"},
                }
            )


def _answer_headers(path: str, responses: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {
        "201": ["Location"],
        "401": ["WWW-Authenticate"],
        "429": ["Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"],
        "503": ["Retry-After"],
        "507": ["Retry-After"],
    }
    if "304" in responses:
        cached = ["ETag", "Cache-Control"]
        if path.startswith("/calendars/"):
            cached.append("Last-Modified")
        found["200"] = cached
        found["304"] = list(cached)
    if path in PAGED:
        found["200"] = [*found.get("200", []), "Link"]
    return found


def _link_appends(paths: dict[str, Any]) -> None:
    """OpenAPI links from an append to what reads it back (the state, the history from the
    first stored version): clients and stateful fuzzers follow them."""
    append = paths.get("/partnerships/{stream_id}/events", {}).get("post")
    state = paths.get("/partnerships/{stream_id}", {}).get("get")
    history = paths.get("/partnerships/{stream_id}/events", {}).get("get")
    if append is None or state is None or history is None:
        return
    links = {
        "State": {
            "operationId": state["operationId"],
            "parameters": {"stream_id": "$request.path.stream_id"},
            "description": "The partnership as it stands after the append.",
        },
        "History": {
            "operationId": history["operationId"],
            "parameters": {
                "stream_id": "$request.path.stream_id",
                "from_version": "$response.body#/events/0/version",
            },
            "description": "The history from the first event this append stored.",
        },
    }
    for status in ("200", "201"):
        if status in append["responses"]:
            append["responses"][status]["links"] = links


def _name_rules(schemas: dict[str, Any]) -> None:
    """`Problem.rule` as one named list (`Rule`): it is never null on the wire (omitted)."""
    problem = schemas.get("Problem", {}).get("properties", {})
    rule = problem.get("rule")
    if rule is None or "enum" not in rule:
        return
    schemas["Rule"] = {
        "type": "string",
        "enum": [value for value in rule["enum"] if value is not None],
        "description": "The domain rule an append broke (a 422's `rule`).",
    }
    problem["rule"] = {"$ref": "#/components/schemas/Rule"}


class FinishedSpec(JsonRenderPlugin):
    """`/docs/openapi.json`, polished once per app."""

    def __init__(self, *, public_reads: bool) -> None:
        super().__init__()
        self.public_reads = public_reads
        self._rendered: bytes | None = None

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        del request
        if self._rendered is None:
            self._rendered = encode_json(polish(openapi_schema, public_reads=self.public_reads))
        return self._rendered
