"""LiveKit access tokens that put a person in a room and dispatch an agent to it.

The token carries a room configuration naming the worker (``agent_name``) and, in the
dispatch metadata, which AgentSpec the worker should run (:class:`DispatchMetadata`: at least
``{"agent": "<spec name>"}``). The room's own metadata (:class:`RoomMetadata`) says whose room it
is, so LiveKit's webhooks about it can be filed as that organisation's call. LiveKit dispatches
the worker when the first participant joins with such a token.
"""

from __future__ import annotations

__all__ = ["DispatchMetadata", "RoomMetadata", "new_identity", "new_room_name", "room_join_token"]

import secrets
from datetime import timedelta
from typing import Any

from livekit import api
from pydantic import BaseModel, ValidationError

TOKEN_TTL = timedelta(hours=1)


class DispatchMetadata(BaseModel):
    """The metadata of an agent dispatch: which spec to run.

    ``agent`` names it; ``spec`` (when the organisation keeps the agent in the database) is the
    whole AgentSpec as JSON, which the worker runs instead of its agents.yaml entry;
    ``version`` is that spec's version and ``org`` the organisation; ``features`` are the
    effective toggles (memory, recording, translation, moderation, mcp); ``moderation`` is the
    organisation's moderation policy (``ModerationPolicy`` as JSON) when it stored one: the worker
    merges it with the agent's own (``ModerationPolicy.merge(org, agent)``).
    """

    agent: str
    org: str | None = None
    version: int | None = None
    spec: dict[str, Any] | None = None
    features: dict[str, bool] | None = None
    moderation: dict[str, Any] | None = None

    def dumps(self) -> str:
        return self.model_dump_json(exclude_none=True)


class RoomMetadata(BaseModel):
    """The metadata of a room made by the API: whose it is, how it came, which agent is in it."""

    org: str | None = None
    source: str = "api"
    agent: str | None = None
    agent_version: int | None = None
    link: str | None = None

    def dumps(self) -> str:
        return self.model_dump_json(exclude_none=True)

    @classmethod
    def parse(cls, raw: str) -> RoomMetadata:
        """The metadata of a room, or an empty one when it is not ours (or not JSON)."""
        try:
            return cls.model_validate_json(raw) if raw else cls(source="unknown")
        except ValidationError:
            return cls(source="unknown")


def new_room_name(prefix: str = "web") -> str:
    """A room name nobody else will pick: ``web-<12 hex digits>``."""
    return f"{prefix}-{secrets.token_hex(6)}"


def new_identity(prefix: str = "user") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def room_join_token(
    *,
    api_key: str,
    api_secret: str,
    room: str,
    identity: str,
    name: str,
    worker_agent_name: str,
    dispatch: DispatchMetadata,
    room_metadata: RoomMetadata | None = None,
    attributes: dict[str, str] | None = None,
    can_update_own_metadata: bool = False,
    ttl: timedelta = TOKEN_TTL,
) -> str:
    """A signed JWT that joins ``room`` as ``identity`` and dispatches the agent on the worker;
    ``attributes`` are the participant's from the moment it joins (a phone caller's number);
    ``can_update_own_metadata`` lets the participant change its own name and attributes (a
    meeting visitor's ``auralink.language``)."""
    grants = api.VideoGrants(
        room_join=True,
        room=room,
        can_publish=True,
        can_subscribe=True,
        can_publish_data=True,
        can_update_own_metadata=can_update_own_metadata,
    )
    config = api.RoomConfiguration(
        agents=[api.RoomAgentDispatch(agent_name=worker_agent_name, metadata=dispatch.dumps())],
        metadata=room_metadata.dumps() if room_metadata else "",
    )
    token = (
        api.AccessToken(api_key, api_secret)
        .with_identity(identity)
        .with_name(name)
        .with_grants(grants)
        .with_ttl(ttl)
        .with_room_config(config)
    )
    if attributes:
        token = token.with_attributes(attributes)
    return token.to_jwt()
