"""The browser SDK resumes a dropped conversation (docs/sdk.md, "Reconnection"): real
Chromium and a real server, with a TCP relay between them (:mod:`parley.testing.tcp_proxy`)
that the test cuts or makes refuse connections."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from parley.client import AsyncParleyClient
from parley.testing.server import ServerProcess, start_server
from parley.testing.tcp_proxy import TcpProxy
from tests.browser.conftest import PageUrl
from tests.browser.test_sdk import (
    TURN_TIMEOUT_MS,
    events,
    open_sdk,
    session_detail,
    start,
    stop_and_check_released,
    wait_js,
)

#: harness.js records the events it knows; `reconnected` is recorded the same way here.
RECORD_RECONNECTED = """() => harness.voice.on('reconnected', function () {
    harness.events.push({ event: 'reconnected', args: Array.prototype.slice.call(arguments) });
})"""


@pytest.fixture
async def proxy(server: ServerProcess) -> AsyncIterator[TcpProxy]:
    async with TcpProxy(int(server.url.rsplit(":", 1)[1])) as relay:
        yield relay


async def open_through(
    page: Page, page_url: PageUrl, server: ServerProcess, proxy: TcpProxy, **options: Any
) -> None:
    """The SDK page, with a key, connecting through the relay."""
    options = {
        "apiKey": server.admin_key,
        "agentId": "agt_demo",
        "wsUrl": f"ws://127.0.0.1:{proxy.port}",
        **options,
    }
    await open_sdk(page, page_url("sdk.html"), options)
    await page.evaluate(RECORD_RECONNECTED)


async def typed_answer(page: Page, text: str) -> str:
    """Send a typed turn; the agent's final answer to it."""
    await page.evaluate("text => harness.voice.sendText(text)", text)
    user = await wait_js(
        page,
        "text => harness.transcripts('user').find(t => t.final && t.text === text)",
        text,
        timeout=TURN_TIMEOUT_MS,
    )
    answer = await wait_js(
        page,
        "turn => harness.transcripts('agent').find(t => t.final && t.turnId === turn)",
        user["turnId"],
        timeout=TURN_TIMEOUT_MS,
    )
    return str(answer["text"])


async def test_a_dropped_conversation_is_resumed(
    server: ServerProcess, page: Page, page_url: PageUrl, proxy: TcpProxy
) -> None:
    """Cut while the greeting plays: `reconnecting`, then `reconnected` with the same
    conversation id (no second `connected`), and a typed turn is answered in it."""
    await open_through(page, page_url, server, proxy)
    first = await start(page)
    assert first["ok"], first
    conversation_id = first["value"]
    await page.evaluate("() => harness.voice.mute()")  # only typed turns in this test
    await wait_js(page, "() => harness.voice.agentSpeaking", timeout=TURN_TIMEOUT_MS)

    assert proxy.cut() == 1
    resumed = await wait_js(page, "() => harness.of('reconnected')[0]", timeout=60_000)
    assert resumed["args"][0] == conversation_id and resumed["args"][1] >= 1, resumed
    tries = await events(page, "reconnecting")
    assert tries[0][0] == 1 and tries[0][2] == "close_1006", tries
    assert all(0 <= t[1] <= 4000 for t in tries), tries
    assert [t[0] for t in tries] == list(range(1, len(tries) + 1))
    assert len(tries) == resumed["args"][1]
    assert await events(page, "connected") == [[conversation_id]]
    statuses = [s[0] for s in await events(page, "status")]
    assert statuses == ["connecting", "connected", "connecting", "connected"], statuses
    assert (await events(page, "disconnected"))[0][0] == 1006
    assert await events(page, "error") == []
    assert await page.evaluate("() => harness.voice.conversationId") == conversation_id
    assert (await page.evaluate("() => harness.voice.stats"))["reconnects"] == 1
    tracks = await page.evaluate("() => harness.micTracks()")
    assert len(tracks) == 1 and tracks[0]["state"] == "live", "the microphone stays open"
    # still muted: the SDK tells the resumed socket too
    await wait_js(
        page,
        "() => harness.messages('control_ack').filter(m => m.action === 'stop_listening')"
        ".length === 2",
    )

    answer = await typed_answer(page, "What is the capital of France?")
    assert answer.strip()
    await stop_and_check_released(page)
    detail = await session_detail(server, conversation_id, "ended")
    typed = [t["text"] for t in detail["transcript"] if t["role"] == "user"]
    assert typed == ["What is the capital of France?"], detail["transcript"]


