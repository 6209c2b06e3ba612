"""The run's settings, defined once: pytest options, CLI flags, environment variables and docs.

Precedence, highest first: command line, environment, profile file, the spec's defaults. Each
resolved value remembers where it came from, so the report header can say why a run used it.
Every setting is known by one name, from which its pytest option (``--dl-target``), its ``run``
flag (``--target``) and its environment variable (``DIRECTLINE_TARGET``) are made: the plugin's
options and the CLI's flags are built from this table, so they cannot disagree, and every
message about a bad value names the flag of the command the user typed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.errors import ConfigError

__all__ = [
    "CLI_ENV",
    "SETTINGS",
    "Resolved",
    "Setting",
    "check_report_dir",
    "check_secret",
    "flag_of",
    "resolve",
    "setting",
]

#: Set (to "1") by ``directline-conformance run`` for the pytest it starts: messages then name
#: the CLI's flags (``--secret-env``) rather than the pytest options (``--dl-secret-env``).
CLI_ENV = "DIRECTLINE_CONFORMANCE_CLI"


def _positive_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    if not value > 0:
        raise ValueError("must be greater than 0")
    return value


def _whole_number(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


def _switch(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("must be yes or no")


def _non_empty(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text


@dataclass(frozen=True)
class Setting:
    """One setting, known by one name everywhere: ``secret_env`` is the pytest option
    ``--dl-secret-env``, the ``run`` flag ``--secret-env`` and (when read from the environment)
    the variable ``DIRECTLINE_SECRET_ENV``."""

    name: str
    help: str
    parse: Callable[[str], Any] = str
    choices: tuple[str, ...] = ()
    default: Any = None
    #: Read from the environment variable ``DIRECTLINE_<NAME>``.
    from_env: bool = True
    #: Offered by the ``run`` command (the secret is not: name its variable with --secret-env).
    on_cli: bool = True
    #: A switch: the flag takes no value (``--plan``).
    switch: bool = False
    #: Shown in place of the value in ``--help`` (default: the choices, else the name).
    placeholder: str | None = None

    @property
    def option(self) -> str:
        """The pytest option, e.g. ``--dl-secret-env``."""
        return "--dl-" + self.name.replace("_", "-")

    @property
    def flag(self) -> str | None:
        """The ``run`` command's flag, e.g. ``--secret-env`` (None: a pytest option only)."""
        return "--" + self.name.replace("_", "-") if self.on_cli else None

    @property
    def env(self) -> str | None:
        """The environment variable, e.g. ``DIRECTLINE_TARGET`` (None: not read from one)."""
        return "DIRECTLINE_" + self.name.upper() if self.from_env else None

    @property
    def metavar(self) -> str:
        """What ``--help`` shows for the value."""
        return self.placeholder or ("|".join(self.choices) if self.choices else self.name.upper())

    def label(self, cli: bool) -> str:
        """How the user named this setting: the CLI flag when run from the CLI."""
        return self.flag if cli and self.flag else self.option

    def convert(self, raw: str, source: str) -> Any:
        """Parse a raw string; a bad value is a ConfigError naming its source."""
        if self.choices and raw not in self.choices:
            raise ConfigError(f"{source}: {raw!r} is not one of {', '.join(self.choices)}")
        try:
            return self.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{source}: {raw!r} is not valid ({exc})") from None


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "target",
        "base URL of the Direct Line endpoint, e.g. https://directline.botframework.com/v3/directline"
        " (default: start the embedded reference server on 127.0.0.1)",
        placeholder="URL",
    ),
    Setting(
        "secret",
        "the Direct Line secret (prefer the environment variable named by the secret-env setting)",
        from_env=False,
        on_cli=False,
    ),
    Setting(
        "secret_env",
        "name of the environment variable holding the secret (default DIRECTLINE_SECRET)",
        from_env=False,
        default="DIRECTLINE_SECRET",
        placeholder="NAME",
    ),
    Setting(
        "profile",
        "target profile: a TOML file or a built-in name (default: spec; reference when embedded)",
        placeholder="FILE|NAME",
    ),
    Setting(
        "expect",
        "expectations file (TOML) listing the target's known deviations (default: the one "
        "shipped with a built-in profile)",
        placeholder="FILE",
    ),
    Setting(
        "eoc",
        "endOfConversation reading to certify under (overrides the profile)",
        choices=("refuse", "forward"),
    ),
    Setting(
        "stream_window",
        "seconds a stream URL may be connected to (overrides the profile; spec: 60)",
        parse=_positive_float,
        placeholder="SECONDS",
    ),
    Setting(
        "token_lifetime",
        "seconds a token lives (overrides the profile; default: the expires_in the target answers)",
        parse=_positive_float,
        placeholder="SECONDS",
    ),
    Setting(
        "timeout",
        "seconds any request may take before it counts as unanswered (overrides the profile)",
        parse=_positive_float,
        placeholder="SECONDS",
    ),
    Setting(
        "deadline",
        "seconds the whole run may take; then it stops, writes its reports with the unfinished "
        "tests as errors and exits 2 (default: the profile's, else from the run's plan)",
        parse=_positive_float,
        placeholder="SECONDS",
    ),
    Setting(
        "fail_on",
        "lowest level whose failure fails the run: should (default) or must",
        choices=("must", "should"),
        default="should",
    ),
    Setting(
        "timing",
        "embedded server only: compressed (default, seconds) or real (the spec's 60 s window)",
        choices=("compressed", "real"),
        default="compressed",
    ),
    Setting(
        "report_dir",
        "directory to write report.json, report.md, report.html and junit.xml into (created and "
        "checked writable before the first request)",
        parse=_non_empty,
        placeholder="DIR",
    ),
    Setting(
        "plan",
        "print the run's plan (conversations, requests, streams, activities sent to the bot, "
        "minutes) and whether it fits the profile's limits, then stop: nothing is sent",
        from_env=False,
        parse=_switch,
        default=False,
        switch=True,
    ),
    Setting(
        "fuzz",
        "Hypothesis level of the fuzz and state-machine tests: ci (many derandomized examples) or "
        "live (few seeded examples, within the profile's limits); default: live when the profile "
        "has limits or the target is not on this machine, else ci",
        choices=("ci", "live"),
    ),
    Setting(
        "seed",
        "seed of the live fuzz level's examples (default: the profile's [fuzz] seed): two runs "
        "with one seed send the same examples",
        parse=_whole_number,
        placeholder="N",
    ),
    Setting(
        "shrink",
        "whether Hypothesis shrinks a failing example to a minimal one before reporting it: yes "
        "(default; the clearest reproduction) or no (report the first failing example found: "
        "much faster against a badly broken target, e.g. a gate that only needs the verdict)",
        choices=("yes", "no"),
        default="yes",
    ),
    Setting(
        "hypothesis_db",
        "directory of Hypothesis's example database (failing examples are replayed first on "
        "the next run); default: none, examples are kept in memory only",
        placeholder="DIR",
    ),
)


