"""The web dashboard in a real Chromium against a real ``parley serve``: sign-in, agents,
a spoken conversation through the fake microphone, and the session history.

Screenshots of every view go to ``test-artifacts/browser/dashboard-*.png``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import httpx
from openai import AsyncOpenAI
from playwright.async_api import Page, expect

from parley.client import AsyncParleyClient
from parley.testing.recordings import Recording
from parley.testing.server import ServerProcess
from parley.testing.wer import normalized_wer
from tests.integration.test_realtime import WEATHER_TOOL

CONVERSATION_TIMEOUT_MS = 90_000
"""Generous: the models share two CPU cores with whatever else runs."""
GREETING = (
    "Hello, concierge here. I can find you a restaurant, book a taxi, or plan a walk "
    "around the old town. Tell me what you would like to do today, and take your time."
)


FULL_PAGE_STYLE = ".topbar, .form-aside { position: static !important; } .toasts { display: none; }"
"""Sticky parts would be drawn mid-page in a full-page capture; toasts hide content."""


async def shot(page: Page, artifacts: Path, name: str, *, full_page: bool = True) -> None:
    """Save a screenshot once fonts and the layout have settled."""
    await page.evaluate("document.fonts.ready")
    await page.screenshot(
        path=str(artifacts / f"dashboard-{name}.png"),
        full_page=full_page,
        style=FULL_PAGE_STYLE if full_page else None,
        animations="disabled",
    )


async def sign_in(page: Page, server: ServerProcess) -> None:
    await page.goto(server.url + "/")
    await page.get_by_label("API key").fill(server.admin_key)
    await page.get_by_label("API key").press("Enter")
    await expect(page.get_by_role("heading", name=re.compile("^Agents"))).to_be_visible()


async def stored_keys(page: Page) -> dict[str, object]:
    """The key in this tab's sessionStorage, and how many items localStorage holds."""
    stored: dict[str, object] = await page.evaluate(
        "({session: sessionStorage.getItem('parley.apiKey'), local: localStorage.length})"
    )
    return stored


def uncaught_errors(page: Page) -> list[str]:
    """A list that collects the page's uncaught JavaScript errors from now on."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


async def unlabelled_controls(page: Page) -> list[str]:
    """Form controls on the page that have no accessible label."""
    found: list[str] = await page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
            .filter((el) => el.type !== 'hidden' && el.labels.length === 0
                && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
            .map((el) => el.outerHTML.slice(0, 80))"""
    )
    return found


async def test_sign_in_with_a_bad_key_shows_the_api_error(
    server: ServerProcess, page: Page, artifacts: Path
) -> None:
    errors = uncaught_errors(page)
    await page.goto(server.url + "/#/sessions")
    await expect(page).to_have_url(re.compile(r"#/signin\?next="))
    await expect(page.get_by_role("heading", name="Sign in to Parley")).to_be_visible()
    await expect(page.get_by_label("API key")).to_be_focused()
    await shot(page, artifacts, "signin")

    await page.get_by_label("API key").fill("sk_live_not-a-real-key")
    await page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("invalid or revoked API key")
    await expect(alert).to_contain_text("HTTP 401 · authentication_error")
    await expect(page.get_by_label("API key")).to_have_attribute("aria-invalid", "true")
    assert await stored_keys(page) == {"session": None, "local": 0}
    await shot(page, artifacts, "signin-error")

    # A publishable key cannot manage agents: the API's 403 says so.
    async with AsyncParleyClient(server.url, server.admin_key) as client:
        publishable = await client.create_key("browser widget", kind="publishable")
    await page.get_by_label("API key").fill(publishable["key"])
    await page.get_by_role("button", name="Sign in").click()
    await expect(alert).to_contain_text("publishable keys may only open conversations")
    await expect(alert).to_contain_text("HTTP 403 · authorization_error")
    assert await stored_keys(page) == {"session": None, "local": 0}

    # The right key, submitted with the keyboard, lands on the page asked for first.
    await page.get_by_label("API key").fill(server.admin_key)
    await page.get_by_label("API key").press("Enter")
    await expect(page.get_by_role("heading", name=re.compile("^Sessions"))).to_be_visible()
    assert await stored_keys(page) == {"session": server.admin_key, "local": 0}
    await expect(page.get_by_role("link", name="Sessions", exact=True)).to_have_attribute(
        "aria-current", "page"
    )

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in to Parley")).to_be_visible()
    assert await stored_keys(page) == {"session": None, "local": 0}
    await page.goto(server.url + "/#/agents")
    await expect(page).to_have_url(re.compile(r"#/signin"))
    assert errors == []


