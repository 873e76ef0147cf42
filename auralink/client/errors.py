"""The one error the client raises for an answer that is not a success."""

from __future__ import annotations

__all__ = ["ApiError"]

from typing import Any

from auralink.core import AuraLinkError


class ApiError(AuraLinkError):
    """The API answered ``status`` with its error body (``type``, ``message``, ``fields``)."""

    def __init__(
        self, *, status: int, type: str, message: str, fields: list[dict[str, Any]] | None = None
    ) -> None:
        self.status = status
        self.type = type
        self.fields = fields or []
        super().__init__(f"{status} {type}: {message}")
        self.message = message
