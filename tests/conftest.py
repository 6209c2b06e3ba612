"""The kit's own test session: its longest tests start first, each on the next free worker.

pytest-xdist hands tests out in collection order, so a long test collected late (a whole-suite
run against a proxy, a mutant that waits out a token's lifetime) would start when the others
are nearly done and run on alone at the end of the session. Sorted longest first, by the
figures in tests/durations.json (``python -m tests.durations JUNIT_XML...`` renews them), the
long tests overlap each other and the short ones fill in behind them.

That needs the tests handed out one at a time: pytest-xdist's load scheduling otherwise gives
each worker a first chunk of a quarter of its share, in order, which would put every long test
on the first worker.
"""

from __future__ import annotations

import json

import pytest

from tests.durations import DURATIONS


def pytest_configure(config: pytest.Config) -> None:
    if getattr(config.option, "maxschedchunk", "absent") is None:  # pytest-xdist, not set
        config.option.maxschedchunk = 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    try:
        seconds: dict[str, float] = json.loads(DURATIONS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # no figures: collection order
    items.sort(key=lambda item: -seconds.get(item.nodeid, 0.0))  # stable: the rest in order
