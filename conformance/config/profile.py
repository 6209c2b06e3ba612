"""Target profiles: what an endpoint supports, its timings and its live-safety limits.

A profile is a small TOML file. The feature names are the catalog's ``needs`` vocabulary, so the
plugin can decide from the catalog alone whether a requirement applies to a target: a requirement
needing a feature the profile lacks is *not-applicable*, never a silent pass. Values left out fall
back to the spec's defaults (60 s stream connect window, the ``expires_in`` the target answers).

The endOfConversation reading (``refuse`` or ``forward``, see the catalog) is declared as
``end_of_conversation`` and turned into the feature ``eoc_refuse`` or ``eoc_forward``.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast

from conformance.catalog import FEATURES as CATALOG_FEATURES
from conformance.catalog import READINGS as CATALOG_READINGS
from conformance.config.files import read_user_file
from conformance.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "ANY_TEXT",
    "EXPECTATIONS_SUFFIX",
    "PROFILE_FEATURES",
    "READINGS",
    "Bot",
    "BotTriggers",
    "Fuzz",
    "Limits",
    "Profile",
    "ProxyBehaviour",
    "Reading",
    "Timings",
    "builtin_profile_names",
    "companion_expectations",
    "load_profile",
    "parse_profile",
]

#: Features a profile can declare: the catalog's vocabulary, readings excluded (a profile
#: declares its reading as end_of_conversation).
PROFILE_FEATURES: tuple[str, ...] = tuple(sorted(CATALOG_FEATURES - CATALOG_READINGS))
#: An endOfConversation reading as a profile declares it.
Reading = Literal["refuse", "forward"]
#: endOfConversation readings, as declared in a profile -> the catalog feature they stand for.
READINGS: dict[str, str] = {"refuse": "eoc_refuse", "forward": "eoc_forward"}


@dataclass(frozen=True)
class Timings:
    """How long things take on the target; the suite waits exactly this long, never open-ended."""

    #: Seconds a fresh stream URL may be connected to (the docs: 60).
    stream_connect_window: float = 60.0
    #: Seconds a token lives; None: trust the ``expires_in`` the target answers.
    token_lifetime: float | None = None
    #: Seconds any single request may take before it counts as unanswered (DL-ERR-008).
    request_timeout: float = 10.0
    #: Seconds to wait for an activity to be delivered (a bot reply, a stream message).
    delivery_timeout: float = 5.0
    #: Seconds the target lets a slow bot take before it answers the send with a 5xx.
    bot_timeout: float = 15.0
    #: The longest single wait a run may make; timing rules that need longer are not-applicable.
    max_wait: float = 120.0
    #: The longest pause between two polls while waiting for an activity (polls start fast and
    #: back off to this; the official client polls every second).
    poll_interval: float = 1.0
    #: Seconds the whole run may take; None: from the plan (see conformance.plugin.plan).
    deadline: float | None = None


#: The text of a reply that any text satisfies (``reply = "*"``, ``welcome = "*"``).
ANY_TEXT = "*"


@dataclass(frozen=True)
class Bot:
    """What the target's bot does: the texts that make it misbehave on purpose (the bot_*
    features) and the shape of its answers, so a test that waits for the bot knows what to
    wait for. The defaults describe the kit's test bot (``directline-conformance bot``)."""

    #: The text of the bot's reply to a message (feature echo_bot), ``{text}`` standing for the
    #: message's text: ``"{text}"`` (the kit's test bot), ``"Echo: {text}"`` (the Bot Framework
    #: sample echo bot), or ``"*"`` when any reply (with replyToId) will do.
    reply: str = "{text}"
    #: Whether the bot's reply carries ``replyToId`` = the message's id (the Bot Framework SDK
    #: for Python leaves it out on the directline channel): when not, a reply is known by its
    #: text, and the rule about replyToId (DL-BOT-001) is not-applicable.
    reply_to_id: bool = True
    #: The greeting sent when a user joins (feature bot_welcome): its exact text, or ``"*"``.
    welcome: str = ANY_TEXT
    #: The message text that makes the bot fail (feature bot_error).
    error: str = "#bot:error"
    #: The message text that makes the bot end the conversation (feature bot_end).
    end: str = "#bot:end"
    #: The message text that makes the bot answer later than the bot timeout (feature bot_slow).
    slow: str = "#bot:slow"
    #: The text asking for several replies in a row, ``{n}`` replaced by how many; ``""`` when
    #: the bot has no such trigger (the rule needing it is then not-applicable).
    many: str = "#bot:many {n}"
    #: The text of the i-th of those replies, ``{i}`` replaced by 1, 2, 3, ...
    many_reply: str = "{i}"

    def reply_text(self, text: str) -> str | None:
        """The exact text the bot answers ``text`` with; None when any text will do."""
        return None if self.reply == ANY_TEXT else self.reply.replace("{text}", text)

    def is_reply(self, reply: object, text: str) -> bool:
        """Whether ``reply`` is the text the bot answers ``text`` with."""
        wanted = self.reply_text(text)
        return isinstance(reply, str) if wanted is None else reply == wanted

    def answers(self, reply: dict[str, object], sent_id: str, sent_text: str) -> bool:
        """Whether ``reply`` (a bot's message) answers the message ``sent_id`` with text
        ``sent_text``: by its replyToId, or (a bot that sets none) by its text."""
        if self.reply_to_id:
            return reply.get("replyToId") == sent_id
        return self.is_reply(reply.get("text"), sent_text)

    def is_welcome(self, text: object) -> bool:
        """Whether ``text`` is the bot's greeting."""
        return self.welcome == ANY_TEXT or text == self.welcome

    def many_texts(self, count: int) -> list[str]:
        """The texts of the replies to the many trigger, in order."""
        return [self.many_reply.replace("{i}", str(i)) for i in range(1, count + 1)]

    def triggers(self) -> tuple[str, ...]:
        """Every trigger text (generated content must never contain one)."""
        return tuple(t for t in (self.error, self.end, self.slow, self.many) if t)


