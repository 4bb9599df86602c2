"""The dashboard's knowledge bases in a real Chromium against a real ``parley serve``: the
Knowledge pages (create, add text, upload a file, processing status, query, delete), the
agent form's knowledge bases, web search and tool types, the 409 when deleting a knowledge
base in use, and the sources of a grounded turn on the session page.

Screenshots go to ``test-artifacts/browser/dashboard-knowledge*.png`` and
``dashboard-session-sources.png``.
"""

from __future__ import annotations

import asyncio
import base64
import re
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Page, expect

from parley.client import AsyncParleyClient, Conversation
from parley.testing.server import ServerProcess
from tests.browser.test_dashboard import shot, sign_in, uncaught_errors, unlabelled_controls
from tests.integration.api_support import until

FAQ = """# Returns

Unworn shoes can be returned within 45 days of delivery. The refund reaches the card
three to five working days after the parcel arrives at the warehouse.

# Shipping

Orders ship from the Tromsø warehouse every weekday at noon. Shipping within Norway is
free above 600 kroner.
"""
WARRANTY = """# Kettle warranty

Every Fjordhome kettle has a warranty of seven years against limescale damage.
"""
#: Ingesting the first document loads the embedding model: give it time.
READY_TIMEOUT_MS = 120_000
KB_URL = re.compile(r"#/knowledge/(kb_[^/?]+)$")


