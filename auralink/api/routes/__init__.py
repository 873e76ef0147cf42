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

#: every router, in the order the app includes them (public visitor routes last)
ALL = (health, dev, auth, organisations, members, keys, links, rooms, webhooks, livekit_webhooks, public)

__all__ = [
    "ALL",
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
