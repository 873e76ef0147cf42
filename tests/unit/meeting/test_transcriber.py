"""Per-speaker captions without services: what a line carries, who the agent answers, the spec."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
from livekit import rtc
from livekit.agents import stt
from pydantic import ValidationError

from auralink.agents.meeting.captions import CaptionLine, caption_attributes
from auralink.agents.meeting.replies import ReplyPolicy, agent_names
from auralink.agents.meeting.transcriber import MeetingTranscriber
from auralink.core import AgentSpec
from tests.unit.meeting.stt_fakes import StreamingSTT, events, said


def _spec(**meeting: Any) -> AgentSpec:
    return AgentSpec.model_validate({"name": "notetaker", "instructions": "Take notes.", "meeting": meeting})


async def test_each_final_line_names_its_speaker_with_times_since_the_room_started() -> None:
    lines: list[CaptionLine] = []
    started = datetime.now(UTC) - timedelta(seconds=60)
    transcriber = MeetingTranscriber(
        room=rtc.Room(),  # not connected: captions are not sent, lines still come out
        stt_engine=StreamingSTT(),
        vad_model=None,
        room_started_at=started,
        on_line=lines.append,
    )
    ada = cast(rtc.RemoteParticipant, SimpleNamespace(identity="ada", name="Ada Lovelace"))
    recognizer = events(
        stt.SpeechEvent(type=stt.SpeechEventType.START_OF_SPEECH),
        said("what is the", stt.SpeechEventType.INTERIM_TRANSCRIPT),
        said("What is the capital of France?", stt.SpeechEventType.FINAL_TRANSCRIPT),
        stt.SpeechEvent(type=stt.SpeechEventType.START_OF_SPEECH),
        said("   ", stt.SpeechEventType.FINAL_TRANSCRIPT),  # nothing heard: no line
        said("Thanks.", stt.SpeechEventType.FINAL_TRANSCRIPT),
    )
    await transcriber._read(cast(stt.RecognizeStream, recognizer), ada, "TR_ada")
    assert [(li.identity, li.name, li.track_sid, li.text, li.final) for li in lines] == [
        ("ada", "Ada Lovelace", "TR_ada", "What is the capital of France?", True),
        ("ada", "Ada Lovelace", "TR_ada", "Thanks.", True),
    ]
    first, second = lines
    assert first.segment_id != second.segment_id
    assert 59 <= first.start_s <= first.end_s <= 70
    assert first.started_at <= first.ended_at
    await transcriber.aclose()


def test_a_caption_carries_the_livekit_transcription_attributes_and_the_speaker() -> None:
    at = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    line = CaptionLine(
        identity="grace",
        name="Grace Hopper",
        track_sid="TR_grace",
        segment_id="SG_1",
        text="Fun fact about the ocean",
        final=True,
        started_at=at,
        ended_at=at + timedelta(seconds=2),
        start_s=12.5,
        end_s=14.5,
    )
    assert caption_attributes(line) == {
        "lk.transcription_final": "true",
        "lk.segment_id": "SG_1",
        "lk.transcribed_track_id": "TR_grace",
        "auralink.speaker": "grace",
        "auralink.speaker_name": "Grace Hopper",
        "auralink.start_ms": "12500",
        "auralink.end_ms": "14500",
        "auralink.started_at": "2026-01-01T12:00:00+00:00",
    }


def test_in_a_group_the_agent_answers_only_when_addressed_by_name_or_alias() -> None:
    spec = _spec(transcribe=True, reply="when_addressed", aliases=["Scribe"])
    assert agent_names(spec) == ["notetaker", "scribe"]
    policy = ReplyPolicy(spec)
    group = ["Grace Hopper", "Linus Pauling"]
    # one-to-one: every turn
    assert policy.should_answer("What is the capital of France?", speaker="ada", others=[])
    assert not policy.should_answer("What is the capital of France?", speaker="ada", others=group)
    assert not policy.should_answer(
        "The budget review moves to Thursday afternoon.", speaker="ada", others=group
    )
    assert policy.should_answer("Notetaker, what did we decide?", speaker="ada", others=group)
    assert policy.should_answer("Scribe, read that back please.", speaker="ada", others=group)
    always = ReplyPolicy(_spec(transcribe=True))
    assert always.should_answer("anything at all", speaker="ada", others=group)


def test_the_meeting_block_defaults_keep_agents_as_they_were_and_reject_deaf_addressing() -> None:
    plain = AgentSpec.model_validate({"name": "assistant", "instructions": "Help."})
    assert not plain.meeting.transcribe and plain.meeting.reply == "always"
    assert plain.meeting.captions and not plain.meeting.noise_suppression
    with pytest.raises(ValidationError, match="when_addressed needs `transcribe: true`"):
        _spec(reply="when_addressed")
