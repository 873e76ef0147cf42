"""``TwilioStreamClient``: plays Twilio's side of a Media Streams call against AuraLink's API.

Twilio's servers cannot be reached from tests, so this speaks their documented wire format
(https://www.twilio.com/docs/voice/media-streams/websocket-messages) over a real WebSocket:

1. :func:`answer_call` posts the voice webhook signed like Twilio does (``X-Twilio-Signature``
   from the twilio SDK's ``RequestValidator``) and returns the TwiML's Stream URL and parameters;
2. ``async with TwilioStreamClient(url=..., call_sid=..., parameters=...) as call`` opens the
   socket and sends ``connected`` and ``start`` (μ-law 8 kHz mono, the parameters);
3. :meth:`~TwilioStreamClient.play` streams 16-bit PCM (any rate that is a multiple of 8 kHz)
   as 20 ms μ-law ``media`` messages at real-time pace, :meth:`~TwilioStreamClient.silence`
   streams silence, and ``dtmf`` / ``mark`` / ``stop`` go out as Twilio sends them;
4. every ``media``, ``mark`` and ``clear`` the server sends is kept with its arrival time
   (:attr:`~TwilioStreamClient.received`), to measure what a caller would hear and when.

Integration tests and ``bench/`` use it.
"""

from __future__ import annotations

__all__ = ["Received", "StreamTwiML", "TwilioStreamClient", "answer_call"]

import asyncio
import base64
import contextlib
import json
import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
import httpx
import numpy as np
from twilio.request_validator import RequestValidator  # no stubs

from auralink.telephony import mulaw

from .listening import Listening

FRAME_S = 0.020
_FRAME_BYTES = 160  # 20 ms of μ-law at 8 kHz
LOUD_RMS = 300.0  # int16 RMS above which a received frame counts as audible


@dataclass(frozen=True, slots=True)
class StreamTwiML:
    """What the voice webhook answered: where to open the stream, and the parameters to send."""

    url: str
    parameters: dict[str, str]
    status_callback: str | None


@dataclass(frozen=True, slots=True)
class Received:
    """One message from the server: ``event`` is media, mark or clear; ``ulaw`` the audio of media."""

    at: float  # time.monotonic() on arrival
    event: str
    ulaw: bytes = b""
    name: str = ""

    @property
    def pcm(self) -> bytes:
        return mulaw.decode(self.ulaw)

    @property
    def loud(self) -> bool:
        return self.event == "media" and mulaw.rms(self.pcm) > LOUD_RMS


async def answer_call(
    *,
    api_url: str,
    path: str,
    auth_token: str,
    call_sid: str,
    caller: str = "+14155550100",
    called: str = "+14155550199",
    signed_url: str | None = None,
) -> StreamTwiML:
    """POST the voice webhook at ``api_url`` + ``path`` as Twilio would; the TwiML's ``<Stream>``.

    ``signed_url`` is the URL Twilio would have signed (``AURALINK_PUBLIC_URL`` + path behind a
    proxy); by default the URL posted to.
    """
    form = {
        "AccountSid": "AC" + "0" * 32,
        "CallSid": call_sid,
        "From": caller,
        "To": called,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }
    url = api_url.rstrip("/") + path
    signature = RequestValidator(auth_token).compute_signature(signed_url or url, form)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.post(url, content=urlencode(form), headers=headers)
    if r.status_code != 200:
        raise RuntimeError(f"the voice webhook answered {r.status_code}: {r.text}")
    stream = ET.fromstring(r.text).find("./Connect/Stream")  # noqa: S314  # our own API's TwiML, in tests
    if stream is None:
        raise RuntimeError(f"the TwiML has no <Connect><Stream>: {r.text}")
    parameters = {p.attrib["name"]: p.attrib["value"] for p in stream.findall("Parameter")}
    return StreamTwiML(
        url=stream.attrib["url"], parameters=parameters, status_callback=stream.attrib.get("statusCallback")
    )


