"""The browser SDK (src/parley/web/parley-voice.js) in real Chromium against a real server.

The page's microphone is Chromium's fake capture device playing a real LibriVox
recording (see conftest.py); the agent's answers are played through Web Audio.
"""

from __future__ import annotations

import asyncio
import base64
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.async_api import Page, Playwright

from parley.audio.wav import write_wav
from parley.client import AsyncParleyClient
from parley.testing.recordings import Recording
from parley.testing.server import ServerProcess
from parley.testing.wer import normalized_wer
from tests.browser.conftest import PageUrl, chromium_args, open_page

SDK_FILE = Path(__file__).resolve().parents[2] / "src" / "parley" / "web" / "parley-voice.js"
TURN_TIMEOUT_MS = 90_000  # a spoken turn and its answer on a busy 2-core machine


async def wait_js(page: Page, expression: str, arg: Any = None, timeout: float = 30_000) -> Any:
    """Wait until ``expression`` (a JS function of ``arg``) returns something truthy."""
    handle = await page.wait_for_function(expression, arg=arg, timeout=timeout)
    return await handle.json_value()


async def open_sdk(page: Page, url: str, options: dict[str, Any]) -> None:
    """Load a test page and create ``harness.voice = new ParleyVoice(options)``."""
    await page.goto(url)
    await page.wait_for_function("() => window.harness && (harness.Ctor || window.ParleyVoice)")
    await page.evaluate("options => harness.create(options)", options)


async def start(page: Page, button: str = "#start") -> dict[str, Any]:
    """Click Start (a real user gesture) and return how start() settled."""
    count = await page.evaluate("() => harness.starts.length")
    await page.click(button)
    settled: dict[str, Any] = await wait_js(
        page, "n => harness.starts[n] && harness.starts[n].settled && harness.starts[n]", count
    )
    return settled


async def events(page: Page, name: str) -> list[list[Any]]:
    """The argument lists of every ``name`` event so far."""
    found: list[list[Any]] = await page.evaluate("name => harness.of(name).map(e => e.args)", name)
    return found


async def stop_and_check_released(page: Page) -> None:
    """stop(): microphone tracks ended, socket closed, status disconnected, no more events."""
    await page.click("#stop")
    assert await page.evaluate("() => harness.voice.status") == "disconnected"
    tracks = await page.evaluate("() => harness.micTracks()")
    assert tracks and all(t["state"] == "ended" for t in tracks), tracks
    await wait_js(page, "() => harness.socketStates().every(s => s === WebSocket.CLOSED)")
    await wait_js(page, "() => harness.contextStates().every(s => s === 'closed')")
    seen = await page.evaluate("() => harness.events.length")
    await asyncio.sleep(1.5)  # anything still in flight would arrive now
    late = await page.evaluate("n => harness.events.slice(n)", seen)
    assert late == [], f"events after stop(): {late}"


async def session_detail(server: ServerProcess, session_id: str, status: str) -> dict[str, Any]:
    """The stored session once it has ``status``."""
    async with AsyncParleyClient(server.url, server.admin_key) as client:
        for _ in range(50):
            detail: dict[str, Any] = dict(await client.get_session(session_id))
            if detail["status"] == status:
                return detail
            await asyncio.sleep(0.2)
    raise AssertionError(f"session {session_id} is {detail['status']}, not {status}")


def key_options(server: ServerProcess, **extra: Any) -> dict[str, Any]:
    return {"apiKey": server.admin_key, "agentId": "agt_demo", **extra}


