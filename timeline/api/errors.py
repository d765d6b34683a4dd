"""The one place where failures become RFC 9457 problems (`application/problem+json`).

No response ever carries a stack trace: unexpected errors are logged on the
server and answered with a plain 500 problem.
"""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec

from timeline.dates import InvalidDateError
from timeline.fold import DomainError
from timeline.store import (
    ConcurrencyError,
    EmptyAppendError,
    IdempotencyError,
    InvalidAppendError,
    StoreFullError,
)

PROBLEM_JSON = "application/problem+json"
JSON = "application/json"
log = logging.getLogger("timeline.api")


class FieldError(msgspec.Struct, frozen=True):
    path: str
    message: str


class Problem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An RFC 9457 problem; `errors` lists bad fields, `rule` names a broken domain rule."""

    status: int
    title: str
    detail: str
    type: str = "about:blank"
    errors: tuple[FieldError, ...] = ()
    rule: str | None = None
    event_id: str | None = None
    current_version: int | None = None


class ProblemError(Exception):
    """Raised by handlers to answer with a problem."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: tuple[FieldError, ...] = (),
        headers: dict[str, str] | None = None,
        rule: str | None = None,
        current_version: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.problem = Problem(
            status=status,
            title=HTTPStatus(status).phrase,
            detail=detail,
            errors=errors,
            rule=rule,
            current_version=current_version,
        )
        self.headers = headers or {}


def problem(description: str) -> ResponseSpec:
    """How a problem answer is documented in the OpenAPI spec."""
    return ResponseSpec(
        data_container=Problem,
        description=description,
        media_type=PROBLEM_JSON,
        generate_examples=False,
    )


BAD_REQUEST = problem("A path or query value is malformed (the problem names it)")
NOT_FOUND = problem("No such partnership (or nothing known of it at `known_at`)")
UNAUTHORIZED = problem("No valid bearer token (reads need one when TIMELINE_PUBLIC_READ=false)")
FORBIDDEN = problem("The token lacks the scope")


def bad_request(detail: str, path: str) -> ProblemError:
    return ProblemError(400, detail, errors=(FieldError(path, detail),))


def not_found(detail: str) -> ProblemError:
    return ProblemError(404, detail)


_AT_PATH = re.compile(r"^(?P<message>.*) - at `(?P<path>[^`]*)`$", re.DOTALL)


def validation_problem(error: msgspec.ValidationError) -> ProblemError:
    """msgspec says "<message> - at `$.events[0].data.amount`": split it into path and message."""
    text = str(error)
    match = _AT_PATH.match(text)
    path, message = (match["path"], match["message"]) if match else ("$", text)
    return ProblemError(422, f"{message} (at {path})", errors=(FieldError(path, message),))


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> Response[Problem]:
    return Response(
        content=problem,
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def handle(request: Request[Any, Any, Any], error: Exception) -> Response[Problem]:  # noqa: PLR0911
    """Map any exception raised while handling `request` to a problem response."""
    match error:
        case ProblemError():
            return problem_response(error.problem, error.headers)
        case DomainError():
            return problem_response(
                Problem(
                    status=422,
                    title=HTTPStatus(422).phrase,
                    detail=error.message,
                    rule=error.rule,
                    event_id=str(error.event_id) if error.event_id else None,
                )
            )
        case ConcurrencyError() | IdempotencyError():
            return problem_response(
                Problem(
                    status=409,
                    title=HTTPStatus(409).phrase,
                    detail=str(error),
                    current_version=error.actual,
                )
            )
        case StoreFullError():
            log.warning("append refused by the storage: %s", error)
            return problem_response(
                ProblemError(
                    507, f"{error}; nothing was stored, retry later", headers={"Retry-After": "5"}
                ).problem,
                {"Retry-After": "5"},
            )
        case EmptyAppendError() | InvalidAppendError():
            return problem_response(ProblemError(422, str(error)).problem)
        case InvalidDateError():
            return problem_response(ProblemError(400, str(error)).problem)
        case msgspec.ValidationError():
            return problem_response(validation_problem(error).problem)
        case HTTPException():
            return _from_http_exception(error)
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=error)
    return problem_response(
        Problem(
            status=500,
            title=HTTPStatus(500).phrase,
            detail="the server failed to answer; the error is logged",
        )
    )


def _where(item: dict[str, Any]) -> str:
    """`query.limit` from litestar's `{"key": "limit", "source": ParamType.QUERY}`."""
    if "key" not in item:
        return "$"
    source = item.get("source", "query")
    return f"{getattr(source, 'value', source)}.{item['key']}"


def _from_http_exception(error: HTTPException) -> Response[Problem]:
    status = error.status_code
    errors: tuple[FieldError, ...] = ()
    detail = error.detail
    if isinstance(error.extra, list):
        errors = tuple(
            FieldError(path=_where(item), message=str(item.get("message", "")))
            for item in error.extra
            if isinstance(item, dict)
        )
        if errors:
            detail = "; ".join(f"{e.path}: {e.message}" for e in errors)
    if status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE:
        detail = "the request body is larger than this server accepts (TIMELINE_MAX_BODY_BYTES)"
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        detail = HTTPStatus(status).phrase
    return problem_response(
        Problem(status=status, title=HTTPStatus(status).phrase, detail=detail, errors=errors),
        error.headers,
    )
