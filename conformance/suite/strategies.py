"""Hypothesis strategies for Direct Line activities, and the fuzz settings profiles.

Activities are built by hand-written composites shaped by the packaged JSON Schemas
(``activity``, ``attachment``, ``entity``, ``suggested-actions``, ``channel-account``) plus what
matters on the wire: text across unicode (astral planes, right-to-left scripts, combining marks,
whitespace at the ends, newlines and tabs, empty, rarely long up to 140,000 characters),
``channelData`` / ``value`` as arbitrary JSON, attachments, entities, locale, suggestedActions,
replyToId and a ``dl_`` user.

JSON safety (a decision, so a faithful server is never blamed for the JSON layer): no lone
surrogates (not encodable as UTF-8, a server may escape or replace them), no NaN or infinities
(not JSON), integers within +-2**53 (what every JSON implementation keeps exactly, RFC 8259 § 6),
nesting at most 4 levels. Trigger texts of the profile's test bot are never generated, nor types
a client may not send (invoke, conversationUpdate, contactRelationUpdate, handoff); typing is
left out too (GET never shows it).

Settings profiles: ``ci`` (many examples, derandomized: the same examples every run, so a CI
result and the mutant runs are reproducible) and ``live`` (few random examples, for a shared
service: the client's rate limit and conversation budget apply; no shrinking when the budget is
limited, as every shrink step starts a conversation). Failures print the
``@reproduce_failure`` blob. The example database is off unless a directory is given.

This module imports Hypothesis: only fuzz tests import it (the plugin stays light).

Each strategy is built once and drawn from many times (``functools.cache`` on the builders,
module-level parts inside the composites): Hypothesis validates a strategy, and works out
whether it can be empty, when it is first drawn from, which cost more CPU than the draw itself
when the activity strategies were rebuilt for every example. Moving code here must not add
short string constants: see the note above ``_MALFORMED_DATE_TIMES``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from conformance.config.costs import FUZZ_LEVELS, FuzzLevel

__all__ = [
    "CLIENT_TYPES",
    "FUZZ_LEVELS",
    "FuzzLevel",
    "activity_texts",
    "attachments",
    "channel_accounts",
    "entities",
    "hypothesis_settings",
    "invalid_activities",
    "json_values",
    "long_texts",
    "machine_activities",
    "suggested_actions",
    "valid_activities",
]

#: The types a client may send that GET shows (typing is never recorded).
CLIENT_TYPES: tuple[str, ...] = ("message", "event")
#: Length above which a text counts as long (the truncation a broken channel does).
LONG_TEXT = 10_000
MAX_TEXT = 140_000
MAX_SAFE_INTEGER = 2**53

_ASTRAL = "😀🎉👍🏽𝔘𝕏𐍈🀄🧪👨‍👩‍👧𠜎"
_RTL = "שלום עולם مرحبا بالعالم ‏"
_COMBINING = "é ñ ṩ ◌̃ ḉ̧ Å"
_EDGES = (" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", " \n\t")

#: Characters of short texts: everything but surrogates (JSON-safe, see above).
_CHARS = st.characters(exclude_categories=["Cs"])
_PIECES = st.sampled_from(
    [*_ASTRAL, *_RTL.split(), *_COMBINING.split(), "\n", "\t", " ", "a", "Z", "0", '"', "\\"]
)


def hypothesis_settings(
    level: str,
    *,
    machine: bool = False,
    database: str | None = None,
    shrink: bool = True,
) -> settings:
    """The Hypothesis settings of a fuzz level for a property (or a state machine).

    The live level never shrinks: each shrink step replays an example against the target,
    which the run's plan cannot count. ``shrink``: False reports the first failing example as
    found at the ci level too (much faster against a server that breaks a rule everywhere).
    """
    from hypothesis.database import DirectoryBasedExampleDatabase

    chosen = FUZZ_LEVELS[level]
    examples = chosen.machine_examples if machine else chosen.property_examples
    phases = list(Phase)
    if level == "live" or not shrink:
        phases = [p for p in phases if p not in (Phase.shrink, Phase.explain)]
    return settings(
        max_examples=examples,
        stateful_step_count=chosen.stateful_steps,
        derandomize=chosen.derandomize,
        database=DirectoryBasedExampleDatabase(database) if database else None,
        deadline=None,
        print_blob=True,
        report_multiple_bugs=False,
        phases=phases,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.filter_too_much,
        ],
    )


# -- text -------------------------------------------------------------------------------------
def _is_trigger(text: str, triggers: Sequence[str]) -> bool:
    """Whether ``text`` could set off the profile's test bot (a trigger or a ``{n}`` format)."""
    for trigger in triggers:
        head = trigger.split("{", 1)[0].strip()
        if head and head in text:
            return True
    return False


