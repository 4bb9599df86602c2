"""Model-based end of turn: at each pause, does the speech so far sound finished?

With turn detection ``model``, every pause long enough to start the speculative
transcript also asks the end-of-turn model (Smart Turn) about the utterance's audio, in
the model's worker. Its verdict sets the silence that ends the turn: short
(``complete_silence_ms``) when the speech sounds finished, long
(``incomplete_silence_ms``) when the speaker is mid-thought. Until the verdict arrives
the turn keeps the plain silence rule, so a slow model can only make a turn end as it
would without one. The transcript rules still apply on top: words that say more is
coming (a trailing "and", a filler, digits being dictated) make the responder hold the
reply as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from parley.core.clock import Clock
from parley.core.events import ServerEvent, TurnPrediction
from parley.core.listener import Listener
from parley.core.turns import TurnConfig
from parley.providers.turn.base import TurnModel

log = logging.getLogger(__name__)


class PauseJudge:
    """Runs the end-of-turn model at each pause and applies its verdict to the listener."""

    def __init__(
        self,
        model: TurnModel | None,
        turns: TurnConfig,
        listener: Listener,
        clock: Clock,
        emit: Callable[[ServerEvent], Awaitable[None]],
    ) -> None:
        self._model, self._listener, self._clock, self._emit = model, listener, clock, emit
        self.turns = turns
        self._task: asyncio.Task[None] | None = None
        self.finished: bool | None = None
        """The verdict on the current pause; None before it arrives (or in silence mode)."""
        self.took_ms: float | None = None
        """How long the current pause's verdict took (queue and inference)."""

    @property
    def active(self) -> bool:
        """True when pauses are judged by the model."""
        return self._model is not None and self.turns.detection == "model"

    def pause(self, utterance: bytes) -> None:
        """The user paused after ``utterance``: ask the model (replaces any earlier ask)."""
        self.cancel()
        if not self.active or not utterance:
            return
        self._task = asyncio.create_task(self._judge(utterance), name="parley-turn-model")

    def cancel(self) -> None:
        """The pause is over (speech resumed, or the turn ended or was dropped)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.finished = None
        self.took_ms = None

    def silence_ms(self, transcript_ms: float) -> float:
        """The silence that ends the turn, given what the transcript rules ask for: the
        model's wait once it has judged the pause, the transcript's until then."""
        if self.finished is None:
            return transcript_ms
        return self.wait_ms(self.finished)

    def wait_ms(self, finished: bool) -> float:
        """The silence that ends a turn the model judged ``finished`` (or not)."""
        return self.turns.complete_silence_ms if finished else self.turns.incomplete_silence_ms

    async def _judge(self, utterance: bytes) -> None:
        assert self._model is not None
        started = self._clock.now()
        try:
            probability = await self._model.finished_probability(utterance)
        except asyncio.CancelledError:
            raise
        except Exception:  # a failed verdict leaves the silence rule in charge
            log.warning("end-of-turn model failed; this pause falls back to silence", exc_info=True)
            return
        finished = probability >= self.turns.model_threshold
        self.finished = finished
        self.took_ms = (self._clock.now() - started) * 1000.0
        wait = self.wait_ms(finished)
        self._listener.end_turn_after(wait)
        with contextlib.suppress(Exception):
            await self._emit(TurnPrediction(probability, finished, wait, self.took_ms))

    async def close(self) -> None:
        """Stop any verdict in progress."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
