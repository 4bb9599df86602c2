"""One agent turn's voice: LLM tokens → clauses → TTS → audio paced to real time.

Audio is sent ``lead_ms`` ahead of real-time playback, never further: the client holds
little queued audio, an interruption takes effect quickly, and the server can tell
what the user has actually heard (the client's ``playback`` reports when it sends them,
otherwise the time elapsed since the first chunk, minus a playout delay).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from parley.audio.pcm import SAMPLE_RATE, duration_ms
from parley.audio.resample import StreamResampler
from parley.core.clauses import ClauseAggregator, speakable
from parley.core.clock import Clock
from parley.core.events import AudioOut, ServerEvent, TranscriptOut
from parley.core.hooks import ClauseOutcome, Interim
from parley.core.metrics import TurnTimeline
from parley.languages.packs import ENGLISH, LanguagePack
from parley.providers.tts.base import TextToSpeech, Voice

OUT_CHUNK_BYTES = 8000
"""Agent audio goes out in pieces of at most 250 ms."""

ClauseReview = Callable[[str, Interim | None], Awaitable[ClauseOutcome]]
"""Decides what is spoken of each clause before it goes to TTS (the clause hooks)."""


@dataclass(frozen=True, slots=True)
class ClauseMark:
    """Where one spoken clause sits in the turn's audio."""

    text: str
    start_ms: float
    end_ms: float


def heard_text(marks: list[ClauseMark], played_ms: float) -> str:
    """The words of ``marks`` whose audio lies within the first ``played_ms``.

    Inside a partly played clause, words are placed in time in proportion to their
    length in characters.
    """
    words: list[str] = []
    for mark in marks:
        if played_ms >= mark.end_ms:
            words.extend(mark.text.split())
            continue
        if played_ms > mark.start_ms and mark.end_ms > mark.start_ms:
            fraction = (played_ms - mark.start_ms) / (mark.end_ms - mark.start_ms)
            clause_words = mark.text.split()
            total = max(1, len(mark.text))
            end = 0
            for word in clause_words:
                end = mark.text.index(word, end) + len(word)
                if end / total > fraction:
                    break
                words.append(word)
        break
    return " ".join(words)


