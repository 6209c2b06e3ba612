"""A Profile written back as a profile TOML file.

Both runs of ``certify-proxy`` must judge by the very same profile. When the kit serves the
upstream itself, that profile is the effective one (a built-in profile with the embedded
server's timings applied, which no flag can express), so it is written to a file both runs
load; ``parse_profile`` reads it back to an equal Profile (a kit test checks the round trip).
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from conformance.config.profile import PROFILE_FEATURES, Profile

__all__ = ["profile_toml"]


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string


def _table(name: str, section: Any) -> list[str]:
    lines = [f"[{name}]"]
    for item in fields(section):
        value = getattr(section, item.name)
        if value is not None:
            lines.append(f"{item.name} = {_value(value)}")
    return [*lines, ""]


def profile_toml(profile: Profile) -> str:
    """The profile as TOML that ``parse_profile`` turns back into the same Profile."""
    lines = [
        f"name = {_value(profile.name)}",
        f"description = {_value(profile.description)}",
        f"end_of_conversation = {_value(profile.end_of_conversation)}",
        "",
        "[features]",
        *(f"{name} = {_value(name in profile.features)}" for name in PROFILE_FEATURES),
        "",
    ]
    for name in ("timings", "bot", "limits", "fuzz", "proxy"):
        lines += _table(name, getattr(profile, name))
    return "\n".join(lines)
