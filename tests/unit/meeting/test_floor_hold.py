"""Floor control with a VAD-cut STT (:class:`UtteranceSTT`): the transcriber holds a speaker as
speaking from an utterance's end of speech until its transcript (at most ``_HOLD_S``), so the agent
does not answer before it knows what was said, and reports when their speech really ended. The
next utterance may start before the last one's transcript: that transcript keeps its own segment
and does not end the new utterance's hold."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import cast

import pytest
from livekit import rtc
from livekit.agents import stt

from auralink.agents.meeting import transcriber as transcriber_module
from auralink.agents.meeting.captions import CaptionLine
from auralink.agents.meeting.transcriber import MeetingTranscriber
from tests.unit.meeting.stt_fakes import StreamingSTT, said
from tests.unit.meeting.test_wiring_room import FakeRoom


class _Activity:
    def __init__(self) -> None:
        self.calls: list[tuple[str, bool, float | None, float]] = []

    def __call__(self, identity: str, speaking: bool, *, ended_at: float | None = None) -> None:
        self.calls.append((identity, speaking, ended_at, time.monotonic()))


async def _paced(*steps: tuple[float, stt.SpeechEvent]) -> AsyncIterator[stt.SpeechEvent]:
    for delay, ev in steps:
        await asyncio.sleep(delay)
        yield ev


START = stt.SpeechEvent(type=stt.SpeechEventType.START_OF_SPEECH)
END = stt.SpeechEvent(type=stt.SpeechEventType.END_OF_SPEECH)


def _transcriber(
    room: FakeRoom, activity: _Activity, on_line: Callable[[CaptionLine], None] = lambda _line: None
) -> MeetingTranscriber:
    return MeetingTranscriber(
        room=cast(rtc.Room, room),
        stt_engine=StreamingSTT(),
        vad_model=None,
        room_started_at=datetime.now(UTC),
        on_line=on_line,
        captions=False,
        on_speaking=activity,
    )


async def test_a_vad_cut_speaker_stays_speaking_until_the_transcript_with_the_real_end_time() -> None:
    room, activity = FakeRoom(), _Activity()
    ada = room.join("ada", "Ada")
    transcriber = _transcriber(room, activity)
    start, end = START, END
    final = said("Hi, you have reached Sam.", stt.SpeechEventType.FINAL_TRANSCRIPT)
    recognizer = _paced((0, start), (0.05, end), (0.4, final))  # Whisper takes 0.4 s
    ended = time.monotonic() + 0.05
    await transcriber._read(cast(stt.RecognizeStream, recognizer), ada, "TR_ada", vad_cut=True)
    await transcriber.aclose()
    (on, off) = activity.calls
    assert on[:2] == ("ada", True)
    assert off[:2] == ("ada", False)
    assert off[3] - ended >= 0.35  # reported only once the transcript came
    assert off[2] is not None and abs(off[2] - ended) < 0.1  # with the time the speech ended


async def test_without_a_transcript_the_hold_ends_by_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transcriber_module, "_HOLD_S", 0.1)
    room, activity = FakeRoom(), _Activity()
    ada = room.join("ada", "Ada")
    transcriber = _transcriber(room, activity)
    recognizer = _paced(
        (0, START),
        (0.02, END),  # a cough: no words
    )
    await transcriber._read(cast(stt.RecognizeStream, recognizer), ada, "TR_ada", vad_cut=True)
    await asyncio.sleep(0.3)
    await transcriber.aclose()
    assert [c[:2] for c in activity.calls] == [("ada", True), ("ada", False)]


async def test_speech_that_resumes_keeps_the_speaker_speaking_and_a_streaming_stt_is_not_held() -> None:
    room, activity = FakeRoom(), _Activity()
    ada = room.join("ada", "Ada")
    transcriber = _transcriber(room, activity)
    start, end = START, END
    await transcriber._read(
        cast(stt.RecognizeStream, _paced((0, start), (0.02, end), (0.02, start))), ada, "TR_ada", vad_cut=True
    )
    assert [c[:2] for c in activity.calls] == [("ada", True), ("ada", True)]  # never reported silent
    activity.calls.clear()
    await transcriber._read(cast(stt.RecognizeStream, _paced((0, start), (0.02, end))), ada, "TR_ada")
    await transcriber.aclose()
    assert [c[:2] for c in activity.calls] == [("ada", True), ("ada", False)]  # at once
    assert activity.calls[1][2] is None


def _utterance(kind: stt.SpeechEventType, utterance: str, text: str = "") -> stt.SpeechEvent:
    if kind == stt.SpeechEventType.FINAL_TRANSCRIPT:
        return (
            replace(said(text, kind), request_id=utterance)
            if text
            else stt.SpeechEvent(type=kind, request_id=utterance)
        )
    return stt.SpeechEvent(type=kind, request_id=utterance)


async def test_an_earlier_transcript_keeps_its_segment_and_does_not_end_a_later_hold() -> None:
    room, activity = FakeRoom(), _Activity()
    ada = room.join("ada", "Ada")
    lines: list[CaptionLine] = []
    transcriber = _transcriber(room, activity, on_line=lines.append)
    start, end, final = (
        stt.SpeechEventType.START_OF_SPEECH,
        stt.SpeechEventType.END_OF_SPEECH,
        stt.SpeechEventType.FINAL_TRANSCRIPT,
    )
    recognizer = _paced(
        (0, _utterance(start, "U1")),
        (0.05, _utterance(end, "U1")),  # "Computer."
        (0.05, _utterance(start, "U2")),  # she goes on before U1 is transcribed
        (0.05, _utterance(end, "U2")),
        (0.05, _utterance(final, "U1", "Computer.")),
        (0.2, _utterance(final, "U2", "What's on the agenda?")),
    )
    await transcriber._read(cast(stt.RecognizeStream, recognizer), ada, "TR_ada", vad_cut=True)
    await transcriber.aclose()
    assert [line.text for line in lines] == ["Computer.", "What's on the agenda?"]
    assert lines[0].segment_id != lines[1].segment_id
    assert lines[0].start_s < lines[1].start_s
    # speaking from U1's start; silent only once U2's transcript came, not at U1's
    calls = [c[:2] for c in activity.calls]
    assert calls == [("ada", True), ("ada", True), ("ada", False)]
    assert activity.calls[-1][3] - activity.calls[1][3] >= 0.25


async def test_an_utterance_with_no_words_ends_its_hold_at_once() -> None:
    room, activity = FakeRoom(), _Activity()
    ada = room.join("ada", "Ada")
    transcriber = _transcriber(room, activity)
    recognizer = _paced(
        (0, _utterance(stt.SpeechEventType.START_OF_SPEECH, "U1")),
        (0.02, _utterance(stt.SpeechEventType.END_OF_SPEECH, "U1")),  # a cough
        (0.05, _utterance(stt.SpeechEventType.FINAL_TRANSCRIPT, "U1")),  # no alternatives
    )
    began = time.monotonic()
    await transcriber._read(cast(stt.RecognizeStream, recognizer), ada, "TR_ada", vad_cut=True)
    await transcriber.aclose()
    assert [c[:2] for c in activity.calls] == [("ada", True), ("ada", False)]
    assert activity.calls[1][3] - began < 1.0  # not after _HOLD_S
