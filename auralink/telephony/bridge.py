"""The Media Streams bridge: one Twilio call's socket becomes one participant in a LiveKit room.

:func:`read_start` reads the socket up to Twilio's ``start`` (the API checks the stream token in
it and mints the room token). :class:`MediaStreamBridge` then joins the room with ``livekit.rtc``
and, until Twilio says ``stop`` or the socket drops:

- **caller → room**: each ``media`` chunk (μ-law 8 kHz) is decoded, resampled to 48 kHz
  (:class:`~auralink.telephony.mulaw.Resampler`) and fed to a microphone track in 10 ms frames;
- **room → caller**: every other participant's audio track (agents and humans alike, as
  livekit-sip mixes a room for a SIP caller) is resampled to 8 kHz and cut into 20 ms PCM frames
  in a small jitter buffer of its own (:class:`_Source`; the oldest frames are dropped past
  :data:`HUMAN_BUFFER_S`, or :data:`AGENT_BUFFER_S` for an agent). Silent frames are not
  buffered (an agent's are kept while it is speaking), so every pause empties a buffer. A pacer
  takes one frame from each source that has one every 20 ms, sums them (one numpy sum, clipped to
  16 bits), μ-law encodes the mix and sends it as a ``media`` message in real time with a small
  lead (:data:`LEAD_S`, so Twilio's buffer stays short and ``clear`` has little to drop); a
  source with nothing buffered adds silence, and when nobody has anything nothing is sent. When
  the agent's turn has played out (its ``lk.agent.state`` left ``speaking`` and its buffer has
  stayed empty :data:`MARK_AFTER_QUIET_S`), a ``mark`` follows it; Twilio echoes each mark once
  played, and :class:`BridgeStats` counts both;
- **barge-in**: when the agent stops speaking while the caller is talking (its state leaves
  ``speaking`` within :data:`BARGE_IN_WINDOW_S` of caller speech), or its audio track goes away
  with frames still buffered, the agents' buffers are dropped (the humans' are not) and ``clear``
  sent, so the caller stops hearing the interrupted reply at once;
- **DTMF**: a ``dtmf`` digit is published with ``publish_dtmf`` (agents get ``sip_dtmf_received``
  as for SIP calls).

The participant's attributes (``sip.phoneNumber``, ``auralink.source``, ``twilio.callSid``,
:func:`caller_attributes`) go into its token, so the agent sees them when it first sees the
caller. Every task is owned by the bridge and cancelled and awaited by :meth:`aclose`.
"""

from __future__ import annotations

__all__ = [
    "AGENT_BUFFER_S",
    "BARGE_IN_WINDOW_S",
    "HUMAN_BUFFER_S",
    "LEAD_S",
    "BridgeStats",
    "MediaSocket",
    "MediaStreamBridge",
    "caller_attributes",
    "dtmf_code",
    "mix",
    "read_start",
]

import asyncio
import contextlib
import logging
import re
import time
from collections import deque
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
from livekit import rtc

from auralink.core.tasks import TaskSet

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
_OUT_SAMPLES = int(mulaw.TELEPHONE_RATE * FRAME_S)  # 160 samples: 160 μ-law bytes
_IN_SAMPLES = mulaw.ROOM_RATE // 100  # 10 ms frames into the room
LEAD_S = 0.060  # how far ahead of real time the pacer may send
BARGE_IN_WINDOW_S = 0.8  # caller speech this recent makes a stopped agent turn an interruption
MARK_AFTER_QUIET_S = 0.120  # the queue stays empty this long after a turn before its mark goes
DROP_AFTER_CLEAR_S = (
    0.5  # audio of the cut turn still in flight is dropped this long (or until it speaks again)
)
HANG_UP_DRAIN_S = 3.0  # when the room ends, queued agent audio plays out this long at most
CALLER_VOICE_RMS = 400.0  # int16 RMS of a caller chunk that counts as speech
SILENT_PEAK = 16  # int16 frames peaking below this are silence (not buffered, not sent)
HUMAN_BUFFER_S = 0.200  # a human's jitter buffer: older frames are dropped beyond this
AGENT_BUFFER_S = 1.0  # an agent's: a reply is cut short by clear, not by a stalled pacer
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
    overflow: int = 0  # 20 ms frames dropped because a source's buffer was full


