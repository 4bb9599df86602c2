"""The dashboard's Providers page and the agent form's provider choice, in a real Chromium
against real servers: the session's plain ``parley serve`` (the built-in providers only),
and a second one whose providers file adds a remote TTS (the first server, as an
OpenAI-compatible speech server) and an LLM whose server is down.

Screenshots go to ``test-artifacts/browser/dashboard-providers*.png``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from parley.client import AsyncParleyClient
from parley.testing.server import ServerProcess, free_port, start_server
from tests.browser.test_dashboard import shot, sign_in, uncaught_errors, unlabelled_controls

BUILT_IN = [
    "stt:whisper-local",
    "llm:llama-local",
    "tts:piper-local",
    "vad:silero",
    "turn:smart-turn",
]
GROUPS = [
    "Speech to text stt",
    "Language model llm",
    "Text to speech tts",
    "Voice activity detection vad",
    "End of turn turn",
]
REMOTE_KEY_ENV = "PARLEY_TEST_REMOTE_TTS_KEY"
DEAD_PASSWORD = "hunter2-in-the-url"
REMOTE_VOICES = ["alloy", "echo"]


@pytest.fixture(scope="module")
def configured(
    server: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A second ``parley serve`` with a providers file: ``tts:remote`` is the session's
    server (reachable; its key from the environment), ``llm:offline`` a port nobody
    listens on (with credentials in its URL, which must never be shown)."""
    root = tmp_path_factory.mktemp("providers-server")
    file = root / "providers.toml"
    file.write_text(
        f"""
[tts.remote]
type = "openai"
base_url = "{server.url}/v1"
model = "tts-1"
api_key_env = "{REMOTE_KEY_ENV}"
voices = {REMOTE_VOICES!r}

[llm.offline]
type = "openai"
base_url = "http://operator:{DEAD_PASSWORD}@127.0.0.1:{free_port()}/v1"
model = "qwen2.5-7b-instruct"
""".replace("'", '"'),
        encoding="utf-8",
    )
    env = {"PARLEY_PROVIDERS_FILE": str(file), REMOTE_KEY_ENV: server.admin_key}
    srv = start_server(root / "data", env=env)
    yield srv
    srv.stop()


async def open_providers(page: Page) -> None:
    await page.get_by_role("link", name="Providers", exact=True).click()
    await expect(page).to_have_url(re.compile(r"#/providers$"))
    heading = page.get_by_role("heading", name=re.compile("^Providers"))
    await expect(heading).to_be_focused()
    await expect(page.get_by_role("table", name="Providers")).to_be_visible()


async def test_providers_page_lists_the_built_in_providers_as_reachable_defaults(
    server: ServerProcess, page: Page, artifacts: Path
) -> None:
    errors = uncaught_errors(page)
    await sign_in(page, server)
    await open_providers(page)
    table = page.get_by_role("table", name="Providers")
    await expect(table.locator(".group-row")).to_have_text(GROUPS)
    # Built in: every provider runs in this server, so every one is reachable (other
    # built-ins than these may be installed, e.g. llm:qwen-local with an extra).
    listed = await table.locator("tbody tr[data-provider]").evaluate_all(
        "(rows) => rows.map((r) => r.dataset.provider)"
    )
    assert set(BUILT_IN) <= set(listed), listed
    await expect(table.locator(".badge-reachable")).to_have_count(len(listed))
    await expect(table.get_by_text("default", exact=True)).to_have_count(len(BUILT_IN))
    for name in BUILT_IN:
        row = table.locator(f'tr[data-provider="{name}"]')
        await expect(row.locator("td").first).to_have_text(name)
        await expect(row.get_by_text("reachable", exact=True)).to_be_visible()
        await expect(row.get_by_text("default", exact=True)).to_be_visible()
        await expect(row.get_by_text("loaded", exact=True)).to_be_visible()
        await expect(row.get_by_text("Built in")).to_be_visible()
        await expect(row.get_by_text("In this server")).to_be_visible()
    await expect(table).to_contain_text("Whisper tiny.en")
    # Built in but not a default: the multilingual speech model and the eSpeak NG voices.
    for name in ("stt:whisper-multilingual", "tts:espeak-ng"):
        row = table.locator(f'tr[data-provider="{name}"]')
        await expect(row.get_by_text("Built in")).to_be_visible()
        await expect(row.get_by_text("default", exact=True)).to_have_count(0)
    await expect(page.get_by_text("cannot be reached")).to_have_count(0)
    assert await page.get_by_text("unreachable").count() == 0
    await shot(page, artifacts, "providers")
    await page.emulate_media(color_scheme="dark")
    await shot(page, artifacts, "providers-dark")
    await page.emulate_media(color_scheme="light")

    # Refresh asks the server again; a failure is shown like the other views show theirs,
    # and the table stays.
    refresh = page.get_by_role("button", name="Refresh")
    await page.route("**/v1/providers", lambda route: route.abort())
    await refresh.click()
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("Cannot reach the Parley server")
    await expect(alert).to_contain_text("network_error")
    await expect(table.locator("tbody tr[data-provider]")).to_have_count(len(listed))
    await expect(refresh).to_be_enabled()
    await page.unroute("**/v1/providers")
    async with page.expect_response(re.compile(r"/v1/providers$")) as answer:
        await refresh.click()
    assert (await answer.value).status == 200
    await expect(alert).to_be_hidden()
    await expect(
        page.get_by_text(f"Checked again: {len(listed)} providers, all reachable.")
    ).to_be_attached()
    assert errors == []