#: The former name of :class:`Bot` (profiles of kit 0.1 called the table "bot triggers").
BotTriggers = Bot


@dataclass(frozen=True)
class Limits:
    """Live-safety limits: a shared service must not be hammered by a conformance run. The run
    is planned against them before its first request (conformance.plugin.plan), and they are
    enforced for the whole run, every worker together."""

    #: Requests per second for the whole run; None: unlimited.
    requests_per_second: float | None = None
    #: Conversations the run may create; None: unlimited.
    conversations: int | None = None
    #: Requests (and stream handshakes) the run may send; None: unlimited.
    requests: int | None = None
    #: Activities the run may send to the bot (accepted sends and uploads); None: unlimited.
    activities: int | None = None
    #: Sends per second to one conversation (docs/live-service.md §10: the hosted service
    #: answered 500 at about one message a second on one conversation); None: unlimited.
    sends_per_conversation_per_second: float | None = None
    #: Bytes of an answer the kit reads at most (more is cut, and its real length recorded).
    max_body: int = 1024 * 1024
    #: 429 answers in a row after which the run stops (exit 2) rather than insist.
    max_throttled: int = 5


@dataclass(frozen=True)
class Fuzz:
    """What generated (Hypothesis) content may hold, so fuzzing a live target cannot upset its
    production bot; and the seed that makes two runs send the same examples."""

    #: Seed of the live fuzz level (the ci level is derandomized): the same examples each run.
    seed: int = 20161
    #: Longest generated text, in characters.
    max_text: int = 140_000
    #: Whether generated activities may be ``event``s (a bot may act on them).
    events: bool = True


@dataclass(frozen=True)
class ProxyBehaviour:
    """What a proxy in front of a Direct Line service does on purpose (``[proxy]``), so the PROXY
    rules (``certify-proxy``) judge it by its design rather than by a pass-through proxy's."""

    #: The proxy sends a credential of its own upstream (it holds the secret, the client gets a
    #: token from it): DL-PROXY-004 then asks only that the upstream accepts it.
    token_exchange: bool = False
    #: Clients are meant to reach the service directly for the stream and for files: a streamUrl
    #: or contentUrl naming the upstream is by design (DL-PROXY-009 and -010 not-applicable).
    direct_urls: bool = False