async def rest(server: ServerProcess, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One REST call with the server's admin key."""
    headers = {"Authorization": f"Bearer {server.admin_key}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as http:
        return await http.request(method, path, **kwargs)


async def rest_json(server: ServerProcess, method: str, path: str, **kwargs: Any) -> Any:
    response = await rest(server, method, path, **kwargs)
    assert response.status_code in (200, 201, 202), response.text
    return response.json()


async def knowledge_base(server: ServerProcess, name: str) -> str:
    """A knowledge base holding the FAQ (ready to query); its id."""
    kb = await rest_json(server, "POST", "/v1/knowledge-bases", json={"name": name})
    doc = await rest_json(
        server,
        "POST",
        f"/v1/knowledge-bases/{kb['id']}/documents",
        json={"text": FAQ, "title": "Returns and shipping"},
    )
    path = f"/v1/knowledge-bases/{kb['id']}/documents/{doc['id']}"
    for _ in range(int(READY_TIMEOUT_MS / 250)):
        doc = await rest_json(server, "GET", path)
        if doc["status"] != "processing":
            break
        await asyncio.sleep(0.25)
    assert doc["status"] == "ready", doc
    return str(kb["id"])


async def test_create_fill_query_and_delete_a_knowledge_base(
    server: ServerProcess, page: Page, artifacts: Path, tmp_path: Path
) -> None:
    errors = uncaught_errors(page)
    await sign_in(page, server)
    await page.get_by_role("link", name="Knowledge", exact=True).click()
    await expect(page.get_by_role("heading", name=re.compile("^Knowledge bases"))).to_be_visible()
    await expect(page.get_by_role("link", name="Knowledge", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    await expect(page.get_by_label("Name", exact=True)).to_be_focused()
    assert await unlabelled_controls(page) == []

    # A name is needed: the form says so on the field, before anything is sent.
    await page.get_by_role("button", name="Create knowledge base").click()
    await expect(page.get_by_label("Name", exact=True)).to_have_attribute("aria-invalid", "true")
    await page.get_by_label("Name", exact=True).fill("Shoe shop FAQ")
    await page.get_by_label("Description").fill("Returns and shipping answers.")
    await page.get_by_role("button", name="Create knowledge base").click()
    await expect(page.get_by_role("heading", name="Shoe shop FAQ")).to_be_visible()
    await expect(page).to_have_url(KB_URL)
    match = KB_URL.search(page.url)
    assert match
    kb_id = match.group(1)
    try:
        await expect(page.get_by_text("No documents yet.")).to_be_visible()
        assert await unlabelled_controls(page) == []

        # Text: processing, then ready (the page polls), with its chunks counted.
        await page.get_by_label("Title for the text").fill("Returns and shipping")
        await page.get_by_label("Text to add").fill(FAQ)
        await page.get_by_role("button", name="Add text").click()
        docs = page.get_by_role("table", name="Documents")
        row = docs.get_by_role("row", name=re.compile("Returns and shipping"))
        await expect(row).to_be_visible()
        await expect(row.locator(".badge")).to_have_text("ready", timeout=READY_TIMEOUT_MS)
        await expect(row).to_contain_text("Text")
        await expect(page.locator("#kb-counts")).to_contain_text("1 document")
        await expect(page.locator("#kb-counts")).not_to_contain_text("0 chunks")

        # A query shows the passage with its title, score and the time taken.
        await page.get_by_label("Question").fill("How many days do I have to return shoes?")
        await page.get_by_role("button", name="Search", exact=True).click()
        results = page.get_by_role("list", name="Search results")
        first = results.get_by_role("listitem").first
        await expect(first).to_contain_text("45 days")
        await expect(first).to_contain_text("Returns and shipping")
        await expect(first).to_contain_text(re.compile(r"score \d+\.\d{4}"))
        await expect(page.locator(".kb-took")).to_have_text(
            re.compile(r"^\d+ passages? in [\d.]+ m?s\.$")
        )
        await shot(page, artifacts, "knowledge-base")

        # A file upload (multipart), titled; then a corrupt PDF: refused or failed, with why.
        warranty = tmp_path / "warranty.md"
        warranty.write_text(WARRANTY, encoding="utf-8")
        await page.get_by_label("File to upload").set_input_files(warranty)
        await page.get_by_label("Title for the file").fill("Kettle warranty")
        await page.get_by_role("button", name="Upload file").click()
        uploaded = docs.get_by_role("row", name=re.compile("Kettle warranty"))
        await expect(uploaded).to_contain_text("warranty.md")
        await expect(uploaded.locator(".badge")).to_have_text("ready", timeout=READY_TIMEOUT_MS)
        page_data = await rest_json(server, "GET", f"/v1/knowledge-bases/{kb_id}/documents")
        stored = {d["title"]: d for d in page_data["data"]}
        assert stored["Kettle warranty"]["source"] == "upload"
        assert stored["Kettle warranty"]["filename"] == "warranty.md"

        broken = tmp_path / "broken.pdf"
        broken.write_bytes(b"%PDF-1.7\nthis is not really a PDF\n")
        await page.get_by_label("File to upload").set_input_files(broken)
        await page.get_by_role("button", name="Upload file").click()
        failed = docs.get_by_role("row", name=re.compile("broken")).filter(has_text="failed")
        refused = (
            page.locator("form.kb-add")
            .get_by_role("alert")
            .filter(has_text=re.compile(r"HTTP 4\d\d"))
        )
        await expect(failed.or_(refused)).to_be_visible(timeout=READY_TIMEOUT_MS)
        if await failed.count():
            await expect(failed.locator(".doc-error")).not_to_be_empty()
        await shot(page, artifacts, "knowledge-documents")

        # Delete a document, after a confirmation.
        await uploaded.get_by_role("button", name="Delete Kettle warranty").click()
        await page.get_by_role("dialog").get_by_role("button", name="Delete document").click()
        await expect(uploaded).to_be_hidden()
        doc_id = stored["Kettle warranty"]["id"]
        gone = await rest(server, "GET", f"/v1/knowledge-bases/{kb_id}/documents/{doc_id}")
        assert gone.status_code == 404

        # Rename it.
        await page.get_by_label("Name", exact=True).fill("Shoe shop answers")
        await page.get_by_role("button", name="Save changes").click()
        await expect(page.get_by_role("heading", name="Shoe shop answers")).to_be_visible()
        kb = await rest_json(server, "GET", f"/v1/knowledge-bases/{kb_id}")
        assert kb["name"] == "Shoe shop answers"

        # The list shows it with its counts.
        await page.get_by_role("link", name="Knowledge bases", exact=True).click()
        listed = page.get_by_role("table", name="Knowledge bases").get_by_role(
            "row", name=re.compile("Shoe shop answers")
        )
        await expect(listed).to_contain_text(re.compile(r"[12] documents?"))
        await shot(page, artifacts, "knowledge")

        # Delete it (no agent uses it).
        await listed.get_by_role("link", name="Shoe shop answers").click()
        await page.get_by_role("button", name="Delete knowledge base").click()
        await page.get_by_role("dialog").get_by_role("button", name="Delete knowledge base").click()
        await expect(
            page.get_by_role("heading", name=re.compile("^Knowledge bases"))
        ).to_be_visible()
        await expect(listed).to_be_hidden()
    finally:
        await rest(server, "DELETE", f"/v1/knowledge-bases/{kb_id}")
    assert (await rest(server, "GET", f"/v1/knowledge-bases/{kb_id}")).status_code == 404
    assert errors == []


async def test_attach_a_knowledge_base_and_tools_in_the_agent_form(
    server: ServerProcess, page: Page, artifacts: Path
) -> None:
    errors = uncaught_errors(page)
    kb_id = await knowledge_base(server, "Shoe shop FAQ")
    async with AsyncParleyClient(server.url, server.admin_key) as client:
        agent = await client.create_agent(name="Shoe desk", system_prompt="Answer briefly.")
    agent_id = agent["id"]
    try:
        await sign_in(page, server)
        await page.goto(f"{server.url}/#/agents/{agent_id}")
        box = page.get_by_label(re.compile(r"^Shoe shop FAQ \(1 document\)"))
        await expect(box).not_to_be_checked()
        await box.check()

        # Web search without a search provider: the API's 422 shows at the switch.
        await page.get_by_label("Web search").check()
        await page.get_by_role("button", name="Save changes").click()
        await expect(page.get_by_label("Web search")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#web_search-error")).to_be_visible()
        await expect(page.locator("#web_search-error")).to_contain_text(re.compile("search", re.I))
        await shot(page, artifacts, "knowledge-web-search-error")
        await page.get_by_label("Web search").uncheck()

        # A webhook tool and an end_call tool, each with the fields of its type.
        await page.get_by_role("button", name="+ Add tool").click()
        hook = page.get_by_role("group", name="Tool 1")
        await hook.get_by_label("Tool type").select_option("webhook")
        await hook.get_by_label("Name", exact=True).fill("order_status")
        await hook.get_by_label("Description").fill("Look up an order by its number")
        await hook.get_by_label("Webhook URL").fill("https://shop.example.com/orders/{{order_id}}")
        await hook.get_by_label("Method").select_option("GET")
        await hook.get_by_label("Timeout (ms)").fill("2000")
        await hook.get_by_label("Headers (JSON)").fill('{"X-Shop": "fjordhome"}')
        await expect(hook).to_contain_text("PARLEY_SECRET_NAME")
        await hook.get_by_label("Parameters (JSON Schema)").fill(
            '{"type": "object", "properties": {"order_id": {"type": "string"}},'
            ' "required": ["order_id"]}'
        )
        await hook.get_by_label("Filler phrase").fill("One moment while I check.")
        await page.get_by_role("button", name="+ Add tool").click()
        goodbye = page.get_by_role("group", name="Tool 2")
        await goodbye.get_by_label("Tool type").select_option("end_call")
        await expect(goodbye.get_by_label("Parameters (JSON Schema)")).to_have_count(0)
        await goodbye.get_by_label("Goodbye message").fill("Thanks for calling. Goodbye!")
        assert await unlabelled_controls(page) == []
        await shot(page, artifacts, "knowledge-agent-form")
        await page.get_by_role("button", name="Save changes").click()
        await expect(page.get_by_role("heading", name=re.compile("^Agents"))).to_be_visible()

        saved = await rest_json(server, "GET", f"/v1/agents/{agent_id}")
        assert saved["knowledge_base_ids"] == [kb_id]
        assert saved["web_search"] is False
        webhook_tool, end_tool = saved["tools"]
        assert webhook_tool["type"] == "webhook" and webhook_tool["name"] == "order_status"
        assert webhook_tool["webhook"]["url"] == "https://shop.example.com/orders/{{order_id}}"
        assert webhook_tool["webhook"]["method"] == "GET"
        assert webhook_tool["webhook"]["timeout_ms"] == 2000
        assert webhook_tool["webhook"]["headers"] == {"X-Shop": "fjordhome"}
        assert webhook_tool["filler"] == "One moment while I check."
        assert end_tool["type"] == "end_call"
        assert end_tool["message"] == "Thanks for calling. Goodbye!"

        # The form shows what is stored.
        await page.goto(f"{server.url}/#/agents/{agent_id}")
        await expect(page.get_by_label(re.compile(r"^Shoe shop FAQ \("))).to_be_checked()
        hook = page.get_by_role("group", name="Tool 1")
        await expect(hook.get_by_label("Tool type")).to_have_value("webhook")
        await expect(hook.get_by_label("Webhook URL")).to_have_value(
            "https://shop.example.com/orders/{{order_id}}"
        )
        goodbye = page.get_by_role("group", name="Tool 2")
        await expect(goodbye.get_by_label("Goodbye message")).to_have_value(
            "Thanks for calling. Goodbye!"
        )

        # Deleting a knowledge base an agent uses is refused: the 409 names the agent.
        await page.goto(f"{server.url}/#/knowledge/{kb_id}")
        await page.get_by_role("button", name="Delete knowledge base").click()
        await page.get_by_role("dialog").get_by_role("button", name="Delete knowledge base").click()
        alert = page.get_by_role("alert")
        await expect(alert).to_contain_text("HTTP 409 · conflict_error")
        await expect(alert).to_contain_text(re.compile(f"{agent_id}|Shoe desk"))
        await expect(page.get_by_role("heading", name="Shoe shop FAQ")).to_be_visible()
        await shot(page, artifacts, "knowledge-conflict")
    finally:
        async with AsyncParleyClient(server.url, server.admin_key) as client:
            await client.delete_agent(agent_id)
        await rest(server, "DELETE", f"/v1/knowledge-bases/{kb_id}")
    assert errors == []


async def test_session_page_shows_the_sources_of_a_grounded_turn(
    server: ServerProcess, page: Page, artifacts: Path
) -> None:
    errors = uncaught_errors(page)
    kb_id = await knowledge_base(server, "Shoe shop sources")
    async with AsyncParleyClient(server.url, server.admin_key) as client:
        agent = await client.create_agent(
            name="Grounded shoe desk",
            system_prompt="You answer questions about a shoe shop. Answer in one sentence.",
            knowledge_base_ids=[kb_id],
        )
    agent_id = agent["id"]
    try:
        session_id = await asked(server, agent_id, "How many days do I have to return shoes?")
        for _ in range(100):  # the turn is stored as it ends
            detail = await rest_json(server, "GET", f"/v1/sessions/{session_id}")
            cited = [c for t in detail["transcript"] for c in t.get("citations", [])]
            if cited:
                break
            await asyncio.sleep(0.1)
        assert cited and cited[0]["knowledge_base_id"] == kb_id, detail["transcript"]

        await sign_in(page, server)
        await page.goto(f"{server.url}/#/sessions/{session_id}")
        sources = page.get_by_role("list", name="Sources").first
        await expect(sources).to_contain_text("Returns and shipping")
        link = sources.get_by_role("link").first
        await expect(link).to_have_attribute("href", f"#/knowledge/{kb_id}")
        await shot(page, artifacts, "session-sources")
    finally:
        async with AsyncParleyClient(server.url, server.admin_key) as client:
            await client.delete_agent(agent_id)
        await rest(server, "DELETE", f"/v1/knowledge-bases/{kb_id}")
    assert errors == []


async def keep_alive(conv: Conversation) -> None:
    """Send a ping every 5 s until cancelled."""
    while True:
        await asyncio.sleep(5)
        await conv.send({"type": "ping"})


async def asked(server: ServerProcess, agent_id: str, question: str) -> str:
    """A stored session in which the caller typed ``question``; its id."""
    async with AsyncParleyClient(server.url, server.admin_key) as client:
        session = await client.create_session(agent_id)
        async with client.connect(session) as conv:
            assert (await conv.recv(timeout=15))["type"] == "connected"
            await conv.send({"type": "text", "text": question})
            # Pings keep the connection alive while a slow CPU model answers and the reply plays
            # (the server ends a session that hears nothing from its client for 30 s).
            pinger = asyncio.create_task(keep_alive(conv))
            try:
                events = await until(conv, "agent_turn_end", timeout=120)
                # A client plays the reply in real time: end once it has been heard in full.
                audio = sum(
                    len(base64.b64decode(e["audio"])) for e in events if e["type"] == "audio"
                )
                await asyncio.sleep(audio / 32000 + 0.3)
            finally:
                pinger.cancel()
            await conv.send({"type": "end"})
            await until(conv, "session_ended")
    return str(session["session_id"])