async def test_a_session_url_conversation_is_resumed_without_a_new_session(
    server: ServerProcess, page: Page, page_url: PageUrl, proxy: TcpProxy
) -> None:
    """`sessionUrl` mode (what the dashboard uses; its token works once): a drop is resumed
    with the resume token; `getSessionUrl` is not called for it."""
    async with AsyncParleyClient(server.url, server.admin_key) as admin:
        session = await admin.create_session("agt_demo")
    url = (session["websocket_url"] or "").replace(
        server.url.replace("http://", "ws://"), f"ws://127.0.0.1:{proxy.port}"
    )
    assert f":{proxy.port}/" in url
    await page.goto(page_url("sdk.html"))
    await page.evaluate(
        """url => {
            window.sessionsMade = 0;
            const getSessionUrl = () => { window.sessionsMade += 1; return url; };
            harness.create({ sessionUrl: url, getSessionUrl });
        }""",
        url,
    )
    await page.evaluate(RECORD_RECONNECTED)
    first = await start(page)
    assert first["ok"] and first["value"] == session["session_id"], first
    proxy.cut()
    resumed = await wait_js(page, "() => harness.of('reconnected')[0]", timeout=60_000)
    assert resumed["args"][0] == session["session_id"], resumed
    assert await page.evaluate("() => window.sessionsMade") == 0
    assert await events(page, "error") == []
    await stop_and_check_released(page)


async def test_reconnect_false_ends_at_the_drop(
    server: ServerProcess, page: Page, page_url: PageUrl, proxy: TcpProxy
) -> None:
    await open_through(page, page_url, server, proxy, reconnect=False)
    first = await start(page)
    assert first["ok"], first
    proxy.cut()
    error = await wait_js(page, "() => harness.of('error')[0]", timeout=30_000)
    assert error["args"][0]["code"] == "session_error", error
    assert "lost" in error["args"][0]["message"], error
    await wait_js(page, "() => harness.voice.status === 'disconnected'")
    assert await events(page, "reconnecting") == []
    assert (await events(page, "disconnected"))[0][0] == 1006
    await wait_js(page, "() => harness.micTracks().every(t => t.state === 'ended')")


async def test_a_conversation_gone_for_good_is_not_retried(
    server: ServerProcess, page: Page, page_url: PageUrl, proxy: TcpProxy
) -> None:
    """The agent is deleted while the page is cut off: the resume is refused with 4004,
    reported once as a not_found_error, and the SDK stops and releases the microphone."""
    async with AsyncParleyClient(server.url, server.admin_key) as admin:
        agent = await admin.create_agent(
            name="Resume me", system_prompt="You are a terse test agent."
        )
        await open_through(page, page_url, server, proxy, agentId=agent["id"])
        first = await start(page)
        assert first["ok"], first
        await proxy.refuse()
        proxy.cut()
        await wait_js(page, "() => harness.of('reconnecting').length >= 2", timeout=30_000)
        await admin.delete_agent(agent["id"])
        await proxy.accept()
    error = await wait_js(page, "() => harness.of('error')[0]", timeout=60_000)
    assert error["args"][0]["code"] == "not_found_error", error
    await wait_js(page, "() => harness.voice.status === 'disconnected'")
    assert (await events(page, "disconnected"))[-1][0] == 4004
    assert await events(page, "reconnected") == []
    assert len(await events(page, "error")) == 1
    await wait_js(page, "() => harness.micTracks().every(t => t.state === 'ended')")


async def test_a_drained_replica_is_left_for_the_next(
    server: ServerProcess, page: Page, page_url: PageUrl, tmp_path: Path
) -> None:
    """SIGTERM drains the replica the page talks to: no final `session_ended` reaches the
    page, `reconnecting` says `server_shutdown`, and the conversation resumes on the
    replica started next on the same database."""
    data = tmp_path / "data"
    env = {"PARLEY_CLUSTER__RESUME_WINDOW_S": "180", "PARLEY_CLUSTER__REPLICA_ID": "replica-a"}
    first = await asyncio.to_thread(start_server, data, env=env)
    try:
        async with TcpProxy(first.port) as proxy:
            await open_through(page, page_url, first, proxy)
            started = await start(page)
            assert started["ok"], started
            first.process.send_signal(signal.SIGTERM)
            tries = await wait_js(page, "() => harness.of('reconnecting')[0]", timeout=60_000)
            assert tries["args"][0] == 1 and tries["args"][2] == "server_shutdown", tries
            assert await page.evaluate("() => harness.messages('session_ended')") == []
            assert (await events(page, "disconnected"))[0][0] == 1012
            assert await asyncio.to_thread(first.process.wait, 60) == 0

            second_env = {**env, "PARLEY_CLUSTER__REPLICA_ID": "replica-b"}
            second = await asyncio.to_thread(
                start_server, data, env=second_env, admin_key=first.admin_key
            )
            try:
                proxy.target_port = second.port
                resumed = await wait_js(page, "() => harness.of('reconnected')[0]", timeout=120_000)
                assert resumed["args"][0] == started["value"], resumed
                assert await events(page, "error") == []
                await stop_and_check_released(page)
            finally:
                second.stop()
    finally:
        first.stop()
