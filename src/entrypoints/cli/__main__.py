"""`python -m entrypoints.cli`: the `portal` command."""

import sys

from entrypoints.cli import main

sys.exit(main())
