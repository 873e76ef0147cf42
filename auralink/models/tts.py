"""Local text to speech: sentences sent one by one to the Piper child process, audio streamed back.

The input is split into sentences; each is synthesised by Piper's ``POST /synthesize`` (a WAV at
the voice's 22050 Hz) and resampled to 24 kHz as soon as it arrives, so the first sentence can
play while the next is being made. ``speed`` maps to Piper's ``length_scale = 1 / speed``.
"""

from __future__ import annotations

__all__ = ["TextToSpeech", "split_sentences"]

import logging
import re
from collections.abc import AsyncGenerator
from pathlib import Path

import aiohttp

from auralink.core.errors import ProviderError, ProviderTimeout

from .audio import Resampler, parse_wav
from .http_errors import ModelNotReady
from .piper_process import PiperProcess
from .registry import VoiceSpec

logger = logging.getLogger("auralink.models")

# A sentence ends at . ! ? … (optionally followed by closing quotes/brackets) before a space,
# or at a line break. Long sentences are further split at ; : , so no chunk waits too long.
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+|\n+")
_CLAUSE_END = re.compile(r"(?<=[;:,])\s+")
_LONG = 200
_SPEAKABLE = re.compile(r"\w")


def split_sentences(text: str) -> list[str]:
    """The speakable sentences of ``text``, in order; long ones cut at clause boundaries."""
    out: list[str] = []
    for raw in _SENTENCE_END.split(text):
        sentence = raw.strip()
        if not _SPEAKABLE.search(sentence):
            continue
        if len(sentence) <= _LONG:
            out.append(sentence)
            continue
        piece = ""
        for clause in _CLAUSE_END.split(sentence):
            piece = f"{piece} {clause}".strip()
            if len(piece) >= _LONG // 2:
                out.append(piece)
                piece = ""
        if _SPEAKABLE.search(piece):
            out.append(piece)
    return out


class TextToSpeech:
    """Speech from the Piper child process. :meth:`start` spawns it; :meth:`aclose` stops it."""

    def __init__(
        self, *, voice: VoiceSpec, model_path: Path, port: int, request_timeout: float = 30.0
    ) -> None:
        self.voice = voice
        self.process = PiperProcess(model=model_path, port=port)
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        await self.process.start()

    @property
    def ready(self) -> bool:
        return self.process.ready

    async def synthesize(self, text: str, *, speed: float = 1.0) -> AsyncGenerator[bytes, None]:
        """24 kHz 16-bit mono PCM, one chunk per sentence, produced as it is synthesised."""
        resampler = Resampler(source_rate=self.voice.sample_rate)
        for sentence in split_sentences(text):
            pcm, rate = await self._synthesize_one(sentence, length_scale=1.0 / speed)
            if rate != self.voice.sample_rate:
                resampler = Resampler(source_rate=rate)
            chunk = resampler.push(pcm)
            if chunk:
                yield chunk
        tail = resampler.flush()
        if tail:
            yield tail

    async def _synthesize_one(self, sentence: str, *, length_scale: float) -> tuple[bytes, int]:
        if self._session is None or not self.process.ready:
            raise ModelNotReady("tts", state="restarting" if self._session is not None else "loading")
        try:
            async with self._session.post(
                f"{self.process.url}/synthesize",
                json={"text": sentence, "length_scale": length_scale},
            ) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise ProviderError(
                        f"piper TTS answered {resp.status} for a sentence of {len(sentence)} chars"
                    )
        except TimeoutError as e:
            raise ProviderTimeout("piper TTS did not answer in time") from e
        except aiohttp.ClientError as e:
            if not self.process.ready:
                raise ModelNotReady("tts", state="restarting") from e
            raise ProviderError(f"piper TTS request failed: {e}", retryable=True) from e
        try:
            return parse_wav(body)
        except ValueError as e:
            raise ProviderError(f"piper TTS returned audio that is not 16-bit mono WAV: {e}") from e

    async def aclose(self) -> None:
        await self.process.aclose()
        if self._session is not None:
            await self._session.close()
            self._session = None
