"""One router per resource; :func:`auralink.api.app.create_app` includes them."""

from . import (
    auth,
    dev,
    health,
    keys,
    links,
    livekit_webhooks,
    members,
    organisations,
    public,
    rooms,
    webhooks,
)

__all__ = [
    "auth",
    "dev",
    "health",
    "keys",
    "links",
    "livekit_webhooks",
    "members",
    "organisations",
    "public",
    "rooms",
    "webhooks",
]
