"""A meeting's notes in the worker: :class:`NoteKeeper` keeps the moderated lines (speech and chat)
and writes :class:`~.notes.MeetingNotes` from them on request and once at room end.

The writer is :class:`~.notes.OfflineNoteWriter` with the model server's MiniLM
(:class:`~auralink.memory.HttpEmbedder`), or, with ``meeting.notes_llm`` and an agent whose ``llm``
is a BYOK OpenAI-compatible provider, :class:`~.notes.LLMNoteWriter` on that endpoint (offline
notes when it fails). :func:`is_notes_request` spots "notes please"-style requests.
"""

from __future__ import annotations

__all__ = ["NoteKeeper", "build_note_writer", "is_notes_request"]

import logging
import re
from collections.abc import Callable
from datetime import datetime

from auralink.core import AgentSpec, Settings
from auralink.core.spec import OpenAILLM
from auralink.memory import HttpEmbedder

from .notes import LLMNoteWriter, MeetingNotes, NoteWriter, OfflineNoteWriter, TranscriptLine

logger = logging.getLogger("auralink.agents")

_REQUEST = re.compile(
    r"\b(?:(?:send|share|give|post|write|show|read)\b[^.?!]{0,30}\b(?:notes|summary|minutes)"
    r"|(?:notes|summary|minutes),?\s+please|summari[sz]e (?:the|this) meeting)\b",
    re.IGNORECASE,
)


def is_notes_request(text: str) -> bool:
    """Whether an (addressed) line asks for the notes: "notes please", "can you send the summary"."""
    return bool(_REQUEST.search(text))


def build_note_writer(spec: AgentSpec, *, settings: Settings) -> NoteWriter:
    offline = OfflineNoteWriter(
        embedder=HttpEmbedder(base_url=settings.models_base_url, model=settings.memory_embeddings_model)
    )
    if spec.meeting.notes_llm and isinstance(spec.llm, OpenAILLM) and spec.llm.base_url:
        return LLMNoteWriter(
            base_url=spec.llm.base_url, model=spec.llm.model, api_key=spec.llm.key(), fallback=offline
        )
    return offline


class NoteKeeper:
    """Collects lines; :meth:`write` makes notes of what was said so far."""

    def __init__(
        self,
        *,
        writer: NoteWriter,
        started_at: datetime,
        title: str,
        timezone: str = "UTC",
        report: Callable[[MeetingNotes, bool], None] | None = None,
    ) -> None:
        self._writer, self._started_at, self._title, self._tz = writer, started_at, title, timezone
        self._report = report
        self.lines: list[TranscriptLine] = []
        self.final: MeetingNotes | None = None

    def add(self, *, identity: str, name: str, text: str, start: float, end: float) -> None:
        if text.strip():
            self.lines.append(TranscriptLine(identity=identity, name=name, text=text, start=start, end=end))

    async def write(self, *, final: bool) -> MeetingNotes | None:
        """Notes of the lines so far, reported (``final`` once, at room end); None with no lines."""
        if final and self.final is not None:
            return self.final
        if not self.lines:
            return None
        notes = await self._writer.write(
            sorted(self.lines, key=lambda line: line.start),
            started_at=self._started_at,
            timezone=self._tz,
            title=self._title,
        )
        if final:
            self.final = notes
        if self._report is not None:
            self._report(notes, final)
        logger.info(
            "meeting notes written (%d line(s), %d action item(s), final=%s, writer=%s)",
            len(self.lines),
            len(notes.action_items),
            final,
            notes.writer,
        )
        return notes

    async def aclose(self) -> None:
        await self._writer.aclose()
        for writer in (self._writer, getattr(self._writer, "fallback", None)):
            embedder = getattr(writer, "embedder", None)
            if embedder is not None and hasattr(embedder, "aclose"):
                await embedder.aclose()
