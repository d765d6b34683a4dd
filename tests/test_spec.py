"""The served OpenAPI document says what the server does, so linters and client generators
can trust it: examples valid, operations tagged, described and secured, headers declared."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import jsonschema_rs
import pytest
from api_helpers import running, settings_for

from timeline.api.spec import ALWAYS_PUBLIC, PAGED, TAGS
from timeline.fold import Rule

METHODS = ("get", "post")


async def _spec(tmp_path: Path, *, public_read: bool = True) -> dict[str, Any]:
    tmp_path.mkdir(exist_ok=True)  # noqa: ASYNC240 - a test's own folder, before the app
    async with running(settings_for(tmp_path, public_read=public_read)) as client:
        answer = await client.get("/docs/openapi.json")
        assert answer.status_code == 200
        spec: dict[str, Any] = answer.json()
        return spec


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def _examples(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], object]]:
    """(where, schema, example) of every media-type example in the document."""
    for path, method, operation in _operations(spec):
        bodies = [("request", operation.get("requestBody", {}))]
        bodies += [(status, r) for status, r in operation.get("responses", {}).items()]
        for status, body in bodies:
            for media, content in body.get("content", {}).items():
                for name, example in content.get("examples", {}).items():
                    where = f"{method} {path} {status} {media} {name}"
                    yield where, content["schema"], example["value"]


@pytest.mark.parametrize("public_read", [True, False], ids=["public", "private"])
async def test_every_example_is_valid_against_its_schema(
    tmp_path: Path, *, public_read: bool
) -> None:
    """Each example of a request or answer is valid against its own schema (with the
    document's components), so a generated client's models accept it."""
    spec = await _spec(tmp_path, public_read=public_read)
    checked = 0
    for where, schema, value in _examples(spec):
        validator = jsonschema_rs.Draft202012Validator({**schema, "components": spec["components"]})
        errors = [error.message for error in validator.iter_errors(value)]
        assert errors == [], where
        checked += 1
    assert checked >= 4  # state, history, feed, append


async def test_operations_are_tagged_described_and_secured(tmp_path: Path) -> None:
    """Every operation has a described tag and a description; in a private deployment
    every read but the probes needs a bearer token (calendars and live streams take a
    `?token=` instead), and appends always do."""
    public, private = await _spec(tmp_path / "a"), await _spec(tmp_path / "b", public_read=False)
    assert {tag["name"] for tag in public["tags"]} <= set(TAGS)
    for path, method, operation in _operations(public):
        assert operation["tags"], (method, path)
        assert set(operation["tags"]) <= set(TAGS), (method, path)
        assert operation.get("description"), (method, path)
        tokened = method != "get" or path.startswith("/subscriptions")
        assert operation["security"] == ([{"bearer": []}] if tokened else []), path
    for path, method, operation in _operations(private):
        if method != "get" or path.startswith("/subscriptions"):
            assert operation["security"] == [{"bearer": []}]
        elif path in ALWAYS_PUBLIC:
            assert operation["security"] == [], path
        elif path.startswith("/calendars/") or path.endswith("/stream"):
            assert operation["security"] == [{"bearer": []}, {"token": []}], path
        else:
            assert operation["security"] == [{"bearer": []}], path
    assert private["components"]["securitySchemes"]["token"]["in"] == "query"


async def test_headers_problems_and_rules_are_declared(tmp_path: Path) -> None:
    """Conditional reads declare `If-None-Match` and their `ETag`; an append its `Location`;
    a 401 its `WWW-Authenticate`; every 4xx is a problem; `rule` is the one named list;
    `since` is required where the handler requires it; feeds end in `.ics`."""
    spec = await _spec(tmp_path)
    conditional = 0
    for path, method, operation in _operations(spec):
        responses = operation["responses"]
        for status, response in responses.items():
            if status.startswith("4"):
                assert list(response["content"]) == ["application/problem+json"], (path, status)
            if status == "401":
                assert "WWW-Authenticate" in response["headers"], path
        if "304" in responses:
            conditional += 1
            names = [p["name"] for p in operation["parameters"] if p["in"] == "header"]
            assert "If-None-Match" in names, path
            assert "ETag" in responses["200"]["headers"], path
        if method == "post" and not path.startswith("/subscriptions/"):  # made: 201, where
            assert "Location" in responses["201"]["headers"]
        if path in PAGED:
            assert "Link" in responses["200"]["headers"], path
    assert conditional >= 8
    rule = spec["components"]["schemas"]["Rule"]
    assert rule["enum"] == list(get_args(Rule))
    assert spec["components"]["schemas"]["Problem"]["properties"]["rule"] == {
        "$ref": "#/components/schemas/Rule"
    }
    for path in ("/changes", "/partnerships/{stream_id}/changes"):
        since = next(p for p in spec["paths"][path]["get"]["parameters"] if p["name"] == "since")
        assert since["required"] is True, path
    feed = spec["paths"]["/calendars/partnerships/{name}"]["get"]["parameters"]
    name = next(p for p in feed if p["name"] == "name")
    assert name["schema"]["pattern"].endswith(r"\.ics$")
