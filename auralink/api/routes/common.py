"""Documented error answers shared by the management routes (OpenAPI ``responses``)."""

from __future__ import annotations

__all__ = ["AUTH", "CLASH", "MISSING", "TOO_LARGE"]

from typing import Any

from auralink.api.schemas import ErrorBody

Responses = dict[int | str, dict[str, Any]]

AUTH: Responses = {
    401: {"model": ErrorBody, "description": "no, unknown, expired or revoked credentials"},
    403: {"model": ErrorBody, "description": "the role or the key's scopes do not allow it"},
}
MISSING: Responses = {404: {"model": ErrorBody, "description": "no such id in your organisation"}}
CLASH: Responses = {409: {"model": ErrorBody, "description": "the change clashes with stored data"}}
TOO_LARGE: Responses = {413: {"model": ErrorBody, "description": "the body is over 1 MiB"}}
