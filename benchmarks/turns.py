"""``python -m benchmarks.turns`` runs ``parley bench turns``.

The code is in :mod:`parley.bench.turns`, inside the installed package, so that the
``parley`` command can run it too (see :mod:`parley.bench`).
"""

import sys

from parley.bench.turns import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