@dataclass(frozen=True)
class Profile:
    """Everything the suite is told about a target before it sends a single request."""

    name: str = "spec"
    description: str = "Direct Line 3.0 as the docs describe it"
    features: frozenset[str] = field(default_factory=frozenset)
    end_of_conversation: Reading = "refuse"
    timings: Timings = field(default_factory=Timings)
    bot: Bot = field(default_factory=Bot)
    limits: Limits = field(default_factory=Limits)
    fuzz: Fuzz = field(default_factory=Fuzz)
    #: What a proxy target does on purpose (the PROXY rules of ``certify-proxy``).
    proxy: ProxyBehaviour = field(default_factory=ProxyBehaviour)
    #: Where it came from: "built-in:<name>" or a file path (shown in reports).
    source: str = "built-in:spec"

    @property
    def reading_feature(self) -> str:
        """The catalog feature of the declared endOfConversation reading."""
        return READINGS[self.end_of_conversation]

    def supports(self, feature: str) -> bool:
        """Whether the target declares ``feature`` (readings included)."""
        return feature == self.reading_feature or feature in self.features

    def missing(self, needs: tuple[str, ...] | list[str]) -> list[str]:
        """The features of ``needs`` this target lacks, in order."""
        return [need for need in needs if not self.supports(need)]

    def with_timings(self, **changes: Any) -> Profile:
        """A copy with some timings replaced (the embedded server's compressed timings)."""
        return replace(self, timings=replace(self.timings, **changes))

    def with_reading(self, reading: str) -> Profile:
        """A copy certified under another endOfConversation reading."""
        return replace(self, end_of_conversation=_reading(reading, "end_of_conversation"))


EXPECTATIONS_SUFFIX = ".expect.toml"


def builtin_profile_names() -> list[str]:
    """Names accepted by ``--profile NAME`` (the TOML files shipped in ``config/profiles``)."""
    folder = resources.files("conformance.config") / "profiles"
    return sorted(
        p.name[: -len(".toml")]
        for p in folder.iterdir()
        if p.name.endswith(".toml") and not p.name.endswith(EXPECTATIONS_SUFFIX)
    )


def companion_expectations(profile: Profile) -> Path | None:
    """The expectations file shipped with a built-in profile (``NAME.expect.toml``), if any:
    a ready profile comes with the known deviations of the target it describes."""
    if not profile.source.startswith("built-in:"):
        return None
    name = profile.source[len("built-in:") :]
    path = (
        Path(str(resources.files("conformance.config") / "profiles"))
        / f"{name}{EXPECTATIONS_SUFFIX}"
    )
    return path if path.is_file() else None


def load_profile(name_or_path: str) -> Profile:
    """Load a built-in profile by name or a profile file by path (ConfigError names the fault)."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists() or "/" in name_or_path:
        text = read_user_file(name_or_path, "profile file")
        return parse_profile(text, source=str(path))
    names = builtin_profile_names()
    if name_or_path not in names:
        raise ConfigError(
            f"unknown profile {name_or_path!r}: give a .toml file or one of {', '.join(names)}"
        )
    resource = resources.files("conformance.config") / "profiles" / f"{name_or_path}.toml"
    return parse_profile(resource.read_text(encoding="utf-8"), source=f"built-in:{name_or_path}")


def parse_profile(text: str, *, source: str) -> Profile:
    """Parse and strictly validate profile TOML: unknown keys and wrong types are errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"profile {source}: not valid TOML ({exc})") from None
    where = f"profile {source}"
    _reject_unknown(
        data,
        {
            "name",
            "description",
            "end_of_conversation",
            "features",
            "timings",
            "bot",
            "limits",
            "fuzz",
            "proxy",
        },
        where,
    )
    features_table = data.get("features", {})
    _expect_table(features_table, f"{where}: [features]")
    _reject_unknown(features_table, set(PROFILE_FEATURES), f"{where}: [features]")
    features = set()
    for name, value in features_table.items():
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: features.{name} must be true or false, not {value!r}")
        if value:
            features.add(name)
    reading = _reading(data.get("end_of_conversation", "refuse"), f"{where}: end_of_conversation")
    return Profile(
        name=_string(data, "name", where, default=Path(source).stem.replace("built-in:", "")),
        description=_string(data, "description", where, default=""),
        features=frozenset(features),
        end_of_conversation=reading,
        timings=_section(data, "timings", Timings, where),
        bot=_section(data, "bot", Bot, where),
        limits=_section(data, "limits", Limits, where),
        fuzz=_section(data, "fuzz", Fuzz, where),
        proxy=_section(data, "proxy", ProxyBehaviour, where),
        source=source,
    )


