"""`python -m devstack run|cluster|manage` (see devstack/cli.py)."""

import sys

from devstack.cli import main

sys.exit(main(sys.argv[1:]))
