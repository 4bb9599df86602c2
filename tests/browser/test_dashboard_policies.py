"""The dashboard's content policies in a real Chromium against a real ``parley serve``:
the Policies page (list, paging, create, edit, delete), the agent form's content policy and
loop detection, and the safety marks of a stored session.

Screenshots go to ``test-artifacts/browser/dashboard-polic*.png`` and
``dashboard-session-safety*.png``.
"""

from __future__ import annotations

import asyncio
import base64
import re
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Page, expect

from parley.client import AsyncParleyClient
from parley.testing.server import ServerProcess
from tests.browser.test_dashboard import shot, sign_in, uncaught_errors, unlabelled_controls
from tests.integration.api_support import until

BLOCKED_LINE = "Let us talk about something else."
USER_TERM = "pineapple"


async def rest(server: ServerProcess, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One REST call with the server's admin key."""
    headers = {"Authorization": f"Bearer {server.admin_key}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as http:
        return await http.request(method, path, **kwargs)


async def rest_json(server: ServerProcess, method: str, path: str, **kwargs: Any) -> Any:
    response = await rest(server, method, path, **kwargs)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def test_policies_are_listed_in_pages(
    server: ServerProcess, page: Page, artifacts: Path
) -> None:
    errors = uncaught_errors(page)
    created = [
        (await rest_json(server, "POST", "/v1/policies", json={"name": f"Paged policy {i:02d}"}))[
            "id"
        ]
        for i in range(21)
    ]
    try:
        await sign_in(page, server)
        await page.get_by_role("link", name="Policies", exact=True).click()
        await expect(page.get_by_role("heading", name=re.compile("^Policies"))).to_be_visible()
        await expect(page.get_by_role("link", name="Policies", exact=True)).to_have_attribute(
            "aria-current", "page"
        )
        table = page.get_by_role("table", name="Policies")
        await expect(table.locator("tbody tr")).to_have_count(20)
        pager = page.get_by_role("navigation", name="Pages")
        await expect(pager).to_contain_text(re.compile(r"1\u201320 of \d+ policies"))
        await pager.get_by_role("link", name="Older →").click()
        await expect(page).to_have_url(re.compile(r"#/policies\?offset=20"))
        await expect(pager).to_contain_text(re.compile(r"21\u2013\d+ of \d+ policies"))
        await expect(table.locator("tbody tr").first).to_be_visible()
    finally:
        for policy_id in created:
            await rest(server, "DELETE", f"/v1/policies/{policy_id}")
    assert errors == []


async def test_create_edit_attach_and_delete_a_policy(
    server: ServerProcess, page: Page, artifacts: Path
) -> None:
    errors = uncaught_errors(page)
    async with AsyncParleyClient(server.url, server.admin_key) as client:
        agent = await client.create_agent(
            name="Policy desk", system_prompt="You are a helpful assistant. Answer briefly."
        )
    agent_id = agent["id"]
    await sign_in(page, server)
    await page.get_by_role("link", name="Policies", exact=True).click()
    await page.get_by_role("link", name="+ New policy").click()
    await expect(page.get_by_role("heading", name="New policy")).to_be_visible()
    await expect(page.get_by_label("Name", exact=True)).to_be_focused()
    assert await unlabelled_controls(page) == []
    # The redaction targets start at the API's defaults.
    for target in ("Stored transcripts", "Server logs", "What the agent says"):
        await expect(page.get_by_label(target)).to_be_checked()
    await expect(page.get_by_label("What the language model sees")).not_to_be_checked()

    await page.get_by_label("Name", exact=True).fill("Support policy")
    await page.get_by_label("Description").fill("For the support line.")
    await page.get_by_label("Terms the agent never says").fill(
        "refund guaranteed\n\ncompetitorco\n"
    )
    await page.get_by_label("Terms callers may not use").fill(USER_TERM)
    await page.get_by_label("Blocked line").fill(BLOCKED_LINE)
    await page.get_by_label("Credit card").check()
    await page.get_by_label("Email address").check()
    await page.get_by_label("What the language model sees").check()
    await page.get_by_role("button", name="+ Add criterion").click()
    await expect(page.get_by_label("Criterion name")).to_be_focused()
    # A name the API refuses (upper case and a space): its 422 lands on the field.
    await page.get_by_label("Criterion name").fill("No Medical")
    await page.get_by_label("Rule").fill("The agent must not give medical advice.")
    await page.get_by_label("When broken").select_option("flag")
    await page.get_by_label("Judge model").select_option("llm:llama-local")
    await page.get_by_label("Judge timeout (ms)").fill("3000")
    await page.get_by_role("button", name="Create policy").click()
    alert = page.get_by_role("alert").first
    await expect(alert).to_contain_text("criteria.0.name")
    await expect(alert).to_contain_text("validation_error")
    criterion_name = page.get_by_label("Criterion name")
    await expect(criterion_name).to_have_attribute("aria-invalid", "true")
    await expect(criterion_name).to_be_focused()
    await shot(page, artifacts, "policy-form-error")

    await criterion_name.fill("no_medical_advice")
    await page.get_by_role("button", name="Create policy").click()
    await expect(page.get_by_role("heading", name=re.compile("^Policies"))).to_be_visible()
    row = page.get_by_role("row", name=re.compile("Support policy"))
    await expect(row).to_contain_text("2 terms")
    await expect(row).to_contain_text("+ 1 from callers")
    await expect(row).to_contain_text("CREDIT_CARD")
    await expect(row).to_contain_text("EMAIL_ADDRESS")
    await expect(row).to_contain_text("1 criterion")
    policy_id = await row.get_attribute("data-policy-id")
    assert policy_id and policy_id.startswith("pol_")
    await shot(page, artifacts, "policies")

    stored = await rest_json(server, "GET", f"/v1/policies/{policy_id}")
    assert stored["blocked_terms"] == ["refund guaranteed", "competitorco"]
    assert stored["user_blocked_terms"] == [USER_TERM]
    assert stored["blocked_fallback"] == BLOCKED_LINE
    assert stored["pii"]["entities"] == ["CREDIT_CARD", "EMAIL_ADDRESS"]
    assert set(stored["pii"]["redact"]) == {"storage", "logs", "agent_speech", "llm", "recording"}
    assert stored["criteria"] == [
        {
            "name": "no_medical_advice",
            "rule": "The agent must not give medical advice.",
            "applies_to": "agent",
            "action": "flag",
            "fallback": None,
        }
    ]
    assert stored["judge_provider"] == "llm:llama-local"
    assert stored["judge_timeout_ms"] == 3000
    assert stored["on_judge_error"] == "allow"

    # Edit (PATCH): the form shows what is stored; drop the criterion, add fillers.
    await row.get_by_role("link", name="Edit Support policy").click()
    await expect(page.get_by_label("Name", exact=True)).to_have_value("Support policy")
    await expect(page.get_by_label("Terms the agent never says")).to_have_value(
        "refund guaranteed\ncompetitorco"
    )
    await expect(page.get_by_label("Credit card")).to_be_checked()
    await expect(page.get_by_label("Criterion name")).to_have_value("no_medical_advice")
    await page.get_by_role("button", name="Remove criterion 1").click()
    await page.get_by_label("Filler phrases").fill("One moment, please.\nLet me check that.")
    await page.get_by_label("Filler after (ms)").fill("400")
    await page.get_by_label("If the judge fails").select_option("block")
    await shot(page, artifacts, "policy-form")
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.get_by_role("heading", name=re.compile("^Policies"))).to_be_visible()
    await expect(row).to_contain_text("0 criteria")
    edited = await rest_json(server, "GET", f"/v1/policies/{policy_id}")
    assert edited["criteria"] == []
    assert edited["filler_phrases"] == ["One moment, please.", "Let me check that."]
    assert edited["filler_after_ms"] == 400
    assert edited["on_judge_error"] == "block"
    assert edited["blocked_terms"] == ["refund guaranteed", "competitorco"]

    # Attach it in the agent form, with loop detection set.
    await page.goto(f"{server.url}/#/agents/{agent_id}")
    policy_select = page.get_by_label("Content policy")
    await expect(policy_select).to_have_value("")
    await policy_select.select_option(policy_id)
    await expect(page.get_by_role("link", name="Open this policy")).to_be_visible()
    await expect(page.get_by_label("Detect loops")).to_be_checked()
    await page.get_by_label("Agent repeats").fill("4")
    await page.get_by_label("On a loop").select_option("say")
    await page.get_by_label("Loop line").fill("Let us try something different.")
    assert await unlabelled_controls(page) == []
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.get_by_role("heading", name=re.compile("^Agents"))).to_be_visible()
    attached = await rest_json(server, "GET", f"/v1/agents/{agent_id}")
    assert attached["content_policy_id"] == policy_id
    loop = attached["loop_detection"]
    assert loop["agent_repeats"] == 4 and loop["action"] == "say"
    assert loop["line"] == "Let us try something different." and loop["enabled"] is True
    await page.goto(f"{server.url}/#/agents/{agent_id}")
    await expect(page.get_by_label("Content policy")).to_have_value(policy_id)
    await expect(page.get_by_label("Agent repeats")).to_have_value("4")

    # Deleting a policy an agent uses is refused: the API's 409 names the agent.
    await page.get_by_role("link", name="Policies", exact=True).click()
    await row.get_by_role("button", name="Delete Support policy").click()
    await page.get_by_role("dialog").get_by_role("button", name="Delete policy").click()
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("HTTP 409 · conflict_error")
    await expect(alert).to_contain_text(agent_id)
    await expect(row).to_be_visible()
    await shot(page, artifacts, "policies-conflict")

    # A caller's turn with a blocked term: answered with the blocked line, and marked.
    session_id = await blocked_turn(server, agent_id)
    await page.goto(f"{server.url}/#/sessions/{session_id}")
    transcript = page.get_by_role("list", name="Transcript")
    await expect(transcript.locator(".turn-agent .turn-text").first).to_have_text(BLOCKED_LINE)
    mark = transcript.locator('.safety-mark[data-kind="blocked_term"]').first
    await expect(mark).to_be_visible()
    await expect(mark).to_contain_text("Blocked term")
    await expect(mark).to_have_class(re.compile(r"\bsafety-(danger|warn|muted)\b"))
    await expect(mark.get_by_role("link", name=f"Policy {policy_id}")).to_be_visible()
    color = await mark.evaluate("(m) => getComputedStyle(m).backgroundColor")
    assert color not in ("rgba(0, 0, 0, 0)", "transparent"), color
    await expect(page.locator(".summary")).to_contain_text(re.compile(r"Safety\s*\d+ marks? on"))
    await shot(page, artifacts, "session-safety")
    await page.emulate_media(color_scheme="dark")
    await shot(page, artifacts, "session-safety-dark")
    await page.emulate_media(color_scheme="light")

    # Detached in the form, the policy can be deleted.
    await page.goto(f"{server.url}/#/agents/{agent_id}")
    await page.get_by_label("Content policy").select_option("")
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.get_by_role("heading", name=re.compile("^Agents"))).to_be_visible()
    assert (await rest_json(server, "GET", f"/v1/agents/{agent_id}"))["content_policy_id"] is None
    await page.get_by_role("link", name="Policies", exact=True).click()
    await row.get_by_role("button", name="Delete Support policy").click()
    await page.get_by_role("dialog").get_by_role("button", name="Delete policy").click()
    await expect(row).to_be_hidden()
    await expect(
        page.get_by_role("status").filter(has_text="Deleted Support policy")
    ).to_be_visible()
    assert (await rest(server, "GET", f"/v1/policies/{policy_id}")).status_code == 404
    async with AsyncParleyClient(server.url, server.admin_key) as client:
        await client.delete_agent(agent_id)
    assert errors == []


async def blocked_turn(server: ServerProcess, agent_id: str) -> str:
    """A stored session whose caller typed the policy's user-blocked term; its id."""
    async with AsyncParleyClient(server.url, server.admin_key) as client:
        session = await client.create_session(agent_id)
        async with client.connect(session) as conv:
            assert (await conv.recv(timeout=15))["type"] == "connected"
            await conv.send({"type": "text", "text": f"Tell me about {USER_TERM} pizza."})
            events = await until(conv, "agent_turn_end", timeout=90)
            # A client plays the reply in real time: end once it has been heard in full.
            audio = sum(len(base64.b64decode(e["audio"])) for e in events if e["type"] == "audio")
            await asyncio.sleep(audio / 32000 + 0.3)
            await conv.send({"type": "end"})
            await until(conv, "session_ended")
    return session["session_id"]
