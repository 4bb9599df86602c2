"""Old name of the latency benchmark: ``python -m benchmarks.conversation_latency`` runs
:mod:`parley.bench.latency` (``parley bench latency``)."""

import sys

from parley.bench.common import summarize
from parley.bench.latency import main

__all__ = ["main", "summarize"]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
