"""Map AuraLink's error tree and request validation failures to HTTP responses.

Every error body has one shape, ``{"error": {"type": ..., "message": ...}}``; validation
failures add ``fields`` (one entry per bad field, named by its dotted path in the body).
"""

from __future__ import annotations

__all__ = ["install_error_handlers", "status_for"]

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from auralink.core import (
    AuraLinkError,
    ConfigError,
    ProviderError,
    ServiceError,
    UnknownAgent,
)

logger = logging.getLogger("auralink.api")

# most specific first: the first class the error is an instance of wins
_STATUS: tuple[tuple[type[AuraLinkError], int], ...] = (
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
    return JSONResponse(_body(type(exc).__name__, str(exc)), status_code=status)


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