@dataclass
class TwilioStreamClient(Listening):
    """Twilio's side of one Media Streams socket. Use ``async with``; see the module docstring."""

    url: str
    call_sid: str
    parameters: dict[str, str] = field(default_factory=dict)
    account_sid: str = "AC" + "0" * 32
    stream_sid: str = field(default_factory=lambda: "MZ" + secrets.token_hex(16))
    received: list[Received] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int | None = None
    _session: aiohttp.ClientSession | None = None
    _ws: aiohttp.ClientWebSocketResponse | None = None
    _reader: asyncio.Task[None] | None = None
    _sequence: int = 0
    _chunk: int = 0
    _started_at: float = 0.0
    _stopped: bool = False

    async def __aenter__(self) -> TwilioStreamClient:
        self._session = aiohttp.ClientSession()
        try:
            self._ws = await self._session.ws_connect(self.url, autoping=True)
        except BaseException:
            await self._session.close()
            raise
        self._reader = asyncio.create_task(self._read(), name="twilio-client-read")
        await self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await self._send(
            {
                "event": "start",
                "sequenceNumber": self._next(),
                "start": {
                    "accountSid": self.account_sid,
                    "streamSid": self.stream_sid,
                    "callSid": self.call_sid,
                    "tracks": ["inbound"],
                    "customParameters": self.parameters,
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
                "streamSid": self.stream_sid,
            }
        )
        self._started_at = time.monotonic()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._session is not None:
            await self._session.close()

    # ------------------------------------------------------------------ sending
    def _next(self) -> str:
        self._sequence += 1
        return str(self._sequence)

    async def _send(self, message: dict[str, Any]) -> None:
        assert self._ws is not None, "use `async with TwilioStreamClient(...)`"
        await self._ws.send_str(json.dumps(message))

    async def send_media(self, ulaw: bytes) -> None:
        """One ``media`` message (normally 160 bytes: 20 ms)."""
        self._chunk += 1
        timestamp = int((time.monotonic() - self._started_at) * 1000)
        payload = base64.b64encode(ulaw).decode("ascii")
        await self._send(
            {
                "event": "media",
                "sequenceNumber": self._next(),
                "media": {
                    "track": "inbound",
                    "chunk": str(self._chunk),
                    "timestamp": str(timestamp),
                    "payload": payload,
                },
                "streamSid": self.stream_sid,
            }
        )

    async def play(self, pcm: np.ndarray | bytes, *, rate: int = 16000) -> float:
        """Stream 16-bit mono PCM at ``rate`` in real time; returns when its last frame went out."""
        data = pcm.astype("<i2").tobytes() if isinstance(pcm, np.ndarray) else pcm
        ulaw = mulaw.encode(mulaw.Resampler(input_rate=rate, output_rate=mulaw.TELEPHONE_RATE).push(data))
        return await self._stream(ulaw)

    async def silence(self, seconds: float) -> float:
        return await self._stream(mulaw.silence(int(seconds * mulaw.TELEPHONE_RATE)))

    async def _stream(self, ulaw: bytes) -> float:
        start = time.monotonic()
        for i, offset in enumerate(range(0, len(ulaw), _FRAME_BYTES)):
            if self._stopped or self.closed.is_set():
                break  # as on Twilio: no media after the stream stopped or the socket closed
            await self.send_media(ulaw[offset : offset + _FRAME_BYTES])
            ahead = start + (i + 1) * FRAME_S - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
        return time.monotonic()

    async def dtmf(self, digit: str) -> None:
        await self._send(
            {
                "event": "dtmf",
                "streamSid": self.stream_sid,
                "sequenceNumber": self._next(),
                "dtmf": {"track": "inbound_track", "digit": digit},
            }
        )

    async def mark(self, name: str) -> None:
        """Echo a mark, as Twilio does once the audio before it has played."""
        await self._send(
            {
                "event": "mark",
                "sequenceNumber": self._next(),
                "streamSid": self.stream_sid,
                "mark": {"name": name},
            }
        )

    async def stop(self) -> None:
        self._stopped = True
        await self._send(
            {
                "event": "stop",
                "sequenceNumber": self._next(),
                "streamSid": self.stream_sid,
                "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
            }
        )

    # ------------------------------------------------------------------ receiving
    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for message in self._ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(message.data)
                at = time.monotonic()
                event = data.get("event", "")
                if event == "media":
                    self.received.append(Received(at, "media", base64.b64decode(data["media"]["payload"])))
                elif event == "mark":
                    self.received.append(Received(at, "mark", name=data["mark"]["name"]))
                elif event == "clear":
                    self.received.append(Received(at, "clear"))
        finally:
            self.close_code = self._ws.close_code
            self.closed.set()

    def media(self) -> list[Received]:
        return [r for r in self.received if r.event == "media"]

    def marks(self) -> list[str]:
        return [r.name for r in self.received if r.event == "mark"]

    def loud_times(self) -> Iterable[float]:
        return (r.at for r in self.received if r.loud)

    def audio_after(self, t: float) -> bytes:
        """The PCM (8 kHz) of every media frame that arrived after ``t``."""
        return b"".join(r.pcm for r in self.received if r.event == "media" and r.at > t)
