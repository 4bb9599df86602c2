"""``python -m benchmarks.cluster`` runs ``parley bench cluster``.

The code is in :mod:`parley.bench.cluster`, inside the installed package, so that the
``parley`` command can run it too (see :mod:`parley.bench`).
"""

import sys

from parley.bench.cluster import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
