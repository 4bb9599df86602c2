"""``python -m benchmarks.concurrency`` runs ``parley bench concurrency``.

The code is in :mod:`parley.bench.concurrency`, inside the installed package, so that the
``parley`` command can run it too (see :mod:`parley.bench`).
"""

import sys

from parley.bench.concurrency import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