def _reading(value: object, where: str) -> Reading:
    """A declared endOfConversation reading (ConfigError naming ``where`` when it is none)."""
    if value not in READINGS:
        raise ConfigError(f"{where} must be one of {', '.join(READINGS)}, not {value!r}")
    return cast(Reading, value)


def _section(data: dict[str, Any], key: str, kind: type, where: str) -> Any:
    """Build a Timings/Bot/Limits/Fuzz from its TOML table, checking every value's type: numbers
    must be finite and greater than 0 (``inf`` and ``nan`` are refused: every wait is bounded)."""
    table = data.get(key, {})
    _expect_table(table, f"{where}: [{key}]")
    allowed = {f.name: f for f in fields(kind)}
    _reject_unknown(table, set(allowed), f"{where}: [{key}]")
    values: dict[str, Any] = {}
    for name, value in table.items():
        annotation = str(allowed[name].type)
        label = f"{where}: {key}.{name}"
        if annotation.startswith("str"):
            may_be_empty = kind is Bot and name == "many"
            if not isinstance(value, str) or not (value or may_be_empty):
                raise ConfigError(f"{label} must be a non-empty string, not {value!r}")
        elif annotation.startswith("bool"):
            if not isinstance(value, bool):
                raise ConfigError(f"{label} must be true or false, not {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{label} must be a number, not {value!r}")
        elif not math.isfinite(value):
            raise ConfigError(f"{label} must be a finite number, not {value!r}")
        elif value <= 0:
            raise ConfigError(f"{label} must be greater than 0, not {value!r}")
        elif annotation.startswith("int") and not isinstance(value, int):
            raise ConfigError(f"{label} must be a whole number, not {value!r}")
        values[name] = float(value) if annotation.startswith("float") else value
    if kind is Bot:
        _check_bot(values, f"{where}: bot")
    return kind(**values)


def _check_bot(values: dict[str, Any], where: str) -> None:
    """The placeholders a bot description needs, where it needs them."""
    many = values.get("many")
    if many and "{n}" not in many:
        raise ConfigError(
            f"{where}.many must contain {{n}} (or be empty: no such trigger), not {many!r}"
        )
    reply = values.get("reply")
    if reply is not None and reply != ANY_TEXT and reply.count("{text}") > 1:
        raise ConfigError(f"{where}.reply may hold {{text}} once, not {reply!r}")
    many_reply = values.get("many_reply")
    if many_reply is not None and "{i}" not in many_reply:
        raise ConfigError(f"{where}.many_reply must contain {{i}}, not {many_reply!r}")
    if values.get("reply_to_id") is False and values.get("reply", "{text}") == ANY_TEXT:
        raise ConfigError(
            f'{where}: a bot whose replies carry no replyToId needs a reply = "...{{text}}..." '
            'its replies can be told by (reply = "*" matches any message)'
        )


def _string(data: dict[str, Any], key: str, where: str, *, default: str) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {key} must be a string, not {value!r}")
    return value


def _expect_table(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table, not {value!r}")


def _reject_unknown(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(allowed))})"
        )