_CORE_TEXT = st.lists(st.one_of(_PIECES, _CHARS), min_size=1, max_size=24).map("".join) | st.text(
    _CHARS, min_size=1, max_size=40
)
_EDGE = st.sampled_from(("", "", *_EDGES))


@st.composite
def _edged_text(draw: st.DrawFn) -> str:
    """Short text mixing scripts, often with whitespace at one or both ends."""
    core = draw(_CORE_TEXT)
    lead = draw(_EDGE)
    tail = draw(_EDGE)
    return lead + core + tail


_UNIT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=12)


@st.composite
def long_texts(draw: st.DrawFn, min_size: int = LONG_TEXT + 1, max_size: int = MAX_TEXT) -> str:
    """A long text (over 10,000 characters), cheap to generate: a repeated printable unit with an
    astral character at the start and whitespace at the end. Few characters JSON-escape, so the
    activity stays below the documented size limits."""
    size = draw(st.integers(min_size, max_size))
    unit = draw(_UNIT)
    unit = unit.replace("\\", "/").replace('"', "'") or "x"
    body = (unit * (size // len(unit) + 1))[: size - 2]
    return "😀" + body + " "


def activity_texts(
    triggers: Sequence[str] = (), max_text: int = MAX_TEXT
) -> st.SearchStrategy[str]:
    """Message texts: mostly short and unusual (3 in 4), sometimes a sample of a script or
    empty, rarely long (1 in 10, when ``max_text`` allows long ones). Shrinks towards short
    text; never longer than ``max_text`` (a profile caps what reaches a production bot)."""
    return _activity_texts(tuple(triggers), max_text)


@functools.cache
def _activity_texts(triggers: tuple[str, ...], max_text: int) -> st.SearchStrategy[str]:
    samples = st.sampled_from([*_ASTRAL, _RTL, _COMBINING, " x ", "\ttab\t", "a\nb"])
    edged = _edged_text()
    parts = [*[edged] * 15, samples, samples, st.just("")]
    if max_text > LONG_TEXT:
        parts += [long_texts(max_size=max_text)] * 2
    return st.one_of(*parts).filter(
        lambda text: len(text) <= max_text and not _is_trigger(text, triggers)
    )


# -- JSON -------------------------------------------------------------------------------------
_KEYS = st.text(_CHARS, max_size=12) | st.sampled_from(["type", "id", "value", "$ref", "__proto__"])
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(_CHARS, max_size=30)
)


@functools.cache
def json_values(max_leaves: int = 20) -> st.SearchStrategy[Any]:
    """Any JSON value (bounded: nesting at most 4, a few dozen leaves; JSON-safe, see above)."""
    return st.recursive(
        _SCALARS,
        lambda children: (
            st.lists(children, max_size=5) | st.dictionaries(_KEYS, children, max_size=5)
        ),
        max_leaves=max_leaves,
    ).filter(lambda value: _depth(value) <= 4)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


# -- parts ------------------------------------------------------------------------------------
_SHORT = st.text(_CHARS, min_size=1, max_size=20)
_CONTENT_TYPES = st.sampled_from(
    [
        "image/png",
        "application/pdf",
        "text/plain",
        "application/vnd.microsoft.card.hero",
        "application/vnd.microsoft.card.adaptive",
        "application/json",
    ]
)
_URL_PATH = st.text(st.characters(whitelist_categories=("Ll", "Nd")), min_size=1, max_size=16)


@functools.cache
def channel_accounts(user_prefix: str = "dl_") -> st.SearchStrategy[dict[str, Any]]:
    """A ``from`` account: a ``dl_`` user id (the live service's enhanced auth wants the
    prefix), sometimes a name."""
    ident = st.text(
        st.characters(whitelist_categories=("Ll", "Lu", "Nd"), max_codepoint=0x7F),
        min_size=1,
        max_size=16,
    ).map(lambda s: user_prefix + s)
    return st.fixed_dictionaries({"id": ident}, optional={"name": _SHORT})


@st.composite
def attachments(draw: st.DrawFn) -> dict[str, Any]:
    """An attachment: contentType and name, an https contentUrl and/or JSON content."""
    attachment: dict[str, Any] = {"contentType": draw(_CONTENT_TYPES)}
    if draw(st.booleans()):
        attachment["contentUrl"] = f"https://example.com/files/{draw(_URL_PATH)}"
    if draw(st.booleans()) or "contentUrl" not in attachment:
        attachment["content"] = draw(json_values(8))
    if draw(st.booleans()):
        attachment["name"] = draw(_SHORT)
    if draw(st.integers(0, 4)) == 0:
        attachment["thumbnailUrl"] = f"https://example.com/thumbs/{draw(_URL_PATH)}.png"
    return attachment


@functools.cache
def entities() -> st.SearchStrategy[dict[str, Any]]:
    """An entity: a string type and any other JSON members."""
    return st.builds(
        lambda kind, extra: {**extra, "type": kind},
        st.sampled_from(
            ["mention", "place", "GeoCoordinates", "clientInfo", "https://schema.org/Thing"]
        ),
        st.dictionaries(
            st.sampled_from(["text", "name", "latitude", "locale"]), _SCALARS, max_size=3
        ),
    )


@functools.cache
def suggested_actions() -> st.SearchStrategy[dict[str, Any]]:
    """SuggestedActions: ``to`` (ids) and ``actions`` (CardActions)."""
    action = st.fixed_dictionaries(
        {
            "type": st.sampled_from(["imBack", "postBack", "openUrl", "messageBack"]),
            "title": _SHORT,
        },
        optional={"value": json_values(4), "text": _SHORT},
    )
    return st.fixed_dictionaries(
        {"to": st.lists(_SHORT, max_size=2), "actions": st.lists(action, max_size=3)}
    )


_LOCALES = st.sampled_from(["en-US", "fr-FR", "he-IL", "ar-EG", "ja-JP", "zh-Hans-CN", "de"])


# -- activities -------------------------------------------------------------------------------
@st.composite
def valid_activities(
    draw: st.DrawFn,
    triggers: Sequence[str] = (),
    types: Sequence[str] = CLIENT_TYPES,
    long_text: bool = True,
    max_text: int = MAX_TEXT,
) -> dict[str, Any]:
    """An activity a client may send (valid against the ``activity`` schema): a message or an
    event with a ``dl_`` user and any mix of the optional fields. ``types`` and ``max_text``
    come from the profile's ``[fuzz]`` table: what may reach the target's bot."""
    parts = _activity_parts(tuple(types), tuple(triggers), long_text, max_text)
    kind = draw(parts.kind)
    activity: dict[str, Any] = {"type": kind, "from": draw(channel_accounts())}
    if kind == "message" or draw(st.booleans()):
        activity["text"] = draw(parts.texts)
    if kind == "event":
        activity["name"] = draw(_EVENT_NAMES)
    for name, strategy in _optional_fields().items():
        if draw(_PERCENT) >= 60:  # 40 %; shrinks towards leaving the field out
            activity[name] = draw(strategy)
    return activity


_EVENT_NAMES = st.sampled_from(["webchat/join", "dl.fuzz", "ping"])
_PERCENT = st.integers(0, 99)


@dataclass(frozen=True)
class _ActivityParts:
    """What valid_activities draws the type and the text from, for one set of its arguments."""

    kind: st.SearchStrategy[str]
    texts: st.SearchStrategy[str]


@functools.cache
def _activity_parts(
    types: tuple[str, ...], triggers: tuple[str, ...], long_text: bool, max_text: int
) -> _ActivityParts:
    texts = (
        activity_texts(triggers, max_text)
        if long_text
        else _edged_text().filter(lambda t: len(t) <= max_text and not _is_trigger(t, triggers))
    )
    return _ActivityParts(st.sampled_from(list(types)), texts)


@functools.cache
def _optional_fields() -> dict[str, st.SearchStrategy[Any]]:
    """The optional fields of a valid activity, in the order they are drawn."""
    return {
        "channelData": json_values(),
        "value": json_values(),
        "attachments": st.lists(attachments(), min_size=1, max_size=3),
        "entities": st.lists(entities(), min_size=1, max_size=3),
        "locale": _LOCALES,
        "suggestedActions": suggested_actions(),
        "replyToId": st.text(
            st.characters(max_codepoint=0x7E, min_codepoint=0x21), min_size=1, max_size=20
        ),
    }


def machine_activities(
    triggers: Sequence[str] = (), types: Sequence[str] = CLIENT_TYPES
) -> st.SearchStrategy[dict[str, Any]]:
    """Small activities for the state machine (no long text: steps stay quick)."""
    return valid_activities(triggers=triggers, types=types, long_text=False)


_WRONG_TYPES: dict[str, st.SearchStrategy[Any]] = {
    "text": st.one_of(  # structured first: the crash of a text splitter is the likelier bug
        st.lists(st.integers(), max_size=2), st.just({"a": 1}), st.integers(), st.booleans()
    ),
    "from": st.one_of(st.text(max_size=5), st.integers(), st.lists(st.integers(), max_size=2)),
    "attachments": st.one_of(
        st.just({"contentType": "image/png"}), st.text(max_size=5), st.integers()
    ),
    "entities": st.one_of(st.just({"type": "mention"}), st.text(max_size=5), st.booleans()),
}

# The fault data below is written as JSON text on purpose: Hypothesis draws on the short string
# constants (20 characters at most) of the local modules it finds loaded, so each short literal
# added to this module would reshuffle every derandomized property and state machine of the
# suite (and which mutants they happen to catch), not only this strategy.

#: Values no ISO 8601 or RFC 3339 reading makes a date-time: an impossible minute (what
#: Schemathesis sends), day, month or second, or no date at all. (Forms some parsers accept,
#: such as a missing offset or a space for the T, are left out.)
_MALFORMED_DATE_TIMES: tuple[str, ...] = tuple(
    json.loads(
        '["2024-01-01T12:99:00Z", "2024-02-30T10:00:00Z", "2024-13-01T00:00:00Z",'
        ' "2024-01-01T12:00:61+02:00", "yesterday"]'
    )
)
#: Echoed date-time fields a client may set (`timestamp` is the channel's own).
_DATE_TIME_FIELDS: tuple[str, ...] = tuple(json.loads('["localTimestamp", "expiration"]'))

#: Wrong JSON types one level down, in the Swagger's nested definitions.
_NESTED_WRONG_TYPES: dict[str, dict[str, Any]] = json.loads(
    """{
    "from.id": {"from": {"id": 5}},
    "membersAdded[0].id": {"membersAdded": [{"id": 5}]},
    "attachments[0].contentType": {"attachments": [{"contentType": ["image/png"]}]},
    "entities[0].type": {"entities": [{"type": 7}]},
    "suggestedActions.to[0]": {"suggestedActions": {"to": [5], "actions": []}},
    "textHighlights[0].occurrence": {"textHighlights": [{"text": "t", "occurrence": "1"}]},
    "relatesTo.user.id": {"relatesTo": {"user": {"id": false}}}
    }"""
)
#: The kinds of fault beyond a missing type and the wrong types of _WRONG_TYPES.
_NULL_ITEM, _MALFORMED_DATE, _NESTED_TYPE = json.loads('["null", "malformed date", "nested"]')


@st.composite
def _with_null_item(draw: st.DrawFn, items: st.SearchStrategy[dict[str, Any]]) -> list[Any]:
    """A short array of valid items with a null among them."""
    valid = draw(st.lists(items, max_size=2))
    position = draw(st.integers(0, len(valid)))
    return [*valid[:position], None, *valid[position:]]


@st.composite
def invalid_activities(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """(what is wrong, an activity a service must refuse with 400): no ``type`` (DL-SEND-007),
    or a field that does not hold what the Activity's data types say (A2003, DL-SEND-008): text,
    from, attachments or entities of the wrong JSON type, a null item in attachments or
    entities, a malformed date-time in localTimestamp or expiration, a wrong JSON type one
    level down (from.id, an entity's type, a text highlight's occurrence...). Schemathesis
    found the reference answering 500 to the null items and echoing the malformed date-time."""
    base: dict[str, Any] = {"type": "message", "from": draw(channel_accounts()), "text": "fuzz"}
    kinds = [*_WRONG_TYPES, "missing type", _NULL_ITEM, _MALFORMED_DATE, _NESTED_TYPE]
    kind = draw(st.sampled_from(kinds))
    if kind == "missing type":
        fault = kind
        del base["type"]
    elif kind in _WRONG_TYPES:
        fault = kind
        base[kind] = draw(_WRONG_TYPES[kind])
    elif kind == _NULL_ITEM:
        field = draw(st.sampled_from(["attachments", "entities"]))
        fault = f"a null item in {field}"
        items = attachments() if field == "attachments" else entities()
        base[field] = draw(_with_null_item(items))
    elif kind == _MALFORMED_DATE:
        field = draw(st.sampled_from(_DATE_TIME_FIELDS))
        fault = f"a malformed {field}"
        base[field] = draw(st.sampled_from(_MALFORMED_DATE_TIMES))
    else:
        path = draw(st.sampled_from(sorted(_NESTED_WRONG_TYPES)))
        fault = f"a wrong type in {path}"
        base.update(_NESTED_WRONG_TYPES[path])
    return fault, base


def json_size(activity: Any) -> int:
    """Characters of JSON the client sends for ``activity``."""
    return len(json.dumps(activity, ensure_ascii=False))
