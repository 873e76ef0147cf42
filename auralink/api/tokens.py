"""LiveKit access tokens that put a person in a room and dispatch an agent to it.

The token carries a room configuration naming the worker (``agent_name``) and, in the
dispatch metadata, which AgentSpec the worker should run: ``{"agent": "<spec name>"}``.
LiveKit dispatches the worker when the first participant joins with such a token.
"""

from __future__ import annotations

__all__ = ["DispatchMetadata", "new_identity", "new_room_name", "room_join_token"]

import json
import secrets
from datetime import timedelta

from livekit import api
from pydantic import BaseModel

TOKEN_TTL = timedelta(hours=1)


class DispatchMetadata(BaseModel):
    """The metadata of an agent dispatch: which spec of the catalogue to run."""

    agent: str

    def dumps(self) -> str:
        return json.dumps({"agent": self.agent})


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
    agent: str,
    ttl: timedelta = TOKEN_TTL,
) -> str:
    """A signed JWT that joins ``room`` as ``identity`` and dispatches ``agent`` on the worker."""
    grants = api.VideoGrants(
        room_join=True,
        room=room,
        can_publish=True,
        can_subscribe=True,
        can_publish_data=True,
    )
    dispatch = api.RoomAgentDispatch(
        agent_name=worker_agent_name, metadata=DispatchMetadata(agent=agent).dumps()
    )
    return (
        api.AccessToken(api_key, api_secret)
        .with_identity(identity)
        .with_name(name)
        .with_grants(grants)
        .with_ttl(ttl)
        .with_room_config(api.RoomConfiguration(agents=[dispatch]))
        .to_jwt()
    )
