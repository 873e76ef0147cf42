"""μ-law against G.711's table, and the 8 kHz <-> 48 kHz resampler a call's audio goes through."""

from __future__ import annotations

import numpy as np
import pytest

from auralink.telephony import mulaw


def _pcm(*values: int) -> bytes:
    return np.array(values, dtype="<i2").tobytes()


def _samples(pcm: bytes) -> list[int]:
    return np.frombuffer(pcm, dtype="<i2").tolist()


@pytest.mark.parametrize(
    ("linear", "code"),
    [(0, 0xFF), (-1, 0x7F), (1000, 0xCE), (-1000, 0x4E), (32767, 0x80), (-32768, 0x00), (120, 0xF0)],
)
def test_encoding_matches_g711_table(linear: int, code: int) -> None:
    assert mulaw.encode(_pcm(linear)) == bytes([code])


@pytest.mark.parametrize(
    ("code", "linear"),
    [(0xFF, 0), (0x7F, 0), (0x80, 32124), (0x00, -32124), (0xF0, 120), (0x70, -120), (0xCE, 988)],
)
def test_decoding_matches_g711_table(code: int, linear: int) -> None:
    assert _samples(mulaw.decode(bytes([code]))) == [linear]


def test_every_code_survives_decode_then_encode() -> None:
    codes = bytes(c for c in range(256) if c != 0x7F)  # 0x7F is "-0": it comes back as +0 (0xFF)
    assert mulaw.encode(mulaw.decode(codes)) == codes


def test_round_trip_error_stays_within_one_quantisation_step() -> None:
    x = np.arange(-32000, 32000, dtype=np.int32)
    back = np.frombuffer(mulaw.decode(mulaw.encode(x.astype(np.int16))), dtype="<i2").astype(np.int32)
    assert np.all(np.abs(back - x) <= (np.abs(x) + 132) / 32 + 1)


def test_silence_is_silent() -> None:
    assert mulaw.rms(mulaw.decode(mulaw.silence(160))) == 0.0


def _tone(freq: float, rate: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (8000 * np.sin(2 * np.pi * freq * t)).astype("<i2")


def test_resampling_up_and_down_keeps_a_voice_band_tone_in_20ms_chunks() -> None:
    up = mulaw.Resampler(input_rate=8000, output_rate=48000)
    down = mulaw.Resampler(input_rate=48000, output_rate=8000)
    tone = _tone(1000, 8000)
    chunks = [up.push(tone[i : i + 160].tobytes()) for i in range(0, tone.size, 160)]
    assert {len(c) for c in chunks} == {960 * 2}  # one 20 ms chunk out per 20 ms chunk in, no bursts
    high = b"".join(chunks)
    back = b"".join(down.push(high[i : i + 1920]) for i in range(0, len(high), 1920))
    assert len(back) == len(tone.tobytes())
    assert mulaw.rms(back) == pytest.approx(mulaw.rms(tone.tobytes()), rel=0.02)


def test_downsampling_removes_what_8khz_cannot_carry() -> None:
    down = mulaw.Resampler(input_rate=48000, output_rate=8000)
    out = down.push(_tone(6000, 48000).tobytes())  # would alias to 2 kHz without the low-pass
    assert mulaw.rms(out) < 0.01 * mulaw.rms(_tone(6000, 48000).tobytes())


def test_odd_chunk_sizes_lose_no_samples() -> None:
    down = mulaw.Resampler(input_rate=48000, output_rate=8000)
    tone = _tone(500, 48000).tobytes()
    out = b"".join(down.push(tone[i : i + 1554]) for i in range(0, len(tone), 1554))
    assert len(out) == len(tone) // 6


def test_a_rate_that_is_not_a_multiple_is_refused() -> None:
    with pytest.raises(ValueError, match="integer ratio"):
        mulaw.Resampler(input_rate=8000, output_rate=44100)
