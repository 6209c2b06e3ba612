"""Profiles and settings: strict parsing, built-ins, and the one documented precedence."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conformance.config.profile import builtin_profile_names, load_profile, parse_profile
from conformance.config.settings import SETTINGS, resolve
from conformance.config.target import COMPRESSED_TIMINGS, effective_profile, normalise_target_url
from conformance.errors import ConfigError

pytest_plugins = ["pytester"]


def test_builtin_profiles_load() -> None:
    names = builtin_profile_names()
    assert {"spec", "reference"} <= set(names)
    for name in names:
        profile = load_profile(name)
        assert profile.name == name
        assert profile.source == f"built-in:{name}"


def test_reading_becomes_a_feature() -> None:
    profile = parse_profile('end_of_conversation = "forward"', source="x.toml")
    assert profile.supports("eoc_forward")
    assert not profile.supports("eoc_refuse")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[features]\nwebsockets = true", "unknown key 'websockets'"),
        ("[features]\nauth = 'yes'", "features.auth must be true or false"),
        ("[timings]\nstream_connect_window = -1", "must be greater than 0"),
        ("[timings]\nstream_connect_window = 'soon'", "must be a number"),
        ("[limits]\nconversations = 2.5", "must be a whole number"),
        ("[bot]\nmany = 'many'", "bot.many must contain {n}"),
        ('end_of_conversation = "drop"', "end_of_conversation must be one of refuse, forward"),
        ("colour = 1", "unknown key 'colour'"),
        ("[features", "not valid TOML"),
    ],
)
def test_bad_profile_names_the_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=None) as info:
        parse_profile(text, source="mine.toml")
    assert message in str(info.value)
    assert "mine.toml" in str(info.value)


def test_unknown_profile_name_lists_the_builtins() -> None:
    with pytest.raises(ConfigError, match=r"unknown profile 'nope'.*reference"):
        load_profile("nope")


def test_missing_profile_file() -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_profile("does/not/exist.toml")


def test_precedence_command_line_over_environment() -> None:
    settings = resolve(
        {"stream_window": "30"},
        {"DIRECTLINE_STREAM_WINDOW": "45", "DIRECTLINE_TOKEN_LIFETIME": "90"},
    )
    assert settings["stream_window"] == 30.0
    assert settings.sources["stream_window"] == "command line"
    assert settings["token_lifetime"] == 90.0
    assert settings.sources["token_lifetime"] == "environment DIRECTLINE_TOKEN_LIFETIME"


def test_environment_over_profile_over_defaults() -> None:
    settings = resolve({"target": "http://x/v3/directline"}, {"DIRECTLINE_STREAM_WINDOW": "45"})
    profile = effective_profile(settings, embedded=False)
    assert profile.timings.stream_connect_window == 45.0
    assert profile.timings.request_timeout == 10.0  # from the spec profile


def test_secret_from_named_environment_variable() -> None:
    settings = resolve({"secret_env": "MY_BOT_SECRET"}, {"MY_BOT_SECRET": "s3cr3t-value"})
    assert settings["secret"] == "s3cr3t-value"
    assert settings.sources["secret"] == "environment MY_BOT_SECRET"


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="environment variable DIRECTLINE_TIMEOUT"):
        resolve({}, {"DIRECTLINE_TIMEOUT": "fast"})


def test_embedded_run_compresses_timings() -> None:
    profile = effective_profile(resolve({}, {}), embedded=True)
    assert profile.name == "reference"
    assert profile.timings.stream_connect_window == COMPRESSED_TIMINGS["stream_connect_window"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://x/v3/directline", "must start with http"),
        ("http:///v3/directline", "has no host"),
        ("http://user:pw@x/v3/directline", "must not carry credentials"),
        ("http://x/v3/directline?secret=1", "must not have a query"),
        ("http://x:99999/", "not a valid URL"),
    ],
)
def test_bad_target_url(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        normalise_target_url(url)


def test_target_url_trailing_slash_dropped() -> None:
    assert normalise_target_url("http://127.0.0.1:3978/v3/directline/") == (
        "http://127.0.0.1:3978/v3/directline"
    )


def test_shrink_setting_defaults_to_yes_and_names_a_bad_value() -> None:
    assert resolve({}, {})["shrink"] == "yes"
    assert resolve({}, {"DIRECTLINE_SHRINK": "no"})["shrink"] == "no"
    with pytest.raises(ConfigError, match=r"DIRECTLINE_SHRINK.*'maybe' is not one of yes, no"):
        resolve({}, {"DIRECTLINE_SHRINK": "maybe"})


# -- one name per setting ----------------------------------------------------------------------
def test_each_setting_is_named_once() -> None:
    """A setting's pytest option, run flag and environment variable all come from its name."""
    for item in SETTINGS:
        stem = item.name.replace("_", "-")
        assert item.option == f"--dl-{stem}"
        assert item.flag in (f"--{stem}", None)
        assert item.env in (f"DIRECTLINE_{item.name.upper()}", None)
    assert len({item.name for item in SETTINGS}) == len(SETTINGS)


def test_pytest_lists_every_setting(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    text = " ".join(result.stdout.str().split())
    shown = set(re.findall(r"(--dl-[a-z-]+)[= ]", text))
    assert [item.option for item in SETTINGS if item.option not in shown] == []


def test_the_readme_settings_table_is_the_settings_table() -> None:
    """README's "Settings" table names every setting by its option, flag and variable."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    rows = {
        cells[0].strip("` "): [cell.strip("` ") for cell in cells[1:3]]
        for line in readme.splitlines()
        if line.startswith("| `--dl-")
        for cells in [line.strip("|").split("|")]
    }
    expected = {item.option: [item.flag or "", item.env or ""] for item in SETTINGS if item.on_cli}
    assert rows == expected
