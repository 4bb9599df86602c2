"""``python -m benchmarks.flood`` runs ``parley bench flood``.

The code is in :mod:`parley.bench.flood`, inside the installed package, so that the
``parley`` command can run it too (see :mod:`parley.bench`).
"""

import sys

from parley.bench.flood import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
