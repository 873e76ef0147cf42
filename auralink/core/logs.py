"""Logging setup shared by every AuraLink process (stdlib logging, one logger per package)."""

from __future__ import annotations

__all__ = ["configure_logging"]

import logging
import sys


def configure_logging(level: str = "INFO", *, stream: object = None) -> None:
    """Send ``auralink.*`` and livekit logs to stderr with one compact format."""
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-5s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
