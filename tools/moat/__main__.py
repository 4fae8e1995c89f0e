# SPDX-License-Identifier: MIT
"""`python -m moat` is the same as the `moat` command."""

import sys

from moat.cli import main

sys.exit(main())