async def test_spoken_conversation(
    server: ServerProcess,
    page: Page,
    page_url: PageUrl,
    mic_recording: Recording,
    artifacts: Path,
) -> None:
    """The user speaks (the real recording), is transcribed, and hears the agent answer."""
    await open_sdk(page, page_url("sdk.html"), key_options(server))
    result = await start(page)
    assert result["ok"], result
    conversation_id = result["value"]
    assert conversation_id.startswith("ses_")
    assert await events(page, "connected") == [[conversation_id]]
    assert await page.evaluate("() => harness.voice.conversationId") == conversation_id
    constraints = await page.evaluate("() => harness.micConstraints()")
    assert constraints[0]["audio"]["echoCancellation"] is True
    assert constraints[0]["audio"]["noiseSuppression"] is True
    assert constraints[0]["audio"]["autoGainControl"] is True

    user = await wait_js(
        page, "() => harness.transcripts('user').find(t => t.final)", timeout=TURN_TIMEOUT_MS
    )
    wer = normalized_wer([mic_recording.text], [user["text"]])
    assert wer <= 0.25, (wer, user["text"], mic_recording.text)

    answer = await wait_js(
        page,
        "turn => harness.transcripts('agent').find(t => t.final && t.turnId === turn)",
        user["turnId"],
        timeout=TURN_TIMEOUT_MS,
    )
    assert answer["text"].strip()
    # The answer is played out: agentSpeaking goes true, then false at the end of the turn.
    await wait_js(
        page,
        """turn => harness.messages('agent_turn_end').some(m => m.turn_id === turn)
                  && !harness.voice.agentSpeaking""",
        user["turnId"],
        timeout=TURN_TIMEOUT_MS,
    )
    await page.screenshot(path=str(artifacts / "sdk-conversation.png"), full_page=True)

    stats = await page.evaluate("() => harness.voice.stats")
    assert stats["chunksSent"] > 100, stats  # > 3 s of microphone audio in 32 ms chunks
    assert stats["audioMsReceived"] > 1000, stats  # greeting and answer
    assert stats["msPlayed"] > 1000, stats
    assert stats["msPlayed"] <= stats["audioMsReceived"] + 1, stats
    assert stats["playbackReports"] > 2, stats
    # Playback progress of the answer went to the server: rising, up to all of its audio.
    reports = await page.evaluate(
        """turn => {
            const first = harness.received.find(m => m.type === 'audio' && m.turn_id === turn);
            return harness.sent.filter(m => m.type === 'playback' && m.order > first.order)
                               .map(m => m.played_ms);
        }""",
        user["turnId"],
    )
    answer_ms = await page.evaluate(
        """turn => harness.received.filter(m => m.type === 'audio' && m.turn_id === turn)
                                  .reduce((ms, m) => ms + m.samples / 16, 0)""",
        user["turnId"],
    )
    assert len(reports) > 2 and reports == sorted(reports), reports
    # The server counts a report within 1 ms of all audio sent as "all played".
    assert answer_ms - 1 <= reports[-1] <= answer_ms, (
        reports,
        answer_ms,
        await page.evaluate("() => harness.events.filter(e => e.event !== 'transcript')"),
    )
    speaking = [args[0] for args in await events(page, "agentSpeaking")]
    assert speaking[:2] == [True, False] and speaking[-1] is False, speaking
    metrics = await events(page, "metrics")
    assert any(m[0]["turnId"] == user["turnId"] for m in metrics), metrics
    assert [s[0] for s in await events(page, "status")] == ["connecting", "connected"]
    assert await events(page, "error") == []

    await stop_and_check_released(page)
    assert [s[0] for s in await events(page, "status")][-1] == "disconnected"
    detail = await session_detail(server, conversation_id, "ended")
    assert detail["end_reason"] == "client"
    roles = [t["role"] for t in detail["transcript"]]
    assert roles[:3] == ["agent", "user", "agent"], roles


