"""Twilio Media Streams messages: Twilio's documented examples parse; bad input never crashes."""

from __future__ import annotations

import base64
import json
import logging

import pytest

from auralink.telephony import mulaw
from auralink.telephony.mediastreams import (
    Connected,
    DtmfEvent,
    MalformedMessage,
    MarkEvent,
    MediaEvent,
    StartEvent,
    StopEvent,
    StreamParser,
    UnsupportedMediaFormat,
    clear_message,
    mark_message,
    media_message,
)

# the examples on https://www.twilio.com/docs/voice/media-streams/websocket-messages
CONNECTED = {"event": "connected", "protocol": "Call", "version": "1.0.0"}
START = {
    "event": "start",
    "sequenceNumber": "1",
    "start": {
        "accountSid": "AC7f3a9c2e51b04d8a96e0c4b2d18f5a07",
        "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
        "callSid": "CA2c4e6a8b0d1f3e5a7c9e1b3d5f7a9c1e",
        "tracks": ["inbound", "outbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        "customParameters": {"FirstName": "Jane", "LastName": "Doe", "RemoteParty": "Bob"},
    },
    "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
}
PAYLOAD = base64.b64encode(mulaw.encode(b"\x10\x00" * 160)).decode()
MEDIA = {
    "event": "media",
    "sequenceNumber": "3",
    "media": {"track": "inbound", "chunk": "1", "timestamp": "5", "payload": PAYLOAD},
    "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
}
DTMF = {
    "event": "dtmf",
    "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
    "sequenceNumber": "5",
    "dtmf": {"track": "inbound_track", "digit": "1"},
}
MARK = {
    "event": "mark",
    "sequenceNumber": "4",
    "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
    "mark": {"name": "my label"},
}
STOP = {
    "event": "stop",
    "sequenceNumber": "5",
    "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
    "stop": {
        "accountSid": "AC7f3a9c2e51b04d8a96e0c4b2d18f5a07",
        "callSid": "CA2c4e6a8b0d1f3e5a7c9e1b3d5f7a9c1e",
    },
}


def _with(message: dict[str, object], seq: int) -> str:
    return json.dumps({**message, "sequenceNumber": str(seq)})


def test_twilios_documented_messages_parse_into_typed_events() -> None:
    parser = StreamParser()
    connected = parser.parse(json.dumps(CONNECTED))
    assert isinstance(connected, Connected) and connected.version == "1.0.0"
    start = parser.parse(json.dumps(START))
    assert isinstance(start, StartEvent)
    assert start.start.call_sid.startswith("CA") and start.start.stream_sid.startswith("MZ")
    assert start.start.custom_parameters["RemoteParty"] == "Bob"
    assert start.start.media_format.sample_rate == 8000
    assert parser.started is start
    media = parser.parse(_with(MEDIA, 2))
    assert isinstance(media, MediaEvent) and media.media.chunk == 1 and media.media.timestamp == 5
    assert media.media.audio() == mulaw.encode(b"\x10\x00" * 160)
    mark = parser.parse(_with(MARK, 3))
    assert isinstance(mark, MarkEvent) and mark.mark.name == "my label"
    dtmf = parser.parse(_with(DTMF, 4))
    assert isinstance(dtmf, DtmfEvent) and dtmf.dtmf.digit == "1"
    stop = parser.parse(_with(STOP, 5))
    assert isinstance(stop, StopEvent) and stop.stop.call_sid.startswith("CA")
    assert parser.stats.gaps == 0 and parser.stats.duplicates == 0


def test_outbound_messages_have_twilios_shape() -> None:
    assert json.loads(media_message("MZ1", b"\xff\x7f")) == {
        "event": "media",
        "streamSid": "MZ1",
        "media": {"payload": base64.b64encode(b"\xff\x7f").decode()},
    }
    assert json.loads(mark_message("MZ1", "turn-1")) == {
        "event": "mark",
        "streamSid": "MZ1",
        "mark": {"name": "turn-1"},
    }
    assert json.loads(clear_message("MZ1")) == {"event": "clear", "streamSid": "MZ1"}


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"no_event": 1}', '"media"', b"\xff\xfe"])
def test_malformed_json_is_a_clear_error(text: str | bytes) -> None:
    parser = StreamParser()
    with pytest.raises(MalformedMessage, match="JSON"):
        parser.parse(text)
    assert parser.stats.malformed == 1


def test_a_known_event_with_bad_fields_names_them() -> None:
    parser = StreamParser()
    bad = {**MEDIA, "media": {"track": "inbound", "chunk": "x", "timestamp": "5"}}
    with pytest.raises(MalformedMessage, match=r"media\.chunk.*|media\.payload") as e:
        parser.parse(json.dumps(bad))
    assert "media.payload" in str(e.value) and "media.chunk" in str(e.value)


def test_a_bad_payload_is_refused_when_read() -> None:
    media = StreamParser().parse(json.dumps({**MEDIA, "media": {**MEDIA["media"], "payload": "!!"}}))  # type: ignore[dict-item]
    assert isinstance(media, MediaEvent)
    with pytest.raises(MalformedMessage, match="base64"):
        media.media.audio()


def test_unknown_events_are_ignored_with_a_debug_log(caplog: pytest.LogCaptureFixture) -> None:
    parser = StreamParser()
    with caplog.at_level(logging.DEBUG, logger="auralink.telephony"):
        assert parser.parse(json.dumps({"event": "futureThing", "sequenceNumber": "1"})) is None
    assert parser.stats.unknown == 1
    assert any("futureThing" in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records)


@pytest.mark.parametrize(
    ("fmt", "said"),
    [
        ({"encoding": "audio/x-alaw", "sampleRate": 8000, "channels": 1}, "audio/x-alaw"),
        ({"encoding": "audio/x-mulaw", "sampleRate": 16000, "channels": 1}, "16000 Hz"),
        ({"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 2}, "x2"),
    ],
)
def test_start_with_another_encoding_is_refused(fmt: dict[str, object], said: str) -> None:
    start = {**START, "start": {**START["start"], "mediaFormat": fmt}}  # type: ignore[dict-item]
    parser = StreamParser()
    with pytest.raises(UnsupportedMediaFormat, match=said):
        parser.parse(json.dumps(start))
    assert parser.started is None


def test_repeated_and_backward_sequence_numbers_are_dropped_and_gaps_kept() -> None:
    parser = StreamParser()
    assert parser.parse(json.dumps(START)) is not None  # 1
    assert parser.parse(_with(MEDIA, 2)) is not None
    assert parser.parse(_with(MEDIA, 2)) is None  # the same message again
    assert parser.parse(_with(MEDIA, 5)) is not None  # 3 and 4 lost: kept, counted
    assert parser.parse(_with(MEDIA, 4)) is None  # late: dropped
    assert parser.parse(_with(MEDIA, 6)) is not None
    stats = parser.stats
    assert (stats.duplicates, stats.out_of_order, stats.gaps, stats.received) == (1, 1, 1, 6)
