"""A VAD-cut speech-to-text whose voice events are not held up by transcription.

A Whisper-style STT (one request per utterance) is made streaming by cutting the audio with a
VAD. livekit's ``StreamAdapter`` does this one utterance at a time: after an end of speech it
waits for that utterance's transcript before it reads the next VAD event, so a speaker who goes on
after a short pause looks silent to floor control for as long as the model takes, and their next
utterance is not even started until then. :class:`UtteranceSTT` sends every VAD event as it
comes and transcribes each utterance in a task of its own; finals still come in the order the
utterances were said.

Each utterance is known by the stream's ``request_id``, on its start and end of speech and on its
final; a final always comes for every end of speech, with no alternatives when the model heard
nothing or the request failed (logged), so a listener can tell the utterance is done.
"""

from __future__ import annotations

__all__ = ["UtteranceSTT"]

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterable
from typing import Any

from livekit.agents import stt, utils, vad
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, APIConnectOptions, NotGivenOr

logger = logging.getLogger("auralink.agents")

# recognize() retries on its own; the stream itself must not restart and re-send the audio
_STREAM_OPTIONS = APIConnectOptions(max_retry=0, timeout=DEFAULT_API_CONNECT_OPTIONS.timeout)


class UtteranceSTT(stt.STT[Any]):
    """``engine`` (non-streaming) cut into utterances by ``vad``; see the module."""

    def __init__(self, *, engine: stt.STT[Any], vad_model: vad.VAD) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=True, interim_results=False))
        self._engine, self._vad = engine, vad_model
        engine.on("metrics_collected", self._on_metrics)

    @property
    def wrapped_stt(self) -> stt.STT[Any]:
        return self._engine

    @property
    def model(self) -> str:
        return self._engine.model

    @property
    def provider(self) -> str:
        return self._engine.provider

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.SpeechEvent:
        return await self._engine.recognize(buffer=buffer, language=language, conn_options=conn_options)

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.RecognizeStream:
        return _UtteranceStream(self, language=language, conn_options=conn_options)

    def _on_metrics(self, *args: Any, **kwargs: Any) -> None:
        self.emit("metrics_collected", *args, **kwargs)

    async def aclose(self) -> None:
        self._engine.off("metrics_collected", self._on_metrics)


class _UtteranceStream(stt.RecognizeStream):
    def __init__(
        self, owner: UtteranceSTT, *, language: NotGivenOr[str], conn_options: APIConnectOptions
    ) -> None:
        super().__init__(stt=owner, conn_options=_STREAM_OPTIONS)
        self._owner, self._language, self._request_options = owner, language, conn_options

    async def _metrics_monitor_task(self, event_aiter: AsyncIterable[stt.SpeechEvent]) -> None:
        async for _ in event_aiter:  # the engine's own recognize() reports its metrics
            pass

    async def _run(self) -> None:
        vad_stream = self._owner._vad.stream()
        # utterances being transcribed, in the order they were said (None: no more)
        said: asyncio.Queue[tuple[str, float, asyncio.Task[stt.SpeechEvent]] | None] = asyncio.Queue()
        transcribing: set[asyncio.Task[stt.SpeechEvent]] = set()

        async def forward() -> None:
            async for frame in self._input_ch:
                if isinstance(frame, self._FlushSentinel):
                    vad_stream.flush()
                else:
                    vad_stream.push_frame(frame)
            vad_stream.end_input()

        async def cut() -> None:
            count, utterance = 0, ""
            async for event in vad_stream:
                if event.type == vad.VADEventType.START_OF_SPEECH:
                    count += 1
                    utterance = f"U{count}"
                    self._event_ch.send_nowait(
                        stt.SpeechEvent(type=stt.SpeechEventType.START_OF_SPEECH, request_id=utterance)
                    )
                elif event.type == vad.VADEventType.END_OF_SPEECH:
                    ended = time.time() - event.silence_duration - event.inference_duration
                    self._event_ch.send_nowait(
                        stt.SpeechEvent(
                            type=stt.SpeechEventType.END_OF_SPEECH,
                            request_id=utterance,
                            speech_end_time=ended,
                        )
                    )
                    task = asyncio.create_task(
                        self._owner._engine.recognize(
                            buffer=utils.merge_frames(event.frames),
                            language=self._language,
                            conn_options=self._request_options,
                        ),
                        name=f"auralink-utterance-{utterance}",
                    )
                    transcribing.add(task)
                    task.add_done_callback(transcribing.discard)
                    said.put_nowait((utterance, ended, task))
            said.put_nowait(None)

        async def emit() -> None:
            while (item := await said.get()) is not None:
                utterance, ended, task = item
                alternatives: list[stt.SpeechData] = []
                try:
                    heard = await task
                    if heard.alternatives and heard.alternatives[0].text:
                        alternatives = [heard.alternatives[0]]
                        ended = heard.speech_end_time if heard.speech_end_time is not None else ended
                except Exception as e:  # that utterance is lost, the speaker's next ones are not
                    logger.warning("an utterance could not be transcribed: %s", type(e).__name__)
                self._event_ch.send_nowait(
                    stt.SpeechEvent(
                        type=stt.SpeechEventType.FINAL_TRANSCRIPT,
                        request_id=utterance,
                        alternatives=alternatives,
                        speech_end_time=ended,
                    )
                )

        tasks = [
            asyncio.create_task(forward(), name="auralink-utterances-input"),
            asyncio.create_task(cut(), name="auralink-utterances-vad"),
            asyncio.create_task(emit(), name="auralink-utterances-finals"),
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            await utils.aio.cancel_and_wait(*tasks, *transcribing)
            with contextlib.suppress(Exception):
                await vad_stream.aclose()
