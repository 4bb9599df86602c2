"""Knowledge bases and webhook signing secrets through the Python SDK, against the real
server: documents as text, a Markdown file and uploaded bytes, ingested and queried by
the real embedding model; updates, pagination, deletes, the errors (404, 409, 422) and
the answers' shapes matching the SDK's TypedDicts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from parley.client import (
    ApiError,
    AsyncParleyClient,
    Citation,
    Document,
    KnowledgeBase,
    ParleyClient,
    QueryHit,
    SessionDetail,
)
from tests.integration.api_support import SYSTEM_PROMPT, until
from tests.integration.conftest import Server

pytestmark = pytest.mark.integration

LANTERN_FAQ = """# Zephyr Camping Gear

Zephyr Outdoors sells tents, stoves and lanterns for hikers.

## The Zephyr lantern

The Zephyr storm lantern weighs 312 grams and runs for 19 hours on one charge.

## Stoves

Our stoves burn butane canisters and boil a litre of water in four minutes.

## Tents

Every tent comes with a repair kit and a lifetime guarantee on its poles.
"""
OPENING_HOURS = (
    "The Zephyr repair workshop in Keswick opens Tuesday to Saturday from 9 am to 5 pm. "
    "Bring the receipt; repairs take about six working days."
)
NOTES = "Staff notes: the spring catalogue goes to print in March."


@pytest.fixture
async def admin(server: Server) -> AsyncIterator[AsyncParleyClient]:
    async with AsyncParleyClient(server.url, server.admin_key) as client:
        yield client


@pytest.fixture
def sync_admin(server: Server) -> Iterator[ParleyClient]:
    with ParleyClient(server.url, server.admin_key) as client:
        yield client


def keys_of(typed: type) -> set[str]:
    """The keys a TypedDict declares."""
    return set(typed.__annotations__)


def assert_api_error(error: pytest.ExceptionInfo[ApiError], status: int, code: str) -> ApiError:
    assert error.value.status == status and error.value.code == code, str(error.value)
    return error.value


async def test_knowledge_base_lifecycle_async(admin: AsyncParleyClient, tmp_path: Path) -> None:
    kb = await admin.create_knowledge_base("Zephyr", description="camping gear answers")
    assert set(kb) == keys_of(KnowledgeBase)
    assert kb["id"].startswith("kb_") and kb["object"] == "knowledge_base"
    assert (kb["name"], kb["description"]) == ("Zephyr", "camping gear answers")
    assert (kb["document_count"], kb["chunk_count"]) == (0, 0)
    kb_id = kb["id"]

    text = await admin.add_document(kb_id, text=OPENING_HOURS, title="Repair workshop")
    assert set(text) == keys_of(Document)
    assert text["id"].startswith("doc_") and text["source"] == "text"
    assert text["status"] in ("processing", "ready") and text["title"] == "Repair workshop"
    faq_path = tmp_path / "zephyr-faq.md"
    faq_path.write_text(LANTERN_FAQ)
    faq = await admin.add_document(kb_id, file=faq_path)
    assert (faq["source"], faq["filename"], faq["title"]) == ("upload", "zephyr-faq.md",
                                                              "zephyr-faq.md")  # fmt: skip
    assert faq["size_bytes"] == len(LANTERN_FAQ.encode())
    notes = await admin.add_document(
        kb_id, file=NOTES.encode(), filename="notes.txt", title="Staff notes"
    )
    assert (notes["filename"], notes["title"]) == ("notes.txt", "Staff notes")

    ready = [await admin.wait_for_document(kb_id, d["id"]) for d in (text, faq, notes)]
    assert [d["status"] for d in ready] == ["ready"] * 3, ready
    assert all(d["chunk_count"] > 0 and d["error"] is None for d in ready), ready
    kb = await admin.get_knowledge_base(kb_id)
    assert kb["document_count"] == 3
    assert kb["chunk_count"] == sum(d["chunk_count"] for d in ready)

    found = await admin.query_knowledge_base(kb_id, "How much does the Zephyr lantern weigh?")
    assert found["took_ms"] >= 0 and 1 <= len(found["data"]) <= 5
    best = found["data"][0]
    assert set(best) == keys_of(QueryHit)
    assert best["document_id"] == faq["id"] and "312 grams" in best["text"], found
    assert best["heading"].endswith("The Zephyr lantern")
    assert best["title"] == ready[1]["title"] == "Zephyr Camping Gear"  # its own, not the name
    assert [h["score"] for h in found["data"]] == sorted(
        (h["score"] for h in found["data"]), reverse=True
    )
    hours = await admin.query_knowledge_base(kb_id, "When is the repair workshop open?", k=1)
    assert len(hours["data"]) == 1 and hours["data"][0]["document_id"] == text["id"], hours

    renamed = await admin.update_knowledge_base(kb_id, name="Zephyr support")
    assert renamed["name"] == "Zephyr support"
    assert renamed["description"] == "camping gear answers"  # left out, kept
    assert renamed["updated_at"] >= kb["updated_at"]
    described = await admin.update_knowledge_base(kb_id, description="")
    assert (described["name"], described["description"]) == ("Zephyr support", "")
    assert (await admin.get_knowledge_base(kb_id))["name"] == "Zephyr support"

    first = await admin.list_documents(kb_id, limit=2)
    assert (first["total"], first["limit"], first["offset"], first["has_more"]) == (3, 2, 0, True)
    second = await admin.list_documents(kb_id, limit=2, offset=2)
    assert (second["total"], second["has_more"], len(second["data"])) == (3, False, 1)
    listed = [d["id"] for d in first["data"] + second["data"]]
    assert listed == [notes["id"], faq["id"], text["id"]]  # newest first

    gone = await admin.delete_document(kb_id, faq["id"])
    assert gone == {"id": faq["id"], "object": "document", "deleted": True}
    with pytest.raises(ApiError) as missing:
        await admin.get_document(kb_id, faq["id"])
    assert assert_api_error(missing, 404, "not_found_error").param == "document_id"
    assert (await admin.list_documents(kb_id))["total"] == 2
    after = await admin.query_knowledge_base(kb_id, "How much does the Zephyr lantern weigh?")
    assert faq["id"] not in {h["document_id"] for h in after["data"]}
    kb = await admin.get_knowledge_base(kb_id)
    assert kb["document_count"] == 2
    assert kb["chunk_count"] == ready[0]["chunk_count"] + ready[2]["chunk_count"]

    deleted = await admin.delete_knowledge_base(kb_id)
    assert deleted == {"id": kb_id, "object": "knowledge_base", "deleted": True}
    with pytest.raises(ApiError) as missing:
        await admin.get_knowledge_base(kb_id)
    assert_api_error(missing, 404, "not_found_error")


def test_knowledge_bases_page_through_sync(sync_admin: ParleyClient) -> None:
    mine = [sync_admin.create_knowledge_base(f"Page {i}")["id"] for i in range(3)]
    seen: list[str] = []
    offset, pages = 0, 0
    while True:
        page = sync_admin.list_knowledge_bases(limit=2, offset=offset)
        assert page["limit"] == 2 and page["offset"] == offset and len(page["data"]) <= 2
        seen += [kb["id"] for kb in page["data"]]
        pages += 1
        if not page["has_more"]:
            break
        offset += 2
    assert len(seen) == len(set(seen)) == page["total"] and pages == -(-page["total"] // 2)
    assert [kb_id for kb_id in seen if kb_id in mine] == mine[::-1]  # newest first
    assert all(set(kb) == keys_of(KnowledgeBase) for kb in page["data"])
    for kb_id in mine:
        sync_admin.delete_knowledge_base(kb_id)


def test_errors_sync(sync_admin: ParleyClient) -> None:
    kb_id = sync_admin.create_knowledge_base("Errors")["id"]
    unknown: list[Callable[[], object]] = [
        lambda: sync_admin.get_knowledge_base("kb_unknown"),
        lambda: sync_admin.update_knowledge_base("kb_unknown", name="x"),
        lambda: sync_admin.delete_knowledge_base("kb_unknown"),
        lambda: sync_admin.list_documents("kb_unknown"),
        lambda: sync_admin.add_document("kb_unknown", text="t", title="t"),
        lambda: sync_admin.query_knowledge_base("kb_unknown", "anything"),
        lambda: sync_admin.get_document("kb_unknown", "doc_unknown"),
    ]
    for request in unknown:
        with pytest.raises(ApiError) as error:
            request()
        assert assert_api_error(error, 404, "not_found_error").param == "knowledge_base_id"
    unknown = [
        lambda: sync_admin.get_document(kb_id, "doc_unknown"),
        lambda: sync_admin.delete_document(kb_id, "doc_unknown"),
        lambda: sync_admin.wait_for_document(kb_id, "doc_unknown"),
    ]
    for request in unknown:
        with pytest.raises(ApiError) as error:
            request()
        assert assert_api_error(error, 404, "not_found_error").param == "document_id"

    # exactly one source, and bytes need a filename: refused before any request
    with pytest.raises(ValueError, match="exactly one of text=, url=, file="):
        sync_admin.add_document(kb_id, title="nothing")
    with pytest.raises(ValueError, match="exactly one"):
        sync_admin.add_document(kb_id, text="a", url="https://example.com/", title="both")
    with pytest.raises(ValueError, match="filename="):
        sync_admin.add_document(kb_id, file=b"hello")
    assert sync_admin.list_documents(kb_id)["total"] == 0

    with pytest.raises(ApiError) as error:
        sync_admin.add_document(kb_id, text="no title")
    assert assert_api_error(error, 422, "validation_error").param == "title"
    with pytest.raises(ApiError) as error:
        sync_admin.add_document(kb_id, file=b"MZ\x90\x00\x03\x00", filename="tool.exe")
    assert assert_api_error(error, 422, "validation_error").param == "file"
    with pytest.raises(ApiError) as error:
        sync_admin.query_knowledge_base(kb_id, "anything", k=0)
    assert assert_api_error(error, 422, "validation_error").param == "k"

    broken = sync_admin.add_document(kb_id, file=b"%PDF-1.7\n1 0 obj <<", filename="broken.pdf")
    failed = sync_admin.wait_for_document(kb_id, broken["id"])  # returned, not raised
    assert failed["status"] == "failed" and "broken.pdf" in (failed["error"] or ""), failed
    sync_admin.delete_knowledge_base(kb_id)


def test_a_knowledge_base_an_agent_uses_cannot_be_deleted(sync_admin: ParleyClient) -> None:
    kb_id = sync_admin.create_knowledge_base("In use")["id"]
    agent = sync_admin.create_agent(
        name="Grounded", system_prompt=SYSTEM_PROMPT, knowledge_base_ids=[kb_id]
    )
    assert agent["knowledge_base_ids"] == [kb_id]
    with pytest.raises(ApiError) as error:
        sync_admin.delete_knowledge_base(kb_id)
    conflict = assert_api_error(error, 409, "conflict_error")
    assert agent["id"] in conflict.message and conflict.param == "knowledge_base_id"
    assert sync_admin.get_knowledge_base(kb_id)["id"] == kb_id  # still there
    sync_admin.update_agent(agent["id"], knowledge_base_ids=[])
    assert sync_admin.delete_knowledge_base(kb_id)["deleted"] is True
    sync_admin.delete_agent(agent["id"])


async def test_signing_secret_rotates(admin: AsyncParleyClient, sync_admin: ParleyClient) -> None:
    agent = await admin.create_agent(name="Webhooks", system_prompt=SYSTEM_PROMPT)
    first = await admin.rotate_signing_secret(agent["id"])
    second = sync_admin.rotate_signing_secret(agent["id"])
    for answer in (first, second):
        assert answer["agent_id"] == agent["id"]
        assert answer["signing_secret"].startswith("whsec_")
        assert len(answer["signing_secret"]) > len("whsec_") + 32
    assert first["signing_secret"] != second["signing_secret"]
    shown = str(await admin.get_agent(agent["id"]))
    assert first["signing_secret"] not in shown and second["signing_secret"] not in shown
    with pytest.raises(ApiError) as error:
        await admin.rotate_signing_secret("agt_unknown")
    assert assert_api_error(error, 404, "not_found_error").param == "agent_id"
    await admin.delete_agent(agent["id"])


async def played(admin: AsyncParleyClient, session_id: str) -> SessionDetail:
    """The session once its agent turn is stored (after its audio has played out)."""
    for _ in range(300):
        detail = await admin.get_session(session_id)
        if any(t["role"] == "agent" for t in detail["transcript"]):
            return detail
        await asyncio.sleep(0.1)
    raise AssertionError(f"no agent turn stored in {session_id}")


async def test_citations_reach_the_event_and_the_stored_turn(admin: AsyncParleyClient) -> None:
    kb_id = (await admin.create_knowledge_base("Zephyr citations"))["id"]
    doc = await admin.add_document(kb_id, file=LANTERN_FAQ.encode(), filename="faq.md")
    assert (await admin.wait_for_document(kb_id, doc["id"]))["status"] == "ready"
    agent = await admin.create_agent(
        name="Zephyr support",
        system_prompt="You answer questions about Zephyr gear in one short sentence.",
        knowledge_base_ids=[kb_id],
    )
    session = await admin.create_session(agent["id"])
    async with admin.connect(session) as conv:
        assert (await conv.recv(timeout=15))["type"] == "connected"
        await conv.send({"type": "text", "text": "How much does the Zephyr lantern weigh?"})
        events = await until(conv, "agent_turn_end", timeout=120)
        detail = await played(admin, session["session_id"])  # stored once played out
        await conv.send({"type": "end"})
    cited = [e for e in events if e["type"] == "citations"]
    assert len(cited) == 1 and cited[0]["citations"], events
    assert all(set(c) == keys_of(Citation) for c in cited[0]["citations"])
    assert cited[0]["citations"][0]["document_id"] == doc["id"]
    assert {c["knowledge_base_id"] for c in cited[0]["citations"]} == {kb_id}

    turns = [t for t in detail["transcript"] if t["role"] == "agent" and t["citations"]]
    assert [t["turn_id"] for t in turns] == [cited[0]["turn_id"]]
    assert turns[0]["citations"] == cited[0]["citations"]
    user_turns = [t for t in detail["transcript"] if t["role"] == "user"]
    assert user_turns and all(t["citations"] == [] for t in user_turns)


def test_every_knowledge_base_operation_has_a_client_method(server: Server) -> None:
    """Each operation of the knowledge-base API and the signing secret is a method of
    both clients, named as the server's handler."""
    schema: dict[str, Any] = httpx.get(f"{server.url}/openapi.json").json()
    names = {
        operation["operationId"].split("_v1_")[0]
        for path, item in schema["paths"].items()
        for operation in item.values()
        if path.startswith("/v1/knowledge-bases") or path.endswith("/signing-secret")
    }
    assert len(names) == 11, names
    for name in sorted(names):
        assert callable(getattr(ParleyClient, name, None)), name
        assert callable(getattr(AsyncParleyClient, name, None)), name
