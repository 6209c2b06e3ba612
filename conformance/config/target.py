"""The Target under test: where it is, how to authenticate, and the profile it is judged by."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from conformance.config.profile import Profile, load_profile
from conformance.config.settings import Resolved
from conformance.errors import ConfigError

__all__ = [
    "COMPRESSED_TIMINGS",
    "REAL_TIMINGS",
    "Target",
    "effective_profile",
    "is_loopback_url",
    "normalise_target_url",
]

#: Timings of the embedded reference server in a default run: every timing rule is still waited
#: out for real, only in seconds instead of minutes.
COMPRESSED_TIMINGS: dict[str, float] = {
    # long enough that a loaded 2-core CI machine's handshake latency stays inside the margins
    "stream_connect_window": 6.0,
    "token_lifetime": 8.0,
    "bot_timeout": 1.0,
    "delivery_timeout": 3.0,
    "poll_interval": 0.2,
}
#: Timings of the embedded reference server with ``--dl-timing real``: the docs' 60 s stream
#: window, and a token lifetime short enough to wait out in the same run.
REAL_TIMINGS: dict[str, float] = {
    "stream_connect_window": 60.0,
    "token_lifetime": 60.0,
    "bot_timeout": 15.0,
    "delivery_timeout": 5.0,
    "poll_interval": 0.5,
}


@dataclass(frozen=True)
class Target:
    """A Direct Line endpoint as the suite sees it."""

    base_url: str
    secret: str | None
    profile: Profile
    #: True when the plugin started the embedded reference server for this run.
    embedded: bool = False

    @property
    def display_url(self) -> str:
        """The base URL without user info or query (safe to print)."""
        return self.base_url


def is_loopback_url(url: str) -> bool:
    """Whether the URL names this machine (localhost or a loopback address): a target we may
    drive hard, not a shared service."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalise_target_url(url: str) -> str:
    """Check a target URL and drop its trailing slash; ConfigError says what is wrong with it."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"target URL {url!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"target URL {url!r} must start with http:// or https://")
    if not parts.hostname:
        raise ConfigError(f"target URL {url!r} has no host")
    if parts.username or parts.password:
        raise ConfigError(
            "target URL must not carry credentials: put the secret in the environment"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"target URL {url!r} must not have a query or fragment")
    netloc = parts.hostname if port is None else f"{parts.hostname}:{port}"
    if ":" in parts.hostname:
        netloc = f"[{parts.hostname}]" + ("" if port is None else f":{port}")
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def effective_profile(settings: Resolved, *, embedded: bool) -> Profile:
    """The profile named by the settings, with command-line and environment overrides applied."""
    name = settings.get("profile") or ("reference" if embedded else "spec")
    profile = load_profile(name)
    if embedded:
        timings = REAL_TIMINGS if settings.get("timing") == "real" else COMPRESSED_TIMINGS
        profile = profile.with_timings(**timings)
    overrides = {
        "stream_connect_window": settings.get("stream_window"),
        "token_lifetime": settings.get("token_lifetime"),
        "request_timeout": settings.get("timeout"),
    }
    overrides = {key: value for key, value in overrides.items() if value is not None}
    if overrides:
        profile = profile.with_timings(**overrides)
    if settings.get("eoc"):
        profile = profile.with_reading(settings["eoc"])
    return profile