async def test_create_edit_pause_resume_and_delete_an_agent(
    server: ServerProcess, page: Page, artifacts: Path
) -> None:
    errors = uncaught_errors(page)
    await sign_in(page, server)
    await expect(page.get_by_role("row", name=re.compile("Parley demo"))).to_be_visible()
    await page.get_by_role("link", name="+ New agent").click()
    await expect(page.get_by_role("heading", name="New agent")).to_be_visible()
    assert await unlabelled_controls(page) == []

    # The voice preview is real speech synthesized by the server.
    async with page.expect_response(re.compile(r"/v1/voices/[^/]+/preview\?text=")) as preview:
        await page.get_by_role("button", name="▶ Play preview").click()
    response = await preview.value
    assert response.status == 200
    assert response.headers["content-type"] == "audio/wav"
    audio = page.get_by_label("Voice preview")
    await expect(audio).to_be_visible()
    duration = await audio.evaluate(
        "(a) => a.readyState >= 1 ? a.duration"
        " : new Promise((ok) => a.addEventListener('loadedmetadata', () => ok(a.duration)))"
    )
    assert duration > 0.5

    await page.get_by_label("Name", exact=True).fill("Booking desk")
    await page.get_by_label("System prompt").fill("You book tables at a small restaurant.")
    await page.get_by_label("First message").fill("Hello, booking desk.")
    await page.get_by_label("Max turns").fill("7")
    await page.get_by_label("End-of-turn silence (ms)").fill("650")
    await page.get_by_label("Record audio").select_option("true")
    await page.get_by_role("button", name="+ Add tool").click()
    await page.get_by_label("Name", exact=True).nth(1).fill("find_table")
    await page.get_by_label("Description").fill("Find a free table")
    # A schema the API refuses: `required` names a property that is not defined.
    await page.get_by_label("Parameters (JSON Schema)").fill(
        '{"type": "object", "properties": {}, "required": ["people"]}'
    )
    await page.get_by_label("Metadata (JSON)").fill('{"team": "front of house"}')
    await page.get_by_role("button", name="Create agent").click()

    await expect(page.get_by_role("alert").first).to_contain_text("undefined properties")
    await expect(page.get_by_role("alert").first).to_contain_text("tools.0.parameters")
    parameters = page.get_by_label("Parameters (JSON Schema)")
    await expect(parameters).to_have_attribute("aria-invalid", "true")
    await expect(parameters).to_be_focused()
    await shot(page, artifacts, "agent-form-error")

    await parameters.fill(
        '{"type": "object", "properties": {"people": {"type": "integer"}}, "required": ["people"]}'
    )
    await shot(page, artifacts, "agent-form")
    await page.get_by_role("button", name="Create agent").click()
    await expect(page.get_by_role("heading", name=re.compile("^Agents"))).to_be_visible()
    row = page.get_by_role("row", name=re.compile("Booking desk"))
    await expect(row).to_be_visible()
    agent_id = await row.get_attribute("data-agent-id")
    assert agent_id and agent_id.startswith("agt_")

    async with AsyncParleyClient(server.url, server.admin_key) as client:
        created = await client.get_agent(agent_id)
    assert created["first_message"] == "Hello, booking desk."
    assert created["max_turns"] == 7
    assert created["settings"] == {"end_of_turn_silence_ms": 650, "record_audio": True}
    assert created["tools"][0]["name"] == "find_table"
    assert created["tools"][0]["parameters"]["required"] == ["people"]
    assert created["metadata"] == {"team": "front of house"}
    assert created["provider_overrides"] == {}

    # Edit: rename, drop the tool, send a turn setting back to the server default.
    await row.get_by_role("link", name="Edit Booking desk").click()
    await expect(page.get_by_label("Name", exact=True).first).to_have_value("Booking desk")
    await expect(page.get_by_label("End-of-turn silence (ms)")).to_have_value("650")
    await page.get_by_label("Name", exact=True).first.fill("Booking desk (evenings)")
    await page.get_by_label("End-of-turn silence (ms)").fill("")
    await page.get_by_role("button", name="Remove tool 1").click()
    await page.get_by_label("LLM temperature").fill("0.4")
    await page.get_by_role("button", name="Save changes").click()
    row = page.get_by_role("row", name=re.compile(re.escape("Booking desk (evenings)")))
    await expect(row).to_be_visible()
    await shot(page, artifacts, "agents")

    async with AsyncParleyClient(server.url, server.admin_key) as client:
        edited = await client.get_agent(agent_id)
    assert edited["name"] == "Booking desk (evenings)"
    assert edited["settings"] == {"record_audio": True}
    assert edited["tools"] == []
    assert edited["provider_overrides"] == {"llm_temperature": 0.4}
    assert edited["max_turns"] == 7

    # Pause: the agent refuses conversations, and the Talk view says why (the API's 409).
    await row.get_by_role("button", name="Pause Booking desk (evenings)").click()
    await expect(row.get_by_text("paused", exact=True)).to_be_visible()
    await page.goto(f"{server.url}/#/talk/{agent_id}")
    await page.get_by_role("button", name="Start conversation").click()
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("is paused and takes no new conversations")
    await expect(alert).to_contain_text("HTTP 409 · session_error")
    await expect(page.locator("#agent-status")).to_have_text("Not connected")

    await page.get_by_role("link", name="Agents", exact=True).click()
    await row.get_by_role("button", name="Resume Booking desk (evenings)").click()
    await expect(row.get_by_text("active", exact=True)).to_be_visible()

    # Delete, after a confirmation that Escape can cancel.
    await row.get_by_role("button", name="Delete Booking desk (evenings)").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("Delete Booking desk (evenings)?")
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(row).to_be_visible()
    await row.get_by_role("button", name="Delete Booking desk (evenings)").click()
    await page.get_by_role("button", name="Delete agent").click()
    await expect(row).to_be_hidden()
    await expect(page.get_by_role("status").filter(has_text="Deleted Booking desk")).to_be_visible()
    async with httpx.AsyncClient(base_url=server.url) as http:
        gone = await http.get(
            f"/v1/agents/{agent_id}", headers={"Authorization": f"Bearer {server.admin_key}"}
        )
    assert gone.status_code == 404
    assert errors == []


