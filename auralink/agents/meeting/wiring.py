"""The worker's side of a meeting agent: its room options, its transcriber and who it answers.

An agent with ``meeting.transcribe`` hears the room through its :class:`MeetingTranscriber`, not
through the session's own microphone input (which links one participant only): the session is
started without audio input and stays in the room when any one participant leaves
(:func:`meeting_room_options`). :func:`attach_meeting` starts the transcriber; each final line is
recorded in the call record under its speaker and, when :class:`.replies.ReplyPolicy` says so,
handed to the session as a user turn (``"Name: text"``). The job ends when the last human leaves.
"""

from __future__ import annotations

__all__ = ["attach_meeting", "meeting_room_options"]

import logging
from datetime import UTC, datetime
from typing import Any

from livekit.agents import AgentSession, JobContext, vad
from livekit.agents.voice import room_io

from auralink.agents.providers import build_stt
from auralink.agents.reporting import CallReporter
from auralink.core import AgentSpec, Settings

from .captions import CaptionLine
from .replies import ReplyPolicy
from .transcriber import MeetingTranscriber

logger = logging.getLogger("auralink.agents")


def meeting_room_options() -> room_io.RoomOptions:
    """The session listens through the transcriber and outlives any one participant."""
    return room_io.RoomOptions(audio_input=False, close_on_disconnect=False)


def _room_started_at(ctx: JobContext) -> datetime:
    info = ctx.job.room
    created_ms = info.creation_time_ms or info.creation_time * 1000
    return datetime.fromtimestamp(created_ms / 1000, UTC) if created_ms else datetime.now(UTC)


async def attach_meeting(
    ctx: JobContext,
    spec: AgentSpec,
    session: AgentSession[Any],
    *,
    settings: Settings,
    vad_model: vad.VAD | None,
    reporter: CallReporter | None,
) -> MeetingTranscriber:
    """Start captioning every human in the job's room; closed with the job."""
    transcriber: MeetingTranscriber
    policy = ReplyPolicy(spec)

    def on_line(line: CaptionLine) -> None:
        if reporter is not None:
            reporter.turn(role="user", speaker=line.identity, text=line.text, spoken_at=line.started_at)
        others = [p.name or p.identity for p in transcriber.humans() if p.identity != line.identity]
        if policy.should_answer(line.text, speaker=line.identity, others=others):
            handle = session.generate_reply(user_input=f"{line.name}: {line.text}" if others else line.text)
            handle.add_done_callback(lambda _h: policy.answered(line.identity))

    transcriber = MeetingTranscriber(
        room=ctx.room,
        stt_engine=build_stt(spec.stt, settings=settings, language=spec.language),
        vad_model=vad_model,
        room_started_at=_room_started_at(ctx),
        on_line=on_line,
        on_empty=lambda: ctx.shutdown(reason="everyone left"),
        captions=spec.meeting.captions,
        noise_suppression=spec.meeting.noise_suppression,
    )
    transcriber.start()
    ctx.add_shutdown_callback(transcriber.aclose)
    logger.info(
        "meeting captions on in room %s (reply=%s, noise_suppression=%s)",
        ctx.room.name,
        spec.meeting.reply,
        spec.meeting.noise_suppression,
    )
    return transcriber
