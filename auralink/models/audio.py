"""Audio plumbing for the speech endpoint: resampling and the streaming output encoders.

OpenAI's speech API returns 24 kHz mono audio; ``pcm`` is raw 16-bit little-endian samples at
that rate (livekit-plugins-openai relies on it). Piper voices speak at 22050 Hz, so every chunk
goes through one :class:`Resampler` per request (it keeps its filter state across sentences,
so joins are seamless). Encoders turn 24 kHz PCM into the requested format chunk by chunk:

- ``pcm``: the samples as they are;
- ``wav``: a RIFF header whose sizes are 0xFFFFFFFF ("unknown length", as streaming servers
  send), then the samples;
- ``mp3``, ``opus`` (Ogg), ``aac`` (ADTS), ``flac``: encoded by FFmpeg through PyAV.
"""

from __future__ import annotations

__all__ = [
    "CONTENT_TYPES",
    "OUTPUT_RATE",
    "Encoder",
    "Resampler",
    "make_encoder",
    "parse_wav",
]

import io
import struct
import wave
from typing import Any, Protocol, cast

import numpy as np

OUTPUT_RATE = 24000

CONTENT_TYPES = {
    "pcm": "audio/pcm",
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
}
# format -> (FFmpeg muxer, encoder, muxer options)
_PYAV_FORMATS: dict[str, tuple[str, str, dict[str, str]]] = {
    "mp3": ("mp3", "libmp3lame", {}),
    "opus": ("ogg", "libopus", {"page_duration": "100000"}),  # a page per 100 ms, not per second
    "aac": ("adts", "aac", {}),
    "flac": ("flac", "flac", {}),
}


def parse_wav(data: bytes) -> tuple[bytes, int]:
    """The 16-bit mono samples and the sample rate of a WAV file (as Piper's server returns)."""
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            if w.getsampwidth() != 2 or w.getnchannels() != 1:
                raise ValueError(
                    f"expected 16-bit mono WAV, got {w.getsampwidth() * 8}-bit x{w.getnchannels()}"
                )
            return w.readframes(w.getnframes()), w.getframerate()
    except (wave.Error, EOFError) as e:
        raise ValueError(f"not a WAV file: {e}") from None


class Resampler:
    """16-bit mono PCM from ``source_rate`` to :data:`OUTPUT_RATE`, streaming."""

    def __init__(self, *, source_rate: int) -> None:
        import av

        self._rate = source_rate
        self._resampler: Any = (
            av.AudioResampler(format="s16", layout="mono", rate=OUTPUT_RATE)
            if source_rate != OUTPUT_RATE
            else None
        )

    def push(self, pcm: bytes) -> bytes:
        if self._resampler is None or not pcm:
            return pcm
        import av

        frame = av.AudioFrame.from_ndarray(
            np.frombuffer(pcm, dtype="<i2").reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = self._rate
        return b"".join(f.to_ndarray().astype("<i2").tobytes() for f in self._resampler.resample(frame))

    def flush(self) -> bytes:
        if self._resampler is None:
            return b""
        return b"".join(f.to_ndarray().astype("<i2").tobytes() for f in self._resampler.resample(None))


class Encoder(Protocol):
    content_type: str

    def encode(self, pcm: bytes) -> bytes: ...

    def flush(self) -> bytes: ...

    def close(self) -> None: ...


class _Pcm:
    content_type = CONTENT_TYPES["pcm"]

    def encode(self, pcm: bytes) -> bytes:
        return pcm

    def flush(self) -> bytes:
        return b""

    def close(self) -> None:
        pass


class _Wav:
    content_type = CONTENT_TYPES["wav"]

    def __init__(self) -> None:
        self._header_sent = False

    def encode(self, pcm: bytes) -> bytes:
        if self._header_sent:
            return pcm
        self._header_sent = True
        return _streaming_wav_header() + pcm

    def flush(self) -> bytes:
        return b"" if self._header_sent else self.encode(b"")

    def close(self) -> None:
        pass


def _streaming_wav_header() -> bytes:
    unknown = 0xFFFFFFFF
    byte_rate = OUTPUT_RATE * 2
    return (
        b"RIFF"
        + struct.pack("<I", unknown)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, OUTPUT_RATE, byte_rate, 2, 16)
        + b"data"
        + struct.pack("<I", unknown)
    )


class _Sink:
    """A write-only file for PyAV's muxer; what it wrote is taken after each chunk."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def write(self, data: bytes) -> int:
        self._buf += data
        return len(data)

    def take(self) -> bytes:
        data = bytes(self._buf)
        self._buf.clear()
        return data


class _PyAV:
    def __init__(self, fmt: str) -> None:
        import av

        muxer, codec, options = _PYAV_FORMATS[fmt]
        self.content_type = CONTENT_TYPES[fmt]
        self._sink = _Sink()
        # PyAV's stubs type streams as a union of every media kind; these are audio
        self._container: Any = cast(Any, av.open(self._sink, "w", format=muxer, options=options))
        self._stream: Any = cast(Any, self._container.add_stream(codec, rate=OUTPUT_RATE, layout="mono"))
        self._convert = av.AudioResampler(
            format=self._stream.codec_context.format.name, layout="mono", rate=OUTPUT_RATE
        )
        self._closed = False

    def encode(self, pcm: bytes) -> bytes:
        import av

        if not pcm:
            return b""
        frame = av.AudioFrame.from_ndarray(
            np.frombuffer(pcm, dtype="<i2").reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = OUTPUT_RATE
        for converted in self._convert.resample(frame):
            for packet in self._stream.encode(converted):
                self._container.mux(packet)
        return self._sink.take()

    def flush(self) -> bytes:
        if self._closed:
            return b""
        self._closed = True
        for converted in self._convert.resample(None):
            for packet in self._stream.encode(converted):
                self._container.mux(packet)
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        return self._sink.take()

    def close(self) -> None:
        """Release FFmpeg's state when the response ends early (the client went away)."""
        if not self._closed:
            self._closed = True
            self._container.close()


def make_encoder(fmt: str) -> Encoder:
    """An encoder for one of :data:`CONTENT_TYPES`' formats."""
    if fmt == "pcm":
        return _Pcm()
    if fmt == "wav":
        return _Wav()
    return _PyAV(fmt)
