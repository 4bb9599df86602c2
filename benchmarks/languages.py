"""``python -m benchmarks.languages`` runs ``parley bench languages``.

The code is in :mod:`parley.bench.languages`, inside the installed package, so that the
``parley`` command can run it too (see :mod:`parley.bench`).
"""

import sys

from parley.bench.languages import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
