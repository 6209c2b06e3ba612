"""``python -m tests.schemathesis``: Schemathesis against the reference server (runner.py)."""

import sys

from tests.schemathesis.runner import main

sys.exit(main())
