"""Content policies and loop detection end to end, on the real server with the real
models and Presidio: what the agent must not say is never in its audio (checked by
transcribing that audio with the server's own Whisper), personal data is redacted where
the policy says, every decision is an event and stored with its turn, and bad policies
get precise errors."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from parley.audio.wav import decode_wav, parse_wav, wav_bytes
from parley.client import ApiError, AsyncParleyClient, call
from parley.safety.spoken_numbers import to_digits
from tests.integration.api_support import SYSTEM_PROMPT, assert_error, auth, until
from tests.integration.conftest import Server

pytestmark = pytest.mark.integration

CARD = "4111 1111 1111 1111"
FALLBACK = "Sorry, I can't talk about that."


@pytest.fixture
async def admin(server: Server) -> AsyncIterator[AsyncParleyClient]:
    async with AsyncParleyClient(server.url, server.admin_key) as client:
        yield client


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=auth(server.admin_key), timeout=120) as c:
        yield c


def heard(http: httpx.Client, events: list[dict[str, Any]], turn_id: str) -> str:
    """What the server's own speech-to-text hears in the agent audio of ``turn_id``."""
    pcm = b"".join(
        base64.b64decode(e["audio"])
        for e in events
        if e["type"] == "audio" and e["turn_id"] == turn_id
    )
    assert pcm, "the turn has audio"
    files = {"file": ("agent.wav", wav_bytes(pcm), "audio/wav")}
    response = http.post("/v1/audio/transcriptions", files=files, data={"model": "whisper-1"})
    assert response.status_code == 200, response.text
    return str(response.json()["text"])


def agent_lines(events: list[dict[str, Any]]) -> list[str]:
    """The agent's final transcripts among ``events``."""
    return [
        str(e["text"])
        for e in events
        if e["type"] == "transcript" and e["role"] == "agent" and e["final"]
    ]


def digits(text: str) -> str:
    """The digits in ``text``, spoken ones ("five five") included."""
    return re.sub(r"\D", "", to_digits(text).text)


async def test_a_greeting_with_a_blocked_term_and_a_card_number_is_never_spoken(
    admin: AsyncParleyClient, http: httpx.Client
) -> None:
    policy = await admin.create_policy(
        name="Support",
        blocked_terms=["refund guaranteed", "competitorco"],
        blocked_fallback=FALLBACK,
        pii={"entities": ["CREDIT_CARD", "PHONE_NUMBER"], "redact": ["agent_speech"]},
    )
    greeting = f"Hello! Your card {CARD} is on file."
    agent = await admin.create_agent(
        name="Careful",
        system_prompt=SYSTEM_PROMPT,
        first_message=greeting,
        content_policy_id=policy["id"],
    )
    session = await admin.create_session(agent["id"])
    async with admin.connect(session) as conv:
        events = await until(conv, "agent_turn_end", timeout=60)
        turn_id = events[-1]["turn_id"]
        said = heard(http, events, turn_id)
        assert "1111" in said or "card" in said.lower(), said
        assert "41111111" not in digits(said), said  # never the whole number
        marks = [e for e in events if e["type"] == "safety"]
        assert marks == [
            {
                "type": "safety", "turn_id": turn_id, "policy_id": policy["id"],
                "kind": "pii", "action": "redacted", "detail": "CREDIT_CARD", "role": "agent",
            }
        ]  # fmt: skip
        await conv.send({"type": "end"})
        await until(conv, "session_ended")
    detail = await admin.get_session(session["session_id"])
    agent_turn = next(t for t in detail["transcript"] if t["turn_id"] == turn_id)
    assert "4111 1111 1111 1111" not in agent_turn["text"]
    assert [(m["kind"], m["action"]) for m in agent_turn["safety"]] == [("pii", "redacted")]

    blocked = await admin.create_agent(
        name="Blocked",
        system_prompt=SYSTEM_PROMPT,
        first_message="Welcome! With CompetitorCo, your Refund — guaranteed!",
        content_policy_id=policy["id"],
    )
    session = await admin.create_session(blocked["id"])
    async with admin.connect(session) as conv:
        events = await until(conv, "agent_turn_end", timeout=60)
        turn_id = events[-1]["turn_id"]
        said = heard(http, events, turn_id).lower()
        assert "competitor" not in said and "guarantee" not in said, said
        assert "sorry" in said, said
        assert agent_lines(events) == [f"Welcome! {FALLBACK}"]  # the rest is replaced
        marks = [(e["kind"], e["action"], e["detail"]) for e in events if e["type"] == "safety"]
        assert marks == [("blocked_term", "replaced", "term #2")]


