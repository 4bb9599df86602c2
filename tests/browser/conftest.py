"""Real-browser fixtures: a real ``parley serve``, headless Chromium (Playwright, async API)
and a real speech recording as the browser's microphone.

Tests here are ``async`` (the project runs one session-wide event loop), e.g.::

    async def test_x(server: ServerProcess, page: Page, page_url: PageUrl) -> None:
        await page.goto(page_url("sdk.html"))        # tests/browser/pages/sdk.html
        await page.goto(server.url + "/")            # the dashboard

- ``page`` is a fresh context and page; the microphone is allowed and plays ``speech_wav``
  once per capture (each ``getUserMedia`` starts the file again, then silence follows).
- ``denied_page`` is the same in a second browser (``denied_browser``) whose permission
  prompt blocks the microphone: ``getUserMedia`` rejects with ``NotAllowedError``.
- Files in ``tests/browser/pages/`` are served on the server's origin under ``/__test__/``
  (a Playwright route, so the pages share the origin of the API and the SDK).
- The page's console and uncaught errors are printed with every failing test, and a
  screenshot of the page is saved to ``test-artifacts/browser/<test>-failed.png``.

All of it is skipped, with the reason, when /usr/bin/chromium is absent.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from pathlib import Path

import numpy as np
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Route,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError

from parley.audio.wav import read_wav, write_wav
from parley.testing.recordings import Recording, recording
from parley.testing.server import ServerProcess, start_server

CHROMIUM = Path("/usr/bin/chromium")
REPO_ROOT = Path(__file__).resolve().parents[2]
PAGES_DIR = Path(__file__).resolve().parent / "pages"
PAGES_PREFIX = "/__test__/"
#: The utterance the fake microphone says (a LibriVox reading with its reference text).
MIC_RECORDING = "librivox-0870"
#: Silence before the speech, so the agent's greeting ("Hi, I'm the Parley demo agent. What
#: can I do for you?", about 4 s) mostly plays out first. On a busy machine the greeting
#: starts later and the user may barge in on its end; tests must allow for both.
LEAD_SILENCE_S = 5.0
#: Silence after the speech, so the user's turn ends even where Chromium loops the file.
TRAIL_SILENCE_S = 3.0
FAKE_MIC_RATE = 48000

PageUrl = Callable[[str], str]
_LOG_KEY = pytest.StashKey[list[str]]()
_FAILED_KEY = pytest.StashKey[bool]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives the real Chromium at /usr/bin/chromium")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is absent: the browser tests need Chromium")
    for item in items:
        if here in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.integration)
            if not CHROMIUM.exists():
                item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Show the page's console with a failing test; remember the failure for a screenshot."""
    report = yield
    log = item.stash.get(_LOG_KEY, None)
    if log and report.when == "call":
        report.sections.append(("browser console", "\n".join(log)))
    if report.failed and report.when == "call":
        item.stash[_FAILED_KEY] = True
    return report


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A real ``parley serve`` with the real models, for the whole test session."""
    srv = start_server(tmp_path_factory.mktemp("browser-server") / "data")
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def mic_recording() -> Recording:
    """The recording the fake microphone plays (``.text`` is what is said)."""
    return recording(MIC_RECORDING)


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory: pytest.TempPathFactory, mic_recording: Recording) -> Path:
    """The recording as a 48 kHz PCM16 mono WAV for ``--use-file-for-fake-audio-capture``:
    ``LEAD_SILENCE_S`` of silence, the speech, then ``TRAIL_SILENCE_S`` of silence."""
    speech = read_wav(mic_recording.path, target_rate=FAKE_MIC_RATE)
    lead = np.zeros(int(LEAD_SILENCE_S * FAKE_MIC_RATE), dtype="<i2").tobytes()
    trail = np.zeros(int(TRAIL_SILENCE_S * FAKE_MIC_RATE), dtype="<i2").tobytes()
    path = tmp_path_factory.mktemp("fake-mic") / "speech.wav"
    write_wav(path, lead + speech + trail, FAKE_MIC_RATE)
    return path


def chromium_args(speech_wav: Path, *, deny_microphone: bool = False) -> list[str]:
    """Command-line switches for headless Chromium with ``speech_wav`` as the microphone
    (``%noloop``: each capture plays the file once, then silence). ``deny_microphone``:
    the (fake) permission prompt answers "block"."""
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--use-fake-ui-for-media-stream=deny"
        if deny_microphone
        else "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={speech_wav}%noloop",
        "--autoplay-policy=no-user-gesture-required",
    ]


@pytest.fixture(scope="session")
async def playwright_driver() -> AsyncIterator[Playwright]:
    """The Playwright driver (async API) for the session."""
    async with async_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
async def browser(playwright_driver: Playwright, speech_wav: Path) -> AsyncIterator[Browser]:
    """Headless /usr/bin/chromium whose microphone says ``speech_wav``."""
    chromium = await playwright_driver.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=chromium_args(speech_wav)
    )
    yield chromium
    await chromium.close()


@pytest.fixture(scope="session")
async def denied_browser(playwright_driver: Playwright, speech_wav: Path) -> AsyncIterator[Browser]:
    """Headless Chromium in which every microphone prompt is answered "block"."""
    chromium = await playwright_driver.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=chromium_args(speech_wav, deny_microphone=True),
    )
    yield chromium
    await chromium.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """``test-artifacts/browser/`` in the repository root, for screenshots."""
    path = REPO_ROOT / "test-artifacts" / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def page_url(server: ServerProcess) -> PageUrl:
    """``page_url("sdk.html")``: the URL of ``tests/browser/pages/sdk.html`` on the server's
    origin (served by the ``page``/``denied_page`` fixtures' route)."""
    return lambda name: f"{server.url}{PAGES_PREFIX}{name}"


async def _serve_test_pages(context: BrowserContext, server: ServerProcess) -> None:
    types = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}

    async def handle(route: Route) -> None:
        name = route.request.url.split(PAGES_PREFIX, 1)[1].split("?", 1)[0]
        file = (PAGES_DIR / name).resolve()
        if PAGES_DIR not in file.parents or not file.is_file():
            await route.fulfill(status=404, body=f"no test page {name}")
            return
        content_type = types.get(file.suffix, "application/octet-stream")
        await route.fulfill(status=200, body=file.read_bytes(), content_type=content_type)

    await context.route(re.compile(re.escape(server.url + PAGES_PREFIX) + ".*"), handle)


