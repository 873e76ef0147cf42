"""Local speech to text: faster-whisper (CTranslate2, int8 on CPU) on Whisper tiny.en.

Tuned for short utterances that the agent has already segmented: greedy decoding
(``beam_size=1``), no timestamps, no VAD, no conditioning on previous text. Audio in any format
FFmpeg (through PyAV) reads is decoded and resampled to 16 kHz mono; undecodable bytes raise
:class:`InvalidRequest`. One model instance, one worker thread: requests queue in order.
"""

from __future__ import annotations

__all__ = ["Segment", "SpeechToText", "Transcript"]

import asyncio
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auralink.core.errors import ModelError

from .http_errors import InvalidRequest
from .registry import STTSpec

SAMPLE_RATE = 16000


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
    language: str
    duration: float
    segments: list[Segment]


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

    async def transcribe(
        self, audio: bytes, *, language: str | None, prompt: str | None, temperature: float | None
    ) -> Transcript:
        if language and self.spec.english_only and language.lower().split("-")[0] != "en":
            raise InvalidRequest(
                f"{self.spec.id} transcribes English only, not {language!r}", param="language"
            )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, self._transcribe, audio, prompt, 0.0 if temperature is None else temperature
        )

    def _transcribe(self, audio: bytes, prompt: str | None, temperature: float) -> Transcript:
        samples = decode(audio)
        segments_iter, info = self._model.transcribe(
            samples,
            language="en" if self.spec.english_only else None,
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
        return Transcript(text=text, language=info.language, duration=info.duration, segments=segments)

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
