"""Models shipped in parts: assembled once under the data dir, checked, re-used, rebuilt when tampered.

Most tests build a small model from two throwaway packages put on ``sys.path``; one assembles
the real ``whisper-base`` from its two installed packages.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from auralink.core.errors import ConfigError, ModelIntegrityError, ModelMissing
from auralink.models import registry
from auralink.models.hub import stt_ids_from

PART1 = b"first half of the weights " * 1000
PART2 = b"second half of the weights" * 1000
CONFIG = b'{"lang_ids": []}'


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _package(root: Path, name: str, files: dict[str, bytes]) -> None:
    (root / name / "data").mkdir(parents=True)
    (root / name / "__init__.py").write_text('"""Model data only."""\n')
    for relpath, data in files.items():
        (root / name / relpath).write_bytes(data)


@pytest.fixture()
def packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two model packages, ``fake_model_part1`` and ``fake_model_part2``, importable by path."""
    site = tmp_path / "site"
    _package(site, "fake_model_part1", {"data/config.json": CONFIG, "data/model.bin.part1": PART1})
    _package(site, "fake_model_part2", {"data/model.bin.part2": PART2})
    monkeypatch.syspath_prepend(str(site))
    return site


def _spec(*, part2_package: str = "fake_model_part2", whole: str | None = None) -> registry.STTSpec:
    return registry.STTSpec(
        id="fake-model",
        files=(
            registry.PinnedFile("fake_model_part1", "fake-model-part1", "data/config.json", _sha(CONFIG)),
        ),
        parted=(
            registry.PartedFile(
                name="model.bin",
                parts=(
                    registry.PinnedFile(
                        "fake_model_part1", "fake-model-part1", "data/model.bin.part1", _sha(PART1)
                    ),
                    registry.PinnedFile(
                        part2_package, part2_package.replace("_", "-"), "data/model.bin.part2", _sha(PART2)
                    ),
                ),
                sha256=whole or _sha(PART1 + PART2),
            ),
        ),
        license="MIT",
        english_only=False,
    )


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_parts_are_joined_in_order_next_to_the_small_files(packages: Path, tmp_path: Path) -> None:
    folder = registry.assembled_model_dir(_spec(), root=tmp_path / "models")
    assert folder == tmp_path / "models" / "fake-model"
    assert (folder / "model.bin").read_bytes() == PART1 + PART2
    assert (folder / "config.json").read_bytes() == CONFIG
    assert _leftovers(folder) == []


def test_an_assembled_model_is_reused_while_it_matches(packages: Path, tmp_path: Path) -> None:
    first = registry.assembled_model_dir(_spec(), root=tmp_path / "models") / "model.bin"
    inode = first.stat().st_ino
    second = registry.assembled_model_dir(_spec(), root=tmp_path / "models") / "model.bin"
    assert second.stat().st_ino == inode  # the same file, not written again


def test_a_tampered_assembled_model_is_rebuilt(packages: Path, tmp_path: Path) -> None:
    model = registry.assembled_model_dir(_spec(), root=tmp_path / "models") / "model.bin"
    model.write_bytes(b"truncated")
    (model.parent / "config.json").write_bytes(b"{}")
    folder = registry.assembled_model_dir(_spec(), root=tmp_path / "models")
    assert (folder / "model.bin").read_bytes() == PART1 + PART2
    assert (folder / "config.json").read_bytes() == CONFIG


def test_a_corrupt_part_is_refused_naming_the_file_and_nothing_is_left(
    packages: Path, tmp_path: Path
) -> None:
    part = packages / "fake_model_part2" / "data" / "model.bin.part2"
    part.write_bytes(PART2[:-1] + b"!")
    with pytest.raises(ModelIntegrityError) as e:
        registry.assembled_model_dir(_spec(), root=tmp_path / "models")
    assert str(part) in str(e.value) and _sha(PART2) in str(e.value)
    folder = tmp_path / "models" / "fake-model"
    assert not (folder / "model.bin").exists() and _leftovers(folder) == []


def test_parts_that_do_not_join_to_the_pinned_whole_are_refused(packages: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelIntegrityError, match="model.bin"):
        registry.assembled_model_dir(_spec(whole="0" * 64), root=tmp_path / "models")
    folder = tmp_path / "models" / "fake-model"
    assert not (folder / "model.bin").exists() and _leftovers(folder) == []


def test_a_missing_part_package_names_the_package(packages: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelMissing) as e:
        registry.assembled_model_dir(_spec(part2_package="fake_model_part9"), root=tmp_path / "models")
    assert "fake-model-part9" in str(e.value)
    assert not (tmp_path / "models" / "fake-model" / "model.bin").exists()


def test_the_real_whisper_base_assembles_to_its_pinned_digest(tmp_path: Path) -> None:
    spec = registry.STTS["whisper-base"]
    folder = registry.assembled_model_dir(spec, root=tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "model.bin",
        "tokenizer.json",
        "vocabulary.txt",
    ]
    assert registry.sha256_of(folder / "model.bin") == spec.parted[0].sha256
    assert (folder / "model.bin").stat().st_size == 145_217_532


def test_the_stt_setting_takes_ids_and_aliases_and_refuses_unknown_ones() -> None:
    assert stt_ids_from("whisper-1, base") == ["whisper-tiny.en", "whisper-base"]
    assert stt_ids_from("whisper-base,whisper-base") == ["whisper-base"]
    with pytest.raises(ConfigError, match="whisper-large"):
        stt_ids_from("whisper-large")
    with pytest.raises(ConfigError, match="AURALINK_MODELS_STT"):
        stt_ids_from(" , ")
