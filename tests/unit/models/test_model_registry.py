"""The pieces of the model server that need no loaded model: pins, sentences, WAV framing."""

from __future__ import annotations

import io
import struct

import av
import numpy as np
import pytest

from auralink.core.errors import ModelIntegrityError, ModelMissing
from auralink.models import registry
from auralink.models.audio import Resampler, make_encoder
from auralink.models.tts import split_sentences


def test_every_pinned_model_file_is_installed_and_matches() -> None:
    pinned = [
        *(f for s in registry.STTS.values() for f in s.files),
        *(s.file for s in registry.LLMS.values()),
        *(f for v in registry.VOICES.values() for f in (v.model, v.config)),
        *(f for e in registry.EMBEDDINGS.values() for f in (e.model, e.tokenizer)),
    ]
    for f in pinned:
        assert registry.verified_path(f).is_file()


def test_a_file_that_differs_from_its_pin_is_refused_with_both_digests() -> None:
    real = registry.EMBEDDINGS["all-minilm-l6-v2"].tokenizer
    tampered = registry.PinnedFile(real.package, real.distribution, real.relpath, "0" * 64)
    with pytest.raises(ModelIntegrityError) as e:
        registry.verified_path(tampered)
    assert "0" * 64 in str(e.value) and real.sha256 in str(e.value)


def test_a_missing_model_package_names_the_package() -> None:
    with pytest.raises(ModelMissing) as e:
        registry.verified_path(
            registry.PinnedFile("no_such_model_pkg", "no-such-model-pkg", "m.bin", "0" * 64)
        )
    assert "no-such-model-pkg" in str(e.value)


def test_sentences_are_split_for_early_audio() -> None:
    assert split_sentences("Hello there! How are you? I'm fine.\nThanks…  ok") == [
        "Hello there!",
        "How are you?",
        "I'm fine.",
        "Thanks…",
        "ok",
    ]
    assert split_sentences(" ... -- ") == []
    long = ", ".join(["a clause with several words"] * 20) + "."
    parts = split_sentences(long)
    assert len(parts) > 1 and all(len(p) < 250 for p in parts)
    assert " ".join(parts).replace(" ", "") == long.replace(" ", "")


def test_resampling_22050_to_24000_keeps_duration() -> None:
    tone = (np.sin(np.arange(22050) / 22050 * 2 * np.pi * 440) * 8000).astype("<i2").tobytes()
    r = Resampler(source_rate=22050)
    out = b"".join(r.push(tone[i : i + 4410]) for i in range(0, len(tone), 4410)) + r.flush()
    assert abs(len(out) // 2 - 24000) <= 48


def test_streamed_wav_header_then_raw_pcm() -> None:
    enc = make_encoder("wav")
    data = enc.encode(b"\x01\x00" * 10) + enc.flush()
    assert data[:4] == b"RIFF" and data[8:16] == b"WAVEfmt "
    channels, rate = struct.unpack("<HI", data[22:28])
    assert (channels, rate) == (1, 24000)
    assert data[44:] == b"\x01\x00" * 10


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac"])
def test_compressed_formats_decode_back_to_about_the_same_length(fmt: str) -> None:
    pcm = (np.sin(np.arange(24000) / 24000 * 2 * np.pi * 300) * 8000).astype("<i2").tobytes()
    enc = make_encoder(fmt)
    data = b"".join(enc.encode(pcm[i : i + 9600]) for i in range(0, len(pcm), 9600)) + enc.flush()
    with av.open(io.BytesIO(data), "r") as container:
        frames = list(container.decode(audio=0))
    seconds = sum(f.samples for f in frames) / frames[0].sample_rate
    assert 0.9 < seconds < 1.2
