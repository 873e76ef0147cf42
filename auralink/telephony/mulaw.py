"""G.711 μ-law audio as telephone calls carry it, and resampling between 8 kHz and the room rate.

:func:`encode` turns 16-bit signed PCM into μ-law bytes and :func:`decode` turns them back, with
numpy lookup tables (65,536 entries one way, 256 the other) built on first use and cached, so
importing this module costs nothing. The tables follow ITU-T G.711's μ-law segments (bias 0x84,
clip at 32,635, bits inverted on the wire); ``audioop`` is not used (deprecated, gone in 3.13).

:class:`Resampler` converts 16-bit mono PCM between 8 kHz and the room rate with a numpy FIR
(windowed-sinc low-pass, zero-stuffing up, decimation down) that keeps its state between
chunks. Why not ``livekit.rtc.AudioResampler``: measured here, its libsoxr ``medium`` recipe
holds back ~60 ms (8→48 kHz) and hands out audio in bursts of ~60 ms, ``quick`` is a cubic
interpolator that aliases when decimating 48→8 kHz; this filter delays ~2 ms, emits exactly
one output chunk per input chunk, and stops at the telephone band (3.4 kHz) so nothing folds
back. A linear interpolator would alias the agent's TTS (energy up to 11 kHz) into the call.
"""

from __future__ import annotations

__all__ = [
    "ROOM_RATE",
    "TELEPHONE_RATE",
    "Resampler",
    "decode",
    "encode",
    "rms",
    "silence",
]

from functools import cache

import numpy as np
import numpy.typing as npt

TELEPHONE_RATE = 8000  # Hz; Twilio Media Streams and G.711
ROOM_RATE = 48000  # Hz; the rate LiveKit's Opus runs at, so the SDK resamples nothing more

_BIAS = 0x84
_CLIP = 32635
_SILENCE = 0xFF  # μ-law of 0


@cache
def _encode_table() -> npt.NDArray[np.uint8]:
    """μ-law byte for every int16 value, indexed by ``sample + 32768``."""
    samples = np.arange(-32768, 32768, dtype=np.int32)
    sign = np.where(samples < 0, 0x80, 0x00).astype(np.int32)
    magnitude = np.minimum(np.abs(samples), _CLIP) + _BIAS
    # the segment is the position of the highest set bit above bit 7 (0..7)
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    table: npt.NDArray[np.uint8] = (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)
    return table


@cache
def _decode_table() -> npt.NDArray[np.int16]:
    """int16 PCM value of every μ-law byte."""
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def encode(pcm: bytes | npt.NDArray[np.int16]) -> bytes:
    """μ-law bytes (one per sample) of 16-bit signed little-endian mono PCM."""
    samples = np.frombuffer(pcm, dtype="<i2") if isinstance(pcm, bytes | bytearray | memoryview) else pcm
    return _encode_table()[samples.astype(np.int32) + 32768].tobytes()


def decode(ulaw: bytes) -> bytes:
    """16-bit signed little-endian mono PCM (two bytes per μ-law byte)."""
    return _decode_table()[np.frombuffer(ulaw, dtype=np.uint8)].astype("<i2").tobytes()


def silence(samples: int) -> bytes:
    """``samples`` μ-law bytes of silence."""
    return bytes([_SILENCE]) * samples


def rms(pcm: bytes) -> float:
    """Root mean square of 16-bit PCM (0 for no samples): a loudness measure for tests and VAD."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0


class Resampler:
    """Streaming 16-bit mono PCM resampler between rates that are integer multiples of each other.

    Up by L: zero-stuff, then a low-pass FIR with gain L. Down by M: the same low-pass FIR at the
    high rate, then every M-th sample. The filter (a Kaiser-windowed sinc cut at 3.4 kHz, the
    top of the telephone band, 32·L+1 taps: ~2 ms of delay at any rate) and the last samples of
    the previous chunk are kept, so 20 ms chunks join without clicks. Equal rates pass through.
    """

    def __init__(self, *, input_rate: int, output_rate: int) -> None:
        high, low = max(input_rate, output_rate), min(input_rate, output_rate)
        if low <= 0 or high % low:
            raise ValueError(f"cannot resample {input_rate} Hz to {output_rate} Hz (need an integer ratio)")
        self.input_rate = input_rate
        self.output_rate = output_rate
        self._factor = high // low
        self._taps = _lowpass(high, self._factor) if self._factor > 1 else None
        size = 0 if self._taps is None else self._taps.size - 1
        self._history = np.zeros(size, dtype=np.float64)  # the filter's input, at the high rate
        self._phase = 0  # down: index in the next filtered chunk of the next sample to keep

    def push(self, pcm: bytes) -> bytes:
        """Resampled PCM for ``pcm`` (16-bit little-endian); chunk sizes may vary."""
        if self._taps is None or not pcm:
            return pcm
        x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        up = self.output_rate > self.input_rate
        if up:
            stuffed = np.zeros(x.size * self._factor, dtype=np.float64)
            stuffed[:: self._factor] = x * self._factor
            x = stuffed
        joined = np.concatenate((self._history, x))
        filtered = np.convolve(joined, self._taps, mode="valid")  # one output per input of x
        self._history = joined[joined.size - self._history.size :]
        if not up:
            kept = filtered[self._phase :: self._factor]
            self._phase = (self._phase - filtered.size) % self._factor
            filtered = kept
        return np.clip(np.rint(filtered), -32768, 32767).astype("<i2").tobytes()


@cache
def _lowpass(rate: int, factor: int) -> npt.NDArray[np.float64]:
    """Kaiser-windowed sinc low-pass at 3.4 kHz for ``rate``, unity DC gain, 32·factor+1 taps."""
    n = 32 * factor + 1
    cutoff = 3400 / rate  # cycles per sample
    t = np.arange(n) - (n - 1) / 2
    taps = 2 * cutoff * np.sinc(2 * cutoff * t) * np.kaiser(n, 8.0)
    normalised: npt.NDArray[np.float64] = taps / taps.sum()
    return normalised
