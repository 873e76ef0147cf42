"""The Media Streams bridge: one Twilio call's socket becomes one participant in a LiveKit room.

:func:`read_start` reads the socket up to Twilio's ``start`` (the API checks the stream token in
it and mints the room token). :class:`MediaStreamBridge` then joins the room with ``livekit.rtc``
and, until Twilio says ``stop`` or the socket drops:

- **caller → room**: each ``media`` chunk (μ-law 8 kHz) is decoded, resampled to 48 kHz
  (:class:`~auralink.telephony.mulaw.Resampler`) and fed to a microphone track in 10 ms frames;
- **agent → caller**: the agent's audio track is resampled to 8 kHz, μ-law encoded and queued in
  20 ms ``media`` messages; a pacer sends them in real time with a small lead
  (:data:`LEAD_S`, so Twilio's buffer stays short and ``clear`` has little to drop). Silence
  while the agent is not speaking is not sent. When the agent's turn has played out (its
  ``lk.agent.state`` left ``speaking`` and the queue has drained), a ``mark`` follows it;
  Twilio echoes each mark once played, and :class:`BridgeStats` counts both;
- **barge-in**: when the agent stops speaking while the caller is talking (its state leaves
  ``speaking`` within :data:`BARGE_IN_WINDOW_S` of caller speech), or its audio track goes away
  with frames still queued, the queue is dropped and ``clear`` sent, so the caller stops hearing
  the interrupted reply at once;
- **DTMF**: a ``dtmf`` digit is published with ``publish_dtmf`` (agents get ``sip_dtmf_received``
  as for SIP calls).

The participant's attributes (``sip.phoneNumber``, ``auralink.source``, ``twilio.callSid``,
:func:`caller_attributes`) go into its token, so the agent sees them when it first sees the
caller. Every task is owned by the bridge and cancelled and awaited by :meth:`aclose`.
"""

from __future__ import annotations

__all__ = [
    "BARGE_IN_WINDOW_S",
    "LEAD_S",
    "BridgeStats",
    "MediaSocket",
    "MediaStreamBridge",
    "caller_attributes",
    "dtmf_code",
    "read_start",
]

import asyncio
import contextlib
import logging
import re
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from livekit import rtc

from . import mulaw
from .mediastreams import (
    Connected,
    DtmfEvent,
    MalformedMessage,
    MarkEvent,
    MediaEvent,
    MediaStreamError,
    StartEvent,
    StopEvent,
    StreamParser,
    clear_message,
    mark_message,
    media_message,
)

logger = logging.getLogger("auralink.telephony")

SOURCE = "twilio-media-streams"
FRAME_S = 0.020  # one outbound media message
_OUT_BYTES = int(mulaw.TELEPHONE_RATE * FRAME_S)  # 160 μ-law bytes
_IN_SAMPLES = mulaw.ROOM_RATE // 100  # 10 ms frames into the room
LEAD_S = 0.060  # how far ahead of real time the pacer may send
BARGE_IN_WINDOW_S = 0.8  # caller speech this recent makes a stopped agent turn an interruption
MARK_AFTER_QUIET_S = 0.120  # the queue stays empty this long after a turn before its mark goes
DROP_AFTER_CLEAR_S = (
    0.5  # audio of the cut turn still in flight is dropped this long (or until it speaks again)
)
HANG_UP_DRAIN_S = 3.0  # when the room ends, queued agent audio plays out this long at most
CALLER_VOICE_RMS = 400.0  # int16 RMS of a caller chunk that counts as speech
AGENT_SILENT_PEAK = 16  # agent frames peaking below this are silence
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
_DTMF_CODES = {**{str(d): d for d in range(10)}, "*": 10, "#": 11, "A": 12, "B": 13, "C": 14, "D": 15}


class MediaSocket(Protocol):
    """The WebSocket Twilio connected, as the bridge needs it (the API adapts its framework's)."""

    async def receive_text(self) -> str | None:
        """The next text message, or ``None`` once the socket is closed."""
        ...

    async def send_text(self, data: str) -> None: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


def dtmf_code(digit: str) -> int:
    """The RFC 4733 event code of a DTMF digit (0-9, * 10, # 11, A-D 12-15)."""
    return _DTMF_CODES[digit.upper()]


