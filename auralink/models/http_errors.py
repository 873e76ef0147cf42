"""Errors in OpenAI's wire shape, and the middleware that turns every failure into one.

Clients get ``{"error": {"message", "type", "param", "code"}}`` and a status code: 400 for a
request they can fix, 404/405/413 for HTTP-level problems, 503 for a model that is not loaded
(still loading, or left out with ``--only``), 500 for our own faults. A stack trace never
reaches the client; it goes to the log, without request contents.
"""

from __future__ import annotations

__all__ = ["InvalidRequest", "ModelNotReady", "error_body", "error_middleware", "error_response"]

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from auralink.core.errors import ModelError, ProviderError

logger = logging.getLogger("auralink.models")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class InvalidRequest(Exception):
    """The request is malformed or asks for something this server cannot do (HTTP 400)."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


class ModelNotReady(Exception):
    """The model a request needs is not loaded on this server (HTTP 503)."""

    def __init__(self, kind: str, *, state: str) -> None:
        self.kind = kind
        self.state = state
        reason = {
            "disabled": "is not served by this server (left out with --only)",
            "loading": "is still loading; retry shortly",
            "restarting": "is restarting; retry shortly",
        }.get(state, "failed to load; see the server log")
        super().__init__(f"the {kind} model {reason}")


def error_body(
    message: str, *, type_: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def error_response(
    status: int, message: str, *, type_: str, param: str | None = None, code: str | None = None
) -> web.Response:
    return web.json_response(error_body(message, type_=type_, param=param, code=code), status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:  # noqa: PLR0911 - one return per error class
    try:
        return await handler(request)
    except InvalidRequest as e:
        return error_response(400, e.message, type_="invalid_request_error", param=e.param, code=e.code)
    except ModelNotReady as e:
        return error_response(503, str(e), type_="server_error", code="model_not_ready")
    except web.HTTPRequestEntityTooLarge as e:
        return error_response(
            413, e.text or "request body too large", type_="invalid_request_error", code="request_too_large"
        )
    except web.HTTPException as e:
        if e.status < 400:
            raise
        return error_response(e.status, e.reason, type_="invalid_request_error")
    except ProviderError as e:
        logger.warning("%s %s failed: %s", request.method, request.path, e)
        return error_response(503 if e.retryable else 500, str(e), type_="server_error")
    except ModelError as e:
        logger.error("%s %s: %s", request.method, request.path, e)
        return error_response(503, str(e), type_="server_error", code="model_not_ready")
    except ConnectionResetError:
        raise
    except Exception:
        logger.exception("%s %s failed", request.method, request.path)
        return error_response(500, "internal server error", type_="server_error")
