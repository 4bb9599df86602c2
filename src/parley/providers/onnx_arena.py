"""onnxruntime sessions that give back what their memory arena grew by.

onnxruntime's CPU arena keeps every block it ever allocated. With inputs of varying
length (Piper synthesizes one clause at a time) it grows to fit the longest input seen
and never shrinks: measured on the en_US joe voice, one 320-character clause left the
process 310 MB larger for good, and 80 random clauses of 2-40 words 179 MB. Asking the
arena to shrink at the end of a run (``memory.enable_memory_arena_shrinkage``) frees
what it added beyond its first block (80 random clauses then keep 2 MB), at a price:
the next run allocates again, ~8-11% more synthesis time on 2 cores (141 → 152 ms for
a reply's first clause). ``shrink_above`` trades some of that memory back for speed:
only runs with an input larger than that many elements shrink the arena (with 128,
clauses up to ~60 characters keep it warm, and it keeps up to 60-100 MB). A model
with fixed-size inputs (Silero VAD) needs none of this.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SHRINK_CPU_ARENA = ("memory.enable_memory_arena_shrinkage", "cpu:0")
SHRINK_ABOVE_ELEMENTS = 0
"""By default every run shrinks the arena: memory stays flat, whatever was said."""


class ArenaShrinkingSession:
    """Wraps an ``onnxruntime.InferenceSession``: :meth:`run` shrinks the CPU arena
    after a run whose largest input has more than ``shrink_above`` elements (0: after
    every run); everything else is the session's own."""

    def __init__(self, session: Any, shrink_above: int = SHRINK_ABOVE_ELEMENTS) -> None:
        import onnxruntime

        self._session = session
        self.shrink_above = shrink_above
        self._shrink = onnxruntime.RunOptions()
        self._shrink.add_run_config_entry(*SHRINK_CPU_ARENA)

    def run(self, output_names: Any, input_feed: Mapping[str, Any], run_options: Any = None) -> Any:
        """``InferenceSession.run``; the arena shrinks when it returns if an input had
        more than ``shrink_above`` elements (and the caller gave no run options)."""
        largest = max((int(getattr(v, "size", 0)) for v in input_feed.values()), default=0)
        if run_options is None and largest > self.shrink_above:
            run_options = self._shrink
        return self._session.run(output_names, input_feed, run_options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)
