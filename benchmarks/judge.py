"""``python -m benchmarks.judge`` runs ``parley bench judge``.

The code is in :mod:`parley.bench.judge`, inside the installed package, so that the
``parley`` command can run it too (see :mod:`parley.bench`).
"""

import sys

from parley.bench.judge import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
