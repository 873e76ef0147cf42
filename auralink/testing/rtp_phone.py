"""``RtpPhone``: the carrier's end of a G.711 μ-law call, for SIP tests and benchmarks.

An asyncio UDP endpoint that sends one 20 ms PCMU RTP packet every 20 ms (queued speech, else
μ-law silence) to livekit-sip's media address, and keeps every packet it hears (decoded to PCM,
with its arrival time). SIPp places or answers the call and writes livekit-sip's media address
to a file; the test or bench points :attr:`RtpPhone.peer` at it. :meth:`RtpPhone.send_dtmf`
presses keys as RFC 4733 telephone-events (payload type :data:`DTMF_PT`, which the scenarios'
SDP offers) in the same RTP stream; keys the far end presses the same way are collected in
:attr:`RtpPhone.received_dtmf`, one per event (the end packet's retransmissions counted once).
"""

from __future__ import annotations

__all__ = [
    "DTMF_PT",
    "FRAME",
    "SPEECH_RMS",
    "DtmfPacket",
    "RtpPhone",
    "dtmf_packets",
    "pcm_to_mulaw_frames",
    "wav_to_mulaw_frames",
]

import asyncio
import contextlib
import secrets
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import numpy.typing as npt

from auralink.telephony import mulaw

from .listening import Listening
from .voice_client import read_wav_16k

FRAME = 160  # 20 ms of 8 kHz audio, one PCMU RTP packet
SPEECH_RMS = 500.0  # 16-bit PCM; livekit-sip's silence decodes to about 0
_SILENCE = mulaw.silence(FRAME)
DTMF_PT = 101  # telephone-event/8000, as the carrier's SDP offers it
DTMF_VOLUME = 10  # -10 dBm0
_DTMF_KEYS = "0123456789*#ABCD"  # event codes 0-15, RFC 4733 §3.2
_DTMF_CODES = {key: code for code, key in enumerate(_DTMF_KEYS)}


@dataclass(frozen=True, slots=True)
class DtmfPacket:
    """One RFC 4733 telephone-event packet: ``first`` starts the event (marker bit, new timestamp)."""

    code: int
    duration: int  # timestamp units (8 kHz) since the event began
    first: bool = False
    end: bool = False

    def payload(self) -> bytes:
        return struct.pack("!BBH", self.code, (0x80 if self.end else 0) | DTMF_VOLUME, self.duration)

    @classmethod
    def parse(cls, payload: bytes, *, marker: bool = False) -> DtmfPacket | None:
        """An RFC 4733 event payload (4 bytes: event, E/R/volume, duration); None if malformed."""
        if len(payload) < 4:
            return None
        code, flags, duration = struct.unpack("!BBH", payload[:4])
        return cls(code, duration, first=marker, end=bool(flags & 0x80))

    @property
    def key(self) -> str:
        """The key this event presses ("?" for an event code that is not a keypad key)."""
        return _DTMF_KEYS[self.code] if self.code < len(_DTMF_KEYS) else "?"


def dtmf_packets(digits: str, *, tone_frames: int = 5, gap_frames: int = 5) -> list[DtmfPacket | None]:
    """The packets for ``digits``, one per 20 ms tick: for each key ``tone_frames`` event packets
    with a growing duration, three end packets (E bit), then ``gap_frames`` ticks of audio (None)."""
    ticks: list[DtmfPacket | None] = []
    for key in digits:
        code = _DTMF_CODES[key.upper()]
        ticks += [DtmfPacket(code, (i + 1) * FRAME, first=i == 0) for i in range(tone_frames)]
        ticks += [DtmfPacket(code, tone_frames * FRAME, end=True)] * 3
        ticks += [None] * gap_frames
    return ticks


def wav_to_mulaw_frames(path: str | Path) -> list[bytes]:
    """A 16 kHz mono WAV as 20 ms μ-law frames at 8 kHz (band-limited, as a phone line)."""
    return pcm_to_mulaw_frames(read_wav_16k(path))


def pcm_to_mulaw_frames(pcm: npt.NDArray[np.int16]) -> list[bytes]:
    """16 kHz mono samples as 20 ms μ-law frames at 8 kHz."""
    raw = pcm.astype("<i2").tobytes()
    data = mulaw.encode(mulaw.Resampler(input_rate=16000, output_rate=8000).push(raw))
    data += _SILENCE[: -len(data) % FRAME]
    return [data[i : i + FRAME] for i in range(0, len(data), FRAME)]


