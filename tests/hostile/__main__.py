"""``python -m tests.hostile NAME``: serve one hostile target in the foreground.

Prints the target URL (the one to give ``--target``) on the first line, then serves until
Ctrl-C or SIGTERM. ``--list`` names every target. The secret, for the targets built on the
reference server, comes from ``DIRECTLINE_SECRET``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence

from .catalogue import HOSTILES, start_hostile


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.hostile", description=__doc__)
    parser.add_argument("name", nargs="?", choices=sorted(HOSTILES), metavar="NAME")
    parser.add_argument("--list", action="store_true", help="list the hostile targets")
    options = parser.parse_args(argv)
    if options.list or not options.name:
        for hostile in HOSTILES.values():
            print(f"{hostile.name:<18} {hostile.doc}")
        return 0
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    secret = os.environ.get("DIRECTLINE_SECRET") or "hostile-secret"
    with start_hostile(options.name, secret) as target:
        print(target.target_url, flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
