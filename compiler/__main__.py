"""`python -m compiler` runs the same CLI as `relc`."""

import sys

from compiler.cli import main

sys.exit(main())
