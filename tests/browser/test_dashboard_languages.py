"""The agent form's languages in a real Chromium against a real ``parley serve``: choose
the language an agent answers in and a voice per language, see the API's precise error on
the field, and see each turn's language in the session history.

Screenshots go to ``test-artifacts/browser/dashboard-languages*.png``.
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Page, expect

from parley.client import AsyncParleyClient, call
from parley.testing.multilingual_speech import real_clips
from parley.testing.server import ServerProcess
from tests.browser.test_dashboard import shot, sign_in, uncaught_errors, unlabelled_controls


async def test_an_agent_answers_in_one_language_with_the_voice_chosen_for_it(
    server: ServerProcess, page: Page, artifacts: Path
) -> None:
    errors = uncaught_errors(page)
    await sign_in(page, server)
    await page.get_by_role("link", name="+ New agent").click()
    await expect(page.get_by_role("heading", name="New agent")).to_be_visible()
    assert await unlabelled_controls(page) == []

    language = page.get_by_label("Language", exact=True)
    await expect(language).to_have_value("en")
    options = await language.locator("option").all_text_contents()
    assert options[0] == "The caller's language (detected)"
    assert "English (en)" in options and "Spanish (es) (basic voice)" in options
    assert not any(o.startswith("Japanese") for o in options), "no voice speaks Japanese"
    # Per-language voices: hidden until the language is in use.
    spanish_voice = page.get_by_label("Spanish voice")
    await expect(spanish_voice).to_be_hidden()

    await page.get_by_label("Name", exact=True).fill("Recepción")
    await page.get_by_label("System prompt").fill("Eres la recepcionista de un hotel.")
    # "Server default" speech-to-text follows the language: English-only or multilingual.
    default_stt = page.get_by_label("STT provider").locator("option").first
    await expect(default_stt).to_have_text("Server default (stt:whisper-local)")
    await language.select_option("es")
    await expect(default_stt).to_have_text("Server default (stt:whisper-multilingual)")
    stt_hint = page.get_by_text("Whisper base multilingual int8, in this server.")
    await expect(stt_hint).to_be_visible()
    await expect(spanish_voice).to_be_visible()
    await expect(page.get_by_label("French voice")).to_be_hidden()
    await expect(spanish_voice).to_have_value("")  # the server's best Spanish voice
    await spanish_voice.select_option("espeak-es-419")
    await shot(page, artifacts, "languages-form")
    await page.get_by_role("button", name="Create agent").click()
    await expect(page.get_by_role("heading", name=re.compile("^Agents"))).to_be_visible()

    async with AsyncParleyClient(server.url, server.admin_key) as client:
        [agent] = [
            a for a in (await client.list_agents(limit=100))["data"] if a["name"] == "Recepción"
        ]
        assert agent["language"] == "es" and agent["voices"] == {"es": "espeak-es-419"}

        # "auto" shows every language's voice; the form keeps the agent's choices.
        await page.goto(f"{server.url}/#/agents/{agent['id']}")
        await expect(page.get_by_label("Language", exact=True)).to_have_value("es")
        await expect(page.get_by_label("Spanish voice")).to_have_value("espeak-es-419")
        await page.get_by_label("Language", exact=True).select_option("auto")
        await expect(page.get_by_label("French voice")).to_be_visible()
        await page.get_by_label("French voice").select_option("espeak-fr")
        await page.get_by_role("button", name="Save changes").click()
        await expect(page.get_by_role("heading", name=re.compile("^Agents"))).to_be_visible()
        updated = await client.get_agent(agent["id"])
        assert updated["language"] == "auto"
        assert updated["voices"] == {"es": "espeak-es-419", "fr": "espeak-fr"}

        # A Spanish caller: the history shows the detected language of each turn.
        clip = max(real_clips("es", per_language=4), key=lambda c: len(c.pcm))
        result = await call(server.url, server.admin_key, agent["id"], [clip.pcm])
    await page.goto(f"{server.url}/#/sessions/{result.conversation_id}")
    user_turn = page.locator('li.turn[data-role="user"]').first
    chip = user_turn.locator(".turn-meta .chip", has_text=re.compile(r"^es$"))
    await expect(chip).to_be_visible()
    assert re.match(r"detected es \(\d+ % sure\)", await chip.get_attribute("title") or "")
    agent_turn = page.locator('li.turn[data-role="agent"]').last
    await expect(
        agent_turn.locator(".turn-meta .chip", has_text=re.compile(r"^es$"))
    ).to_be_visible()
    await shot(page, artifacts, "languages-session")
    assert errors == []
