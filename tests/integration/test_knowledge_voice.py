"""Knowledge bases end to end: real documents of every format ingested by the real server,
then spoken questions (synthesized by the server's own TTS) over the WebSocket, answered
by the embedded LLM from the passages retrieval found; the citations reach the client and
the stored turn. Bad documents fail with a precise reason and leave nothing behind."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from parley.audio.wav import decode_wav
from parley.client import call
from parley.testing.documents import TestDocument, brightwave_documents
from tests.integration.api_support import assert_error, auth
from tests.integration.conftest import Server

pytestmark = pytest.mark.integration

SUPPORT_PROMPT = (
    "You are the phone support agent of Brightwave, a kettle maker. Answer in one short "
    "sentence, with the exact numbers from the knowledge base."
)


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=server.url, headers=auth(server.admin_key), timeout=120
    ) as client:
        yield client


async def ready(http: httpx.AsyncClient, kb_id: str, doc_id: str) -> dict[str, Any]:
    """The document once ingestion is over (ready or failed)."""
    for _ in range(600):
        doc: dict[str, Any] = (
            await http.get(f"/v1/knowledge-bases/{kb_id}/documents/{doc_id}")
        ).json()
        if doc["status"] != "processing":
            return doc
        await asyncio.sleep(0.1)
    raise AssertionError(f"{doc_id} still processing")


async def upload(http: httpx.AsyncClient, kb_id: str, doc: TestDocument) -> dict[str, Any]:
    files = {"file": (doc.filename, doc.data, doc.content_type)}
    response = await http.post(f"/v1/knowledge-bases/{kb_id}/documents", files=files)
    assert response.status_code == 202, response.text
    return await ready(http, kb_id, response.json()["id"])


@pytest.fixture
async def brightwave(http: httpx.AsyncClient) -> AsyncIterator[str]:
    """A knowledge base with the four Brightwave documents (Markdown, PDF, Word, HTML)."""
    kb = (await http.post("/v1/knowledge-bases", json={"name": "Brightwave"})).json()
    for doc in brightwave_documents():
        stored = await upload(http, kb["id"], doc)
        assert stored["status"] == "ready", stored
        assert stored["chunk_count"] > 0 and stored["title"] == doc.title
    yield kb["id"]


async def spoken(http: httpx.AsyncClient, text: str) -> bytes:
    """``text`` as the server's own voice says it (PCM16, 16 kHz)."""
    voice = {"model": "tts-1", "input": text, "voice": "en_US-joe-medium"}
    response = await http.post("/v1/audio/speech", json=voice)
    assert response.status_code == 200, response.text
    return decode_wav(response.content)


async def test_spoken_questions_are_answered_from_the_documents(
    server: Server, http: httpx.AsyncClient, brightwave: str
) -> None:
    agent = (
        await http.post(
            "/v1/agents",
            json={
                "name": "Brightwave support",
                "system_prompt": SUPPORT_PROMPT,
                "knowledge_base_ids": [brightwave],
                "provider_overrides": {"llm_temperature": 0.0},
            },
        )
    ).json()
    questions = [
        ("How heavy is the Nimbus travel kettle?", r"640|six hundred (and )?forty"),
        ("Which countries do you deliver to?", r"Ireland|Norway"),
    ]
    utterances = [await spoken(http, q) for q, _ in questions]
    result = await call(server.url, server.admin_key, agent["id"], utterances)
    for turn, (question, fact) in zip(result.turns, questions, strict=True):
        assert turn.reply is not None, question
        assert re.search(fact, turn.reply.text, re.I), (question, turn.user_text, turn.reply.text)
    cited = [e for e in result.events if e["type"] == "citations"]
    assert len(cited) == 2 and all(e["citations"] for e in cited)
    assert {c["knowledge_base_id"] for e in cited for c in e["citations"]} == {brightwave}
    metrics = [e for e in result.events if e["type"] == "metrics"]
    assert all(m["latency_ms"].get("retrieval") is not None for m in metrics)
    detail = (await http.get(f"/v1/sessions/{result.conversation_id}")).json()
    agent_turns = [t for t in detail["transcript"] if t["role"] == "agent"]
    assert [t["citations"] for t in agent_turns] == [e["citations"] for e in cited]
    assert all(c["title"] and c["document_id"].startswith("doc_") for c in cited[0]["citations"])


async def test_bad_documents_get_precise_errors_and_leave_nothing(
    http: httpx.AsyncClient,
) -> None:
    kb = (await http.post("/v1/knowledge-bases", json={"name": "Bad input"})).json()
    base = f"/v1/knowledge-bases/{kb['id']}"
    files = {"file": ("tool.exe", b"MZ\x90\x00\x03\x00", "application/octet-stream")}
    assert_error(await http.post(f"{base}/documents", files=files), 422, "validation_error",
                 param="file")  # fmt: skip
    files = {"file": ("empty.txt", b"", "text/plain")}
    assert_error(await http.post(f"{base}/documents", files=files), 422, "validation_error",
                 "file: 'empty.txt' is empty", "file")  # fmt: skip
    refused = await http.post(f"{base}/documents", json={"url": "http://127.0.0.1:9/faq"})
    error = assert_error(refused, 422, "validation_error", param="url")
    assert "loopback" in error["message"] and "PARLEY_ALLOW_PRIVATE_URLS" in error["message"]
    corrupt = TestDocument("broken.pdf", "application/pdf", b"%PDF-1.7\n1 0 obj <<", "x")
    failed = await upload(http, kb["id"], corrupt)
    assert failed["status"] == "failed" and "broken.pdf" in failed["error"], failed
    assert failed["chunk_count"] == 0
    truncated = TestDocument("cut.docx", "application/msword", b"PK\x03\x04cut", "x")
    files = {"file": (truncated.filename, truncated.data, truncated.content_type)}
    assert_error(await http.post(f"{base}/documents", files=files), 422, "validation_error",
                 param="file")  # fmt: skip

    async def megabytes() -> AsyncIterator[bytes]:  # streamed: the 413 comes mid-body
        for _ in range(22):
            yield b"a" * (1024 * 1024)

    multipart = {"content-type": "multipart/form-data; boundary=x"}
    too_large = await http.post(f"{base}/documents", content=megabytes(), headers=multipart)
    assert too_large.status_code == 413, too_large.text
    assert_error(await http.post(f"{base}/documents", content=b"{", headers={
        "content-type": "application/json"}), 422, "validation_error")  # fmt: skip
    stats = (await http.get(base)).json()
    assert stats["chunk_count"] == 0, "nothing half-ingested"
    hits = (await http.post(f"{base}/query", json={"query": "anything"})).json()
    assert hits["data"] == [], "an empty knowledge base answers with no chunks"
    unknown = await http.post("/v1/knowledge-bases/kb_nope/query", json={"query": "x"})
    assert_error(unknown, 404, "not_found_error", param="knowledge_base_id")


async def test_agents_point_at_existing_knowledge_bases_and_at_most_20(
    http: httpx.AsyncClient,
) -> None:
    body = {"name": "x", "system_prompt": "x", "knowledge_base_ids": ["kb_missing"]}
    error = assert_error(await http.post("/v1/agents", json=body), 422, "validation_error",
                         param="knowledge_base_ids")  # fmt: skip
    assert "kb_missing" in error["message"]
    body["knowledge_base_ids"] = [f"kb_{i}" for i in range(21)]
    assert (await http.post("/v1/agents", json=body)).status_code == 422
