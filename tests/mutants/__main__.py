"""``python -m tests.mutants``: print the kill table (see killtable.py)."""

import sys

from tests.mutants.killtable import main

sys.exit(main())
