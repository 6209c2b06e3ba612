"""The kit's long tests and their measured seconds, for tests/conftest.py to start them first.

    .venv/bin/python -m pytest -n 4 --junitxml=kit.xml
    .venv/bin/python -m tests.durations kit.xml    # rewrites tests/durations.json

Only tests of at least :data:`THRESHOLD` seconds are kept: the order of the short ones does not
matter, and the file stays small enough to review. A stale figure only changes the order the
tests start in, never what they check.
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
    if len(argv) != 1 or not Path(argv[0]).is_file():
        print("usage: python -m tests.durations JUNIT_XML", file=sys.stderr)
        return 2
    long = {k: round(v, 1) for k, v in read_junit(Path(argv[0])).items() if v >= THRESHOLD}
    ordered = dict(sorted(long.items(), key=lambda item: (-item[1], item[0])))
    DURATIONS.write_text(json.dumps(ordered, indent=1) + "\n", encoding="utf-8")
    print(f"{len(ordered)} tests of at least {THRESHOLD:g} s written to {DURATIONS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