async def test_providers_page_shows_remote_and_unreachable_providers_without_secrets(
    server: ServerProcess, configured: ServerProcess, page: Page, artifacts: Path
) -> None:
    errors = uncaught_errors(page)
    await sign_in(page, configured)
    await open_providers(page)
    table = page.get_by_role("table", name="Providers")
    remote = table.locator('tr[data-provider="tts:remote"]')
    await expect(remote).to_contain_text("OpenAI-compatible")
    await expect(remote).to_contain_text("tts-1")
    await expect(remote).to_contain_text(f"{server.url}/v1")
    await expect(remote.get_by_text("reachable", exact=True)).to_be_visible()
    await expect(remote.get_by_text("default", exact=True)).to_have_count(0)
    offline = table.locator('tr[data-provider="llm:offline"]')
    await expect(offline.get_by_text("unreachable", exact=True)).to_be_visible()
    await expect(offline.get_by_text("not loaded", exact=True)).to_be_visible()
    await expect(offline).to_contain_text("qwen2.5-7b-instruct")
    await expect(page.locator(".providers-down")).to_contain_text("1 provider cannot be reached")
    await expect(page.locator(".providers-down")).to_contain_text("llm:offline")
    # The tbody of each kind lists it: remote providers sit with the built-in ones.
    llms = table.locator('tbody[data-kind="llm"] tr[data-provider]')
    await expect(llms.filter(has_text="llm:offline")).to_have_count(1)
    await expect(llms.filter(has_text="llm:llama-local")).to_have_count(1)
    tts_rows = table.locator('tbody[data-kind="tts"] tr[data-provider]')
    await expect(tts_rows).to_have_count(3)  # Piper, eSpeak NG and the remote one

    text = await page.locator("body").inner_text()
    html = await page.content()
    for secret in (server.admin_key, configured.admin_key, DEAD_PASSWORD, "operator:"):
        assert secret not in text and secret not in html, secret
    await shot(page, artifacts, "providers-remote")
    await page.emulate_media(color_scheme="dark")
    await shot(page, artifacts, "providers-remote-dark")
    await page.emulate_media(color_scheme="light")
    assert errors == []


async def voice_options(page: Page) -> list[str]:
    values: list[str] = await page.get_by_label("Voice", exact=True).evaluate(
        "(select) => [...select.options].map((o) => o.value)"
    )
    return values


