"""Settings of the reference server: one frozen dataclass, checked when it is built.

Every timing the catalog lets a profile declare (stream connect window, token lifetime) and every
bot trigger text the reference profile advertises lives here, so self-tests can compress the
timings to seconds and the CLI can expose each field as an option.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = ["BEHAVIOUR_DEFAULTS", "Behaviour", "EndOfConversationReading", "ServerConfig"]

EndOfConversationReading = Literal["refuse", "forward"]
Behaviour = Literal["reference", "live"]

_READINGS = ("refuse", "forward")
_BEHAVIOURS = ("reference", "live")

BEHAVIOUR_DEFAULTS: dict[str, dict[str, Any]] = {
    "reference": {"end_of_conversation": "refuse", "token_lifetime": 1800},
    # docs/live-service.md §7 (endOfConversation is inert) and §2 (expires_in 3600)
    "live": {"end_of_conversation": "forward", "token_lifetime": 3600},
}
"""The fields whose default depends on `behave`; the stream window (60 s) and the bot timeout
(15 s) are the same in both."""

_BY_BEHAVIOUR: Any = object()
"""Default of the fields listed in BEHAVIOUR_DEFAULTS: replaced in __post_init__, so a built
config always holds concrete values."""


def _check_http_url(name: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{name} must be an absolute http:// or https:// URL, got {value!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"{name} must not carry a query or a fragment, got {value!r}")


@dataclass(frozen=True)
class ServerConfig:
    """How one reference server behaves.

    secret: the Direct Line secret (the master key of every conversation).
    stream_window: seconds during which a streamUrl may first be connected (60 s in the docs).
    token_lifetime: seconds a token lives, answered as `expires_in` (1800, the docs'
        example; 3600 under behave="live").
    bot_timeout: seconds a send waits for the bot before answering 504.
    keepalive_interval: seconds between empty text frames on every open socket; 0 disables them.
    end_of_conversation: "refuse" (sends after the end are refused with 409; the default) or
        "forward" (the only reading behave="live" accepts, and its default).
    bot_url: when set, activities go to this bot endpoint over the connector protocol instead
        of the in-process echo bot.
    max_activity_chars: the largest activity accepted, in characters of JSON (256K in the docs).
    max_upload_bytes: the largest upload body accepted (4 MB on the live service).
    trigger_*: the exact message texts that make the echo bot fail, end the conversation,
        answer late, or answer several times ("#bot:many 3").
    welcome_text: what the echo bot says when a known user joins.
    bot_id / bot_name: the bot's channel account.
    public_url: the origin used in streamUrl, serviceUrl and contentUrl (e.g.
        "https://dl.example.com"); by default the one the request was addressed to.
    behave: "reference" (faithful to the docs) or "live" (a stand-in for the hosted service,
        as docs/live-service.md describes it); the defaults of end_of_conversation and
        token_lifetime follow it (BEHAVIOUR_DEFAULTS).
    transient_error_rate: the fraction of polling and reconnect GETs answered 503 ServiceError
        once, for dry runs of clients that must retry (0 disables).
    transient_seed: the seed of those faults: the same seed and the same requests in the
        same order fail the same way.
    traffic_file: when set, a JSON file kept up to date with what clients made the server do
        (requests, conversations, streams, activities: traffic.py), counted at the server.
    recording_file: when set, the server is the recorded upstream of a proxy check: every
        request, answer and stream frame is appended to this file (recording.py, credentials
        fingerprinted), and sends can ask for a late answer, a 429 or a 502
        (proxy_triggers.py).
    """

    secret: str
    stream_window: float = 60.0
    token_lifetime: int = _BY_BEHAVIOUR
    bot_timeout: float = 15.0
    keepalive_interval: float = 15.0
    end_of_conversation: EndOfConversationReading = _BY_BEHAVIOUR
    bot_url: str | None = None
    max_activity_chars: int = 262144
    max_upload_bytes: int = 4 * 1024 * 1024
    trigger_error: str = "#bot:error"
    trigger_end: str = "#bot:end"
    trigger_slow: str = "#bot:slow"
    trigger_many: str = "#bot:many"
    welcome_text: str = "Welcome!"
    bot_id: str = "reference-bot"
    bot_name: str = "Reference Echo Bot"
    public_url: str | None = None
    behave: Behaviour = "reference"
    transient_error_rate: float = 0.0
    transient_seed: int = 0
    traffic_file: str | None = None
    recording_file: str | None = None

    def __post_init__(self) -> None:
        if self.behave not in _BEHAVIOURS:
            raise ValueError(f"behave must be one of {_BEHAVIOURS}, got {self.behave!r}")
        for name, value in BEHAVIOUR_DEFAULTS[self.behave].items():
            if getattr(self, name) is _BY_BEHAVIOUR:
                object.__setattr__(self, name, value)
        if not isinstance(self.secret, str) or not self.secret:
            raise ValueError("secret must be a non-empty string")
        if any(ch.isspace() for ch in self.secret) or not self.secret.isprintable():
            raise ValueError("secret must not contain whitespace or control characters")
        if not self.stream_window > 0:
            raise ValueError(f"stream_window must be > 0 seconds, got {self.stream_window!r}")
        if (
            isinstance(self.token_lifetime, bool)
            or not isinstance(self.token_lifetime, int)
            or self.token_lifetime < 1
        ):
            raise ValueError(
                f"token_lifetime must be an integer number of seconds >= 1, got "
                f"{self.token_lifetime!r}"
            )
        if not self.bot_timeout > 0:
            raise ValueError(f"bot_timeout must be > 0 seconds, got {self.bot_timeout!r}")
        if not self.keepalive_interval >= 0:
            raise ValueError(
                f"keepalive_interval must be >= 0 seconds (0 disables), got "
                f"{self.keepalive_interval!r}"
            )
        if self.end_of_conversation not in _READINGS:
            raise ValueError(
                f"end_of_conversation must be one of {_READINGS}, got {self.end_of_conversation!r}"
            )
        if self.behave == "live" and self.end_of_conversation != "forward":
            raise ValueError(
                "behave='live' forwards endOfConversation like the hosted service "
                "(docs/live-service.md §7); end_of_conversation='refuse' contradicts it"
            )
        rate = self.transient_error_rate
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise ValueError(f"transient_error_rate must be a fraction from 0 to 1, got {rate!r}")
        if isinstance(self.transient_seed, bool) or not isinstance(self.transient_seed, int):
            raise ValueError(f"transient_seed must be an integer, got {self.transient_seed!r}")
        if self.bot_url is not None:
            _check_http_url("bot_url", self.bot_url)
        if self.public_url is not None:
            _check_http_url("public_url", self.public_url)
        if self.max_activity_chars < 1024:
            raise ValueError(f"max_activity_chars must be >= 1024, got {self.max_activity_chars!r}")
        if self.max_upload_bytes < 1:
            raise ValueError(f"max_upload_bytes must be >= 1, got {self.max_upload_bytes!r}")
        triggers = {
            "trigger_error": self.trigger_error,
            "trigger_end": self.trigger_end,
            "trigger_slow": self.trigger_slow,
            "trigger_many": self.trigger_many,
        }
        for name, value in triggers.items():
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name} must be a non-empty string")
        if len(set(triggers.values())) != len(triggers):
            raise ValueError("the trigger texts must differ from each other")
        if not self.bot_id:
            raise ValueError("bot_id must be a non-empty string")

    @property
    def public_origin(self) -> str | None:
        """public_url without a trailing slash, or None."""
        return self.public_url.rstrip("/") if self.public_url else None
