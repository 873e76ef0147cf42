"""A streaming STT whose events a test scripts, shared by the meeting unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from livekit.agents import stt
from livekit.agents.language import LanguageCode


class StreamingSTT(stt.STT[Any]):
    """Declares streaming, so the transcriber opens streams (which the tests replace)."""

    def __init__(self) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=True, interim_results=True))

    async def _recognize_impl(self, *args: Any, **kwargs: Any) -> stt.SpeechEvent:
        raise AssertionError("a streaming STT: the transcriber must stream, never call recognize()")


def said(text: str, kind: stt.SpeechEventType) -> stt.SpeechEvent:
    return stt.SpeechEvent(type=kind, alternatives=[stt.SpeechData(language=LanguageCode("en"), text=text)])


async def events(*scripted: stt.SpeechEvent) -> AsyncIterator[stt.SpeechEvent]:
    for ev in scripted:
        yield ev