@dataclass
class RtpPhone(Listening, asyncio.DatagramProtocol):
    """Sends a 20 ms PCMU packet every 20 ms (queued speech, else silence) and keeps what it hears."""

    heard: list[tuple[float, bytes]] = field(default_factory=list)  # (arrival, 16-bit PCM)
    queue: list[bytes] = field(default_factory=list)
    transport: asyncio.DatagramTransport | None = None
    peer: tuple[str, int] | None = None
    last_sent_speech: float = 0.0  # when the last queued (speech) frame went out
    drained: asyncio.Event = field(default_factory=asyncio.Event)  # set when the queue empties
    keypad: list[DtmfPacket | None] = field(default_factory=list)  # before audio; None = one audio tick
    keyed: asyncio.Event = field(default_factory=asyncio.Event)  # set when the keypad queue empties
    received_dtmf: str = ""  # keys the far end pressed (RFC 4733 events), in order
    _dtmf_ended: set[tuple[int, int]] = field(default_factory=set)  # (SSRC, timestamp) of ended events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) <= 12:
            return
        payload_type = data[1] & 0x7F
        if payload_type == 0:  # PCMU
            self.heard.append((time.monotonic(), mulaw.decode(data[12:])))
        elif payload_type == DTMF_PT:
            self._telephone_event(data)

    def _telephone_event(self, data: bytes) -> None:
        """One RFC 4733 packet: a key counts once its event ends. All packets of one event share
        the RTP timestamp, and the end packet is sent three times (section 2.5.1.4), so an event
        is known by (SSRC, timestamp)."""
        timestamp, ssrc = struct.unpack("!II", data[4:12])
        header_len = 12 + 4 * (data[0] & 0x0F)  # and the CSRC list, if any
        if data[0] & 0x10 and len(data) >= header_len + 4:  # a header extension (RFC 3550 5.3.1)
            header_len += 4 + 4 * struct.unpack("!H", data[header_len + 2 : header_len + 4])[0]
        event = DtmfPacket.parse(data[header_len:], marker=bool(data[1] & 0x80))
        if event is None or not event.end or (ssrc, timestamp) in self._dtmf_ended:
            return
        self._dtmf_ended.add((ssrc, timestamp))
        self.received_dtmf += event.key

    async def wait_for_dtmf(self, digits: str, *, timeout: float) -> None:
        """Wait until the keys the far end pressed so far end with ``digits``."""
        deadline = time.monotonic() + timeout
        while not self.received_dtmf.endswith(digits):
            assert time.monotonic() < deadline, (
                f"received keys {self.received_dtmf!r}, wanted {digits!r} within {timeout:.0f}s"
            )
            await asyncio.sleep(0.05)

    async def send_forever(self) -> None:
        ssrc, seq, ts = secrets.randbits(32), secrets.randbits(16), secrets.randbits(32)
        loop = asyncio.get_running_loop()
        start = loop.time()
        n = 0
        event_ts = 0
        while True:
            keying = bool(self.keypad)
            tick = self.keypad.pop(0) if keying else None
            if keying and not self.keypad:
                self.keyed.set()
            if tick is not None:  # a key: a telephone-event packet instead of audio
                if tick.first:
                    event_ts = (ts + n * FRAME) & 0xFFFFFFFF  # the event's timestamp: when it began
                marker = 0x80 if tick.first else 0
                header = struct.pack("!BBHII", 0x80, marker | DTMF_PT, (seq + n) & 0xFFFF, event_ts, ssrc)
                if self.transport is not None and self.peer is not None:
                    self.transport.sendto(header + tick.payload(), self.peer)
                n += 1
                await asyncio.sleep(max(0.0, start + n * 0.02 - loop.time()))
                continue
            speech = bool(self.queue)
            payload = self.queue.pop(0) if speech else _SILENCE
            header = struct.pack("!BBHII", 0x80, 0, (seq + n) & 0xFFFF, (ts + n * FRAME) & 0xFFFFFFFF, ssrc)
            if self.transport is not None and self.peer is not None:
                self.transport.sendto(header + payload, self.peer)
                if speech:
                    self.last_sent_speech = time.monotonic()
                    if not self.queue:
                        self.drained.set()
            n += 1
            await asyncio.sleep(max(0.0, start + n * 0.02 - loop.time()))

    async def say(self, frames: list[bytes]) -> float:
        """Queue ``frames`` and wait until the last went out; when it did (monotonic)."""
        self.drained.clear()
        self.queue.extend(frames)
        await self.drained.wait()
        return self.last_sent_speech

    async def send_dtmf(self, digits: str, *, tone_frames: int = 5, gap_frames: int = 5) -> None:
        """Press ``digits`` (0-9, *, #, A-D) as RFC 4733 events, ``tone_frames`` x 20 ms each and
        ``gap_frames`` x 20 ms of audio between keys; returns when the last packet went out."""
        self.keyed.clear()
        self.keypad.extend(dtmf_packets(digits, tone_frames=tone_frames, gap_frames=gap_frames))
        await self.keyed.wait()

    def loud_since(self, since: float) -> float:
        """Seconds of speech heard after ``since`` (20 ms packets whose RMS is above speech level)."""
        return sum(len(pcm) / 16000 for t, pcm in self.heard if t >= since and mulaw.rms(pcm) > SPEECH_RMS)

    def loud_times(self) -> Iterable[float]:
        return (at for at, pcm in self.heard if mulaw.rms(pcm) > SPEECH_RMS)

    def loudest(self) -> float:
        return max((mulaw.rms(pcm) for _, pcm in self.heard), default=0.0)

    async def wait_for_speech(self, *, after: float, seconds: float, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.loud_since(after) < seconds:
            assert time.monotonic() < deadline, (
                f"heard {self.loud_since(after):.2f}s of speech, wanted {seconds}s "
                f"({len(self.heard)} packets, loudest RMS {self.loudest():.0f})"
            )
            await asyncio.sleep(0.05)

    async def heard_speech(self, *, after: float, seconds: float, timeout: float) -> bool:
        with contextlib.suppress(AssertionError):
            await self.wait_for_speech(after=after, seconds=seconds, timeout=timeout)
            return True
        return False
