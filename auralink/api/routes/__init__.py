"""One router per resource; :func:`auralink.api.app.create_app` includes them."""

from . import auth, dev, health, keys, links, members, organisations, public, rooms

__all__ = ["auth", "dev", "health", "keys", "links", "members", "organisations", "public", "rooms"]