async def test_start_twice_and_interrupt(
    server: ServerProcess, page: Page, page_url: PageUrl
) -> None:
    """start() while connecting or connected rejects; interrupt() stops the greeting at once."""
    await open_sdk(page, page_url("sdk.html"), key_options(server, pingIntervalMs=500))
    await page.click("#start-twice")
    first, second = await wait_js(
        page,
        "() => harness.starts.length === 2 && harness.starts.every(s => s.settled)"
        " && harness.starts",
    )
    assert first["ok"] and first["value"].startswith("ses_"), first
    assert not second["ok"] and second["message"] == "Already connecting", second
    again = await start(page)
    assert not again["ok"] and again["message"] == "Already connected", again
    assert again["code"] == "session_error"
    assert await page.evaluate("() => harness.voice.status") == "connected"

    # The greeting is playing: interrupt it.
    await wait_js(page, "() => harness.voice.agentSpeaking", timeout=TURN_TIMEOUT_MS)
    await page.evaluate("() => harness.voice.interrupt()")
    assert await page.evaluate("() => harness.voice.agentSpeaking") is False
    ack = await wait_js(page, "() => harness.messages('control_ack')[0]")
    assert ack["action"] == "interrupt"
    cut = await wait_js(page, "() => harness.of('interruption')[0]")
    assert cut["args"] == ["turn_1"]
    stats = await page.evaluate("() => harness.voice.stats")
    played_at_cut = stats["msPlayed"]
    await asyncio.sleep(1.0)
    assert (await page.evaluate("() => harness.voice.stats"))["msPlayed"] == played_at_cut

    pings = await page.evaluate("() => harness.sent.filter(m => m.type === 'ping').map(m => m.ts)")
    pongs = await page.evaluate(
        "() => harness.received.filter(m => m.type === 'pong').map(m => m.ts)"
    )
    assert pings and pongs and set(pongs) <= set(pings), (pings, pongs)  # > 2.5 s slept above

    await stop_and_check_released(page)
    assert (await page.evaluate("() => harness.sent.at(-1)"))["type"] == "end"
    detail = await session_detail(server, first["value"], "ended")
    greeting = detail["transcript"][0]
    assert greeting["turn_id"] == "turn_1" and greeting["interrupted"] is True, greeting
    assert len(greeting["text"]) < len("Hi, I'm the Parley demo agent. What can I do for you?")


