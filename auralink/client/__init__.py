"""A small typed Python client for the AuraLink management API (keys, agents, links, rooms,
calls, webhooks, usage, audit, GDPR), for scripts and for the ``auralink`` CLI.

    async with AuraLink(base_url="http://127.0.0.1:8800", api_key="al_…") as al:
        link = await al.links.create(agent="assistant", max_uses=10)
        print(link["url"])

Answers are the JSON objects the API documents in its OpenAPI schema (``/docs``); a failed
call raises :class:`ApiError` carrying the status, the error type, the message and, for
validation errors, the fields. This package imports only :mod:`auralink.core` and ``httpx``.
"""

from .errors import ApiError
from .http import AuraLink, JSONObject

__all__ = ["ApiError", "AuraLink", "JSONObject"]
