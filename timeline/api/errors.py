"""The one place where failures become RFC 9457 problems (`application/problem+json`).

No response ever carries a stack trace: unexpected errors are logged on the
server and answered with a plain 500 problem.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TypeVar

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec

from timeline import wire
from timeline.admission import InadmissibleError
from timeline.dates import InvalidDateError
from timeline.fold import DomainError, Rule
from timeline.projection import NotKnownError
from timeline.quotes import QuoteError
from timeline.store import (
    ConcurrencyError,
    EmptyAppendError,
    IdempotencyError,
    InvalidAppendError,
    KeyTakenError,
    StoreFullError,
)
from timeline.store.base import unreachable

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
    rule: Rule | None = None
    event_id: str | None = None
    current_version: int | None = None
    holder: str | None = None
    """The record in the way of a 409 (a source id taken by another registration)."""


def problem_of(
    status: int,
    detail: str,
    *,
    errors: tuple[FieldError, ...] = (),
    rule: Rule | None = None,
    event_id: str | None = None,
    current_version: int | None = None,
    holder: str | None = None,
) -> Problem:
    """The one way a Problem is made: the title is always the status's own phrase."""
    return Problem(
        status=status,
        title=HTTPStatus(status).phrase,
        detail=detail,
        errors=errors,
        rule=rule,
        event_id=event_id,
        current_version=current_version,
        holder=holder,
    )


class ProblemError(Exception):
    """Raised by handlers to answer with a problem."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: tuple[FieldError, ...] = (),
        headers: dict[str, str] | None = None,
        current_version: int | None = None,
        holder: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.problem = problem_of(
            status, detail, errors=errors, current_version=current_version, holder=holder
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


T = TypeVar("T")


def decoded_body(body: bytes, decode: Callable[[bytes], T], what: str) -> T:
    """A request body decoded, or the problem that says why not: 422 naming the field, 400
    for JSON that is not JSON (or not UTF-8) or nested too deeply to be `what`."""
    try:
        return decode(body)
    except msgspec.ValidationError as error:
        raise validation_problem(error) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as error:
        raise ProblemError(
            400, f"the body is not valid JSON: {wire.why_not(body, error)}"
        ) from None
    except RecursionError:
        raise ProblemError(400, f"the body is nested too deeply to be {what}") from None


def validation_problem(error: msgspec.ValidationError) -> ProblemError:
    """msgspec says "<message> - at `$.events[0].data.amount`": split it into path and message."""
    if isinstance(error, InadmissibleError):
        listed = tuple(FieldError(path, message) for path, message in error.errors)
        first = listed[0]
        more = f"; and {len(listed) - 1} more in `errors`" if len(listed) > 1 else ""
        return ProblemError(422, f"{first.message} (at {first.path}){more}", errors=listed)
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


Handler = Callable[[Request[Any, Any, Any], Any], Response[Any]]


def _raised(_: Request[Any, Any, Any], error: ProblemError) -> Response[Problem]:
    return problem_response(error.problem, error.headers)


def _broken_rule(_: Request[Any, Any, Any], error: DomainError) -> Response[Problem]:
    event_id = str(error.event_id) if error.event_id else None
    errors = (FieldError(error.path, error.message),) if isinstance(error, QuoteError) else ()
    return problem_response(
        problem_of(422, error.message, rule=error.rule, event_id=event_id, errors=errors)
    )


def _key_taken(_: Request[Any, Any, Any], error: KeyTakenError) -> Response[Problem]:
    return problem_response(
        problem_of(409, str(error), current_version=error.actual, holder=error.holder)
    )


def _conflict(
    _: Request[Any, Any, Any], error: ConcurrencyError | IdempotencyError
) -> Response[Problem]:
    return problem_response(problem_of(409, str(error), current_version=error.actual))


def _store_full(_: Request[Any, Any, Any], error: StoreFullError) -> Response[Problem]:
    log.warning("append refused by the storage: %s", error)
    retry = {"Retry-After": "5"}
    return problem_response(problem_of(507, f"{error}; nothing was stored, retry later"), retry)


def _unprocessable(_: Request[Any, Any, Any], error: Exception) -> Response[Problem]:
    return problem_response(problem_of(422, str(error)))


def _bad_date(_: Request[Any, Any, Any], error: InvalidDateError) -> Response[Problem]:
    return problem_response(problem_of(400, str(error)))


def _invalid(_: Request[Any, Any, Any], error: msgspec.ValidationError) -> Response[Problem]:
    return problem_response(validation_problem(error).problem)


def _http(_: Request[Any, Any, Any], error: HTTPException) -> Response[Problem]:
    return _from_http_exception(error)


def _not_known(_: Request[Any, Any, Any], error: NotKnownError) -> Response[Problem]:
    return problem_response(problem_of(404, str(error)))


def _unexpected(request: Request[Any, Any, Any], error: Exception) -> Response[Problem]:
    if unreachable(error):  # say so, and when to try again; never an answer from memory
        log.warning(
            "the database does not answer (%s %s): %r", request.method, request.url.path, error
        )
        detail = "the database does not answer; nothing was read or written, retry later"
        return problem_response(problem_of(503, detail), {"Retry-After": "5"})
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=error)
    return problem_response(problem_of(500, "the server failed to answer; the error is logged"))


EXCEPTION_HANDLERS: dict[int | type[Exception], Handler] = {
    ProblemError: _raised,
    DomainError: _broken_rule,
    ConcurrencyError: _conflict,
    IdempotencyError: _conflict,
    KeyTakenError: _key_taken,
    StoreFullError: _store_full,
    EmptyAppendError: _unprocessable,
    InvalidAppendError: _unprocessable,
    InvalidDateError: _bad_date,
    NotKnownError: _not_known,
    msgspec.ValidationError: _invalid,
    HTTPException: _http,
    Exception: _unexpected,
}
"""Litestar picks the handler of the nearest class in an exception's MRO; no stack trace
ever reaches a client."""


def problem_for(request: Request[Any, Any, Any], error: Exception) -> Response[Problem]:
    """The problem answer `EXCEPTION_HANDLERS` gives `error` (for pages that say it in HTML)."""
    for kind in type(error).__mro__:
        handler = EXCEPTION_HANDLERS.get(kind)
        if handler is not None:
            return handler(request, error)
    return _unexpected(request, error)


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
    return problem_response(problem_of(status, detail, errors=errors), error.headers)
