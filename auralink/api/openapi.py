"""The OpenAPI document, corrected where FastAPI's defaults differ from what the API answers.

FastAPI documents every 422 as ``HTTPValidationError`` (``{"detail": [...]}``); AuraLink's
handler answers ``{"error": {"type", "message", "fields": [...]}}``. The schema is swapped
so clients and schema-driven testers see the real body.
"""

from __future__ import annotations

__all__ = ["install_openapi"]

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from .schemas import ValidationErrorBody


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
        components = schema.get("components", {}).get("schemas", {})
        if "HTTPValidationError" in components:
            body = ValidationErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(body.pop("$defs", {}))
            components["HTTPValidationError"] = body
            components.pop("ValidationError", None)  # FastAPI's item type, now unused
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
