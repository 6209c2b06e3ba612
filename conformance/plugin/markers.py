"""The markers a suite test carries, and reading them off a collected test.

``@pytest.mark.requirement(*ids)`` names the rules a test judges; ``cost`` what it sends at most
(conformance.config.costs); ``bot`` the bot behaviours it needs beyond the catalog's features;
``fuzz_level`` the Hypothesis levels it means something at; ``lane`` the shared conversation it
runs in; ``slow`` and ``smoke`` how it is scheduled and selected.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conformance.config.profile import Profile

__all__ = [
    "BOT_NEEDS",
    "MARKER",
    "NOT_APPLICABLE",
    "SUITE_PACKAGE",
    "TARGET_FIXTURE",
    "group_of",
    "in_suite",
    "lane_name",
    "register_markers",
    "requirement_ids",
]

MARKER = "requirement"
#: The fixture every test that talks to the target depends on.
TARGET_FIXTURE = "dl_target"
SUITE_PACKAGE = "conformance.suite"
#: How the reason of a skip starts when the profile rules a test out (its verdict:
#: not-applicable, never a plain skip).
NOT_APPLICABLE = "not-applicable: "
#: Bot behaviours a test can need beyond the catalog's features (``@pytest.mark.bot(...)``).
BOT_NEEDS: dict[str, Callable[[Profile], bool]] = {
    "many": lambda profile: bool(profile.bot.many),
    "reply_to_id": lambda profile: profile.bot.reply_to_id,
}


def register_markers(config: pytest.Config) -> None:
    """Declare the markers (``--strict-markers`` runs accept them, ``--markers`` lists them)."""
    for line in (
        f"{MARKER}(*ids): the Direct Line 3.0 requirement IDs this test checks",
        "slow: waits out a real protocol timing (stream window, token lifetime)",
        "smoke: a fast, broad subset (one check per spec page) for a quick verdict",
        "cost(conversations=0, requests=0, streams=0, activities=0, waits=0, per_example=False): "
        "what the test sends at most (conformance.config.costs)",
        "bot(*behaviours): bot behaviours the test needs beyond the catalog's features",
        "fuzz_level(*levels): the Hypothesis levels the test means something at",
        "lane(name): the test shares the lane's conversation (dl_conversation, dl_start_answer) "
        "with the other tests of the lane, run one after another on one worker",
    ):
        config.addinivalue_line("markers", line)


def requirement_ids(item: pytest.Item) -> tuple[str, ...]:
    """The requirement IDs a test declares, in order, without repeats."""
    ids: list[str] = []
    for mark in item.iter_markers(MARKER):
        for rid in mark.args:
            if rid not in ids:
                ids.append(rid)
    return tuple(ids)


def lane_name(item: pytest.Item) -> str | None:
    """The lane a test runs in (None: it has a conversation of its own)."""
    mark = item.get_closest_marker("lane")
    return str(mark.args[0]) if mark is not None else None


def group_of(item: pytest.Item) -> str | None:
    """The pytest-xdist group a test was put in (None: none)."""
    mark = item.get_closest_marker("xdist_group")
    if mark is None:
        return None
    return str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))


def in_suite(item: pytest.Item) -> bool:
    """Whether the test is one of the packaged suite's."""
    module = getattr(item, "module", None)
    return bool(module) and str(getattr(module, "__name__", "")).startswith(SUITE_PACKAGE + ".")