class _Source:
    """One remote audio track as the pacer mixes it: a jitter buffer of 20 ms 8 kHz PCM frames.

    ``push`` cuts PCM of any length into frames (the remainder waits for the next push); ``put``
    buffers one frame and drops the oldest once ``max_frames`` are held.
    """

    __slots__ = ("_max", "_pending", "agent", "frames", "task")

    def __init__(self, *, agent: bool, max_frames: int) -> None:
        self.agent = agent
        self.frames: deque[npt.NDArray[np.int16]] = deque()
        self.task: asyncio.Task[None] | None = None
        self._max = max_frames
        self._pending = b""

    def push(self, pcm: bytes) -> list[npt.NDArray[np.int16]]:
        """The whole 20 ms frames that ``pcm`` (16-bit little-endian) completes."""
        data = self._pending + pcm
        whole = len(data) - len(data) % (_OUT_SAMPLES * 2)
        self._pending = data[whole:]
        samples = np.frombuffer(data[:whole], dtype="<i2").astype(np.int16)
        return list(samples.reshape(-1, _OUT_SAMPLES))

    def put(self, frame: npt.NDArray[np.int16]) -> bool:
        """Buffer ``frame``; ``False`` when the oldest frame had to go to make room."""
        self.frames.append(frame)
        if len(self.frames) > self._max:
            self.frames.popleft()
            return False
        return True

    def clear(self) -> int:
        """Drop everything buffered; how many frames were dropped."""
        dropped = len(self.frames)
        self.frames.clear()
        self._pending = b""
        return dropped


