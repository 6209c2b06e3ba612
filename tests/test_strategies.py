"""The activity strategies: valid ones validate against the packaged schema, invalid ones are
invalid, everything is JSON, and the test bot's trigger texts never appear."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.catalog import validate
from conformance.config.costs import FUZZ_LEVELS
from conformance.config.profile import BotTriggers
from conformance.reference.activities import is_date_time
from conformance.suite.strategies import (
    LONG_TEXT,
    MAX_TEXT,
    activity_texts,
    hypothesis_settings,
    invalid_activities,
    long_texts,
    valid_activities,
)

TRIGGERS = (BotTriggers.error, BotTriggers.end, BotTriggers.slow, BotTriggers.many)
FAST = settings(max_examples=60, deadline=None, derandomize=True)


@FAST
@given(valid_activities(TRIGGERS))
def test_valid_activities_validate_and_are_json(activity: dict[str, Any]) -> None:
    assert validate(activity, "activity") == []
    assert json.loads(json.dumps(activity, ensure_ascii=False)) == activity
    assert activity["type"] in ("message", "event")
    assert activity["from"]["id"].startswith("dl_")
    text = activity.get("text", "")
    assert not any(t.split("{")[0].strip() in text for t in TRIGGERS)


@FAST
@given(invalid_activities())
def test_invalid_activities_are_invalid(case: tuple[str, dict[str, Any]]) -> None:
    fault, activity = case
    json.dumps(activity)
    if fault == "missing type":
        assert "type" not in activity
    elif fault.startswith("a malformed "):  # the schema's date-time format is an annotation
        field = fault.removeprefix("a malformed ")
        assert field in ("localTimestamp", "expiration") and not is_date_time(activity[field])
    else:
        assert validate(activity, "activity") != []
    if fault.startswith("a null item in "):
        assert None in activity[fault.removeprefix("a null item in ")]


def test_invalid_activities_cover_every_fault() -> None:
    """Every kind of fault comes up in a CI-sized derandomized run, the shapes Schemathesis
    found included (null items, malformed date-times, wrong types one level down), and no
    malformed date-time is a form some ISO 8601 parser accepts (no offset, a space)."""
    seen: set[str] = set()
    dates: set[str] = set()

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(invalid_activities())
    def collect(case: tuple[str, dict[str, Any]]) -> None:
        fault, activity = case
        seen.add(fault)
        if fault.startswith("a malformed "):
            dates.add(activity[fault.removeprefix("a malformed ")])

    collect()
    assert {"missing type", "text", "from", "attachments", "entities"} <= seen
    assert {"a null item in attachments", "a null item in entities"} & seen
    assert len({f for f in seen if f.startswith("a wrong type in ")}) >= 4
    assert dates
    offset = re.compile(r".*(Z|[+-]\d\d:\d\d)")
    for value in dates:
        assert not is_date_time(value) and " " not in value, value
        assert "T" not in value or offset.fullmatch(value), value


@FAST
@given(long_texts())
def test_long_texts_are_long_and_bounded(text: str) -> None:
    assert LONG_TEXT < len(text) <= MAX_TEXT
    assert text.encode("utf-8")


def test_texts_hit_the_edges_often() -> None:
    """Whitespace at the ends, astral characters and long texts come up in a CI run."""
    seen: list[str] = []

    @settings(max_examples=200, deadline=None, derandomize=True)
    @given(activity_texts(TRIGGERS))
    def collect(text: str) -> None:
        seen.append(text)

    collect()
    assert sum(1 for t in seen if t != t.strip()) > 20
    assert sum(1 for t in seen if any(ord(c) > 0xFFFF for c in t)) > 20
    assert sum(1 for t in seen if len(t) > LONG_TEXT) > 3


@given(st.sampled_from(["ci", "live"]))
def test_settings_levels(level: str) -> None:
    chosen = hypothesis_settings(level)
    assert chosen.max_examples == FUZZ_LEVELS[level].property_examples
    assert hypothesis_settings(level, machine=True).max_examples == (
        FUZZ_LEVELS[level].machine_examples
    )
    assert chosen.print_blob


def test_shrinking_is_on_unless_turned_off() -> None:
    """--dl-shrink no (the mutant runner's choice) reports the first failing example as found;
    the live level never shrinks (each shrink step would send what the plan did not count)."""
    from hypothesis import Phase

    assert Phase.shrink in hypothesis_settings("ci").phases
    assert Phase.shrink not in hypothesis_settings("ci", shrink=False).phases
    assert Phase.shrink not in hypothesis_settings("live").phases


def test_texts_respect_the_profile_cap() -> None:
    seen: list[str] = []

    @settings(max_examples=100, deadline=None, derandomize=True)
    @given(activity_texts(TRIGGERS, max_text=50))
    def collect(text: str) -> None:
        seen.append(text)

    collect()
    assert seen and max(len(t) for t in seen) <= 50
