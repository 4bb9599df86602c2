"""``python -m benchmarks.safety_terms`` runs ``parley bench safety_terms``.

The code is in :mod:`parley.bench.safety_terms`, inside the installed package, so that the
``parley`` command can run it too (see :mod:`parley.bench`).
"""

import sys

from parley.bench.safety_terms import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