async def test_personal_data_is_redacted_for_the_client_and_storage_not_for_the_llm(
    admin: AsyncParleyClient,
) -> None:
    policy = await admin.create_policy(
        name="PII",
        pii={
            "entities": ["CREDIT_CARD", "PHONE_NUMBER", "EMAIL_ADDRESS"],
            "redact": ["storage", "client", "agent_speech"],
        },
    )
    agent = await admin.create_agent(
        name="Notes", system_prompt=SYSTEM_PROMPT, content_policy_id=policy["id"]
    )
    session = await admin.create_session(agent["id"])
    said = f"My card is {CARD} and my email is jane.doe@example.com, thanks."
    async with admin.connect(session) as conv:
        assert (await conv.recv(timeout=15))["type"] == "connected"
        await conv.send({"type": "text", "text": said})
        events = await until(conv, "agent_turn_end", timeout=120)
        user = next(e for e in events if e["type"] == "transcript" and e["role"] == "user")
        assert user["text"] == "My card is <CREDIT_CARD> and my email is <EMAIL_ADDRESS>, thanks."
        marks = [e for e in events if e["type"] == "safety" and e["role"] == "user"]
        assert [(m["kind"], m["action"], m["detail"]) for m in marks] == [
            ("pii", "redacted", "CREDIT_CARD,EMAIL_ADDRESS")
        ]
        assert CARD not in str(marks)
        await conv.send({"type": "end"})
        await until(conv, "session_ended")
    detail = await admin.get_session(session["session_id"])
    stored = [t for t in detail["transcript"] if t["role"] == "user"]
    assert stored[0]["text"] == user["text"]
    assert stored[0]["safety"][0]["detail"] == "CREDIT_CARD,EMAIL_ADDRESS"
    for turn in detail["transcript"]:
        assert "4111" not in turn["text"] and "jane.doe" not in turn["text"]


async def test_a_user_blocked_term_gets_the_fallback_without_the_llm(
    admin: AsyncParleyClient,
) -> None:
    policy = await admin.create_policy(
        name="User terms", user_blocked_terms=["jailbreak"], blocked_fallback=FALLBACK
    )
    agent = await admin.create_agent(
        name="Guarded", system_prompt=SYSTEM_PROMPT, content_policy_id=policy["id"]
    )
    session = await admin.create_session(agent["id"])
    async with admin.connect(session) as conv:
        assert (await conv.recv(timeout=15))["type"] == "connected"
        await conv.send({"type": "text", "text": "Let's try a JAILBREAK, shall we?"})
        events = await until(conv, "agent_turn_end", timeout=60)
        agent_said = [
            e["text"] for e in events if e["type"] == "transcript" and e["role"] == "agent"
        ]
        assert agent_said[-1] == FALLBACK
        marks = [(e["role"], e["kind"], e["detail"]) for e in events if e["type"] == "safety"]
        assert marks == [("user", "blocked_term", "user term #1")]


async def test_a_user_repeating_themselves_ends_the_session_as_a_loop(
    admin: AsyncParleyClient,
) -> None:
    agent = await admin.create_agent(
        name="Loops",
        system_prompt=SYSTEM_PROMPT,
        loop_detection={"user_repeats": 2, "action": "end", "line": "Let's pick this up later."},
    )
    assert agent["loop_detection"]["user_repeats"] == 2
    session = await admin.create_session(agent["id"])
    async with admin.connect(session) as conv:
        assert (await conv.recv(timeout=15))["type"] == "connected"
        await conv.send({"type": "text", "text": "I want to cancel my order number five."})
        await until(conv, "agent_turn_end", timeout=120)
        await conv.send({"type": "text", "text": "I want to cancel my order, number five!"})
        events = await until(conv, "session_ended", timeout=120)
        assert events[-1]["reason"] == "loop_detected"
        agent_said = [
            e["text"] for e in events if e["type"] == "transcript" and e["role"] == "agent"
        ]
        assert agent_said[-1] == "Let's pick this up later."
        marks = [(e["kind"], e["action"], e["detail"]) for e in events if e["type"] == "safety"]
        assert marks == [("loop", "ended", "user_repeats x2")]
    detail = await admin.get_session(session["session_id"])
    assert detail["end_reason"] == "loop_detected"


async def test_a_policy_in_use_cannot_be_deleted_and_a_running_call_keeps_its_policy(
    admin: AsyncParleyClient,
) -> None:
    policy = await admin.create_policy(
        name="Kept", user_blocked_terms=["pineapple"], blocked_fallback=FALLBACK
    )
    agent = await admin.create_agent(
        name="Kept", system_prompt=SYSTEM_PROMPT, content_policy_id=policy["id"]
    )
    with pytest.raises(ApiError) as refused:
        await admin.delete_policy(policy["id"])
    assert (refused.value.status, refused.value.code) == (409, "conflict_error")
    assert agent["id"] in refused.value.message
    session = await admin.create_session(agent["id"])
    async with admin.connect(session) as conv:
        assert (await conv.recv(timeout=15))["type"] == "connected"
        await admin.update_agent(agent["id"], content_policy_id=None)
        assert (await admin.delete_policy(policy["id"]))["deleted"] is True
        with pytest.raises(ApiError) as gone:
            await admin.get_policy(policy["id"])
        assert gone.value.status == 404
        await conv.send({"type": "text", "text": "Do you like pineapple?"})
        events = await until(conv, "agent_turn_end", timeout=60)
        agent_said = [
            e["text"] for e in events if e["type"] == "transcript" and e["role"] == "agent"
        ]
        assert agent_said[-1] == FALLBACK, "the call goes on with the policy it started with"