def caller_attributes(*, call_sid: str, caller: str | None) -> dict[str, str]:
    """The caller participant's attributes; ``sip.phoneNumber`` only for an E.164 number."""
    attributes = {"auralink.source": SOURCE, "twilio.callSid": call_sid}
    if caller and _E164.fullmatch(caller):
        attributes["sip.phoneNumber"] = caller
    return attributes


async def read_start(
    socket: MediaSocket, parser: StreamParser, *, timeout: float = 10.0
) -> StartEvent | None:
    """Read up to the ``start`` message (after ``connected``); ``None`` if the socket closes first.

    Raises :class:`~auralink.telephony.mediastreams.MediaStreamError` for a malformed ``start``,
    an unsupported media format, or when no ``start`` comes within ``timeout`` seconds.
    """
    async with asyncio.timeout(timeout):
        while True:
            text = await socket.receive_text()
            if text is None:
                return None
            try:
                message = parser.parse(text)
            except MalformedMessage as e:
                logger.warning("media stream: skipping a message before start: %s", e)
                continue
            if isinstance(message, StartEvent):
                return message
            if message is not None and not isinstance(message, Connected):
                raise MediaStreamError(f"expected 'start', got {message.event!r} first")


@dataclass(slots=True)
class BridgeStats:
    """What happened on one bridged call (all counts)."""

    media_in: int = 0
    media_out: int = 0
    marks_sent: int = 0
    marks_played: int = 0
    clears: int = 0
    dtmf: int = 0
    malformed: int = 0


@dataclass(frozen=True, slots=True)
class _Mark:
    name: str


