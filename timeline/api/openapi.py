"""OpenAPI for the domain's own scalar types (partial dates, periods)."""

from __future__ import annotations

import dataclasses
from functools import cache
from typing import Any

import msgspec
from litestar.openapi.spec import (
    Discriminator,
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    Reference,
    RequestBody,
    Schema,
)
from litestar.plugins import OpenAPISchemaPlugin
from litestar.typing import FieldDefinition

from timeline import wire
from timeline.api import examples
from timeline.api.models import AppendRequest
from timeline.dates import PartialDate, Period
from timeline.docstrings import fields_said
from timeline.schemas import as_appended


class DatesSchemaPlugin(OpenAPISchemaPlugin):
    """PartialDate and Period are strings with a grammar; say so in the spec."""

    @staticmethod
    def is_plugin_supported_type(value: Any) -> bool:  # noqa: ANN401 - litestar's signature
        return value is PartialDate or value is Period

    def to_openapi_schema(
        self,
        field_definition: FieldDefinition,
        schema_creator: Any,  # noqa: ANN401, ARG002 - litestar's signature
    ) -> Schema:
        described = wire.schema_hook(field_definition.annotation)
        return Schema(
            type=OpenAPIType.STRING,
            pattern=described["pattern"],
            description=described["description"],
            examples=described["examples"],
        )


# --- the append body, documented from msgspec's own JSON Schema ----------------------------
#
# The append endpoint decodes its body itself (one typed msgspec decode, with errors
# worded and located by us), so litestar does not see a `data` parameter to document.
# msgspec writes the schema; these helpers hand it to litestar's spec objects.

APPEND_PREFIX = "Append"
_ALIASES: dict[str, str] = {}
for _field in dataclasses.fields(Schema):
    _ALIASES[_field.metadata.get("alias", _field.name)] = _field.name
_NESTED_ONE = {"items", "contains", "not", "additionalProperties", "if", "then", "else"}
_NESTED_MANY = {"anyOf", "oneOf", "allOf", "prefixItems"}


def to_schema(document: dict[str, Any]) -> Schema | Reference:
    """A JSON Schema dict as litestar's `Schema` (only the keywords msgspec emits)."""
    if "$ref" in document:
        return Reference(ref=document["$ref"])
    fields: dict[str, Any] = {}
    for key, value in document.items():
        name = _ALIASES.get(key)
        if name is None:
            continue
        if key == "properties":
            fields[name] = {k: to_schema(v) for k, v in value.items()}
        elif key in _NESTED_MANY:
            fields[name] = [to_schema(v) for v in value]
        elif key in _NESTED_ONE and isinstance(value, dict):
            fields[name] = to_schema(value)
        elif key == "type":
            fields[name] = OpenAPIType(value)
        elif key == "format":
            fields[name] = _format(value)
        elif key == "discriminator":
            fields[name] = Discriminator(
                property_name=value["propertyName"], mapping=value.get("mapping")
            )
        else:
            fields[name] = value
    return Schema(**fields)


def _format(value: str) -> OpenAPIFormat | None:
    try:
        return OpenAPIFormat(value)
    except ValueError:
        return None


@cache
def _append_documents() -> tuple[dict[str, Any], dict[str, Any]]:
    (body,), components = msgspec.json.schema_components(
        [AppendRequest],
        schema_hook=wire.schema_hook,
        ref_template=f"#/components/schemas/{APPEND_PREFIX}{{name}}",
    )
    named = {
        f"{APPEND_PREFIX}{name}": {**doc, "title": f"{APPEND_PREFIX}{name}"}
        for name, doc in as_appended(components, f"#/components/schemas/{APPEND_PREFIX}").items()
    }
    # `AppendAppendRequest` reads badly in a generated client: the body is `AppendRequest`
    text = msgspec.json.encode([body, named]).replace(b"AppendAppendRequest", b"AppendRequest")
    body, named = msgspec.json.decode(text)
    _describe(named["AppendRequest"], AppendRequest)
    return body, named


def _describe(document: dict[str, Any], kind: type) -> None:
    """Give each property of `document` the docstring written under its field in `kind`."""
    properties = document.get("properties", {})
    for field, said in fields_said(kind).items():
        if said.doc and field in properties and "description" not in properties[field]:
            properties[field]["description"] = said.doc


def append_components() -> dict[str, Schema]:
    """Component schemas the append body refers to, prefixed in name and title so they never
    collide with the answers' own (`Party` is an answer's, `AppendParty` an append's: a
    client generator names its classes by title)."""
    converted = {name: to_schema(doc) for name, doc in _append_documents()[1].items()}
    return {name: schema for name, schema in converted.items() if isinstance(schema, Schema)}


@dataclasses.dataclass
class AppendOperation(Operation):
    """The append operation, with its request body described."""

    def __post_init__(self) -> None:
        self.security = [{"bearer": []}]
        self.request_body = RequestBody(
            required=True,
            description='`{"expected_version": n?, "events": [...]}`; event types and their '
            "`data` are in `GET /schemas`.",
            content={
                "application/json": OpenAPIMediaType(
                    schema=to_schema(_append_documents()[0]),
                    examples={e.summary or "example": e for e in examples.append_request()},
                )
            },
        )


# --- other bodies decoded by hand ------------------------------------------------------------
#
# Registering a source and the subscription routes decode their bodies themselves too (to word
# and locate errors): `body_operation` describes such a body from its msgspec type, so a
# generated client gets a model for it, and `body_components` adds the schemas it refers to.

_BODY_KINDS: dict[str, type] = {}


def body_operation(kind: type, description: str, *, required: bool = True) -> type[Operation]:
    """An operation class whose request body is `kind` (a msgspec Struct), as JSON."""
    _BODY_KINDS[kind.__name__] = kind

    @dataclasses.dataclass
    class BodyOperation(Operation):
        def __post_init__(self) -> None:
            self.request_body = RequestBody(
                required=required,
                description=description,
                content={
                    "application/json": OpenAPIMediaType(
                        schema=Reference(ref=f"#/components/schemas/{kind.__name__}")
                    )
                },
            )

    return BodyOperation


def body_components() -> dict[str, Schema]:
    """The schemas of every body `body_operation` described, and of the types they hold."""
    _, documents = msgspec.json.schema_components(
        tuple(_BODY_KINDS.values()),
        schema_hook=wire.schema_hook,
        ref_template="#/components/schemas/{name}",
    )
    for name, kind in _BODY_KINDS.items():
        _describe(documents[name], kind)
    converted = {name: to_schema(doc) for name, doc in documents.items()}
    return {name: schema for name, schema in converted.items() if isinstance(schema, Schema)}
