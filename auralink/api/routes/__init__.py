"""One router per resource; :func:`auralink.api.app.create_app` includes them."""

from . import auth, dev, health, keys, members, organisations

__all__ = ["auth", "dev", "health", "keys", "members", "organisations"]
