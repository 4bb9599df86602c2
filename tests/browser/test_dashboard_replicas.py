"""The dashboard's Replicas page and the replica fields of a session, in a real Chromium
against the session's ``parley serve`` (one replica, no Redis).

Screenshots go to ``test-artifacts/browser/dashboard-replicas*.png`` and
``dashboard-session-replica.png``.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from urllib.parse import urlencode

import httpx
import websockets
from playwright.async_api import Locator, Page, Request, expect

from parley.client import AsyncParleyClient
from parley.testing.server import ServerProcess
from tests.browser.test_dashboard import shot, sign_in, uncaught_errors

CLUSTER = re.compile(r"/v1/cluster$")


def fact(region: Locator, term: str) -> Locator:
    """The value (``dd``) of the fact named ``term`` in ``region``'s ``dl``."""
    item = region.locator(".summary-item").filter(
        has=region.page.locator("dt", has_text=re.compile(f"^{re.escape(term)}$"))
    )
    return item.locator("dd")


async def open_replicas(page: Page) -> None:
    await page.get_by_role("link", name="Replicas", exact=True).click()
    await expect(page).to_have_url(re.compile(r"#/replicas$"))
    await expect(page.get_by_role("heading", name=re.compile("^Replicas"))).to_be_focused()
    await expect(page.get_by_role("link", name="Replicas", exact=True)).to_have_attribute(
        "aria-current", "page"
    )


async def test_replicas_page_shows_the_single_replica_and_refreshes_until_left(
    server: ServerProcess, page: Page, artifacts: Path
) -> None:
    errors = uncaught_errors(page)
    async with httpx.AsyncClient(base_url=server.url) as http:
        replica_id = (await http.get("/healthz")).json()["replica_id"]
        cluster = (
            await http.get("/v1/cluster", headers={"Authorization": f"Bearer {server.admin_key}"})
        ).json()
    assert replica_id and cluster["replica_id"] == replica_id and cluster["shared"] is False

    asked: list[str] = []

    def on_request(request: Request) -> None:
        if CLUSTER.search(request.url):
            asked.append(request.url)

    page.on("request", on_request)
    # The page's timers run on Playwright's clock, so the test moves time on itself.
    await page.clock.install()
    await sign_in(page, server)
    await open_replicas(page)

    await expect(page.locator("#replicas-mode")).to_have_text(
        "One replica (no Redis): this server only"
    )
    await expect(page.locator("#replicas-answered-by")).to_have_text(replica_id)
    facts = page.get_by_role("region", name="Cluster")
    await expect(fact(facts, "Lease")).to_have_text(f"{cluster['lease_s']:g} s")
    await expect(fact(facts, "Resume window")).to_have_text(f"{cluster['resume_window_s']:g} s")
    table = page.get_by_role("table", name="Replicas")
    rows = table.locator("tbody tr")
    await expect(rows).to_have_count(1)
    row = table.locator(f'tr[data-replica="{replica_id}"]')
    await expect(row.locator("td").first).to_have_text(f"{replica_id} this server")
    await expect(row.get_by_text("serving", exact=True)).to_be_visible()
    await expect(row.locator(".replica-load")).to_have_text(re.compile(r"^\d+( of \d+)?$"))
    await expect(row.locator("td[data-label=Started] time")).to_have_attribute(
        "datetime", re.compile(r"^\d{4}-\d\d-\d\dT")
    )
    await expect(row.locator("td[data-label='Last heartbeat'] time")).to_be_visible()
    await expect(page.get_by_text("refreshed every 5 s while this page is open")).to_be_visible()
    await shot(page, artifacts, "replicas")
    await page.emulate_media(color_scheme="dark")
    await shot(page, artifacts, "replicas-dark")
    await page.emulate_media(color_scheme="light")

    # Every 5 s the page asks again by itself.
    async with page.expect_request(CLUSTER):
        await page.clock.run_for(5_000)

    # Leaving the page stops the refreshes.
    await page.get_by_role("link", name="Agents", exact=True).click()
    await expect(page.get_by_role("heading", name=re.compile("^Agents"))).to_be_visible()
    left = len(asked)
    await page.clock.run_for(30_000)
    # Requests are reported in order: once this one is seen, any earlier one was too.
    async with page.expect_request(re.compile(r"/healthz$")):
        await page.evaluate("() => fetch('/healthz')")
    assert len(asked) == left, asked
    assert errors == []


async def test_replicas_page_explains_that_it_needs_an_admin_key(
    server: ServerProcess, page: Page
) -> None:
    errors = uncaught_errors(page)
    async with AsyncParleyClient(server.url, server.admin_key) as client:
        created = await client.create_key("Replica watcher")
    try:
        await page.goto(server.url + "/")
        await page.get_by_label("API key").fill(created["key"])
        await page.get_by_label("API key").press("Enter")
        await expect(page.get_by_role("heading", name=re.compile("^Agents"))).to_be_visible()
        await open_replicas(page)
        await expect(
            page.get_by_role("heading", name="Seeing replicas needs an admin key")
        ).to_be_visible()
        await expect(page.get_by_text("HTTP 403 · authorization_error")).to_be_visible()
        await expect(page.get_by_role("button", name="Refresh")).to_be_hidden()
        await expect(page.get_by_role("table", name="Replicas")).to_have_count(0)
    finally:
        async with AsyncParleyClient(server.url, server.admin_key) as client:
            await client.revoke_key(created["id"])
    assert errors == []


async def dropped_session(server: ServerProcess) -> str:
    """A native conversation whose socket is dropped right after ``connected`` (no
    ``end``): its session ends, resumable for the window. Returns the session id."""
    ws_base = server.url.replace("http://", "ws://", 1)
    query = urlencode({"api_key": server.admin_key, "agent_id": "agt_demo"})
    async with websockets.connect(f"{ws_base}/v1/voice/conversation?{query}") as ws:
        while True:
            event = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if event["type"] == "connected":
                break
        session_id = str(event["conversation_id"])
    async with AsyncParleyClient(server.url, server.admin_key) as client:
        for _ in range(120):
            session = await client.get_session(session_id)
            if session["status"] != "active":
                break
            await asyncio.sleep(0.25)
    assert session["status"] == "ended", session
    return session_id


async def test_session_detail_shows_its_replica_and_until_when_it_may_be_resumed(
    server: ServerProcess, page: Page, artifacts: Path
) -> None:
    errors = uncaught_errors(page)
    session_id = await dropped_session(server)
    # Raw JSON: the SDK's SessionDetail type does not list the replica fields (yet).
    async with httpx.AsyncClient(base_url=server.url) as http:
        replica_id = (await http.get("/healthz")).json()["replica_id"]
        answer = await http.get(
            f"/v1/sessions/{session_id}", headers={"Authorization": f"Bearer {server.admin_key}"}
        )
    stored = answer.json()
    assert stored["replica_id"] == replica_id, stored
    assert stored["resumable_until"] is not None, stored  # dropped, not ended with "end"
    await sign_in(page, server)
    await page.goto(f"{server.url}/#/sessions/{session_id}")
    summary = page.get_by_role("region", name="Summary")
    await expect(fact(summary, "Replica")).to_have_text(replica_id)
    until = fact(summary, "Resumable until").locator("time")
    await expect(until).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT"))
    await shot(page, artifacts, "session-replica")
    assert errors == []
