"""Local speech to text: faster-whisper (CTranslate2, int8 on CPU) on a Whisper model.

Tuned for short utterances that the agent has already segmented: greedy decoding
(``beam_size=1``), no timestamps, no VAD, no conditioning on previous text. Audio in any format
FFmpeg (through PyAV) reads is decoded and resampled to 16 kHz mono; undecodable bytes raise
:class:`InvalidRequest`. One model instance, one worker thread: requests queue in order, and
each loaded model has its own thread.

An English-only model (``*.en``) transcribes English and refuses another ``language`` and
translation. A multilingual one honours ``language`` or detects it, and with
``task="translate"`` turns speech in any of its languages into English text.
"""

from __future__ import annotations

__all__ = ["Segment", "SpeechToText", "Transcript"]

import asyncio
import io
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from auralink.core.errors import ModelError

from .http_errors import InvalidRequest
from .languages import language_code
from .registry import STTSpec

logger = logging.getLogger("auralink.models")

SAMPLE_RATE = 16000
Task = Literal["transcribe", "translate"]


@dataclass(frozen=True, slots=True)
class Segment:
    id: int
    start: float
    end: float
    text: str
    tokens: list[int]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    language: str  # the spoken language's code (given, or detected by a multilingual model)
    duration: float
    segments: list[Segment]
    task: Task = "transcribe"
    language_probability: float | None = None  # set when the language was detected


class SpeechToText:
    """A loaded Whisper model. Create, then :meth:`load` in a thread."""

    def __init__(self, *, spec: STTSpec, model_dir: Path, threads: int) -> None:
        self.spec = spec
        self._model_dir = model_dir
        self._threads = threads
        self._model: Any = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stt")

    def load(self) -> None:
        try:
            from faster_whisper import WhisperModel
        except ImportError as e:
            raise ModelError(f"faster-whisper is not installed: {e}") from e
        try:
            self._model = WhisperModel(
                str(self._model_dir),
                device="cpu",
                compute_type="int8",
                cpu_threads=self._threads,
                num_workers=1,
            )
        except (ValueError, RuntimeError) as e:
            raise ModelError(f"cannot load {self._model_dir}: {e}") from e
        # one pass over a second of silence, so the first caller does not pay for cold weights
        import numpy as np

        segments, _ = self._model.transcribe(np.zeros(16000, dtype=np.float32), language="en", beam_size=1)
        list(segments)

    def _language(self, language: str | None) -> str | None:
        """The Whisper code to decode with; None lets a multilingual model detect it."""
        if self.spec.english_only:
            if language is not None and language_code(language) != "en":
                raise InvalidRequest(
                    f"{self.spec.id} is an English-only model and cannot transcribe {language!r}; "
                    "use a multilingual model such as whisper-base",
                    param="language",
                )
            return "en"
        if language is None:
            return None
        code = language_code(language)
        if code is None:
            raise InvalidRequest(
                f"{self.spec.id} does not know the language {language!r}; give an ISO-639-1 code "
                "such as en, es, fr or de",
                param="language",
            )
        return code

    async def transcribe(
        self,
        audio: bytes,
        *,
        language: str | None,
        prompt: str | None,
        temperature: float | None,
        task: Task = "transcribe",
    ) -> Transcript:
        """The speech in ``audio`` as text: in its own language, or in English for ``translate``."""
        if task == "translate" and self.spec.english_only:
            raise InvalidRequest(
                f"{self.spec.id} is an English-only model and cannot translate; "
                "use a multilingual model such as whisper-base",
                param="model",
            )
        code = self._language(language)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor,
            self._transcribe,
            audio,
            code,
            task,
            prompt,
            0.0 if temperature is None else temperature,
        )

    def _transcribe(
        self, audio: bytes, language: str | None, task: Task, prompt: str | None, temperature: float
    ) -> Transcript:
        samples = decode(audio)
        started = time.monotonic()
        segments_iter, info = self._model.transcribe(
            samples,
            language=language,
            task=task,
            beam_size=1,
            temperature=temperature,
            without_timestamps=True,
            vad_filter=False,
            condition_on_previous_text=False,
            initial_prompt=prompt or None,
        )
        segments = [
            Segment(
                id=s.id,
                start=s.start,
                end=s.end,
                text=s.text,
                tokens=list(s.tokens),
                temperature=s.temperature or 0.0,
                avg_logprob=s.avg_logprob,
                compression_ratio=s.compression_ratio,
                no_speech_prob=s.no_speech_prob,
            )
            for s in segments_iter
        ]
        text = "".join(s.text for s in segments).strip()
        logger.debug(
            "%s %s: %.1fs of audio in %.2fs", self.spec.id, task, info.duration, time.monotonic() - started
        )
        return Transcript(
            text=text,
            language=info.language,
            duration=info.duration,
            segments=segments,
            task=task,
            language_probability=None if language else info.language_probability,
        )

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._model = None


def decode(audio: bytes) -> Any:
    """16 kHz mono float32 samples of any audio FFmpeg can read; :class:`InvalidRequest` if none."""
    import av
    from faster_whisper import decode_audio

    if not audio:
        raise InvalidRequest("the uploaded file is empty", param="file")
    try:
        samples = decode_audio(io.BytesIO(audio), sampling_rate=SAMPLE_RATE)
    except (av.FFmpegError, IndexError, ValueError, OSError, EOFError) as e:
        raise InvalidRequest(
            f"the uploaded file is not audio that can be decoded ({e})", param="file", code="invalid_audio"
        ) from None
    if len(samples) == 0:
        raise InvalidRequest(
            "the uploaded file contains no audio samples", param="file", code="invalid_audio"
        )
    return samples
