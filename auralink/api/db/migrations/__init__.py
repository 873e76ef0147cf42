"""Alembic revisions of the management API's schema (run by :func:`auralink.api.db.upgrade`)."""