async def test_talk_then_review_the_session_in_the_history(
    server: ServerProcess, page: Page, artifacts: Path, mic_recording: Recording
) -> None:
    errors = uncaught_errors(page)
    async with AsyncParleyClient(server.url, server.admin_key) as client:
        agent = await client.create_agent(
            name="Concierge",
            system_prompt="You are a helpful concierge. Answer in one short sentence.",
            # Long enough (about 10 s) that the recorded speech, 5 s in, talks over it.
            first_message=GREETING,
            record_audio=True,
        )
    await sign_in(page, server)
    await page.get_by_role("link", name="Talk to Concierge").click()
    await expect(page.get_by_role("heading", name="Talk")).to_be_visible()
    await expect(page.get_by_label("Agent", exact=True)).to_have_value(agent["id"])
    assert await unlabelled_controls(page) == []
    # Every status the agent shows, in order (the status box is an aria-live region).
    await page.evaluate(
        """() => {
            const el = document.querySelector('#agent-status');
            window.phases = [el.textContent];
            new MutationObserver(() => {
                if (window.phases.at(-1) !== el.textContent) window.phases.push(el.textContent);
            }).observe(el, {childList: true, characterData: true, subtree: true});
        }"""
    )
    started = time.monotonic()
    await page.get_by_role("button", name="Start conversation").click()

    log = page.get_by_role("log", name="Live transcript")
    greeting = log.locator('.turn-agent[data-turn-id="turn_1"]')
    await expect(greeting).to_contain_text("Hello, concierge here.", timeout=30_000)
    # The user talks over the greeting: a marker right after it, and it is marked.
    marker = log.locator(".marker-interrupt")
    await expect(marker).to_have_text("⤺ You interrupted the agent", timeout=30_000)
    await expect(greeting).to_have_class(re.compile(r"\binterrupted\b"))
    await expect(greeting).not_to_have_class(re.compile(r"\bpartial\b"))
    assert await marker.evaluate("(m) => m.previousElementSibling.dataset.turnId") == "turn_1"

    user = log.locator(".turn-user").first
    await expect(user.locator(".turn-text")).not_to_be_empty(timeout=CONVERSATION_TIMEOUT_MS)
    user_text = await user.locator(".turn-text").inner_text()
    user_turn = await user.get_attribute("data-turn-id")
    assert normalized_wer([mic_recording.text], [user_text]) <= 0.35, user_text

    reply = log.locator(f'.turn-agent[data-turn-id="{user_turn}"]:not(.partial)')
    await expect(reply.locator(".turn-text")).not_to_be_empty(timeout=CONVERSATION_TIMEOUT_MS)
    await expect(reply.locator(".chip-accent")).to_contain_text(
        re.compile(r"voice to voice \d"), timeout=CONVERSATION_TIMEOUT_MS
    )
    await expect(page.locator("#latency-last")).to_have_text(re.compile(r"\d+(\.\d+)? m?s"))
    reply_text = (await reply.locator(".turn-text").inner_text()).strip()
    assert reply_text
    await expect(page.locator("#agent-status")).to_have_text(
        "Listening", timeout=CONVERSATION_TIMEOUT_MS
    )
    await shot(page, artifacts, "talk")
    await page.emulate_media(color_scheme="dark")
    await shot(page, artifacts, "talk-dark")
    await page.emulate_media(color_scheme="light")

    await page.get_by_role("button", name="Stop conversation").click()
    await expect(page.locator("#agent-status")).to_have_text("Disconnected")
    phases = await page.evaluate("window.phases")
    for phase in ("Not connected", "Connecting…", "Speaking", "Thinking", "Disconnected"):
        assert phase in phases, phases
    assert phases.index("Thinking") < len(phases) - 1 - phases[::-1].index("Speaking"), phases
    print(f"conversation in the browser took {time.monotonic() - started:.1f} s")

    # The history: the agent's sessions, filtered to ended ones.
    await expect(page.get_by_role("link", name="Open in history")).to_be_visible()
    session_id = (await page.locator(".session-info .mono").inner_text()).strip()
    assert session_id.startswith("ses_")
    await page.get_by_role("link", name="Sessions", exact=True).first.click()
    await page.get_by_label("Agent").select_option(agent["id"])
    await page.get_by_label("Status").select_option("ended")
    await expect(page).to_have_url(re.compile("status=ended"))
    row = page.get_by_role("row", name=re.compile(session_id))
    await expect(row).to_contain_text("Ended by the caller")
    await expect(page.locator("#live-load")).to_have_text(
        re.compile(r"Live on this server: \d+ of \d+ conversations")
    )
    await shot(page, artifacts, "sessions")
    await page.get_by_label("Status").select_option("expired")
    await expect(page.get_by_role("heading", name="No sessions")).to_be_visible()
    await page.go_back()
    await expect(row).to_be_visible()

    await row.get_by_role("link", name=session_id).click()
    await expect(
        page.get_by_role("heading", name=re.compile(f"Session {session_id}"))
    ).to_be_visible()
    transcript = page.get_by_role("list", name="Transcript")
    await expect(transcript.locator(".turn-user .turn-text").first).to_have_text(user_text)
    stored_greeting = transcript.locator('.turn-agent[data-turn-id="turn_1"]')
    await expect(stored_greeting.locator(".chip-warn")).to_have_text("interrupted")
    stored_reply = transcript.locator(f'.turn-agent[data-turn-id="{user_turn}"] .turn-text')
    # What the user heard of the reply: the session may end before the server counts the
    # last word as played, so the stored text is the live one or a beginning of it.
    stored_text = (await stored_reply.inner_text()).strip()
    assert stored_text and reply_text.startswith(stored_text), (stored_text, reply_text)
    metrics = page.locator("#turn-metrics")
    await expect(metrics.get_by_role("row", name=re.compile(user_turn or "-"))).to_be_visible()
    await expect(metrics.get_by_role("columnheader", name="Voice to voice")).to_be_visible()
    await expect(page.get_by_text("Ended by the caller")).to_be_visible()
    recording = page.get_by_label("Session recording")
    await expect(recording).to_be_visible(timeout=15_000)
    seconds = await recording.evaluate(
        "(a) => a.readyState >= 1 ? a.duration"
        " : new Promise((ok) => a.addEventListener('loadedmetadata', () => ok(a.duration)))"
    )
    assert seconds > 3, seconds
    await shot(page, artifacts, "session-detail")
    await page.emulate_media(color_scheme="dark")
    await shot(page, artifacts, "session-detail-dark")
    await page.emulate_media(color_scheme="light")

    await page.get_by_role("button", name="Delete session").click()
    await page.get_by_role("dialog").get_by_role("button", name="Delete session").click()
    await expect(page.get_by_role("heading", name=re.compile("^Sessions"))).to_be_visible()
    await expect(page.get_by_role("row", name=re.compile(session_id))).to_have_count(0)
    async with AsyncParleyClient(server.url, server.admin_key) as client:
        await client.delete_agent(agent["id"])
    assert errors == []


