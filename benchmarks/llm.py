"""``python -m benchmarks.llm`` runs ``parley bench llm``.

The code is in :mod:`parley.bench.llm`, inside the installed package, so that the
``parley`` command can run it too (see :mod:`parley.bench`).
"""

import sys

from parley.bench.llm import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
