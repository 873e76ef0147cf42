"""Twilio Media Streams, the WebSocket protocol of ``<Connect><Stream>``, as typed messages.

Twilio documents the messages at https://www.twilio.com/docs/voice/media-streams/websocket-messages.
Inbound (Twilio to us), discriminated by ``event``: ``connected``, ``start`` (stream and call
sids, tracks, ``customParameters``, ``mediaFormat``), ``media`` (base64 μ-law 8 kHz mono),
``dtmf``, ``mark`` (a mark we sent, echoed once its audio has played) and ``stop``; every one
but ``connected`` carries a ``sequenceNumber`` (a string of digits). Outbound (us to Twilio):
``media``, ``mark`` and ``clear`` (:func:`media_message`, :func:`mark_message`, :func:`clear_message`).

:class:`StreamParser` reads one connection's messages in order and never lets bad input crash
the caller: malformed JSON or fields raise :class:`MalformedMessage` (the bridge logs and skips
it); an event we do not know is logged at debug level and ignored; a ``start`` whose media
format is not ``audio/x-mulaw`` 8000 Hz mono raises :class:`UnsupportedMediaFormat` (the bridge
hangs up); a ``sequenceNumber`` that repeats or goes back is counted and the message dropped,
one that skips ahead is counted and the message kept (:class:`SequenceStats`).

Errors, under the core tree's :class:`~auralink.core.AuraLinkError`::

    MediaStreamError                 Twilio's socket sent something we cannot use
    ├── MalformedMessage             not JSON, or a known event with missing or bad fields
    └── UnsupportedMediaFormat       ``start`` announced audio other than μ-law 8 kHz mono
"""

from __future__ import annotations

__all__ = [
    "Connected",
    "DtmfEvent",
    "InboundMessage",
    "MalformedMessage",
    "MarkEvent",
    "MediaEvent",
    "MediaFormat",
    "MediaStreamError",
    "SequenceStats",
    "StartEvent",
    "StopEvent",
    "StreamParser",
    "UnsupportedMediaFormat",
    "clear_message",
    "mark_message",
    "media_message",
]

import base64
import binascii
import json
import logging
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.alias_generators import to_camel

from auralink.core import AuraLinkError

logger = logging.getLogger("auralink.telephony")

MULAW = "audio/x-mulaw"


class MediaStreamError(AuraLinkError):
    """Twilio's Media Streams socket sent something the bridge cannot use."""


class MalformedMessage(MediaStreamError):
    pass


class UnsupportedMediaFormat(MediaStreamError):
    pass


