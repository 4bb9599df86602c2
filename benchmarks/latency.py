"""``python -m benchmarks.latency`` runs ``parley bench latency``.

The code is in :mod:`parley.bench.latency`, inside the installed package, so that the
``parley`` command can run it too (see :mod:`parley.bench`).
"""

import sys

from parley.bench.latency import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
