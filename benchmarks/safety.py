"""``python -m benchmarks.safety`` runs ``parley bench safety``.

The code is in :mod:`parley.bench.safety`, inside the installed package, so that the
``parley`` command can run it too (see :mod:`parley.bench`).
"""

import sys

from parley.bench.safety import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
