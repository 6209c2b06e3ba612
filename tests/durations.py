"""The kit's long tests and their measured seconds, for tests/conftest.py to start them first.

    .venv/bin/python -m pytest -n 6 --junitxml=kit.xml
    .venv/bin/python -m tests.durations kit.xml [more.xml ...]  # rewrites tests/durations.json

Given several runs, a test's figure is its longest (a test whose time varies, such as a run
against a target that hangs, is better started early). Only tests of at least
:data:`THRESHOLD` seconds are kept: the order of the short ones does not matter, and the file
stays small enough to review. A stale figure only changes the order the tests start in, never
what they check.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

#: Where the figures are kept (read by tests/conftest.py).
DURATIONS = Path(__file__).with_name("durations.json")
#: Seconds from which a test counts as long.
THRESHOLD = 5.0


def read_junit(path: Path) -> dict[str, float]:
    """Node id -> seconds of every test case in a pytest ``--junitxml`` file."""
    found: dict[str, float] = {}
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        module = (case.get("classname") or "").replace(".", "/") + ".py"
        found[f"{module}::{case.get('name')}"] = float(case.get("time") or 0.0)
    return found


def main(argv: list[str]) -> int:
    missing = [name for name in argv if not Path(name).is_file()]
    if not argv or missing:
        print("usage: python -m tests.durations JUNIT_XML [JUNIT_XML ...]", file=sys.stderr)
        return 2
    longest: dict[str, float] = {}
    for name in argv:
        for nodeid, seconds in read_junit(Path(name)).items():
            longest[nodeid] = max(seconds, longest.get(nodeid, 0.0))
    long = {k: round(v, 1) for k, v in longest.items() if v >= THRESHOLD}
    ordered = dict(sorted(long.items(), key=lambda item: (-item[1], item[0])))
    DURATIONS.write_text(json.dumps(ordered, indent=1) + "\n", encoding="utf-8")
    print(f"{len(ordered)} tests of at least {THRESHOLD:g} s written to {DURATIONS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