async def test_stop_while_connecting(server: ServerProcess, page: Page, page_url: PageUrl) -> None:
    """stop() before the agent is ready: start() rejects with AbortError, all is released."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    await open_sdk(page, page_url("sdk.html"), key_options(server))
    await page.click("#start")
    await page.evaluate("() => harness.voice.stop()")
    result = await wait_js(page, "() => harness.starts[0].settled && harness.starts[0]")
    assert not result["ok"] and result["name"] == "AbortError", result
    assert await page.evaluate("() => harness.voice.status") == "disconnected"
    await wait_js(page, "() => harness.micTracks().every(t => t.state === 'ended')")
    await wait_js(page, "() => harness.contextStates().every(s => s === 'closed')")
    seen = await page.evaluate("() => harness.events.length")
    await asyncio.sleep(1.5)
    assert await page.evaluate("n => harness.events.slice(n)", seen) == []
    assert [s[0] for s in await events(page, "status")] == ["connecting", "disconnected"]
    assert await events(page, "error") == []
    assert problems == []


async def test_microphone_denied(
    server: ServerProcess, denied_page: Page, page_url: PageUrl
) -> None:
    """A denied microphone rejects start() with NotAllowedError and opens no socket."""
    await open_sdk(denied_page, page_url("sdk.html"), key_options(server))
    result = await start(denied_page)
    assert not result["ok"]
    assert result["name"] == "NotAllowedError" and result["code"] == "audio_error", result
    assert await denied_page.evaluate("() => harness.voice.status") == "disconnected"
    assert [s[0] for s in await events(denied_page, "status")] == ["connecting", "disconnected"]
    errors = await events(denied_page, "error")
    assert [e[0]["name"] for e in errors] == ["NotAllowedError"]
    assert await denied_page.evaluate("() => harness.socketStates()") == []
    assert await events(denied_page, "disconnected") == []


async def test_bad_api_key(server: ServerProcess, page: Page, page_url: PageUrl) -> None:
    """The server refuses the key: an authentication_error, then disconnected(4001)."""
    await open_sdk(
        page, page_url("sdk.html"), {"apiKey": "sk_live_not-a-key", "agentId": "agt_demo"}
    )
    result = await start(page)
    assert not result["ok"]
    assert result["code"] == "authentication_error" and result["closeCode"] == 4001, result
    errors = await events(page, "error")
    assert [e[0]["code"] for e in errors] == ["authentication_error"]
    closed = await events(page, "disconnected")
    assert len(closed) == 1 and closed[0][0] == 4001, closed
    assert await page.evaluate("() => harness.voice.status") == "disconnected"
    tracks = await page.evaluate("() => harness.micTracks()")
    assert tracks and all(t["state"] == "ended" for t in tracks), "the microphone is released"


async def test_session_url_text_and_mute(
    server: ServerProcess, page: Page, page_url: PageUrl
) -> None:
    """sessionUrl mode (no key in the page): a typed question gets a spoken answer; muted,
    no microphone audio is sent; the spent single-use URL is refused on a second start()."""
    async with AsyncParleyClient(server.url, server.admin_key) as client:
        session = await client.create_session("agt_demo")
    await open_sdk(page, page_url("sdk.html"), {"sessionUrl": session["websocket_url"]})
    assert server.admin_key not in await page.content()
    result = await start(page)
    assert result["ok"] and result["value"] == session["session_id"], result

    await page.evaluate("() => harness.voice.mute()")
    assert await page.evaluate("() => harness.voice.muted") is True
    sent = (await page.evaluate("() => harness.voice.stats"))["chunksSent"]
    await page.evaluate("() => harness.voice.sendText('What is the capital of France?')")
    answer = await wait_js(
        page,
        "() => harness.transcripts('agent').find(t => t.final && t.turnId !== 'turn_1')",
        timeout=TURN_TIMEOUT_MS,
    )
    assert "paris" in answer["text"].lower(), answer
    typed = [t for t in await page.evaluate("() => harness.transcripts('user')") if t["final"]]
    assert [t["text"] for t in typed] == ["What is the capital of France?"], typed
    assert (await page.evaluate("() => harness.voice.stats"))["chunksSent"] == sent
    acks = await page.evaluate("() => harness.messages('control_ack').map(m => m.action)")
    assert "stop_listening" in acks

    await stop_and_check_released(page)
    again = await start(page)
    assert not again["ok"] and again["code"] == "authentication_error", again


async def test_es_module_import(server: ServerProcess, page: Page, page_url: PageUrl) -> None:
    """`import '/v1/voice/sdk.js'` then globalThis.ParleyVoice: a real connection."""
    await page.goto(page_url("esm.html"))
    loaded = await wait_js(page, "() => window.loaded")
    assert loaded["type"] == "function" and loaded["version"], loaded
    assert loaded["exportNames"] == [] and loaded["sameClassAfterDynamicImport"], loaded
    await page.evaluate("options => harness.create(options)", key_options(server))
    result = await start(page)
    assert result["ok"] and result["value"].startswith("ses_"), result
    await stop_and_check_released(page)


async def test_es_module_with_exports(server: ServerProcess, page: Page, page_url: PageUrl) -> None:
    """`import ParleyVoice, { ParleyVoiceError } from '/v1/voice/sdk.mjs'`: a real connection."""
    await page.goto(page_url("mjs.html"))
    loaded = await wait_js(page, "() => window.loaded")
    assert loaded == {
        "type": "function",
        "version": loaded["version"],
        "exportNames": ["ParleyVoice", "ParleyVoiceError", "default"],
        "namedIsSame": True,
        "errorIsTheSdks": True,
    }, loaded
    assert loaded["version"]
    await page.evaluate("options => harness.create(options)", key_options(server))
    result = await start(page)
    assert result["ok"] and result["value"].startswith("ses_"), result
    await stop_and_check_released(page)

    # A page on another origin (the dashboard at localhost instead of 127.0.0.1) imports
    # the module straight from the Parley server: that needs CORS.
    assert "//127.0.0.1:" in server.url
    await page.goto(server.url.replace("//127.0.0.1:", "//localhost:") + "/")
    imported = await page.evaluate(
        "url => import(url).then(m => typeof m.default, e => String(e))",
        f"{server.url}/v1/voice/sdk.mjs",
    )
    assert imported == "function"


async def test_commonjs_in_browser(server: ServerProcess, page: Page, page_url: PageUrl) -> None:
    """Run as CommonJS (module.exports), as a bundler's runtime does: a real connection."""
    await page.goto(page_url("cjs.html"))
    loaded = await page.evaluate("() => window.loaded")
    assert loaded == {
        "type": "function",
        "version": loaded["version"],
        "defaultIsSame": True,
        "namedIsSame": True,
        "globalLeaked": False,
    }, loaded
    await page.evaluate("options => harness.create(options)", key_options(server))
    result = await start(page)
    assert result["ok"] and result["value"].startswith("ses_"), result
    await stop_and_check_released(page)


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_commonjs_require_in_node() -> None:
    """require() in Node loads the class (nothing browser-only runs at load time)."""
    script = (
        "const P = require(process.argv[1]);"
        "const v = new P({apiKey: 'k', agentId: 'a', wsUrl: 'https://example.test'});"
        "console.log(JSON.stringify({t: typeof P, d: P.default === P, s: v.status,"
        " u: v._opts.wsUrl, g: typeof globalThis.ParleyVoice}));"
    )
    out = subprocess.run(
        ["node", "-e", script, str(SDK_FILE)], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == (
        '{"t":"function","d":true,"s":"disconnected",'
        '"u":"wss://example.test/v1/voice/conversation","g":"undefined"}'
    )


@pytest.fixture
async def tone_page(
    request: pytest.FixtureRequest,
    playwright_driver: Playwright,
    server: ServerProcess,
    artifacts: Path,
    tmp_path: Path,
) -> AsyncIterator[Page]:
    """A page whose microphone plays a 1 kHz tone, then a 12 kHz tone (48 kHz WAV)."""
    rate = 48000
    t = np.arange(rate) / rate
    silence = np.zeros(rate // 4)
    signal = np.concatenate(
        [silence, 0.3 * np.sin(2 * np.pi * 1000 * t), 0.3 * np.sin(2 * np.pi * 12000 * t), silence]
    )
    wav = tmp_path / "tones.wav"
    write_wav(wav, (signal * 32767).astype("<i2").tobytes(), rate)
    browser = await playwright_driver.chromium.launch(
        executable_path="/usr/bin/chromium", headless=True, args=chromium_args(wav)
    )
    try:
        async for p in open_page(request, browser, server, artifacts, allow_microphone=True):
            yield p
    finally:
        await browser.close()


def band_power(pcm: np.ndarray, freq: float, rate: int = 16000, width: float = 30.0) -> float:
    spectrum = np.abs(np.fft.rfft(pcm * np.hanning(len(pcm)))) ** 2
    freqs = np.fft.rfftfreq(len(pcm), 1 / rate)
    return float(spectrum[(freqs > freq - width) & (freqs < freq + width)].sum())


async def test_microphone_is_low_passed_before_downsampling(
    server: ServerProcess, tone_page: Page, page_url: PageUrl
) -> None:
    """The audio sent is 16 kHz PCM16: a 1 kHz tone passes, and a 12 kHz tone does not
    fold back to 4 kHz (it would, at full level, with plain decimation)."""
    await open_sdk(
        tone_page,
        page_url("sdk.html"),
        key_options(
            server,
            audioConstraints={
                "echoCancellation": False,
                "noiseSuppression": False,
                "autoGainControl": False,
            },
        ),
    )
    await tone_page.evaluate("() => { harness.keepSentAudio = true; }")
    result = await start(tone_page)
    assert result["ok"], result
    await wait_js(tone_page, "() => harness.voice.stats.audioMsSent > 3000", timeout=20_000)
    await tone_page.click("#stop")
    chunks = await tone_page.evaluate(
        "() => harness.sent.filter(m => m.type === 'audio').map(m => m.audio)"
    )
    assert {len(base64.b64decode(c)) for c in chunks} == {1024}  # 32 ms of PCM16 at 16 kHz
    pcm = np.frombuffer(b"".join(base64.b64decode(c) for c in chunks), dtype="<i2")
    pcm = pcm.astype(np.float64)
    assert np.abs(pcm).max() > 0.2 * 32767, "the 1 kHz tone came through at its level"
    passed, aliased = band_power(pcm, 1000), band_power(pcm, 4000)
    assert aliased < passed / 10_000, (
        f"12 kHz leaks to 4 kHz at {10 * np.log10(aliased / passed):.1f} dB"
    )
