"""Session recordings: both sides, aligned."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from parley.observability.recording import SessionRecorder


def _tone(ms: int, value: int) -> bytes:
    return np.full(16 * ms, value, dtype="<i2").tobytes()


def test_both_channels_are_aligned_on_the_clock(tmp_path: Path) -> None:
    rec = SessionRecorder(started_at=100.0)
    rec.user_audio(_tone(100, 1000), at=100.1)  # user speaks 0-100 ms
    rec.user_audio(_tone(100, 2000), at=100.2)  # 100-200 ms
    rec.agent_audio(_tone(250, 3000), "turn_1", at=100.5)  # sent at 500 ms
    rec.agent_audio(_tone(250, 4000), "turn_1", at=100.5)  # sent ahead: follows on
    rec.agent_audio(_tone(100, 5000), "turn_2", at=101.5)
    path = rec.save(tmp_path / "rec" / "ses_1.wav")
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, 16000, 2)
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    user, agent = audio[:, 0], audio[:, 1]
    assert len(audio) == 16 * 1600
    assert set(user[:1600]) == {1000} and set(user[1600:3200]) == {2000}
    assert set(user[3200:]) == {0}
    assert set(agent[:8000]) == {0}
    assert set(agent[8000:12000]) == {3000} and set(agent[12000:16000]) == {4000}
    assert set(agent[16000:24000]) == {0} and set(agent[24000:]) == {5000}