async def open_page(
    request: pytest.FixtureRequest,
    browser: Browser,
    server: ServerProcess,
    artifacts: Path,
    *,
    allow_microphone: bool,
) -> AsyncIterator[Page]:
    """A fresh context and page in ``browser`` with the test pages' route, the console log
    kept for failure reports and a screenshot on failure (for fixtures to ``async for``)."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    # Pages served by the route below have no network address, so Chromium's Local Network
    # Access checks would block their sockets to 127.0.0.1 unless the permission is given.
    granted = ["local-network-access"] + (["microphone"] if allow_microphone else [])
    await context.grant_permissions(granted, origin=server.url)
    await _serve_test_pages(context, server)
    page = await context.new_page()
    log: list[str] = []
    request.node.stash[_LOG_KEY] = log

    def on_console(msg: ConsoleMessage) -> None:
        log.append(f"[{msg.type}] {msg.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: log.append(f"[uncaught] {exc}"))
    yield page
    if request.node.stash.get(_FAILED_KEY, False):
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        try:
            await page.screenshot(path=str(artifacts / f"{name}-failed.png"), full_page=True)
        except PlaywrightError as exc:
            log.append(f"(no screenshot: {exc})")
    await context.close()


@pytest.fixture
async def page(
    request: pytest.FixtureRequest, browser: Browser, server: ServerProcess, artifacts: Path
) -> AsyncIterator[Page]:
    """A fresh context and page; the microphone is allowed (and says ``speech_wav``)."""
    async for p in open_page(request, browser, server, artifacts, allow_microphone=True):
        yield p


@pytest.fixture
async def denied_page(
    request: pytest.FixtureRequest,
    denied_browser: Browser,
    server: ServerProcess,
    artifacts: Path,
) -> AsyncIterator[Page]:
    """A fresh page whose user blocks the microphone (``getUserMedia`` -> NotAllowedError)."""
    async for p in open_page(request, denied_browser, server, artifacts, allow_microphone=False):
        yield p
