"""A real conversation: recorded speech streamed in real time to the real models."""

from __future__ import annotations

import numpy as np
import pytest

from parley.audio.wav import read_wav
from parley.client import call
from parley.storage import Database, SessionRepository
from parley.testing.recordings import Recording
from parley.testing.wer import normalized_wer
from tests.integration.conftest import Server

pytestmark = pytest.mark.integration
UTTERANCES = ["librivox-0930", "cards-005", "librivox-0870"]


async def test_voice_conversation_end_to_end(server: Server, speech: dict[str, Recording]) -> None:
    clips = [speech[name] for name in UTTERANCES]
    result = await call(server.url, server.admin_key, "agt_demo", [read_wav(c.path) for c in clips])

    assert result.conversation_id.startswith("ses_")
    assert result.greeting is not None and "Parley" in result.greeting.text
    assert len(result.greeting.audio) > 16000 * 2  # more than a second of speech

    heard = [t.user_text for t in result.turns]
    assert all(heard), heard
    wer = normalized_wer([c.text for c in clips], heard)
    assert wer <= 0.15, (wer, heard)

    for turn in result.turns:
        reply = turn.reply
        assert reply is not None and reply.text.strip(), "the agent answered in words"
        pcm = np.frombuffer(bytes(reply.audio), dtype="<i2").astype(np.float64)
        assert len(pcm) > 16000 * 0.5, "at least half a second of agent speech"
        assert np.sqrt(np.mean(pcm**2)) > 300, "the agent audio is not silence"
        for stage in ("endpointing", "stt", "llm_first_token", "tts_first_audio", "voice_to_voice"):
            assert isinstance(reply.metrics.get(stage), float), (stage, reply.metrics)
    assert result.session_ended == "client"

    db = Database(server.database_url)
    await db.connect()
    try:
        sessions = SessionRepository(db)
        stored = await sessions.get(result.conversation_id)
        assert stored is not None and stored.status == "ended" and stored.end_reason == "client"
        turns = await sessions.turns(result.conversation_id)
    finally:
        await db.close()
    stored_turns = [(t.role, t.text, t.interrupted) for t in turns]
    assert [t.role for t in turns] == ["agent"] + ["user", "agent"] * len(clips), stored_turns
    assert [t.text for t in turns if t.role == "user"] == heard
    assert all(t.latency_ms.get("voice_to_voice") for t in turns[2::2])
