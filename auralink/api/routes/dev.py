"""The dev page's API: list the catalogue's agents, and start a session with one of them.

No accounts here: anyone who can reach the API can start a session. The management API
(keys, links, RBAC) comes on top of the same token minting.
"""

from __future__ import annotations

__all__ = ["router"]

import logging

from fastapi import APIRouter, status

from auralink.api.deps import CatalogueDep, SettingsDep
from auralink.api.livekit_client import livekit_credentials
from auralink.api.schemas import AgentPublic, ErrorBody, SessionCreate, SessionPublic
from auralink.api.tokens import DispatchMetadata, RoomMetadata, new_identity, new_room_name, room_join_token
from auralink.core import UnknownAgent

logger = logging.getLogger("auralink.api")

router = APIRouter(prefix="/v1/dev", tags=["dev"])


@router.get("/agents")
def list_agents(catalogue: CatalogueDep, settings: SettingsDep) -> list[AgentPublic]:
    return [
        AgentPublic(
            name=a.name,
            description=a.description,
            language=a.language,
            greeting=a.greeting,
            default=a.name == settings.default_agent,
        )
        for a in catalogue.agents
    ]


@router.post(
    "/sessions",
    status_code=status.HTTP_201_CREATED,
    responses={404: {"model": ErrorBody, "description": "no such agent in the catalogue"}},
)
def create_session(body: SessionCreate, settings: SettingsDep, catalogue: CatalogueDep) -> SessionPublic:
    agent = body.agent or settings.default_agent
    if catalogue.get(agent) is None:
        raise UnknownAgent(agent, catalogue.names)
    creds = livekit_credentials(settings)
    room = new_room_name("web")
    identity = body.identity or new_identity("user")
    token = room_join_token(
        api_key=creds.api_key,
        api_secret=creds.api_secret,
        room=room,
        identity=identity,
        name=body.name or identity,
        worker_agent_name=settings.worker_agent_name,
        dispatch=DispatchMetadata(agent=agent),
        room_metadata=RoomMetadata(source="dev", agent=agent),
    )
    logger.info("session: room %s with agent %s", room, agent)
    return SessionPublic(url=settings.livekit_url, token=token, room=room, identity=identity, agent=agent)
