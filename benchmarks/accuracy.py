"""``python -m benchmarks.accuracy`` runs ``parley bench accuracy``.

The code is in :mod:`parley.bench.accuracy`, inside the installed package, so that the
``parley`` command can run it too (see :mod:`parley.bench`).
"""

import sys

from parley.bench.accuracy import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
