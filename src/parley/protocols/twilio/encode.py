"""Engine events → the ``media``, ``mark`` and ``clear`` messages of a Twilio stream.

Agent audio goes out as 20 ms μ-law frames. Marks go at clause boundaries, at the end of
each agent turn and every ``mark_every_bytes`` of audio; Twilio echoes a mark once it
played the audio before it, and :meth:`TwilioEncoder.played` turns the echo into the
playback position the engine counts on.
"""

from __future__ import annotations

import base64
import json
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from parley.audio.g711 import G711_RATE
from parley.audio.pcm import SAMPLE_RATE, duration_ms
from parley.audio.wire import WireEncoder
from parley.core.events import (
    AgentTurnEnd,
    AgentTurnStart,
    AudioOut,
    Interruption,
    ServerEvent,
    TranscriptOut,
)

MEDIA_FRAME_MS = 20
FRAME_BYTES = G711_RATE * MEDIA_FRAME_MS // 1000
"""One outbound media message: 20 ms of μ-law, one byte per sample."""
MULAW_SILENCE = b"\xff"
_MAX_MARKS = 4096
"""Outbound marks remembered until echoed (older ones are forgotten)."""


@dataclass
class _OutTurn:
    """Outbound audio of one agent turn."""

    turn_id: str
    audio: WireEncoder = field(default_factory=lambda: WireEncoder("mulaw", G711_RATE))
    pending: bytearray = field(default_factory=bytearray)
    """μ-law not yet sent (less than a frame)."""
    input_ms: float = 0.0
    """Engine audio of this turn received so far (what the engine counts as sent)."""
    sent_bytes: int = 0
    """μ-law bytes of this turn sent to Twilio."""
    marked_bytes: int = 0
    clauses: int = 0
    reported_ms: int = -1
    cleared: bool = False
    ended: bool = False

    @property
    def sent_ms(self) -> int:
        return self.sent_bytes * 1000 // G711_RATE


class TwilioEncoder:
    """The outbound messages of one stream, and the marks placed in them."""

    def __init__(self, stream_sid: str, *, mark_every_bytes: int) -> None:
        self.stream_sid = stream_sid
        self.mark_every_bytes = mark_every_bytes
        self._turn: _OutTurn | None = None
        self._marks: OrderedDict[str, tuple[str, int]] = OrderedDict()
        self._mark_count = 0

    def encode(self, event: ServerEvent) -> list[str]:
        """The outbound messages (JSON text frames) for one engine event; most events
        have none on a phone call."""
        match event:
            case AgentTurnStart(turn_id=turn_id):
                self._begin_turn(turn_id)
            case AudioOut(pcm=pcm, turn_id=turn_id):
                return self._audio(pcm, turn_id)
            case TranscriptOut(role="agent", final=False, turn_id=turn_id):
                return self._clause_boundary(turn_id)
            case Interruption(turn_id=turn_id):
                return self._clear(turn_id)
            case AgentTurnEnd(turn_id=turn_id):
                return self._end_turn(turn_id)
        return []

    def played(self, name: str) -> int | None:
        """The echo of mark ``name``: how much of the current turn has played (ms), or
        None when the echo tells nothing new (not ours, of another or cleared turn)."""
        if name not in self._marks:
            return None
        while True:  # Twilio plays in order: earlier marks are behind us too
            key, (turn_id, played_ms) = self._marks.popitem(last=False)
            if key == name:
                break
        turn = self._turn
        if turn is None or turn.turn_id != turn_id or turn.cleared:
            return None
        if played_ms <= turn.reported_ms:
            return None
        turn.reported_ms = played_ms
        return played_ms

    def _begin_turn(self, turn_id: str) -> _OutTurn:
        self._turn = _OutTurn(turn_id)
        return self._turn

    def _current(self, turn_id: str) -> _OutTurn | None:
        turn = self._turn
        if turn is not None and turn.turn_id == turn_id:
            return None if turn.cleared or turn.ended else turn
        return None

    def _audio(self, pcm: bytes, turn_id: str) -> list[str]:
        turn = self._current(turn_id)
        if turn is None:
            if self._turn is not None and self._turn.turn_id == turn_id:
                return []  # cleared or over: never play it
            turn = self._begin_turn(turn_id)
        turn.input_ms += duration_ms(pcm, SAMPLE_RATE)
        return self._frames(turn, turn.audio.encode(pcm))

    def _frames(self, turn: _OutTurn, mulaw: bytes, *, last: bool = False) -> list[str]:
        """Whole 20 ms frames of ``pending + mulaw`` as media messages, with a progress
        mark every ``mark_every_bytes``; ``last`` pads the final frame with silence."""
        turn.pending += mulaw
        if last and len(turn.pending) % FRAME_BYTES:
            turn.pending += MULAW_SILENCE * (FRAME_BYTES - len(turn.pending) % FRAME_BYTES)
        out: list[str] = []
        n = len(turn.pending) // FRAME_BYTES
        for i in range(n):
            frame = bytes(turn.pending[i * FRAME_BYTES : (i + 1) * FRAME_BYTES])
            out.append(self._message("media", {"payload": base64.b64encode(frame).decode()}))
            turn.sent_bytes += FRAME_BYTES
            if turn.sent_bytes - turn.marked_bytes >= self.mark_every_bytes and not last:
                out.append(self._mark(turn, "audio", turn.sent_ms))
        del turn.pending[: n * FRAME_BYTES]
        return out

    def _clause_boundary(self, turn_id: str) -> list[str]:
        """A new clause starts: mark where the previous one ended."""
        turn = self._current(turn_id)
        if turn is None or turn.sent_bytes == 0:
            return []  # the first clause starts the turn
        turn.clauses += 1
        return [self._mark(turn, f"clause{turn.clauses}", turn.sent_ms)]

    def _end_turn(self, turn_id: str) -> list[str]:
        turn = self._current(turn_id)
        if turn is None:
            return []
        turn.ended = True
        if turn.input_ms == 0:
            return []
        out = self._frames(turn, turn.audio.flush(), last=True)
        # the whole turn played: report all the engine sent, so it stops waiting
        out.append(self._mark(turn, "end", max(turn.sent_ms, math.ceil(turn.input_ms))))
        return out

    def _clear(self, turn_id: str) -> list[str]:
        """Barge-in: Twilio drops its queued audio; echoes of this turn's marks (Twilio
        returns them on clear) no longer mean anything."""
        turn = self._turn
        if turn is not None and turn.turn_id == turn_id:
            turn.cleared = True
            turn.pending.clear()
        for name in [k for k, (t, _) in self._marks.items() if t == turn_id]:
            del self._marks[name]
        return [self._message("clear", None)]

    def _mark(self, turn: _OutTurn, kind: str, played_ms: int) -> str:
        self._mark_count += 1
        turn.marked_bytes = turn.sent_bytes
        name = f"{turn.turn_id}:{kind}:{self._mark_count}"
        self._marks[name] = (turn.turn_id, played_ms)
        while len(self._marks) > _MAX_MARKS:
            self._marks.popitem(last=False)
        return self._message("mark", {"name": name})

    def _message(self, event: str, body: dict[str, str] | None) -> str:
        msg: dict[str, Any] = {"event": event, "streamSid": self.stream_sid}
        if body is not None:
            msg[event] = body
        return json.dumps(msg, separators=(",", ":"))
