"""``python -m benchmarks.grounding`` runs ``parley bench grounding``.

The code is in :mod:`parley.bench.grounding`, inside the installed package, so that the
``parley`` command can run it too (see :mod:`parley.bench`).
"""

import sys

from parley.bench.grounding import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
