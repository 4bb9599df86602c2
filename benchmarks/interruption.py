"""``python -m benchmarks.interruption`` runs ``parley bench interruption``.

The code is in :mod:`parley.bench.interruption`, inside the installed package, so that the
``parley`` command can run it too (see :mod:`parley.bench`).
"""

import sys

from parley.bench.interruption import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
