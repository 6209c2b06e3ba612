"""``directline-conformance bot``: the command's options turned into a running test bot.

Every mistake in the options (an unknown profile, a missing password variable, a port in use)
becomes one ConfigError line, which the CLI prints without a traceback.
"""

from __future__ import annotations

import argparse
import os
from urllib.parse import urlsplit

from conformance.errors import ConfigError

from .app import BotSettings, create_app
from .behaviour import Triggers
from .connector import origin_of
from .credentials import DEFAULT_TOKEN_URL, ClientCredentials
from .server import is_loopback, serve

__all__ = ["DEFAULT_PASSWORD_ENV", "DEFAULT_WELCOME", "run", "settings_from"]

DEFAULT_WELCOME = "Welcome!"
DEFAULT_PASSWORD_ENV = "MICROSOFT_APP_PASSWORD"


def run(options: argparse.Namespace) -> int:
    """Serve the bot in the foreground until stopped; 0 on a clean stop."""
    settings = settings_from(options)
    try:
        serve(
            create_app(settings),
            host=options.host,
            port=options.port,
            allow_public=options.allow_public,
            parent=options.parent,
            announce=lambda line: print(line, flush=True),
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(f"cannot listen on {options.host}:{options.port}: {reason}") from None
    return 0


def settings_from(options: argparse.Namespace) -> BotSettings:
    """Check the options and build the bot's settings (ConfigError names the fault)."""
    triggers = Triggers()
    welcome = DEFAULT_WELCOME
    if options.profile:
        from conformance.config.profile import load_profile

        bot = load_profile(options.profile).bot
        try:
            triggers = Triggers(error=bot.error, end=bot.end, slow=bot.slow, many=bot.many)
        except ValueError as exc:
            raise ConfigError(f"profile {options.profile}: {exc}") from None
        # a profile may name the bot's greeting ([bot] welcome); --welcome overrides it
        profile_welcome = getattr(bot, "welcome", None)
        if isinstance(profile_welcome, str) and profile_welcome:
            welcome = profile_welcome
    if options.welcome is not None:
        if not options.welcome.strip():
            raise ConfigError("--welcome must not be empty")
        welcome = options.welcome
    trusted = set()
    for url in options.trust_service_url or ():
        origin = origin_of(url)
        if origin is None:
            raise ConfigError(f"--trust-service-url {url!r} is not an http:// or https:// URL")
        trusted.add(origin)
    return BotSettings(
        triggers=triggers,
        welcome=welcome,
        slow_seconds=options.slow_seconds,
        reply_timeout=options.reply_timeout,
        credentials=_credentials(options),
        trusted_origins=frozenset(trusted),
    )


def _credentials(options: argparse.Namespace) -> ClientCredentials | None:
    """The app's client credentials with --app-id, the password read from the environment."""
    variable = options.app_password_env or DEFAULT_PASSWORD_ENV
    if not options.app_id:
        if options.app_password_env or options.token_url:
            raise ConfigError("--app-password-env and --token-url need --app-id")
        return None
    password = os.environ.get(variable)
    if not password:
        raise ConfigError(
            f"--app-id needs the app's password in the environment variable {variable}, "
            "which is not set (name another one with --app-password-env)"
        )
    token_url = options.token_url or DEFAULT_TOKEN_URL
    origin = origin_of(token_url)
    if origin is None:
        raise ConfigError(f"--token-url {token_url!r} is not an http:// or https:// URL")
    if origin.startswith("http://") and not is_loopback(urlsplit(origin).hostname or ""):
        raise ConfigError(f"--token-url {token_url!r}: the password goes there, so https only")
    return ClientCredentials(options.app_id, password, token_url=token_url)