def mix(frames: list[npt.NDArray[np.int16]]) -> npt.NDArray[np.int16]:
    """The sum of equal-length int16 frames, clipped to 16 bits (one frame passes through)."""
    if len(frames) == 1:
        return frames[0]
    total = np.sum(frames, axis=0, dtype=np.int32)
    mixed: npt.NDArray[np.int16] = np.clip(total, -32768, 32767).astype(np.int16)
    return mixed


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
        self._tasks = TaskSet()
        self._send_lock = asyncio.Lock()
        # caller -> room
        self._upsample = mulaw.Resampler(input_rate=mulaw.TELEPHONE_RATE, output_rate=mulaw.ROOM_RATE)
        self._room_pcm = b""
        self._caller_voice_at = -1e9
        # room -> caller
        self._sources: dict[str, _Source] = {}  # by track sid
        self._queued = asyncio.Event()  # set whenever a source buffers a frame
        self._drained = asyncio.Event()  # set by the pacer whenever no agent audio is buffered
        self._agent_speaking = False
        self._unmarked = False  # agent audio sent (or buffered) since the last mark
        self._agent_out_at = -1e9  # when the pacer last sent agent audio
        self._drop_until = 0.0
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
            self._tasks.spawn(self._pace(), name="twilio-pacer")
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
        await self._tasks.aclose()
        with contextlib.suppress(Exception):  # leaving a room that failed to join
            await self.room.disconnect()
        if self._source is not None:
            await self._source.aclose()
        with contextlib.suppress(Exception):  # the socket may already be gone
            await self._socket.close()
        seq = self._parser.stats
        logger.info(
            "media stream %s ended: %d chunks in, %d out, marks %d/%d played, %d clears, %d dtmf, "
            "sequence gaps %d, repeats dropped %d, malformed %d, overflow frames %d",
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
            self.stats.overflow,
        )

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

    # ------------------------------------------------------------------ room -> caller
    @staticmethod
    def _is_agent(participant: rtc.Participant) -> bool:
        return participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT

    def _on_track(
        self, track: rtc.Track, _pub: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant
    ) -> None:
        if track.kind == rtc.TrackKind.KIND_AUDIO and track.sid not in self._sources:
            source = self._add_source(track.sid, agent=self._is_agent(participant))
            source.task = self._tasks.spawn(self._listen(track, source), name=f"twilio-listen-{track.sid}")

    def _on_track_gone(
        self, track: rtc.Track, _pub: rtc.RemoteTrackPublication, _participant: rtc.RemoteParticipant
    ) -> None:
        source = self._sources.pop(track.sid, None)
        if source is None:
            return
        if source.task is not None:
            source.task.cancel()
        if source.agent and (source.frames or self._has_audio()):
            self._tasks.spawn(self._barge_in("the agent's audio stopped"), name="twilio-clear")

    def _add_source(self, key: str, *, agent: bool) -> _Source:
        seconds = AGENT_BUFFER_S if agent else HUMAN_BUFFER_S
        source = _Source(agent=agent, max_frames=round(seconds / FRAME_S))
        self._sources[key] = source
        return source

    def _on_attributes(self, changed: dict[str, str], participant: rtc.Participant) -> None:
        if "lk.agent.state" in changed and self._is_agent(participant):
            was = self._agent_speaking
            self._note_state(changed["lk.agent.state"])
            recent_voice = time.monotonic() - self._caller_voice_at < BARGE_IN_WINDOW_S
            if was and not self._agent_speaking and recent_voice:
                self._tasks.spawn(self._barge_in("the caller interrupted"), name="twilio-clear")

    def _note_state(self, state: str | None) -> None:
        if state is not None:
            self._agent_speaking = state == "speaking"
            if self._agent_speaking:
                self._drop_until = 0.0

    async def _listen(self, track: rtc.Track, source: _Source) -> None:
        downsample = mulaw.Resampler(input_rate=mulaw.ROOM_RATE, output_rate=mulaw.TELEPHONE_RATE)
        stream = rtc.AudioStream.from_track(track=track, sample_rate=mulaw.ROOM_RATE, num_channels=1)
        try:
            async for event in stream:
                self._feed(source, downsample.push(bytes(event.frame.data.cast("B"))))
        finally:
            await stream.aclose()

    def _feed(self, source: _Source, pcm: bytes) -> None:
        """Buffer the 20 ms frames ``pcm`` (8 kHz) completes, leaving out silence and cut turns."""
        for frame in source.push(pcm):
            if source.agent:
                if time.monotonic() < self._drop_until:
                    continue  # still in flight from a turn we cleared
                if not self._agent_speaking and _peak(frame) < SILENT_PEAK:
                    continue  # the agent's track between turns: nothing to play
                self._unmarked = True
            elif _peak(frame) < SILENT_PEAK:
                continue  # a quiet human: nothing to play
            if not source.put(frame):
                self.stats.overflow += 1
            self._queued.set()

    def _has_audio(self) -> bool:
        """Whether any agent audio is buffered."""
        return any(source.frames for source in self._sources.values() if source.agent)

    def _buffered(self) -> bool:
        return any(source.frames for source in self._sources.values())

    async def _barge_in(self, why: str) -> None:
        dropped = sum(source.clear() for source in self._sources.values() if source.agent)
        self._drop_until = time.monotonic() + DROP_AFTER_CLEAR_S
        self._unmarked = False
        self.stats.clears += 1
        logger.info(
            "media stream %s: %s; clearing (%d buffered agent frames dropped)", self._stream_sid, why, dropped
        )
        await self._send(clear_message(self._stream_sid))

    def _take(self) -> tuple[bytes, bool] | None:
        """The next 20 ms of the mix as μ-law, and whether an agent is in it; ``None`` if nobody is."""
        taken = [
            (source.frames.popleft(), source.agent) for source in self._sources.values() if source.frames
        ]
        if not taken:
            return None
        return mulaw.encode(mix([frame for frame, _ in taken])), any(agent for _, agent in taken)

    async def _pace(self) -> None:
        """Send the mix at real time (at most :data:`LEAD_S` ahead), and a mark after each agent turn."""
        clock: float | None = None  # when the next frame is due to play
        marks = 0
        while True:
            if not self._has_audio():
                self._drained.set()
            turn_over = self._unmarked and not self._agent_speaking and not self._has_audio()
            if turn_over and time.monotonic() - self._agent_out_at >= MARK_AFTER_QUIET_S:
                marks += 1
                self._unmarked = False
                await self._send_mark(f"turn-{marks}")
            if not self._buffered():
                self._queued.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._queued.wait(), timeout=MARK_AFTER_QUIET_S)
                if not self._buffered():
                    clock = None
                    continue
            now = time.monotonic()
            if clock is None or clock < now:
                clock = now  # someone started talking, or we fell behind: restart the clock
            ahead = clock - now - LEAD_S
            if ahead > 0:
                await asyncio.sleep(ahead)
            async with self._send_lock:  # taken under the lock: a clear cannot slip in between
                taken = self._take()
                if taken is None:
                    continue  # cleared while this tick waited for its time
                ulaw, agent = taken
                await self._socket.send_text(media_message(self._stream_sid, ulaw))
            self.stats.media_out += 1
            if agent:
                self._agent_out_at = time.monotonic()
            clock += FRAME_S

    async def _send_mark(self, name: str) -> None:
        self._pending_marks.add(name)
        self.stats.marks_sent += 1
        await self._send(mark_message(self._stream_sid, name))


def _peak(frame: npt.NDArray[np.int16]) -> int:
    return int(np.abs(frame.astype(np.int32)).max())
