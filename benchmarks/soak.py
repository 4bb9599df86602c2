"""``python -m benchmarks.soak`` runs ``parley bench soak``.

The code is in :mod:`parley.bench.soak`, inside the installed package, so that the
``parley`` command can run it too (see :mod:`parley.bench`).
"""

import sys

from parley.bench.soak import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