class _Wire(BaseModel):
    """Twilio's camelCase fields as snake_case attributes; fields Twilio adds later are ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)


class _Sequenced(_Wire):
    sequence_number: int
    stream_sid: str = ""


class Connected(_Wire):
    event: Literal["connected"]
    protocol: str = "Call"
    version: str = ""


class MediaFormat(_Wire):
    encoding: str
    sample_rate: int
    channels: int


class StartInfo(_Wire):
    stream_sid: str
    account_sid: str
    call_sid: str
    tracks: list[str] = Field(default_factory=lambda: ["inbound"])
    custom_parameters: dict[str, str] = Field(default_factory=dict)
    media_format: MediaFormat


class StartEvent(_Sequenced):
    event: Literal["start"]
    start: StartInfo


class MediaPayload(_Wire):
    track: str = "inbound"
    chunk: int
    timestamp: int  # ms since the stream started
    payload: str  # base64 μ-law

    def audio(self) -> bytes:
        """The μ-law bytes of this chunk."""
        try:
            return base64.b64decode(self.payload, validate=True)
        except (binascii.Error, ValueError) as e:
            raise MalformedMessage(f"media chunk {self.chunk}: payload is not base64") from e


class MediaEvent(_Sequenced):
    event: Literal["media"]
    media: MediaPayload


class DtmfInfo(_Wire):
    track: str = "inbound_track"
    digit: str = Field(pattern=r"^[0-9*#A-Da-d]$")


class DtmfEvent(_Sequenced):
    event: Literal["dtmf"]
    dtmf: DtmfInfo


class MarkInfo(_Wire):
    name: str


class MarkEvent(_Sequenced):
    event: Literal["mark"]
    mark: MarkInfo


class StopInfo(_Wire):
    account_sid: str = ""
    call_sid: str = ""


class StopEvent(_Sequenced):
    event: Literal["stop"]
    stop: StopInfo = Field(default_factory=StopInfo)


InboundMessage = Annotated[
    Connected | StartEvent | MediaEvent | DtmfEvent | MarkEvent | StopEvent, Field(discriminator="event")
]
KNOWN_EVENTS = frozenset({"connected", "start", "media", "dtmf", "mark", "stop"})


@dataclass(slots=True)
class SequenceStats:
    """What the sequence numbers of one stream showed."""

    received: int = 0
    gaps: int = 0  # times a number skipped ahead (messages lost or reordered); kept
    duplicates: int = 0  # a number seen again; dropped
    out_of_order: int = 0  # a number lower than one already seen; dropped
    malformed: int = 0
    unknown: int = 0


def _problems(e: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'message'}: {err['msg']}" for err in e.errors()
    )


class StreamParser:
    """Parses one Media Streams connection's text frames in order (see the module docstring)."""

    def __init__(self) -> None:
        self.stats = SequenceStats()
        union: Any = InboundMessage  # an Annotated union, which mypy does not take as a type here
        self._adapter: TypeAdapter[InboundMessage] = TypeAdapter(union)
        self._last_sequence = 0
        self.started: StartEvent | None = None

    def parse(self, text: str | bytes) -> InboundMessage | None:
        """The message in ``text``, or ``None`` for one to skip (unknown event, repeated number)."""
        try:
            raw: Any = json.loads(text)
        except (ValueError, UnicodeDecodeError) as e:
            self.stats.malformed += 1
            raise MalformedMessage(f"not a JSON message ({type(e).__name__})") from None
        if not isinstance(raw, dict) or not isinstance(raw.get("event"), str):
            self.stats.malformed += 1
            raise MalformedMessage("a Media Streams message is a JSON object with an 'event' string")
        if raw["event"] not in KNOWN_EVENTS:
            self.stats.unknown += 1
            logger.debug("media stream: ignoring unknown event %r", raw["event"][:32])
            return None
        try:
            message = self._adapter.validate_python(raw)
        except ValidationError as e:
            self.stats.malformed += 1
            raise MalformedMessage(f"bad {raw['event']!r} message: {_problems(e)}") from None
        if isinstance(message, Connected):
            return message
        if not self._in_sequence(message.sequence_number):
            return None
        if isinstance(message, StartEvent):
            _check_format(message.start.media_format)
            self.started = message
        return message

    def _in_sequence(self, number: int) -> bool:
        self.stats.received += 1
        last = self._last_sequence
        if number == last:
            self.stats.duplicates += 1
            return False
        if number < last:
            self.stats.out_of_order += 1
            return False
        if last and number > last + 1:
            self.stats.gaps += 1
        self._last_sequence = number
        return True


def _check_format(fmt: MediaFormat) -> None:
    if fmt.encoding != MULAW or fmt.sample_rate != 8000 or fmt.channels != 1:
        raise UnsupportedMediaFormat(
            f"the stream's audio is {fmt.encoding} {fmt.sample_rate} Hz x{fmt.channels}; "
            f"only {MULAW} 8000 Hz mono (what <Connect><Stream> sends) is supported"
        )


def media_message(stream_sid: str, ulaw: bytes) -> str:
    """Outbound ``media``: μ-law 8 kHz audio for Twilio to play to the caller."""
    payload = base64.b64encode(ulaw).decode("ascii")
    return json.dumps({"event": "media", "streamSid": stream_sid, "media": {"payload": payload}})


def mark_message(stream_sid: str, name: str) -> str:
    """Outbound ``mark``: Twilio echoes it back once the audio sent before it has played."""
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear_message(stream_sid: str) -> str:
    """Outbound ``clear``: Twilio drops the audio it holds (and echoes the pending marks)."""
    return json.dumps({"event": "clear", "streamSid": stream_sid})
