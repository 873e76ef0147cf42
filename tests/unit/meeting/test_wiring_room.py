"""The meeting wiring in a room, with a fake room and fakes for the providers: what a line goes
through (moderation before captions, the record, the notes and the LLM), what each moderation
action does in the room, translated captions per listener language, chat and shared files."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
from livekit import api, rtc
from livekit.agents import StopResponse, llm, stt

from auralink.agents.agent import build_agent
from auralink.agents.meeting.captions import CaptionLine
from auralink.agents.meeting.live_translation import RoomTranslations
from auralink.agents.meeting.moderation import Moderator
from auralink.agents.meeting.room_chat import FileCollector, MeetingChat
from auralink.agents.meeting.stage import LiveKitActionSink, ModerationStage, reporting_records
from auralink.agents.meeting.transcriber import MeetingTranscriber
from auralink.agents.meeting.translation import CaptionTranslator, Translator
from auralink.core import AgentSpec
from auralink.core.moderation import ModerationPolicy, PIIRule, ToxicityRule
from tests.unit.meeting.stt_fakes import StreamingSTT, events, said

CARD = "My card number is 4111 1111 1111 1111."


@dataclass
class Sent:
    topic: str
    text: str
    attributes: dict[str, str]
    to: list[str]
    sender: str | None = None


@dataclass
class _Writer:
    out: list[Sent]
    topic: str
    attributes: dict[str, str]
    sender: str | None
    parts: list[str] = field(default_factory=list)

    async def write(self, text: str) -> None:
        self.parts.append(text)

    async def aclose(self) -> None:
        self.out.append(Sent(self.topic, "".join(self.parts), self.attributes, [], self.sender))


class _Local:
    def __init__(self, out: list[Sent]) -> None:
        self.out = out
        self.identity = "agent-notetaker"

    async def send_text(
        self,
        text: str,
        *,
        topic: str = "",
        destination_identities: list[str] | None = None,
        attributes: dict[str, str] | None = None,
    ) -> None:
        self.out.append(Sent(topic, text, dict(attributes or {}), list(destination_identities or [])))

    async def stream_text(
        self, *, topic: str = "", attributes: dict[str, str] | None = None, sender_identity: str | None = None
    ) -> _Writer:
        return _Writer(self.out, topic, dict(attributes or {}), sender_identity)


class FakeRoom:
    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.local_participant = _Local(self.sent)
        self.remote_participants: dict[str, Any] = {}
        self.name = "room-test"
        self.text_handlers: dict[str, Any] = {}
        self.byte_handlers: dict[str, Any] = {}

    def isconnected(self) -> bool:
        return True

    def join(
        self, identity: str, name: str = "", *, attributes: dict[str, str] | None = None, joined_at: int = 0
    ) -> Any:
        mic = SimpleNamespace(
            sid=f"TR_{identity}", kind=rtc.TrackKind.KIND_AUDIO, source=rtc.TrackSource.SOURCE_MICROPHONE
        )
        who = SimpleNamespace(
            identity=identity,
            name=name or identity,
            attributes=dict(attributes or {}),
            kind=rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD,
            joined_at=joined_at,
            track_publications={mic.sid: mic},
        )
        self.remote_participants[identity] = who
        return who

    def register_text_stream_handler(self, topic: str, handler: Any) -> None:
        self.text_handlers[topic] = handler

    def unregister_text_stream_handler(self, topic: str) -> None:
        self.text_handlers.pop(topic, None)

    def register_byte_stream_handler(self, topic: str, handler: Any) -> None:
        self.byte_handlers[topic] = handler

    def unregister_byte_stream_handler(self, topic: str) -> None:
        self.byte_handlers.pop(topic, None)

    def on_topic(self, topic: str) -> list[Sent]:
        return [s for s in self.sent if s.topic == topic]


# ---------------------------------------------------------------- fakes of the providers
class _Upper(Translator):
    name = "fake"

    async def translate(self, text: str, *, source: str, target: str) -> str:
        await asyncio.sleep(0.01)
        return f"[{target}] {text.upper()}"


class _RoomService:
    def __init__(self) -> None:
        self.muted: list[api.MuteRoomTrackRequest] = []

    async def mute_published_track(self, request: api.MuteRoomTrackRequest) -> None:
        self.muted.append(request)


def _stage(
    room: FakeRoom, policy: ModerationPolicy, reported: list[tuple[dict[str, Any], str | None]]
) -> ModerationStage:
    def report(record: dict[str, Any], *, text_redacted: str | None) -> None:
        reported.append((record, text_redacted))

    sink = LiveKitActionSink(room=cast(rtc.Room, room), lkapi=None, report=reporting_records(report))
    return ModerationStage(Moderator(policy), sink=sink)


def _line(text: str, *, identity: str = "ada", segment: str = "SG_1") -> CaptionLine:
    now = datetime.now(UTC)
    return CaptionLine(identity, "Ada", f"TR_{identity}", segment, text, True, now, now, 1.0, 2.0)


# ---------------------------------------------------------------- moderation before everything
async def test_a_card_number_is_redacted_in_the_caption_the_record_and_what_goes_on() -> None:
    room = FakeRoom()
    ada = room.join("ada", "Ada")
    reported: list[tuple[dict[str, Any], str | None]] = []
    stage = _stage(room, ModerationPolicy.default(), reported)
    lines: list[CaptionLine] = []

    async def screen(line: CaptionLine) -> CaptionLine | None:
        text = await stage.screen(line.text, speaker=line.identity, source="speech")
        return None if text is None else replace(line, text=text)

    transcriber = MeetingTranscriber(
        room=cast(rtc.Room, room),
        stt_engine=StreamingSTT(),
        vad_model=None,
        room_started_at=datetime.now(UTC) - timedelta(seconds=5),
        on_line=lines.append,
        screen=screen,
    )
    recognizer = events(
        stt.SpeechEvent(type=stt.SpeechEventType.START_OF_SPEECH),
        said("my card number is 4111", stt.SpeechEventType.INTERIM_TRANSCRIPT),
        said(CARD, stt.SpeechEventType.FINAL_TRANSCRIPT),
    )
    await transcriber._read(cast(stt.RecognizeStream, recognizer), ada, "TR_ada")
    await stage.aclose()

    assert [line.text for line in lines] == ["My card number is [card number]."]
    captions = room.on_topic("lk.transcription")
    assert [c.text for c in captions] == ["My card number is [card number]."]  # no interim with the digits
    assert all("4111" not in s.text for s in room.sent)
    ((record, text),) = reported
    assert record["rule_id"] == "pii.card_number" and record["excerpt"] == "card ending 1111"
    assert text == "My card number is [card number]."


async def test_a_blocked_line_is_neither_captioned_nor_handed_on_but_its_decision_is_reported() -> None:
    room = FakeRoom()
    ada = room.join("ada", "Ada")
    reported: list[tuple[dict[str, Any], str | None]] = []
    policy = ModerationPolicy(rules=[PIIRule(id="cards", entity="card_number", actions=["block"])])
    stage = _stage(room, policy, reported)
    lines: list[CaptionLine] = []

    async def screen(line: CaptionLine) -> CaptionLine | None:
        return line if await stage.screen(line.text, speaker=line.identity, source="speech") else None

    transcriber = MeetingTranscriber(
        room=cast(rtc.Room, room),
        stt_engine=StreamingSTT(),
        vad_model=None,
        room_started_at=datetime.now(UTC),
        on_line=lines.append,
        screen=screen,
    )
    recognizer = events(
        said(CARD, stt.SpeechEventType.FINAL_TRANSCRIPT),
        said("Thanks.", stt.SpeechEventType.FINAL_TRANSCRIPT),
    )
    await transcriber._read(cast(stt.RecognizeStream, recognizer), ada, "TR_ada")
    await stage.aclose()
    assert [line.text for line in lines] == ["Thanks."]
    assert [c.text for c in room.on_topic("lk.transcription")] == ["Thanks."]
    assert stage.blocked == 1
    assert [(r["rule_id"], text) for r, text in reported] == [("cards", None)]


async def test_warn_goes_to_the_speaker_only_and_notify_host_to_the_host() -> None:
    room = FakeRoom()
    room.join("ada", "Ada", joined_at=1)
    room.join("ben", "Ben", joined_at=2, attributes={"auralink.role": "host"})
    stage = _stage(
        room,
        ModerationPolicy(
            rules=[ToxicityRule(id="toxicity", threshold=0.5, actions=["notify_host", "flag", "warn"])]
        ),
        [],
    )
    text = await stage.screen(
        "You are a stupid idiot and I hate you, fuck off.", speaker="ada", source="chat"
    )
    await stage.aclose()
    assert text is not None
    chats = room.on_topic("lk.chat")
    assert {tuple(c.to) for c in chats} == {("ada",), ("ben",)}
    to_host = next(c for c in chats if c.to == ["ben"])
    assert "Ada" in to_host.text and "toxicity" in to_host.text
    assert "stupid" not in to_host.text  # the host is told who and which rule, never the words


async def test_without_a_host_attribute_the_first_human_to_join_is_the_host() -> None:
    room = FakeRoom()
    room.join("ben", "Ben", joined_at=20)
    room.join("ada", "Ada", joined_at=10)
    sink = LiveKitActionSink(room=cast(rtc.Room, room), lkapi=None)
    assert sink.hosts() == ["ada"]


async def test_mute_mutes_the_speakers_microphone_through_the_room_service() -> None:
    room = FakeRoom()
    room.join("ada", "Ada")
    service = _RoomService()
    lkapi = cast(api.LiveKitAPI, SimpleNamespace(room=service))
    await LiveKitActionSink(room=cast(rtc.Room, room), lkapi=lkapi).mute("ada")
    (request,) = service.muted
    assert (request.room, request.identity, request.track_sid, request.muted) == (
        "room-test",
        "ada",
        "TR_ada",
        True,
    )


# ---------------------------------------------------------------- translated captions
async def test_each_listener_language_gets_its_own_caption_tagged_with_language_and_original() -> None:
    room = FakeRoom()
    room.join("ada", "Ada")
    room.join("eva", "Eva", attributes={"auralink.language": "es"})
    room.join("joan", "Joan", attributes={"auralink.language": "ca"})
    translations = RoomTranslations(
        room=cast(rtc.Room, room), translator=CaptionTranslator(_Upper()), source="en"
    )
    await translations.captioned(_line("I will send the budget by Friday."))
    await translations.translator.drain()
    room.join("marie", "Marie", attributes={"auralink.language": "fr"})  # languages are read live
    await translations.captioned(_line("Thanks.", segment="SG_2"))
    await translations.translator.drain()
    await translations.aclose()

    got = {(s.attributes["auralink.language"], s.attributes["auralink.translation_of"]): s for s in room.sent}
    assert set(got) == {("es", "SG_1"), ("ca", "SG_1"), ("es", "SG_2"), ("ca", "SG_2"), ("fr", "SG_2")}
    es = got["es", "SG_1"]
    assert es.text == "[es] I WILL SEND THE BUDGET BY FRIDAY."
    assert es.sender == "ada" and es.attributes["lk.transcribed_track_id"] == "TR_ada"
    assert es.attributes["lk.segment_id"] == "SG_1-es"  # never overwrites the original caption


async def test_a_room_with_no_other_language_sends_no_translation() -> None:
    room = FakeRoom()
    room.join("ada", "Ada", attributes={"auralink.language": "en"})
    translations = RoomTranslations(
        room=cast(rtc.Room, room), translator=CaptionTranslator(_Upper()), source="en"
    )
    await translations.captioned(_line("Hello."))
    await translations.translator.drain()
    await translations.aclose()
    assert room.sent == []


# ---------------------------------------------------------------- chat and files
@dataclass
class _TextReader:
    text: str

    async def read_all(self) -> str:
        return self.text


@dataclass
class _ByteReader:
    chunks: list[bytes]
    size: int | None
    mime: str = "application/pdf"
    name: str = "budget.pdf"
    closed: bool = False

    @property
    def info(self) -> Any:
        return SimpleNamespace(size=self.size, mime_type=self.mime, name=self.name)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._gen()

    async def _gen(self) -> AsyncIterator[bytes]:
        for c in self.chunks:
            yield c

    def close(self) -> None:
        self.closed = True


async def test_chat_messages_from_humans_reach_the_handler_with_the_senders_identity() -> None:
    room = FakeRoom()
    room.join("ada", "Ada Lovelace")
    got: list[tuple[str, str, str]] = []

    async def on_message(identity: str, name: str, text: str) -> None:
        got.append((identity, name, text))

    chat = MeetingChat(room=cast(rtc.Room, room), on_message=on_message)
    chat.start()
    room.text_handlers["lk.chat"](_TextReader("Notetaker, notes please"), "ada")
    room.text_handlers["lk.chat"](_TextReader("from a stranger"), "nobody")
    await asyncio.sleep(0.05)
    await chat.aclose()
    assert got == [("ada", "Ada Lovelace", "Notetaker, notes please")]
    assert "lk.chat" not in room.text_handlers


async def test_shared_files_are_uploaded_and_oversized_ones_are_not() -> None:
    room = FakeRoom()
    uploads: list[tuple[bytes, str, str, str]] = []

    async def upload(data: bytes, *, name: str, mime: str, sender: str) -> str | None:
        uploads.append((data, name, mime, sender))
        return "file_1"

    files = FileCollector(room=cast(rtc.Room, room), upload=upload, max_bytes=10)
    files.start()
    assert set(room.byte_handlers) == {"lk.chat", "files"}
    room.byte_handlers["files"](_ByteReader([b"abc", b"def"], size=6), "ada")
    big = _ByteReader([b"0123456789", b"x"], size=None)  # no size announced: cut while streaming
    room.byte_handlers["lk.chat"](big, "ben")
    announced = _ByteReader([], size=11)
    room.byte_handlers["files"](announced, "ben")
    await asyncio.sleep(0.05)
    await files.aclose()
    assert uploads == [(b"abcdef", "budget.pdf", "application/pdf", "ada")]
    assert files.uploaded == ["file_1"] and files.refused == 2
    assert big.closed and announced.closed


# ---------------------------------------------------------------- one-to-one sessions
async def test_in_a_one_to_one_call_the_turn_is_redacted_before_memory_and_the_llm_and_a_block_stops_it() -> (
    None
):
    room = FakeRoom()
    policy = ModerationPolicy(
        rules=[
            PIIRule(id="cards", entity="card_number", actions=["redact"]),
            PIIRule(id="emails", entity="email", actions=["block"]),
        ]
    )
    stage = _stage(room, policy, [])
    agent = build_agent(AgentSpec(name="desk", instructions="Help."), moderation=stage)
    message = llm.ChatMessage(role="user", content=[CARD])
    await agent.on_user_turn_completed(llm.ChatContext(), new_message=message)
    assert message.text_content == "My card number is [card number]."
    with pytest.raises(StopResponse):
        await agent.on_user_turn_completed(
            llm.ChatContext(), new_message=llm.ChatMessage(role="user", content=["mail ada@example.com"])
        )
    await stage.aclose()
