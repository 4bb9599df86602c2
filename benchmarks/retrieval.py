"""``python -m benchmarks.retrieval`` runs ``parley bench retrieval``.

The code is in :mod:`parley.bench.retrieval`, inside the installed package, so that the
``parley`` command can run it too (see :mod:`parley.bench`).
"""

import sys

from parley.bench.retrieval import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
