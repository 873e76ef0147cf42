"""Test harness shipped with the package: a scripted room participant for tests and benchmarks."""

from .voice_client import Caption, VoiceClient, read_wav_16k

__all__ = ["Caption", "VoiceClient", "read_wav_16k"]
