"""``python -m coroloop``: the command line (see ``coroloop._cli``)."""

import sys

from coroloop._cli import main

if __name__ == "__main__":
    sys.exit(main())