async def test_denied_microphone_is_explained_and_leaves_no_session_open(
    server: ServerProcess, denied_page: Page, artifacts: Path
) -> None:
    page = denied_page
    errors = uncaught_errors(page)
    await sign_in(page, server)
    await page.goto(f"{server.url}/#/talk/agt_demo")
    await page.get_by_role("button", name="Start conversation").click()
    await expect(page.get_by_role("alert")).to_contain_text("Microphone access was denied")
    await expect(page.locator("#agent-status")).to_have_text("Not connected")
    await expect(page.get_by_role("button", name="Start conversation")).to_be_enabled()
    await shot(page, artifacts, "talk-mic-denied", full_page=False)

    async with AsyncParleyClient(server.url, server.admin_key) as client:
        for _ in range(20):  # the dashboard ends the unused session right after the refusal
            active = await client.list_sessions("agt_demo", status="active")
            if active["total"] == 0:
                break
            await asyncio.sleep(0.25)
    assert active["total"] == 0, active
    assert errors == []


async def test_create_copy_and_revoke_api_keys(
    server: ServerProcess, page: Page, artifacts: Path
) -> None:
    errors = uncaught_errors(page)
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text))
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    await sign_in(page, server)
    await page.get_by_role("link", name="Keys", exact=True).click()
    await expect(page.get_by_role("heading", name=re.compile("^API keys"))).to_be_visible()
    await expect(page.get_by_role("link", name="Keys", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    own_row = page.get_by_role("row", name=re.compile("this tab"))
    await expect(own_row).to_contain_text(server.admin_key[:12])

    # A publishable key for one agent; the API's error lands on the field it names.
    toggle = page.get_by_role("button", name="+ New key")
    await toggle.click()
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    await expect(page.get_by_label("Name", exact=True)).to_be_focused()
    await page.get_by_label("Name", exact=True).fill("Website widget")
    await page.get_by_label("Publishable", exact=True).check()
    await expect(page.get_by_label("Admin key")).to_be_hidden()
    await page.get_by_label(re.compile("agt_demo")).check()
    await page.get_by_label("Requests per minute").fill("30")
    await page.get_by_label("Burst").fill("0")
    assert await unlabelled_controls(page) == []
    await page.get_by_role("button", name="Create key").click()
    await expect(page.get_by_role("alert").first).to_contain_text("rate_limit.burst")
    burst = page.get_by_label("Burst")
    await expect(burst).to_have_attribute("aria-invalid", "true")
    await expect(burst).to_be_focused()
    await shot(page, artifacts, "keys-form")
    await burst.fill("5")
    await page.get_by_role("button", name="Create key").click()

    # The plaintext is shown once, focused and selected, with a warning and a Copy button.
    shown = page.get_by_label("Your new key")
    await expect(shown).to_have_value(re.compile(r"^pk_live_\S{20,}$"))
    await expect(shown).to_be_focused()
    plaintext = await shown.input_value()
    reveal = page.get_by_role("region", name="New key: Website widget")
    await expect(reveal).to_contain_text("it will not be shown again")
    await reveal.get_by_role("button", name="Copy").click()
    await expect(reveal.get_by_role("status")).to_have_text("Copied to the clipboard.")
    assert await page.evaluate("navigator.clipboard.readText()") == plaintext
    row = page.get_by_role("row", name=re.compile("Website widget"))
    for text in (plaintext[:12], "publishable", "Parley demo", "30/min, burst 5", "Never"):
        await expect(row).to_contain_text(text)
    await shot(page, artifacts, "keys-created")

    async with AsyncParleyClient(server.url, server.admin_key) as client:
        listed = {k["name"]: k for k in await client.list_keys()}
    widget = listed["Website widget"]
    assert widget["prefix"] == plaintext[:12]
    assert widget["kind"] == "publishable"
    assert widget["agent_ids"] == ["agt_demo"]
    assert widget["rate_limit"] == {"requests_per_minute": 30, "burst": 5}
    assert widget["revoked_at"] is None

    # Nothing keeps the plaintext: after a reload it is nowhere in the page or its storage.
    assert await stored_keys(page) == {"session": server.admin_key, "local": 0}
    await page.reload()
    await expect(row).to_be_visible()
    anywhere: bool = await page.evaluate(
        """(key) => document.documentElement.outerHTML.includes(key)
            || [...document.querySelectorAll('input, textarea')]
                .some((el) => el.value.includes(key))
            || location.href.includes(key)
            || [...Object.values(sessionStorage), ...Object.values(localStorage)]
                .some((value) => value.includes(key))""",
        plaintext,
    )
    assert not anywhere

    # A non-admin secret key, revoked after a confirmation.
    await toggle.click()
    await page.get_by_label("Name", exact=True).fill("Nightly export")
    await expect(page.get_by_label("Admin key")).not_to_be_checked()
    await expect(page.get_by_label(re.compile("agt_demo"))).to_be_hidden()
    await page.get_by_role("button", name="Create key").click()
    await expect(page.get_by_label("Your new key")).to_have_value(re.compile(r"^sk_live_"))
    row = page.get_by_role("row", name=re.compile("Nightly export"))
    await row.get_by_role("button", name="Revoke Nightly export").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("Revoke Nightly export?")
    await dialog.get_by_role("button", name="Revoke key").click()
    await expect(row.get_by_text("revoked", exact=True)).to_be_visible()
    await expect(row.get_by_role("button")).to_have_count(0)
    await expect(page.get_by_label("Your new key")).to_have_count(0)  # it was this key's
    await shot(page, artifacts, "keys")
    await page.emulate_media(color_scheme="dark")
    await shot(page, artifacts, "keys-dark")
    await page.emulate_media(color_scheme="light")
    async with AsyncParleyClient(server.url, server.admin_key) as client:
        listed = {k["name"]: k for k in await client.list_keys()}
    assert listed["Nightly export"]["revoked_at"] is not None
    assert listed["Nightly export"]["admin"] is False

    # Revoking the tab's own key says so first (cancelled here: the server's admin key).
    await own_row.get_by_role("button", name=re.compile("^Revoke")).click()
    await expect(dialog).to_contain_text("the key this tab is signed in with")
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(own_row.get_by_text("active", exact=True)).to_be_visible()

    # Another non-admin secret key, signed in with: the view explains what is missing.
    await toggle.click()
    await page.get_by_label("Name", exact=True).fill("Reporting")
    await page.get_by_role("button", name="Create key").click()
    await expect(page.get_by_label("Your new key")).to_have_value(re.compile(r"^sk_live_"))
    reporting = await page.get_by_label("Your new key").input_value()
    await page.get_by_role("button", name="Sign out").click()
    await page.get_by_label("API key").fill(reporting)
    await page.get_by_label("API key").press("Enter")
    await expect(page.get_by_role("heading", name=re.compile("^Agents"))).to_be_visible()
    await page.get_by_role("link", name="Keys", exact=True).click()
    await expect(
        page.get_by_role("heading", name="Managing keys needs an admin key")
    ).to_be_visible()
    await expect(page.get_by_text("HTTP 403 · authorization_error")).to_be_visible()
    await expect(page.get_by_role("button", name="+ New key")).to_have_count(0)
    await shot(page, artifacts, "keys-not-admin", full_page=False)

    assert not [line for line in console if plaintext in line or reporting in line]
    async with AsyncParleyClient(server.url, server.admin_key) as client:
        for key in await client.list_keys():
            if key["name"] in ("Website widget", "Reporting"):
                await client.revoke_key(key["id"])
    assert errors == []


async def test_session_history_shows_tool_calls_with_their_results(
    server: ServerProcess, page: Page, artifacts: Path
) -> None:
    """An OpenAI Realtime client makes the agent call a function (forced) and answers it;
    the session page shows the call with its arguments and the client's result."""
    errors = uncaught_errors(page)
    openai = AsyncOpenAI(
        api_key=server.admin_key,
        base_url=f"{server.url}/v1",
        websocket_base_url=server.url.replace("http", "ws", 1) + "/v1",
    )
    result = json.dumps({"forecast": "sunny", "celsius": 21})
    async with openai.realtime.connect(model="agt_demo") as conn:
        await conn.session.update(session={"type": "realtime", "tools": [WEATHER_TOOL]})
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "What is the weather in Paris?"}],
            }
        )
        await conn.response.create(
            response={"tool_choice": {"type": "function", "name": "get_weather"}}
        )
        session_id, call = "", None
        while call is None:
            event = await asyncio.wait_for(conn.recv(), CONVERSATION_TIMEOUT_MS / 1000)
            if event.type == "conversation.created":
                session_id = str(event.conversation.id)
            if event.type == "response.done":
                output = event.response.output or []
                call = next(item for item in output if item.type == "function_call")
        await conn.conversation.item.create(
            item={"type": "function_call_output", "call_id": call.call_id, "output": result}
        )
        async with AsyncParleyClient(server.url, server.admin_key) as client:
            for _ in range(100):  # the result is stored as the server takes it
                detail = await client.get_session(session_id)
                stored = [c for t in detail["transcript"] for c in t["tool_calls"]]
                if stored and stored[0]["output"] is not None:
                    break
                await asyncio.sleep(0.1)
    assert [(c["call_id"], c["output"]) for c in stored] == [(call.call_id, result)], stored

    await sign_in(page, server)
    await page.goto(f"{server.url}/#/sessions/{session_id}")
    calls = page.get_by_role("list", name="Tool calls")
    arguments = json.dumps(json.loads(call.arguments), separators=(",", ":"))  # as JS prints it
    await expect(calls).to_contain_text(f"get_weather({arguments})")
    await expect(calls).to_contain_text(f"→ {result}")
    await shot(page, artifacts, "session-tool-call")
    assert errors == []