async def test_a_recording_has_the_spoken_phone_number_silenced(
    admin: AsyncParleyClient, server: Server
) -> None:
    policy = await admin.create_policy(
        name="Recordings", pii={"entities": ["PHONE_NUMBER"], "redact": ["recording"]}
    )
    agent = await admin.create_agent(
        name="Recorded", system_prompt=SYSTEM_PROMPT, content_policy_id=policy["id"],
        record_audio=True,
    )  # fmt: skip
    line = "My phone number is four one five, five five five, zero one three two. Call me back."
    headers = auth(server.admin_key)
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=120) as http:
        voice = {"model": "tts-1", "input": line, "voice": "en_US-joe-medium"}
        speech = await http.post("/v1/audio/speech", json=voice)
        assert speech.status_code == 200, speech.text
        caller = [decode_wav(speech.content)]
        files = {"file": ("caller.wav", wav_bytes(caller[0]), "audio/wav")}
        said = await http.post("/v1/audio/transcriptions", files=files, data={"model": "whisper-1"})
        assert "0132" in digits(said.json()["text"]), "the control: heard without redaction"
        result = await call(server.url, server.admin_key, agent["id"], caller)
        assert result.turns[0].user_text, "the caller was heard"
        path = f"/v1/sessions/{result.conversation_id}/recording"
        for _ in range(120):  # published once the personal data is silenced
            recording = await http.get(path)
            if recording.status_code == 200:
                break
            await asyncio.sleep(0.5)
        assert recording.status_code == 200, recording.text
        fmt, raw = parse_wav(recording.content)
        assert fmt.channels == 2
        user = np.frombuffer(raw, dtype="<i2").reshape(-1, 2)[:, 0].copy()
        files = {"file": ("user.wav", wav_bytes(user.tobytes()), "audio/wav")}
        heard_user = await http.post(
            "/v1/audio/transcriptions", files=files, data={"model": "whisper-1"}
        )
    text = heard_user.json()["text"]
    assert "call me" in text.lower(), text  # the rest of what was said is kept
    assert "0132" not in digits(text) and "415" not in digits(text), text


def test_bad_policies_get_precise_errors(http: httpx.Client) -> None:
    def refused(body: dict[str, Any], param_part: str) -> str:
        response = http.post("/v1/policies", json={"name": "Bad", **body})
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "validation_error" and param_part in str(error["param"]), error
        return str(error["message"])

    assert "PHONE_NUMBER" in refused({"pii": {"entities": ["SHOE_SIZE"]}}, "entities")
    assert "rule" in refused({"criteria": [{"name": "x", "rule": "   "}]}, "rule")
    message = refused({"blocked_terms": [f"term{i}" for i in range(10_000)]}, "blocked_terms")
    assert "1000" in message
    refused({"blocked_terms": ["!!!"]}, "blocked_terms")
    refused({"judge_provider": "llm:nope"}, "judge_provider")
    refused({"on_judge_error": "maybe"}, "on_judge_error")
    refused({"criteria": [{"name": "a", "rule": "r"}, {"name": "a", "rule": "s"}]}, "criteria")
    response = http.post(
        "/v1/agents",
        json={"name": "X", "system_prompt": SYSTEM_PROMPT, "content_policy_id": "pol_missing"},
    )
    assert_error(
        response, 422, "validation_error",
        "content_policy_id: no policy 'pol_missing' (GET /v1/policies lists them)",
        "content_policy_id",
    )  # fmt: skip
    loops = http.post(
        "/v1/agents",
        json={"name": "X", "system_prompt": SYSTEM_PROMPT, "loop_detection": {"action": "x"}},
    )
    assert loops.status_code == 422


def test_policies_list_patch_and_paging(http: httpx.Client) -> None:
    created = [
        http.post("/v1/policies", json={"name": f"P{i}", "blocked_terms": ["zyx"]}).json()
        for i in range(3)
    ]
    page = http.get("/v1/policies", params={"limit": 2}).json()
    assert page["limit"] == 2 and len(page["data"]) == 2 and page["has_more"] is True
    assert page["data"][0]["id"] == created[-1]["id"]  # newest first
    patched = http.patch(
        f"/v1/policies/{created[0]['id']}", json={"blocked_terms": ["abc"], "name": "Renamed"}
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["name"], body["blocked_terms"], body["object"]) == ("Renamed", ["abc"], "policy")
    assert body["updated_at"] >= body["created_at"]
    null = http.patch(f"/v1/policies/{created[0]['id']}", json={"blocked_terms": None})
    assert_error(null, 422, "validation_error", "blocked_terms: may not be null", "blocked_terms")
    assert_error(http.get("/v1/policies/pol_nope"), 404, "not_found_error", param="policy_id")
