"""Translated captions in a room: one :class:`~.translation.CaptionTranslator` per job.

After each final caption, :class:`RoomTranslations` asks which languages the listeners in the room
want now (participant attribute ``auralink.language``, read live at each line) and publishes one
translation per language as its own text stream on ``lk.transcription``, sent on behalf of the
speaker, with the caption's own attributes plus ``auralink.language`` (the translation's language),
``auralink.translation_of`` (the original segment id) and ``auralink.translation_provider``, and a
segment id of its own (``<segment>-<lang>``) so a client that ignores them does not overwrite the
original. Translations run in the CaptionTranslator's tasks: the original caption is never delayed.
A line spoken in another language (``CaptionLine.language``, ``meeting.multilingual``) is
translated from that language, and the renderings its STT made (Whisper's English) go out as they
are, with provider ``whisper``.

:func:`build_translator` makes the provider the spec names; a BYOK provider without its key is a
:class:`~auralink.core.errors.MissingCredential` naming ``meeting.translation.api_key_env``.
"""

from __future__ import annotations

__all__ = ["RoomTranslations", "build_translator"]

import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace

from livekit import rtc

from auralink.core import AgentSpec
from auralink.core.errors import MissingCredential

from .captions import CaptionLine, publish_caption
from .translation import (
    ApertiumTranslator,
    Caption,
    CaptionTranslator,
    DeepLTranslator,
    LLMTranslator,
    Translator,
    listener_languages,
    primary,
)

logger = logging.getLogger("auralink.agents")

LANGUAGE = "auralink.language"
TRANSLATION_OF = "auralink.translation_of"


async def build_translator(spec: AgentSpec) -> Translator:
    """The translation provider of ``spec.meeting.translation``; never a silent cloud fallback."""
    block = spec.meeting.translation
    env = block.key_env()
    if block.provider == "apertium":
        return await ApertiumTranslator.start()
    key = os.environ.get(env, "").strip() if env else ""
    if env and not key:
        raise MissingCredential(env, what=f"agent {spec.name!r}: meeting.translation.api_key_env")
    if block.provider == "deepl":
        return DeepLTranslator(api_key_env=env)
    assert block.base_url is not None and block.model is not None  # the spec checks both
    return LLMTranslator(base_url=block.base_url, model=block.model, api_key=key or None)


class RoomTranslations:
    """Publishes translations of final captions for the listener languages present in ``room``."""

    def __init__(
        self,
        *,
        room: rtc.Room,
        translator: CaptionTranslator,
        source: str,
        on_caption: Callable[[Caption], Awaitable[None]] | None = None,
        always: Iterable[str] = (),
    ) -> None:
        """``on_caption`` sees every caption once it went out, the original and each translation
        (spoken translations listen here); ``always``: languages translated into even when no
        listener asks for them (the spoken translation tracks)."""
        self._room, self.translator, self._source = room, translator, source
        self._always = {primary(lang) for lang in always}
        self._on_caption = on_caption
        self._lines: dict[str, CaptionLine] = {}  # segment id -> line, until its translations went out

    def languages(self) -> set[str]:
        """The languages listeners asked for now, and the ``always`` ones."""
        asked = listener_languages(
            {p.identity: p.attributes for p in self._room.remote_participants.values()}
        )
        return asked | self._always

    async def captioned(self, line: CaptionLine) -> None:
        """A final caption went out: translate it for every other listener language. A line in
        another language than the agent's (``line.language``) is also captioned in the agent's
        language, for listeners who chose none; its ``translations`` (Whisper's English) are used
        as they are."""
        wanted = self.languages()
        source = primary(line.language or self._source)
        if source != primary(self._source):
            wanted.add(primary(self._source))
        if not wanted:
            return
        self._lines[line.segment_id] = line
        if len(self._lines) > 256:  # lines whose translations all failed
            self._lines.pop(next(iter(self._lines)))
        await self.translator.publish(
            line_id=line.segment_id,
            speaker=line.identity,
            text=line.text,
            source=source,
            languages=wanted,
            emit=self._emit,
            known=dict(line.translations),
        )

    async def _emit(self, caption: Caption) -> None:
        if not caption.original:
            await self._publish(caption)
        if self._on_caption is not None:
            try:
                await self._on_caption(caption)
            except Exception as e:
                logger.warning("a caption listener failed: %s", type(e).__name__)

    async def _publish(self, caption: Caption) -> None:
        """A translation as its own caption (the transcriber already sent the original)."""
        line = self._lines.get(caption.line_id)
        if line is None:
            return
        translated = replace(line, segment_id=f"{line.segment_id}-{caption.language}", text=caption.text)
        attributes = {
            LANGUAGE: caption.language,
            TRANSLATION_OF: line.segment_id,
            "auralink.translation_provider": caption.provider or "",
        }
        if caption.via:
            attributes["auralink.translation_via"] = ",".join(caption.via)
        await publish_caption(self._room, translated, attributes=attributes)

    async def aclose(self) -> None:
        await self.translator.aclose()
        self._lines.clear()
