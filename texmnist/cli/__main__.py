"""`python -m texmnist.cli`: the `texmnist` command."""

import sys

from . import main

sys.exit(main())
