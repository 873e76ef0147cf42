"""Map AuraLink's error tree and request validation failures to HTTP responses.

Every error body has one shape, ``{"error": {"type": ..., "message": ...}}``; validation
failures add ``fields`` (one entry per bad field, named by its dotted path in the body).

The management API's own refusals extend the core tree here, at the HTTP edge:

    AuraLinkError
    └── ApiError                     a request the API refuses (4xx); never a server fault
        ├── NotAuthenticated    401  no, unknown, expired or revoked credentials
        ├── PermissionDenied    403  the role or the key's scopes do not allow the action
        │   └── SignupClosed    403  AURALINK_ALLOW_SIGNUP is off
        ├── NotFound            404  no such id in the caller's organisation
        ├── Conflict            409  the change clashes with stored data (e-mail taken, last owner)
        ├── TooLarge            413  an upload over its limit (a file shared in a meeting)
        ├── UnsupportedMedia    415  a file type not accepted, or bytes that are not what they claim
        └── InvalidField        422  a body field is valid alone but not in this context

Database failures never answer 500: a constraint clash is 409, an unreachable database 503.
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "Conflict",
    "InvalidField",
    "NotAuthenticated",
    "NotFound",
    "PermissionDenied",
    "SignupClosed",
    "TooLarge",
    "UnsupportedMedia",
    "install_error_handlers",
    "status_for",
]

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from starlette.exceptions import HTTPException

from auralink.core import (
    AuraLinkError,
    ConfigError,
    ProviderError,
    ServiceError,
    UnknownAgent,
)

logger = logging.getLogger("auralink.api")


class ApiError(AuraLinkError):
    """A request the API refuses; the subclass decides the status."""


class NotAuthenticated(ApiError):
    def __init__(self, message: str = "send an API key (Authorization: Bearer al_...) or log in") -> None:
        super().__init__(message)


class PermissionDenied(ApiError):
    pass


class SignupClosed(PermissionDenied):
    def __init__(self) -> None:
        super().__init__(
            "sign-up is closed on this server (AURALINK_ALLOW_SIGNUP=false); "
            "an operator creates organisations with `auralink org create`"
        )


class NotFound(ApiError):
    def __init__(self, kind: str, id_: str) -> None:
        super().__init__(f"no {kind} {id_!r} in your organisation")


class Conflict(ApiError):
    pass


class TooLarge(ApiError):
    pass


class UnsupportedMedia(ApiError):
    pass


class InvalidField(ApiError):
    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


# most specific first: the first class the error is an instance of wins
_STATUS: tuple[tuple[type[AuraLinkError], int], ...] = (
    (NotAuthenticated, 401),
    (PermissionDenied, 403),
    (NotFound, 404),
    (Conflict, 409),
    (TooLarge, 413),
    (UnsupportedMedia, 415),
    (InvalidField, 422),
    (ApiError, 400),
    (UnknownAgent, 404),
    (ConfigError, 422),
    (ProviderError, 502),
    (ServiceError, 503),
)


def status_for(error: AuraLinkError) -> int:
    """The HTTP status an AuraLink error is answered with."""
    return next((code for cls, code in _STATUS if isinstance(error, cls)), 500)


def _body(kind: str, message: str, **extra: object) -> dict[str, object]:
    return {"error": {"type": kind, "message": message, **extra}}


async def _auralink_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AuraLinkError)
    status = status_for(exc)
    if status >= 500:
        logger.warning("%s %s failed: %s", request.method, request.url.path, type(exc).__name__)
    if isinstance(exc, InvalidField):
        body = _body("ValidationError", str(exc), fields=[{"field": exc.field, "message": str(exc)}])
        return JSONResponse(body, status_code=status)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, NotAuthenticated) else None
    return JSONResponse(_body(type(exc).__name__, str(exc)), status_code=status, headers=headers)


_HTTP_TYPES = {404: "NotFound", 405: "MethodNotAllowed", 413: "BodyTooLarge"}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    kind = _HTTP_TYPES.get(exc.status_code, "HTTPError")
    return JSONResponse(
        _body(kind, str(exc.detail)), status_code=exc.status_code, headers=getattr(exc, "headers", None)
    )


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SQLAlchemyError)
    if isinstance(exc, IntegrityError):
        return JSONResponse(
            _body("Conflict", "the change conflicts with data already stored"), status_code=409
        )
    logger.warning("%s %s: database failed: %s", request.method, request.url.path, type(exc).__name__)
    return JSONResponse(
        _body("ServiceUnavailable", "the database is not answering; try again shortly"),
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def _connection_error(request: Request, exc: Exception) -> JSONResponse:
    # asyncpg raises the socket's own error when it cannot (re)connect; SQLAlchemy wraps the rest
    logger.warning(
        "%s %s: a backing service failed: %s", request.method, request.url.path, type(exc).__name__
    )
    return JSONResponse(
        _body(
            "ServiceUnavailable", "a backing service (database or cache) is not answering; try again shortly"
        ),
        status_code=503,
        headers={"Retry-After": "5"},
    )


def _field(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = [
        {"field": _field(tuple(err.get("loc", ()))), "message": str(err.get("msg", ""))}
        for err in exc.errors()
    ]
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields) or "the request is not valid"
    return JSONResponse(_body("ValidationError", summary, fields=fields), status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AuraLinkError, _auralink_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(SQLAlchemyError, _database_error)
    app.add_exception_handler(ConnectionError, _connection_error)
    app.add_exception_handler(TimeoutError, _connection_error)
