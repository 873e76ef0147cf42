"""Per-speaker caption lines and their wire format on ``lk.transcription``.

A :class:`CaptionLine` is one utterance of one participant: who (identity, display name, the
microphone track it came from), what, and when (wall clock and seconds since the room started).
:func:`publish_caption` sends it the way livekit-agents sends a user's transcription, so any
LiveKit client shows it under the right speaker: a text stream on ``lk.transcription`` sent on
behalf of the speaker (``sender_identity``) with ``lk.transcribed_track_id``, ``lk.segment_id`` and
``lk.transcription_final``. AuraLink adds ``auralink.speaker``, ``auralink.speaker_name``,
``auralink.start_ms`` and ``auralink.end_ms`` (milliseconds since the room started) and
``auralink.started_at`` (ISO 8601, UTC). Interim captions of a segment share its segment id.
"""

from __future__ import annotations

__all__ = ["CaptionLine", "caption_attributes", "publish_caption"]

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from livekit import rtc
from livekit.agents.types import (
    ATTRIBUTE_TRANSCRIPTION_FINAL,
    ATTRIBUTE_TRANSCRIPTION_SEGMENT_ID,
    ATTRIBUTE_TRANSCRIPTION_TRACK_ID,
    TOPIC_TRANSCRIPTION,
)

logger = logging.getLogger("auralink.agents")


@dataclass(frozen=True, slots=True)
class CaptionLine:
    """One participant's utterance (final, or interim while it forms)."""

    identity: str
    name: str
    track_sid: str
    segment_id: str
    text: str
    final: bool
    started_at: datetime  # wall clock, UTC
    ended_at: datetime
    start_s: float  # seconds since the room started
    end_s: float
    language: str = ""  # the spoken language (primary subtag); "" = the agent's own language
    # renderings the STT made itself, e.g. (("en", "..."),) from Whisper's speech translation
    translations: tuple[tuple[str, str], ...] = ()


def caption_attributes(line: CaptionLine) -> dict[str, str]:
    """The text stream attributes that carry ``line`` (the livekit ones plus AuraLink's)."""
    return {
        ATTRIBUTE_TRANSCRIPTION_FINAL: "true" if line.final else "false",
        ATTRIBUTE_TRANSCRIPTION_SEGMENT_ID: line.segment_id,
        ATTRIBUTE_TRANSCRIPTION_TRACK_ID: line.track_sid,
        "auralink.speaker": line.identity,
        "auralink.speaker_name": line.name,
        "auralink.start_ms": str(round(line.start_s * 1000)),
        "auralink.end_ms": str(round(line.end_s * 1000)),
        "auralink.started_at": line.started_at.astimezone(UTC).isoformat(),
    }


async def publish_caption(
    room: rtc.Room, line: CaptionLine, *, attributes: dict[str, str] | None = None
) -> bool:
    """Send ``line`` to everyone in ``room`` (``attributes`` added to its own); False (logged,
    no text) when it could not be sent."""
    if not room.isconnected() or not line.text:
        return False
    try:
        writer = await room.local_participant.stream_text(
            topic=TOPIC_TRANSCRIPTION,
            sender_identity=line.identity,
            attributes={**caption_attributes(line), **(attributes or {})},
        )
        await writer.write(line.text)
        await writer.aclose()
    except Exception as e:  # a caption lost must not stop the transcription
        logger.warning("caption for segment %s not sent: %s", line.segment_id, type(e).__name__)
        return False
    return True
