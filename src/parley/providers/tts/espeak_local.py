"""Local eSpeak NG (the Debian package ``espeak-ng``): basic, robotic but intelligible
voices in many languages, for the languages Piper has no voice for.

Each clause runs the ``espeak-ng`` binary as its own subprocess (the text goes in on stdin,
never through a shell) and its WAV output is streamed as it comes. Every process is bounded:
at most ``MAX_TEXT_CHARS`` of text, a timeout on its output, and it is killed when the
synthesis is cancelled or abandoned.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import unicodedata
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing, suppress

from parley.audio.resample import StreamResampler
from parley.audio.wav import PCM, WavFormat, parse_wav
from parley.errors import AudioError, ProviderError, ProviderUnavailableError
from parley.languages import language_name
from parley.providers.tts.base import TextToSpeech, Voice

log = logging.getLogger(__name__)

SAMPLE_RATE = 22_050
"""What espeak-ng's own voices output (each stream's WAV header is checked anyway)."""
WORDS_PER_MINUTE = 160
"""A little slower than espeak-ng's 175: formant speech is easier to follow slowly."""
MAX_TEXT_CHARS = 1000
"""Text per process; longer text is spoken by several processes in turn, split between
words."""
TIMEOUT_S = 10.0
"""A process that writes nothing for this long is killed (it never should: espeak-ng
speaks a clause in milliseconds)."""
READ_BYTES = 8192
"""Bytes read from the process at a time (about 0.19 s of audio)."""
MAX_HEADER_BYTES = 4096
INSTALL_HINT = "apt-get install espeak-ng"

VOICES: dict[str, str] = {
    "es": "es", "fr": "fr-fr", "de": "de", "it": "it", "pt": "pt", "nl": "nl", "pl": "pl",
    "ru": "ru", "am": "am", "om": "om", "sw": "sw", "ar": "ar", "hi": "hi", "tr": "tr",
    "uk": "uk", "sv": "sv", "da": "da", "no": "nb", "fi": "fi", "cs": "cs", "sk": "sk",
    "hu": "hu", "ro": "ro", "bg": "bg", "el": "el", "he": "he", "fa": "fa", "ur": "ur",
    "bn": "bn", "ta": "ta", "te": "te", "kn": "kn", "ml": "ml", "mr": "mr", "gu": "gu",
    "pa": "pa", "ne": "ne", "si": "si", "as": "as", "sd": "sd", "id": "id", "ms": "ms",
    "vi": "vi", "th": "th", "my": "my", "ko": "ko", "yue": "yue", "ka": "ka", "hy": "hy",
    "az": "az", "kk": "kk", "uz": "uz", "tk": "tk", "tt": "tt", "ba": "ba", "be": "be",
    "hr": "hr", "sr": "sr", "bs": "bs", "sl": "sl", "mk": "mk", "sq": "sq", "lt": "lt",
    "lv": "lv", "et": "et", "is": "is", "ca": "ca", "eu": "eu", "cy": "cy", "mt": "mt",
    "lb": "lb", "af": "af", "ht": "ht", "mi": "mi", "haw": "haw", "la": "la",
    "en": "en-us",
}  # fmt: skip
"""Language code → espeak-ng voice. Left out on purpose: Japanese and Mandarin (the
Debian build reads kanji as "Chinese letter" and hanzi with English tone digits).
English is last and only for agents on this provider that switch to English: Piper's
natural English voice stays the default."""
PORTUGUESE_BRAZIL = ("pt-br", "espeak-pt-br", "Portuguese, Brazil (eSpeak, basic)")
SPANISH_LATIN_AMERICA = ("es-419", "espeak-es-419", "Spanish, Latin America (eSpeak, basic)")
_REGIONAL = {"pt": PORTUGUESE_BRAZIL, "es": SPANISH_LATIN_AMERICA}
"""Regional voices listed right after the main voice of their language."""


def text_pieces(text: str, limit: int = MAX_TEXT_CHARS) -> list[str]:
    """``text`` as pieces of at most ``limit`` characters, split between words (a word
    longer than ``limit`` is cut), control characters as spaces; [] if nothing is left."""
    clean = "".join(" " if unicodedata.category(c) in ("Cc", "Cs") else c for c in text)
    pieces: list[str] = []
    current = ""
    for word in clean.split():
        while len(word) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(word[:limit])
            word = word[limit:]
        if current and len(current) + 1 + len(word) > limit:
            pieces.append(current)
            current = ""
        current = f"{current} {word}" if current else word
    if current:
        pieces.append(current)
    return pieces


def installed_voices(binary: str) -> set[str]:
    """The voice names ``espeak-ng --voices`` lists (its language column)."""
    listing = subprocess.run(
        [binary, "--voices"], capture_output=True, text=True, timeout=TIMEOUT_S, check=True
    )
    rows = (line.split() for line in listing.stdout.splitlines()[1:])
    return {row[1] for row in rows if len(row) > 1}


