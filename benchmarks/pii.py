"""``python -m benchmarks.pii`` runs ``parley bench pii``.

The code is in :mod:`parley.bench.pii`, inside the installed package, so that the
``parley`` command can run it too (see :mod:`parley.bench`).
"""

import sys

from parley.bench.pii import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
