"""UtteranceSTT: every VAD event goes out as it comes, each utterance is transcribed in a task of
its own, finals come in the order the utterances were said, and a failed or empty one still ends
with a final (no words) so the transcriber can let the speaker go."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

from livekit import rtc
from livekit.agents import stt, utils, vad
from livekit.agents.language import LanguageCode

from auralink.agents.meeting.utterances import UtteranceSTT


class _VadStream:
    """The VAD's side, scripted: the test puts the events; frames pushed in are ignored."""

    def __init__(self) -> None:
        self.events: asyncio.Queue[Any] = asyncio.Queue()

    def push_frame(self, _frame: rtc.AudioFrame) -> None:
        pass

    def flush(self) -> None:
        pass

    def end_input(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    def __aiter__(self) -> _VadStream:
        return self

    async def __anext__(self) -> Any:
        event = await self.events.get()
        if event is None:
            raise StopAsyncIteration
        return event


class _Vad:
    def __init__(self) -> None:
        self.stream_ = _VadStream()

    def stream(self) -> _VadStream:
        return self.stream_


class _Whisper(stt.STT[Any]):
    """One request per utterance; ``script[text of the first sample]`` = (seconds, text or error)."""

    def __init__(self, script: dict[int, tuple[float, str | Exception]]) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        self.script = script

    async def _recognize_impl(self, buffer: utils.AudioBuffer, **_kw: Any) -> stt.SpeechEvent:
        frame = utils.merge_frames(buffer)
        key = int(memoryview(frame.data)[0])
        delay, result = self.script[key]
        await asyncio.sleep(delay)
        if isinstance(result, Exception):
            raise result
        alternatives = [stt.SpeechData(language=LanguageCode("en"), text=result)] if result else []
        return stt.SpeechEvent(type=stt.SpeechEventType.FINAL_TRANSCRIPT, alternatives=alternatives)


def _frame(key: int) -> rtc.AudioFrame:
    frame = rtc.AudioFrame.create(16000, 1, 160)
    memoryview(frame.data)[0] = key  # which utterance it is, for the scripted model
    return frame


def _start() -> Any:
    return SimpleNamespace(type=vad.VADEventType.START_OF_SPEECH)


def _end(key: int) -> Any:
    return SimpleNamespace(
        type=vad.VADEventType.END_OF_SPEECH,
        silence_duration=0.5,
        inference_duration=0.0,
        frames=[_frame(key)],
    )


async def _collect(stream: stt.RecognizeStream, into: list[tuple[str, str, str]]) -> None:
    async for ev in stream:
        text = ev.alternatives[0].text if ev.alternatives else ""
        into.append((ev.type.value, ev.request_id, text))


async def test_voice_events_are_not_held_up_and_finals_keep_their_order() -> None:
    vad_model = _Vad()
    engine = _Whisper({1: (0.5, "Computer."), 2: (0.05, "What's on the agenda?")})
    utterances = UtteranceSTT(engine=engine, vad_model=cast(vad.VAD, vad_model))
    stream = utterances.stream()
    seen: list[tuple[str, str, str]] = []
    reader = asyncio.create_task(_collect(stream, seen))
    events = vad_model.stream_.events
    for event in (_start(), _end(1), _start()):
        events.put_nowait(event)
    await asyncio.sleep(0.2)
    # the second start went out while the first utterance is still being transcribed
    assert [(kind, rid) for kind, rid, _ in seen] == [
        ("start_of_speech", "U1"),
        ("end_of_speech", "U1"),
        ("start_of_speech", "U2"),
    ]
    events.put_nowait(_end(2))  # transcribed faster than the first: its final still comes second
    events.put_nowait(None)
    stream.end_input()
    await asyncio.wait_for(reader, timeout=5)
    finals = [(rid, text) for kind, rid, text in seen if kind == "final_transcript"]
    assert finals == [("U1", "Computer."), ("U2", "What's on the agenda?")]
    await stream.aclose()
    await utterances.aclose()


async def test_a_failed_or_empty_utterance_ends_with_a_final_without_words_and_the_next_goes_on() -> None:
    vad_model = _Vad()
    engine = _Whisper({1: (0.0, RuntimeError("model server down")), 2: (0.0, ""), 3: (0.0, "Hello.")})
    utterances = UtteranceSTT(engine=engine, vad_model=cast(vad.VAD, vad_model))
    stream = utterances.stream()
    seen: list[tuple[str, str, str]] = []
    reader = asyncio.create_task(_collect(stream, seen))
    for key in (1, 2, 3):
        vad_model.stream_.events.put_nowait(_start())
        vad_model.stream_.events.put_nowait(_end(key))
    vad_model.stream_.events.put_nowait(None)
    stream.end_input()
    await asyncio.wait_for(reader, timeout=10)
    finals = [(rid, text) for kind, rid, text in seen if kind == "final_transcript"]
    assert finals == [("U1", ""), ("U2", ""), ("U3", "Hello.")]
    await stream.aclose()
    await utterances.aclose()
