"""The agent catalogue as the API sees it: agents.yaml, reloaded when the file changes.

A bot builder edits agents.yaml while the API runs; the next request sees the new agents
without a restart. A broken file raises :class:`~auralink.core.SpecError` (file, line, field)
on every request until it is fixed, and never replaces the last good catalogue silently.
"""

from __future__ import annotations

__all__ = ["CatalogueCache"]

import logging
import threading
from pathlib import Path

from auralink.core import Catalogue, load_catalogue

logger = logging.getLogger("auralink.api")


class CatalogueCache:
    """Loads a catalogue file once per change of its modification time and size."""

    def __init__(self, *, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._catalogue: Catalogue | None = None

    @property
    def path(self) -> Path:
        return self._path

    def get(self) -> Catalogue:
        """The current catalogue; reloads the file if it changed since the last call."""
        try:
            st = self._path.stat()
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None  # let load_catalogue report the missing file with its own message
        with self._lock:
            if stamp is not None and stamp == self._stamp and self._catalogue is not None:
                return self._catalogue
            catalogue = load_catalogue(self._path)
            self._catalogue, self._stamp = catalogue, stamp
            logger.info("loaded %d agent(s) from %s", len(catalogue.agents), self._path)
            return catalogue
