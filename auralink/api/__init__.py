"""The HTTP edge of AuraLink: the FastAPI app, its routes, and the page it serves.

This package is the composition root for HTTP: long-lived clients are made in the app's
lifespan and handed to routes through the ``Depends`` aliases in :mod:`auralink.api.deps`.
Only this package imports ``fastapi``; HTTP status codes appear nowhere else.
"""

from .app import create_app, serve

__all__ = ["create_app", "serve"]