async def test_agent_form_voice_list_follows_the_tts_provider(
    server: ServerProcess, configured: ServerProcess, page: Page, artifacts: Path
) -> None:
    errors = uncaught_errors(page)
    await sign_in(page, configured)
    await page.get_by_role("link", name="+ New agent").click()
    await expect(page.get_by_role("heading", name="New agent")).to_be_visible()
    assert await unlabelled_controls(page) == []

    tts = page.get_by_label("TTS provider")
    voice = page.get_by_label("Voice", exact=True)
    # No provider chosen: the default TTS provider's voices only. Each provider is offered
    # with its model; the hint says what the choice is.
    await expect(tts).to_have_value("")
    await expect(tts.locator("option")).to_have_text(
        [
            "Server default (tts:piper-local)",
            "tts:espeak-ng · eSpeak NG (Debian), basic voices in many languages",
            "tts:piper-local · Piper en_US joe medium",
            "tts:remote · tts-1",
        ]
    )
    await expect(page.get_by_text("Piper en_US joe medium, in this server.")).to_be_visible()
    assert await voice_options(page) == ["en_US-joe-medium"]
    hint = page.get_by_text("1 voice of tts:piper-local, the server's default")
    await expect(hint).to_be_visible()

    await tts.select_option("tts:remote")
    assert await voice_options(page) == REMOTE_VOICES
    await expect(voice).to_have_value("alloy")
    await expect(page.get_by_text("2 voices of tts:remote.")).to_be_visible()
    await expect(page.get_by_text(f"tts-1, at {server.url}/v1.")).to_be_visible()
    await voice.select_option("echo")

    # The LLM choices carry their models, and say which cannot be reached now.
    llm = page.get_by_label("LLM provider")
    offered = await llm.locator("option").all_inner_texts()
    assert offered[0] == "Server default (llm:llama-local)"
    assert "llm:llama-local · Qwen2.5-Coder-0.5B-Instruct Q4_K_M" in offered
    assert "llm:offline · qwen2.5-7b-instruct (unreachable)" in offered

    await llm.select_option("llm:offline")
    await expect(
        page.get_by_text(
            re.compile(
                r"qwen2.5-7b-instruct, at http://127\.0\.0\.1:\d+/v1: cannot be reached now\."
            )
        )
    ).to_be_visible()
    await llm.select_option("")
    await expect(
        page.get_by_text("Qwen2.5-Coder-0.5B-Instruct Q4_K_M, in this server.")
    ).to_be_visible()

    await page.get_by_label("Name", exact=True).fill("Remote voice desk")
    await page.get_by_label("System prompt").fill("You answer the phone.")
    await page.evaluate(
        "document.getElementById('provider-tts').closest('fieldset').scrollIntoView();"
        "window.scrollBy(0, -80)"
    )
    await shot(page, artifacts, "providers-agent-form", full_page=False)
    await page.emulate_media(color_scheme="dark")
    await shot(page, artifacts, "providers-agent-form-dark", full_page=False)
    await page.emulate_media(color_scheme="light")
    await page.get_by_role("button", name="Create agent").click()
    row = page.get_by_role("row", name=re.compile("Remote voice desk"))
    await expect(row).to_be_visible()
    agent_id = await row.get_attribute("data-agent-id")
    assert agent_id

    async with AsyncParleyClient(configured.url, configured.admin_key) as client:
        created = await client.get_agent(agent_id)
    assert created["voice_id"] == "echo"
    assert created["provider_overrides"] == {"tts": "tts:remote"}

    # Editing shows the choice, and going back to the default offers its voices again.
    await row.get_by_role("link", name="Edit Remote voice desk").click()
    await expect(tts).to_have_value("tts:remote")
    await expect(voice).to_have_value("echo")
    assert await voice_options(page) == REMOTE_VOICES
    await tts.select_option("")
    assert await voice_options(page) == ["en_US-joe-medium"]
    await expect(voice).to_have_value("en_US-joe-medium")
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.get_by_role("row", name=re.compile("Remote voice desk"))).to_be_visible()
    async with AsyncParleyClient(configured.url, configured.admin_key) as client:
        edited = await client.get_agent(agent_id)
        await client.delete_agent(agent_id)
    assert edited["voice_id"] == "en_US-joe-medium"
    assert edited["provider_overrides"] == {}
    assert errors == []
