"""Smart Turn v3.2 (Pipecat, BSD-2-Clause): end of turn from the sound of the speech.

A Whisper-tiny encoder with a classifier head, 8.7 MB of ONNX, 23 languages. It hears
the last 8 s of the utterance (zero-padded in front when shorter) as Whisper's 80-bin
log-mel features of a zero-mean, unit-variance waveform, and gives the probability
that the speaker has finished. The weights are the file the ``pipecat-ai`` wheel ships;
it is read from the installed distribution without importing Pipecat (whose import
sets up its own logging) and checked against its SHA-256 before use. The features come
from faster-whisper's numpy feature extractor (identical to Whisper's to 1e-6).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from pathlib import Path
from typing import Any

import numpy as np

from parley.audio.pcm import SAMPLE_RATE
from parley.errors import ProviderUnavailableError
from parley.providers._threads import ModelWorker
from parley.providers.turn.base import TurnModel

MODEL_FILE = "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"
MODEL_SHA256 = "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f"
WINDOW_SAMPLES = 8 * SAMPLE_RATE
"""The model hears the last 8 s of an utterance."""
_NORM_EPS = 1e-7


def bundled_smart_turn_path() -> Path:
    """The ONNX file inside the installed ``pipecat-ai`` distribution, checked."""
    try:
        dist = importlib.metadata.distribution("pipecat-ai")
    except importlib.metadata.PackageNotFoundError:
        raise ProviderUnavailableError(
            "the Smart Turn model is missing: pip install pipecat-ai"
        ) from None
    path = Path(str(dist.locate_file(MODEL_FILE)))
    if not path.is_file():
        raise ProviderUnavailableError(f"the Smart Turn model is missing from {dist.name}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != MODEL_SHA256:
        raise ProviderUnavailableError(
            f"{path} is not Smart Turn v3.2 (sha256 {digest[:12]}…); reinstall pipecat-ai"
        )
    return path


def features(pcm: bytes, extractor: Any) -> np.ndarray[Any, np.dtype[np.float32]]:
    """The model's input for ``pcm``: shape (1, 80, 800). ``extractor`` is faster-whisper's
    ``FeatureExtractor(feature_size=80)``."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    samples = samples[-WINDOW_SAMPLES:]
    window = np.zeros(WINDOW_SAMPLES, dtype=np.float32)
    window[WINDOW_SAMPLES - samples.size :] = samples
    window = (window - window.mean()) / np.sqrt(window.var() + _NORM_EPS)
    log_mel = extractor(window, padding=0)
    return np.asarray(log_mel, dtype=np.float32)[np.newaxis]


class SmartTurn(TurnModel):
    """Smart Turn v3.2 on onnxruntime, one CPU thread (~35 ms per call on these machines)."""

    name = "smart-turn-v3.2"

    def __init__(self, path: Path | None = None, threads: int = 1) -> None:
        try:
            import onnxruntime
        except ImportError as exc:
            raise ProviderUnavailableError("onnxruntime is missing: pip install onnxruntime") from (
                exc
            )
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 4
        self._session: Any = onnxruntime.InferenceSession(
            str(path or bundled_smart_turn_path()),
            sess_options=options,
            providers=["CPUExecutionProvider"],
        )
        from faster_whisper.feature_extractor import FeatureExtractor

        self._extractor = FeatureExtractor(feature_size=80)
        self._worker = ModelWorker("turn")
        self.predict(b"\x00\x00" * SAMPLE_RATE)  # warm up: the first run plans the graph

    def predict(self, pcm: bytes) -> float:
        """The probability that ``pcm`` ends a turn (blocking)."""
        (probability,) = self._session.run(None, {"input_features": features(pcm, self._extractor)})
        return float(np.asarray(probability).reshape(-1)[0])

    async def finished_probability(self, pcm: bytes) -> float:
        return await self._worker.run(lambda: self.predict(pcm))

    def close(self) -> None:
        self._worker.shutdown()
