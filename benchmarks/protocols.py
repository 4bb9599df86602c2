"""``python -m benchmarks.protocols`` runs ``parley bench protocols``.

The code is in :mod:`parley.bench.protocols`, inside the installed package, so that the
``parley`` command can run it too (see :mod:`parley.bench`).
"""

import sys

from parley.bench.protocols import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
