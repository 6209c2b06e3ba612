"""Hostile targets: servers the kit is pointed at by mistake, half-built, or not Direct Line.

The kit's verdicts are only worth something if, faced with one of these, it says so (exit 2,
one clear line) instead of judging garbage. `tests/test_hostile.py` holds it to that. Every
target listens on 127.0.0.1 and a free port; start one in a thread with
``start_hostile(name, secret)`` (a context manager too), or as a process with
``python -m tests.hostile NAME`` (prints the target URL, serves until Ctrl-C or SIGTERM).
"""

from .catalogue import HOSTILES, Hostile, Running, start_hostile

__all__ = ["HOSTILES", "Hostile", "Running", "start_hostile"]
