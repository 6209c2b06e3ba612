"""The run's settings, defined once: pytest options, CLI flags, environment variables and docs.

Precedence, highest first: command line, environment, profile file, the spec's defaults. Each
resolved value remembers where it came from, so the report header can say why a run used it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from conformance.errors import ConfigError

__all__ = ["SETTINGS", "Resolved", "Setting", "resolve"]


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError("must be greater than 0")
    return value


@dataclass(frozen=True)
class Setting:
    """One setting: its pytest option, its environment variable, how to parse it, its help."""

    name: str
    option: str
    env: str | None
    help: str
    parse: Callable[[str], Any] = str
    choices: tuple[str, ...] = ()
    default: Any = None
    #: Hidden from ``--help`` listings of the CLI (still usable).
    secret: bool = False

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
        "--dl-target",
        "DIRECTLINE_TARGET",
        "base URL of the Direct Line endpoint, e.g. https://directline.botframework.com/v3/directline"
        " (default: start the embedded reference server on 127.0.0.1)",
    ),
    Setting(
        "secret",
        "--dl-secret",
        None,
        "the Direct Line secret (prefer the environment variable named by --dl-secret-env)",
        secret=True,
    ),
    Setting(
        "secret_env",
        "--dl-secret-env",
        None,
        "name of the environment variable holding the secret",
        default="DIRECTLINE_SECRET",
    ),
    Setting(
        "profile",
        "--dl-profile",
        "DIRECTLINE_PROFILE",
        "target profile: a TOML file or a built-in name (default: spec; reference when embedded)",
    ),
    Setting(
        "expect",
        "--dl-expect",
        "DIRECTLINE_EXPECT",
        "expectations file (TOML) listing the target's known deviations",
    ),
    Setting(
        "reading",
        "--dl-eoc",
        "DIRECTLINE_EOC",
        "endOfConversation reading to certify under (overrides the profile)",
        choices=("refuse", "forward"),
    ),
    Setting(
        "stream_window",
        "--dl-stream-window",
        "DIRECTLINE_STREAM_WINDOW",
        "seconds a stream URL may be connected to (overrides the profile; spec: 60)",
        parse=_positive_float,
    ),
    Setting(
        "token_lifetime",
        "--dl-token-lifetime",
        "DIRECTLINE_TOKEN_LIFETIME",
        "seconds a token lives (overrides the profile; default: the expires_in the target answers)",
        parse=_positive_float,
    ),
    Setting(
        "request_timeout",
        "--dl-timeout",
        "DIRECTLINE_TIMEOUT",
        "seconds any request may take before it counts as unanswered (overrides the profile)",
        parse=_positive_float,
    ),
    Setting(
        "fail_on",
        "--dl-fail-on",
        "DIRECTLINE_FAIL_ON",
        "lowest level whose failure fails the run: should (default) or must",
        choices=("must", "should"),
        default="should",
    ),
    Setting(
        "timing",
        "--dl-timing",
        "DIRECTLINE_TIMING",
        "embedded server only: compressed (default, seconds) or real (the spec's 60 s window)",
        choices=("compressed", "real"),
        default="compressed",
    ),
    Setting(
        "report_dir",
        "--dl-report-dir",
        "DIRECTLINE_REPORT_DIR",
        "directory to write report.json, report.md, report.html and junit.xml into",
    ),
    Setting(
        "fuzz",
        "--dl-fuzz",
        "DIRECTLINE_FUZZ",
        "Hypothesis level of the fuzz and state-machine tests: ci (many derandomized examples) or "
        "live (few, within the profile's limits); default: ci on the embedded server or a "
        "loopback target, live otherwise",
        choices=("ci", "live"),
    ),
    Setting(
        "shrink",
        "--dl-shrink",
        "DIRECTLINE_SHRINK",
        "whether Hypothesis shrinks a failing example to a minimal one before reporting it: yes "
        "(default; the clearest reproduction) or no (report the first failing example found: "
        "much faster against a badly broken target, e.g. a gate that only needs the verdict)",
        choices=("yes", "no"),
        default="yes",
    ),
    Setting(
        "hypothesis_db",
        "--dl-hypothesis-db",
        "DIRECTLINE_HYPOTHESIS_DB",
        "directory of Hypothesis's example database (failing examples are replayed first on "
        "the next run); default: none, examples are kept in memory only",
    ),
)


@dataclass(frozen=True)
class Resolved:
    """Resolved settings with the source of each value ("command line", "environment X", ...)."""

    values: Mapping[str, Any]
    sources: Mapping[str, str]

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def get(self, name: str, default: Any = None) -> Any:
        value = self.values.get(name)
        return default if value is None else value


def resolve(cli: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Resolved:
    """Resolve every setting from command-line values (None: not given) and the environment."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for setting in SETTINGS:
        raw = cli.get(setting.name)
        if raw is not None:
            values[setting.name] = (
                setting.convert(raw, f"option {setting.option}") if isinstance(raw, str) else raw
            )
            sources[setting.name] = "command line"
        elif setting.env and environ.get(setting.env):
            values[setting.name] = setting.convert(
                environ[setting.env], f"environment variable {setting.env}"
            )
            sources[setting.name] = f"environment {setting.env}"
        else:
            values[setting.name] = setting.default
            sources[setting.name] = "default"
    if values["secret"] is None:
        env_name = values["secret_env"]
        if environ.get(env_name):
            values["secret"] = environ[env_name]
            sources["secret"] = f"environment {env_name}"
    return Resolved(values=values, sources=sources)