def setting(name: str) -> Setting:
    """The setting called ``name``."""
    for candidate in SETTINGS:
        if candidate.name == name:
            return candidate
    raise KeyError(name)


def flag_of(name: str, *, cli: bool | None = None) -> str:
    """How to name setting ``name`` in a message: its CLI flag when the run was started by the
    CLI (``cli`` None: ask the environment), else its pytest option."""
    if cli is None:
        cli = os.environ.get(CLI_ENV) == "1"
    return setting(name).label(cli)


@dataclass(frozen=True)
class Resolved:
    """Resolved settings with the source of each value ("command line", "environment X", ...)."""

    values: Mapping[str, Any]
    sources: Mapping[str, str]
    #: True when the values came from the ``run`` command (messages name its flags).
    cli: bool = False

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def get(self, name: str, default: Any = None) -> Any:
        value = self.values.get(name)
        return default if value is None else value

    def flag(self, name: str) -> str:
        """The flag or option that sets ``name``, as the user would type it."""
        return setting(name).label(self.cli)


def resolve(
    given: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    *,
    cli: bool | None = None,
) -> Resolved:
    """Resolve every setting from command-line values (None: not given) and the environment.

    ``cli``: whether ``given`` came from the ``run`` command (default: ask the environment,
    which the CLI marks for the pytest it starts). Raises ConfigError naming the bad value and
    the flag, option or variable it came from; the secret is checked to be sendable.
    """
    environ = os.environ if environ is None else environ
    if cli is None:
        cli = environ.get(CLI_ENV) == "1"
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for item in SETTINGS:
        raw = given.get(item.name)
        if raw is not None:
            values[item.name] = (
                item.convert(raw, f"option {item.label(cli)}") if isinstance(raw, str) else raw
            )
            sources[item.name] = "command line"
        elif item.env and environ.get(item.env):
            values[item.name] = item.convert(environ[item.env], f"environment variable {item.env}")
            sources[item.name] = f"environment {item.env}"
        else:
            values[item.name] = item.default
            sources[item.name] = "default"
    if values["secret"] is None:
        env_name = values["secret_env"]
        if environ.get(env_name):
            values["secret"] = environ[env_name]
            sources["secret"] = f"environment {env_name}"
    if values["secret"] is not None:
        check_secret(values["secret"], sources["secret"])
    return Resolved(values=values, sources=sources, cli=cli)


def check_secret(secret: str, source: str) -> None:
    """The secret must be sendable in an HTTP header (visible ASCII): say which character is
    not, and where it sits, without showing the secret."""
    for index, char in enumerate(secret):
        if not 0x21 <= ord(char) <= 0x7E:
            shown = f"U+{ord(char):04X}"
            if char.isprintable() and not char.isspace():
                shown += f" ({char!r})"
            raise ConfigError(
                f"the secret from {source} cannot be sent in an Authorization header: character "
                f"{index + 1} of {len(secret)} is {shown}; a Direct Line secret is visible ASCII "
                "(check for a stray space, newline or quote copied with it)"
            )


#: The files a report directory receives (a folder of one of these names is in the way).
REPORT_FILES = ("report.json", "report.md", "report.html", "junit.xml")


def check_report_dir(path: str, label: str) -> Path:
    """Create the report directory and prove it writable now, before the first request: a run
    that would fail to write its reports at the end is refused up front (ConfigError)."""
    if not path.strip():
        raise ConfigError(f"{label}: an empty directory name")
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{label} {path}: exists and is not a directory")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{label} {path}: cannot be created ({exc.strerror or exc})") from None
    for name in REPORT_FILES:
        if (folder / name).is_dir():
            raise ConfigError(f"{label} {path}: {name} in it is a directory, not a file")
    probe = folder / ".directline-conformance-write-test"
    try:
        probe.write_text("", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"{label} {path}: not writable ({exc.strerror or exc})") from None
    return folder
