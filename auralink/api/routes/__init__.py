"""One router per resource; :func:`auralink.api.app.create_app` includes them."""

from . import dev, health

__all__ = ["dev", "health"]