class EspeakTTS(TextToSpeech):
    """eSpeak NG voices, one per language (``espeak-es``, ...), quality ``basic``.

    Without the binary the provider still loads: it has no voices and
    :attr:`unavailable` says why (logged once)."""

    name = "espeak-ng"

    def __init__(
        self,
        binary: str = "espeak-ng",
        *,
        words_per_minute: int = WORDS_PER_MINUTE,
        timeout_s: float = TIMEOUT_S,
        max_text_chars: int = MAX_TEXT_CHARS,
    ) -> None:
        self._rate = words_per_minute
        self._timeout = timeout_s
        self._max_chars = max_text_chars
        self._voices: dict[str, Voice] = {}
        self.unavailable: str | None = None
        """Why there are no voices (None when there are)."""
        path = shutil.which(binary)
        if path is None:
            self.unavailable = f"{binary} is not installed (Debian/Ubuntu: {INSTALL_HINT})"
        else:
            try:
                have = installed_voices(path)
            except (OSError, subprocess.SubprocessError) as exc:
                self.unavailable = f"{binary} --voices failed: {exc}"
            else:
                for voice in self._curated(have):
                    self._voices[voice.id] = voice
        self._binary = path or binary
        if self.unavailable:
            log.warning("espeak-ng voices unavailable", extra={"reason": self.unavailable})

    @staticmethod
    def _curated(have: set[str]) -> list[Voice]:
        voices = []
        for code, espeak_voice in VOICES.items():
            if espeak_voice not in have:
                continue
            name = f"{language_name(code)} (eSpeak, basic)"
            voices.append(
                Voice(f"espeak-{code}", name, espeak_voice, SAMPLE_RATE, (code,), "basic")
            )
            regional = _REGIONAL.get(code)
            if regional is not None and regional[0] in have:
                voices.append(
                    Voice(regional[1], regional[2], regional[0], SAMPLE_RATE, (code,), "basic")
                )
        return voices

    def voices(self) -> list[Voice]:
        return list(self._voices.values())

    async def synthesize(self, text: str, *, voice_id: str) -> AsyncIterator[bytes]:
        if self.unavailable:
            raise ProviderUnavailableError(self.unavailable)
        voice = self.voice(voice_id)
        for piece in text_pieces(text, self._max_chars):
            async with aclosing(self._speak(piece, voice)) as audio:  # closed with this one
                async for pcm in audio:
                    yield pcm

    async def _speak(self, text: str, voice: Voice) -> AsyncGenerator[bytes, None]:
        """One bounded espeak-ng process: ``text`` in, PCM16 at the voice's rate out."""
        process = await asyncio.create_subprocess_exec(
            self._binary, "-v", voice.language, "-s", str(self._rate), "-b", "1",
            "--stdin", "--stdout",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        # the process dies with the task that asked for it, even when that task is
        # cancelled while this generator waits, unclosed, at a ``yield``
        owner = asyncio.current_task()
        stop = _killer(process)
        if owner is not None:
            owner.add_done_callback(stop)
        try:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(text.encode("utf-8", "ignore"))
            await process.stdin.drain()
            process.stdin.close()
            stream = _WavStream(voice.sample_rate)
            while data := await self._read(process.stdout):
                if pcm := stream.push(data):
                    yield pcm
            code = await asyncio.wait_for(process.wait(), self._timeout)
            if code != 0:
                raise ProviderError(f"espeak-ng failed (exit status {code})")
            if pcm := stream.finish():
                yield pcm
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise ProviderError(f"espeak-ng stopped early: {exc}") from exc
        finally:
            if owner is not None:
                owner.remove_done_callback(stop)
            stop(None)
            if process.stdin is not None:
                process.stdin.close()
            # what a killed process left in the pipe; until its end is read, Python 3.11's
            # wait() never returns (and the pipe stays open)
            if process.stdout is not None:
                await process.stdout.read()
            await process.wait()

    async def _read(self, stdout: asyncio.StreamReader) -> bytes:
        try:
            return await asyncio.wait_for(stdout.read(READ_BYTES), self._timeout)
        except TimeoutError:
            raise ProviderError(f"espeak-ng wrote nothing for {self._timeout:g} s") from None


def _killer(process: asyncio.subprocess.Process) -> Callable[[object], None]:
    """A callback that kills ``process`` if it still runs."""

    def kill(_: object) -> None:
        if process.returncode is None:
            with suppress(ProcessLookupError):
                process.kill()

    return kill


class _WavStream:
    """espeak-ng's streamed WAV (its sizes are placeholders) as PCM16 mono at ``rate``."""

    def __init__(self, rate: int) -> None:
        self._rate = rate
        self._pending = b""
        self._resampler: StreamResampler | None = None
        self._started = False

    def push(self, data: bytes) -> bytes:
        buffer = self._pending + data
        if not self._started:
            fmt, buffer = self._header(buffer)
            if fmt is None:
                self._pending = buffer
                return b""
            self._started = True
            if fmt.rate != self._rate:
                self._resampler = StreamResampler(fmt.rate, self._rate)
        usable = len(buffer) - len(buffer) % 2
        self._pending = buffer[usable:]
        pcm = buffer[:usable]
        return self._resampler.push(pcm) if self._resampler and pcm else pcm

    def finish(self) -> bytes:
        if not self._started:
            raise AudioError(f"espeak-ng wrote no WAV header ({len(self._pending)} bytes)")
        return self._resampler.push(b"", last=True) if self._resampler else b""

    @staticmethod
    def _header(buffer: bytes) -> tuple[WavFormat | None, bytes]:
        """The format and the samples after the header, once the header is complete."""
        if len(buffer) >= 4 and buffer[:4] != b"RIFF":
            raise AudioError("espeak-ng did not write a WAV")
        pos = 12
        while pos + 8 <= len(buffer):
            chunk, size = buffer[pos : pos + 4], int.from_bytes(buffer[pos + 4 : pos + 8], "little")
            pos += 8
            if chunk == b"data":
                fmt, _ = parse_wav(buffer)
                if (fmt.tag, fmt.channels, fmt.bits) != (PCM, 1, 16):
                    raise AudioError(f"espeak-ng wrote an unexpected WAV format: {fmt}")
                return fmt, buffer[pos:]
            pos += size + (size & 1)
        if len(buffer) > MAX_HEADER_BYTES:
            raise AudioError("espeak-ng wrote a WAV without a data chunk")
        return None, buffer