class MediaStreamBridge:
    """Bridges one started Media Streams socket to a LiveKit room (see the module docstring).

    ``await bridge.run()`` returns when the call ends; ``aclose()`` (also on cancellation)
    leaves the room and closes the socket.
    """

    def __init__(
        self,
        *,
        socket: MediaSocket,
        parser: StreamParser,
        start: StartEvent,
        livekit_url: str,
        token: str,
    ) -> None:
        self._socket = socket
        self._parser = parser
        self._stream_sid = start.start.stream_sid or start.stream_sid
        self._url = livekit_url
        self._token = token
        self.stats = BridgeStats()
        self.room = rtc.Room()
        self._source: rtc.AudioSource | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._send_lock = asyncio.Lock()
        # caller -> room
        self._upsample = mulaw.Resampler(input_rate=mulaw.TELEPHONE_RATE, output_rate=mulaw.ROOM_RATE)
        self._room_pcm = b""
        self._caller_voice_at = -1e9
        # agent -> caller
        self._queue: deque[bytes | _Mark] = deque()
        self._queued = asyncio.Event()
        self._drained = asyncio.Event()  # set by the pacer whenever the queue runs empty
        self._agent_speaking = False
        self._unmarked = False  # audio sent (or queued) since the last mark
        self._drop_until = 0.0
        self._epoch = 0  # counts clears: a frame taken before one is not sent after it
        self._pending_marks: set[str] = set()
        self._closed = False

    # ------------------------------------------------------------------ lifecycle
    async def run(self) -> None:
        """Join the room and bridge audio until ``stop``, a dropped socket or cancellation."""
        try:
            self.room.on("track_subscribed", self._on_track)
            self.room.on("track_unsubscribed", self._on_track_gone)
            self.room.on("participant_attributes_changed", self._on_attributes)
            await self.room.connect(self._url, self._token, rtc.RoomOptions(auto_subscribe=True))
            self._source = rtc.AudioSource(mulaw.ROOM_RATE, 1, queue_size_ms=200)
            track = rtc.LocalAudioTrack.create_audio_track("phone", self._source)
            options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
            await self.room.local_participant.publish_track(track, options)
            for participant in self.room.remote_participants.values():
                self._note_state(participant.attributes.get("lk.agent.state"))
            self._spawn(self._pace(), "twilio-pacer")
            logger.info("media stream %s joined room %s", self._stream_sid, self.room.name)
            await self._until_call_ends()
        finally:
            await self.aclose()

    async def _until_call_ends(self) -> None:
        """Bridge until Twilio stops or drops the stream, or the room ends (the agent hung up or
        failed: what it said is played out first, then the socket closes and Twilio ends the call)."""
        room_gone = asyncio.Event()
        self.room.on("disconnected", lambda *_: room_gone.set())
        receive = asyncio.ensure_future(self._receive())
        gone = asyncio.ensure_future(room_gone.wait())
        try:
            await asyncio.wait({receive, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (receive, gone):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if room_gone.is_set() and not receive.done():
            logger.info("media stream %s: the room ended; hanging up", self._stream_sid)
            if self._has_audio():
                self._drained.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._drained.wait(), timeout=HANG_UP_DRAIN_S)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):  # leaving a room that failed to join
            await self.room.disconnect()
        if self._source is not None:
            await self._source.aclose()
        with contextlib.suppress(Exception):  # the socket may already be gone
            await self._socket.close()
        seq = self._parser.stats
        logger.info(
            "media stream %s ended: %d chunks in, %d out, marks %d/%d played, %d clears, %d dtmf, "
            "sequence gaps %d, repeats dropped %d, malformed %d",
            self._stream_sid,
            self.stats.media_in,
            self.stats.media_out,
            self.stats.marks_played,
            self.stats.marks_sent,
            self.stats.clears,
            self.stats.dtmf,
            seq.gaps,
            seq.duplicates + seq.out_of_order,
            self.stats.malformed,
        )

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, text: str) -> None:
        async with self._send_lock:
            await self._socket.send_text(text)

    # ------------------------------------------------------------------ caller -> room
    async def _receive(self) -> None:
        while True:
            text = await self._socket.receive_text()
            if text is None:
                logger.info("media stream %s: the socket closed", self._stream_sid)
                return
            try:
                message = self._parser.parse(text)
            except MediaStreamError as e:
                self.stats.malformed += 1
                logger.warning("media stream %s: skipping a message: %s", self._stream_sid, e)
                continue
            if isinstance(message, MediaEvent):
                await self._on_media(message)
            elif isinstance(message, DtmfEvent):
                await self._on_dtmf(message)
            elif isinstance(message, MarkEvent):
                self._on_mark(message)
            elif isinstance(message, StopEvent):
                logger.info("media stream %s: Twilio stopped the stream", self._stream_sid)
                return

    async def _on_media(self, message: MediaEvent) -> None:
        if message.media.track not in ("inbound", "inbound_track"):
            return
        try:
            ulaw = message.media.audio()
        except MediaStreamError as e:
            self.stats.malformed += 1
            logger.warning("media stream %s: %s", self._stream_sid, e)
            return
        self.stats.media_in += 1
        pcm = mulaw.decode(ulaw)
        if mulaw.rms(pcm) > CALLER_VOICE_RMS:
            self._caller_voice_at = time.monotonic()
        self._room_pcm += self._upsample.push(pcm)
        frame_bytes = _IN_SAMPLES * 2
        assert self._source is not None
        while len(self._room_pcm) >= frame_bytes:
            chunk, self._room_pcm = self._room_pcm[:frame_bytes], self._room_pcm[frame_bytes:]
            await self._source.capture_frame(rtc.AudioFrame(chunk, mulaw.ROOM_RATE, 1, _IN_SAMPLES))

    async def _on_dtmf(self, message: DtmfEvent) -> None:
        digit = message.dtmf.digit.upper()
        self.stats.dtmf += 1
        try:
            await self.room.local_participant.publish_dtmf(code=dtmf_code(digit), digit=digit)
        except Exception as e:  # the SDK raises its own error types; a lost digit must not end the call
            logger.warning("media stream %s: DTMF not published: %s", self._stream_sid, type(e).__name__)

    def _on_mark(self, message: MarkEvent) -> None:
        if message.mark.name in self._pending_marks:
            self._pending_marks.discard(message.mark.name)
            self.stats.marks_played += 1

    # ------------------------------------------------------------------ agent -> caller
    @staticmethod
    def _is_agent(participant: rtc.Participant) -> bool:
        return participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT

    def _on_track(
        self, track: rtc.Track, _pub: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant
    ) -> None:
        if track.kind == rtc.TrackKind.KIND_AUDIO and self._is_agent(participant):
            self._spawn(self._listen(track), f"twilio-listen-{track.sid}")

    def _on_track_gone(
        self, track: rtc.Track, _pub: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant
    ) -> None:
        if track.kind == rtc.TrackKind.KIND_AUDIO and self._is_agent(participant) and self._has_audio():
            self._spawn(self._barge_in("the agent's audio stopped"), "twilio-clear")

    def _on_attributes(self, changed: dict[str, str], participant: rtc.Participant) -> None:
        if "lk.agent.state" in changed and self._is_agent(participant):
            was = self._agent_speaking
            self._note_state(changed["lk.agent.state"])
            recent_voice = time.monotonic() - self._caller_voice_at < BARGE_IN_WINDOW_S
            if was and not self._agent_speaking and recent_voice:
                self._spawn(self._barge_in("the caller interrupted"), "twilio-clear")

    def _note_state(self, state: str | None) -> None:
        if state is not None:
            self._agent_speaking = state == "speaking"
            if self._agent_speaking:
                self._drop_until = 0.0

    async def _listen(self, track: rtc.Track) -> None:
        downsample = mulaw.Resampler(input_rate=mulaw.ROOM_RATE, output_rate=mulaw.TELEPHONE_RATE)
        stream = rtc.AudioStream.from_track(track=track, sample_rate=mulaw.ROOM_RATE, num_channels=1)
        pending = b""
        try:
            async for event in stream:
                pending += mulaw.encode(downsample.push(bytes(event.frame.data.cast("B"))))
                while len(pending) >= _OUT_BYTES:
                    chunk, pending = pending[:_OUT_BYTES], pending[_OUT_BYTES:]
                    self._enqueue(chunk)
        finally:
            await stream.aclose()

    def _enqueue(self, ulaw: bytes) -> None:
        if time.monotonic() < self._drop_until:
            return  # still in flight from a turn we cleared
        if not self._agent_speaking:
            peak = int(np.abs(np.frombuffer(mulaw.decode(ulaw), dtype="<i2").astype(np.int32)).max())
            if peak < AGENT_SILENT_PEAK:
                return  # the agent's track between turns: nothing to play
        self._queue.append(ulaw)
        self._unmarked = True
        self._queued.set()

    def _has_audio(self) -> bool:
        return any(isinstance(item, bytes) for item in self._queue)

    async def _barge_in(self, why: str) -> None:
        dropped = sum(1 for item in self._queue if isinstance(item, bytes))
        self._queue.clear()
        self._epoch += 1
        self._drop_until = time.monotonic() + DROP_AFTER_CLEAR_S
        self._unmarked = False
        self.stats.clears += 1
        logger.info(
            "media stream %s: %s; clearing (%d queued frames dropped)", self._stream_sid, why, dropped
        )
        await self._send(clear_message(self._stream_sid))

    async def _pace(self) -> None:
        """Send queued audio at real time (at most :data:`LEAD_S` ahead), then a mark per turn."""
        clock: float | None = None  # when the next frame is due to play
        marks = 0
        while True:
            if not self._queue:
                self._queued.clear()
                self._drained.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._queued.wait(), timeout=MARK_AFTER_QUIET_S)
                if not self._queue:
                    clock = None
                    if self._unmarked and not self._agent_speaking:
                        marks += 1
                        self._unmarked = False
                        self._queue.append(_Mark(f"turn-{marks}"))
                    continue
            item = self._queue.popleft()
            epoch = self._epoch
            if isinstance(item, _Mark):
                self._pending_marks.add(item.name)
                self.stats.marks_sent += 1
                await self._send(mark_message(self._stream_sid, item.name))
                continue
            now = time.monotonic()
            if clock is None or clock < now:
                clock = now  # a new turn, or we fell behind: restart the clock
            ahead = clock - now - LEAD_S
            if ahead > 0:
                await asyncio.sleep(ahead)
            if epoch != self._epoch:
                clock = None  # cleared while this frame waited for its time
                continue
            await self._send(media_message(self._stream_sid, item))
            self.stats.media_out += 1
            clock += FRAME_S