class AgentSpeaker:
    """Speaks one agent turn and keeps track of what was sent and heard."""

    def __init__(
        self,
        *,
        turn_id: str,
        tts: TextToSpeech,
        voice: Voice,
        emit: Callable[[ServerEvent], Awaitable[None]],
        clock: Clock,
        timeline: TurnTimeline,
        output_open: asyncio.Event,
        lead_ms: float,
        playout_delay_ms: float = 100.0,
        release: asyncio.Event | None = None,
        review: ClauseReview | None = None,
        pack: LanguagePack = ENGLISH,
    ) -> None:
        self.turn_id = turn_id
        self._pack = pack
        self._tts, self._voice, self._emit, self._clock = tts, voice, emit, clock
        self.timeline = timeline
        self._output_open = output_open
        self._release = release
        """Audio is prepared but held until this is set (a speculative reply)."""
        self._lead_ms = lead_ms
        self._playout_delay_ms = playout_delay_ms
        self._review = review
        self.generated: list[str] = []
        """The reply's text as it came (the LLM's tokens)."""
        self.planned: list[str] = []
        """The clauses to speak, after review."""
        self.altered = False
        """A review replaced or dropped some clause: ``generated`` is not what is said."""
        self.cut_short = False
        """A review ended the reply early: nothing after ``planned`` is said."""
        self.marks: list[ClauseMark] = []
        self.sent_ms = 0.0
        self.seq = 0
        self._first_sent_at: float | None = None
        self._reported_ms: float | None = None
        self._paused_since: float | None = None
        self._paused_s = 0.0

    # ------------------------------------------------------------ what was heard

    @property
    def audio_sent(self) -> bool:
        """True once any audio of this turn went out."""
        return self._first_sent_at is not None

    def report_playback(self, played_ms: float) -> None:
        """The client says how much of this turn it has played (whole milliseconds: a
        report within 1 ms of all audio sent means all of it)."""
        played = float(played_ms)
        self._reported_ms = self.sent_ms if played >= self.sent_ms - 1.0 else played

    def played_ms(self) -> float:
        """Best estimate of how much of this turn the user has heard."""
        if self._reported_ms is not None:
            return self._reported_ms
        if self._first_sent_at is None:
            return 0.0
        paused = self._paused_s + (
            self._clock.now() - self._paused_since if self._paused_since is not None else 0.0
        )
        elapsed = (self._clock.now() - self._first_sent_at - paused) * 1000.0
        return max(0.0, min(self.sent_ms, elapsed - self._playout_delay_ms))

    def heard(self) -> str:
        """Text of the audio the user has heard so far."""
        return heard_text(self.marks, self.played_ms())

    def spoken(self) -> str:
        """Text of every clause whose audio has started to go out."""
        return " ".join(m.text for m in self.marks)

    def unheard(self) -> str:
        """Text of the reply the user has not heard yet (to resume after a false
        interruption)."""
        source = " ".join(self.planned) if self.cut_short else "".join(self.generated)
        words = speakable(source).split()
        return " ".join(words[len(self.heard().split()) :])

    def said(self) -> str:
        """The reply as the conversation should remember it: the model's own words (so
        its prompt cache stays valid), unless a review changed what was spoken."""
        if self.altered:
            return " ".join(self.planned)
        return "".join(self.generated)

    def pause(self) -> None:
        """Output was frozen (control ``pause``)."""
        if self._paused_since is None:
            self._paused_since = self._clock.now()

    def resume(self) -> None:
        """Output was unfrozen."""
        if self._paused_since is not None:
            self._paused_s += self._clock.now() - self._paused_since
            self._paused_since = None

    # ------------------------------------------------------------ speaking

    async def speak(self, tokens: AsyncIterator[str]) -> None:
        """Stream the reply: returns once all of its audio has been sent."""
        clauses: asyncio.Queue[str | None] = asyncio.Queue()
        # one synthesized clause waits beside the one being sent: synthesis keeps pace
        # with playback instead of taking the TTS worker for a whole reply at once (other
        # conversations' first clauses would wait behind it), and a reply cut short was
        # not synthesized for nothing
        audio: asyncio.Queue[tuple[bytes, str] | None] = asyncio.Queue(maxsize=1)
        tts_idle = asyncio.Event()
        tts_idle.set()
        self.timeline.llm_start = self._clock.now()
        tasks = [
            asyncio.create_task(self._aggregate(tokens, clauses, tts_idle)),
            asyncio.create_task(self._synthesize(clauses, audio, tts_idle)),
        ]
        try:
            await self._send(audio)
            for task in tasks:
                await task  # re-raise LLM/TTS errors
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def wait_played(self) -> None:
        """Sleep until the client has (by estimate) played everything sent."""
        while (remaining := self.sent_ms - self.played_ms()) > 0:
            await self._clock.sleep(min(remaining, 100.0) / 1000.0)

    async def _aggregate(
        self, tokens: AsyncIterator[str], out: asyncio.Queue[str | None], tts_idle: asyncio.Event
    ) -> None:
        """LLM tokens → clauses. Pauses while TTS synthesizes: speech already queued for
        the user comes first, and generation catches up while that audio plays."""
        aggregator = ClauseAggregator(pack=self._pack)
        try:
            async for token in tokens:
                self.generated.append(token)
                if self.timeline.llm_first_token is None:
                    self.timeline.llm_first_token = self._clock.now()
                await tts_idle.wait()
                for clause in aggregator.push(token):
                    await self._queue_clause(out, clause)
                if self.cut_short:
                    break
            else:
                for clause in aggregator.flush():
                    await self._queue_clause(out, clause)
        finally:
            await out.put(None)
            close = getattr(tokens, "aclose", None)
            if self.cut_short and close is not None:
                await close()  # stop the model: nothing more of it is said

    async def _queue_clause(self, out: asyncio.Queue[str | None], clause: str) -> None:
        if self.cut_short:
            return
        text: str | None = clause
        if self._review is not None:
            interim = None if self.planned else self._interim(out)
            outcome = await self._review(clause, interim)
            self.altered = self.altered or outcome.text != clause
            self.cut_short = outcome.final
            text = outcome.text and speakable(outcome.text)
        if not text:
            return
        if self.timeline.first_clause is None:
            self.timeline.first_clause = self._clock.now()
        self.planned.append(text)
        await out.put(text)

    def _interim(self, out: asyncio.Queue[str | None]) -> Interim:
        """Says a filler line before the first clause, while that is still reviewed."""

        async def say(line: str) -> None:
            if self.timeline.first_clause is None:
                self.timeline.first_clause = self._clock.now()
            self.altered = True
            self.planned.append(line)
            await out.put(line)

        return say

    async def _synthesize(
        self,
        clauses: asyncio.Queue[str | None],
        out: asyncio.Queue[tuple[bytes, str] | None],
        tts_idle: asyncio.Event,
    ) -> None:
        """Clauses → the clause's whole audio at 16 kHz (Piper yields a clause at once;
        knowing its length up front lets us map playback time to words)."""
        finished = False
        try:
            while (clause := await clauses.get()) is not None:
                resampler = StreamResampler(self._voice.sample_rate, SAMPLE_RATE)
                pcm = bytearray()
                tts_idle.clear()
                try:
                    async for piece in self._tts.synthesize(clause, voice_id=self._voice.id):
                        if self.timeline.first_tts_audio is None:
                            self.timeline.first_tts_audio = self._clock.now()
                        pcm += resampler.push(piece)
                finally:
                    tts_idle.set()
                pcm += resampler.push(b"", last=True)
                await out.put((bytes(pcm), clause))
            finished = True
            await out.put(None)
        finally:
            if not finished:  # cancelled or failed: end the sender now, never wait here
                while out.full():
                    out.get_nowait()
                out.put_nowait(None)

    async def _send(self, audio: asyncio.Queue[tuple[bytes, str] | None]) -> None:
        if self._release is not None:
            await self._release.wait()
        while (item := await audio.get()) is not None:
            pcm, clause = item
            start = self.sent_ms
            await self._output_open.wait()
            self.marks.append(ClauseMark(clause, start, start + duration_ms(pcm, SAMPLE_RATE)))
            # live captions: the clause's text goes out as its audio starts
            await self._emit(TranscriptOut("agent", self.spoken(), False, self.turn_id))
            for i in range(0, len(pcm), OUT_CHUNK_BYTES):
                await self._send_chunk(pcm[i : i + OUT_CHUNK_BYTES])

    async def _send_chunk(self, chunk: bytes) -> None:
        await self._output_open.wait()
        if self._first_sent_at is not None:
            while (ahead := self.sent_ms - self.played_ms() - self._lead_ms) > 0:
                await self._clock.sleep(ahead / 1000.0)
                await self._output_open.wait()
        await self._emit(AudioOut(chunk, self.turn_id, self.seq))
        if self._first_sent_at is None:
            self._first_sent_at = self._clock.now()
            self.timeline.first_audio_sent = self._first_sent_at
        self.seq += 1
        self.sent_ms += duration_ms(chunk, SAMPLE_RATE)


class TokenFeed:
    """A reply's token stream that may start before its source is known: a filler line
    can be said while a hook holds the turn, then the reply's own tokens follow."""

    def __init__(self) -> None:
        self._items: asyncio.Queue[str | AsyncIterator[str] | None] = asyncio.Queue()

    def say(self, line: str) -> None:
        """Speak ``line`` first (a whole clause)."""
        self._items.put_nowait(line.strip() + " ")

    def then(self, source: AsyncIterator[str] | None) -> None:
        """The reply's tokens (None: the reply ends after what was said)."""
        self._items.put_nowait(source)

    async def stream(self) -> AsyncIterator[str]:
        """The tokens, as they come."""
        while (item := await self._items.get()) is not None:
            if isinstance(item, str):
                yield item
                continue
            try:
                async for token in item:
                    yield token
            finally:
                close = getattr(item, "aclose", None)
                if close is not None:
                    await close()
            return
