"""When the agent cannot go on: apologise, record the failure, hang up.

A caller must never be left in silence. When a job cannot start (a spec that no longer loads, a
missing key, a provider that will not build) or its session closes on an unrecoverable error,
:func:`fail_call` joins the room if it has not yet, waits briefly for the caller, plays a recorded
apology (``assets/apology.wav``: recorded once, so it plays even when the failing part is the TTS),
reports an unrecoverable error to the call record (the API marks the call failed), and deletes the
room, which hangs up every leg: livekit-sip sends BYE, the Media Streams bridge ends the stream
and Twilio ends the call.
"""

from __future__ import annotations

__all__ = ["APOLOGY_WAV", "fail_call", "play_wav"]

import asyncio
import contextlib
import logging
import wave
from pathlib import Path

import numpy as np
from livekit import rtc
from livekit.agents import JobContext

from auralink.core import Settings

from .reporting import CallReporter, open_reporter

logger = logging.getLogger("auralink.agents")

APOLOGY_WAV = Path(__file__).parent / "assets" / "apology.wav"
_FRAME_MS = 20
_WAIT_FOR_CALLER_S = 10.0


async def play_wav(room: rtc.Room, path: Path, *, name: str = "apology") -> None:
    """Publish ``path`` (16-bit mono WAV) as a microphone track, play it in real time, unpublish."""
    with wave.open(str(path), "rb") as w:
        rate, channels = w.getframerate(), w.getnchannels()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    if channels != 1:
        pcm = pcm.reshape(-1, channels).mean(axis=1).astype(np.int16)
    source = rtc.AudioSource(rate, 1)
    track = rtc.LocalAudioTrack.create_audio_track(name, source)
    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    publication = await room.local_participant.publish_track(track, options)
    try:
        step = rate * _FRAME_MS // 1000
        for start in range(0, len(pcm), step):
            chunk = pcm[start : start + step]
            if len(chunk) < step:
                chunk = np.pad(chunk, (0, step - len(chunk)))
            frame = rtc.AudioFrame(chunk.tobytes(), rate, 1, step)
            await source.capture_frame(frame)  # paces itself: the source's queue is short
        await source.wait_for_playout()
    finally:
        with contextlib.suppress(Exception):
            await room.local_participant.unpublish_track(publication.sid)
        await source.aclose()


async def _caller_present(room: rtc.Room, timeout: float) -> bool:
    if room.remote_participants:
        return True
    joined = asyncio.Event()
    room.on("participant_connected", lambda _p: joined.set())
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(joined.wait(), timeout)
    return bool(room.remote_participants)


async def fail_call(
    ctx: JobContext,
    *,
    kind: str,
    settings: Settings,
    agent: str,
    reporter: CallReporter | None = None,
    connected: bool = True,
) -> None:
    """Apologise to the room, record an unrecoverable ``kind`` error, hang up and end the job.

    ``connected`` says whether the job has joined the room already; without a ``reporter`` one
    is opened for the call record. Nothing here raises: each step that fails is logged and the
    next still runs.
    """
    logger.error("job %s: the agent failed (%s); apologising and hanging up", ctx.job.id, kind)
    try:
        if not connected:
            await ctx.connect()
        if reporter is None:
            reporter = await open_reporter(ctx, settings, agent=agent)
        if reporter is not None:
            reporter.error(kind=kind, recoverable=False)
        if await _caller_present(ctx.room, _WAIT_FOR_CALLER_S):
            await play_wav(ctx.room, APOLOGY_WAV)
    except Exception as e:
        logger.warning("job %s: the apology could not be played: %s", ctx.job.id, type(e).__name__)
    if reporter is not None:
        with contextlib.suppress(Exception):
            await reporter.aclose()
    try:
        await ctx.delete_room()  # every leg hangs up
    except Exception as e:
        logger.warning("job %s: deleting the room failed: %s", ctx.job.id, type(e).__name__)
    ctx.shutdown(reason=f"agent failed: {kind}")
