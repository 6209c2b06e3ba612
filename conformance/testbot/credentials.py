"""The bot's own token for an Azure bot registration: OAuth client credentials, cached.

A bot registered with the Bot Framework must authenticate its replies to the connector with a
token it gets for its app id and password. Fetching one per reply would be slow and would hammer
the identity service, so the token is kept until shortly before it expires. Neither the password
nor the token is ever part of a message, a log line or a repr.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

__all__ = ["DEFAULT_TOKEN_URL", "SCOPE", "ClientCredentials", "TokenError"]

DEFAULT_TOKEN_URL = "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token"
"""The multi-tenant Bot Framework token endpoint; a single-tenant registration uses its tenant's."""
SCOPE = "https://api.botframework.com/.default"
REFRESH_MARGIN = 300.0
"""Seconds before expiry at which a cached token is replaced (capped at a tenth of its life)."""


class TokenError(Exception):
    """No token could be had; the message is one line and holds no credential."""


class ClientCredentials:
    """App id + password -> a bearer token for the connector, fetched at most once per life."""

    def __init__(
        self,
        app_id: str,
        password: str,
        *,
        token_url: str = DEFAULT_TOKEN_URL,
        scope: str = SCOPE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app_id = app_id
        self._password = password
        self.token_url = token_url
        self.scope = scope
        self._clock = clock
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"ClientCredentials(app_id={self.app_id!r}, token_url={self.token_url!r})"

    async def token(self, http: httpx.AsyncClient) -> str:
        """The cached token, or a fresh one when it is about to expire (one fetch at a time)."""
        async with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                self._token, lifetime = await self._fetch(http)
                margin = min(REFRESH_MARGIN, lifetime / 10)
                self._renew_at = self._clock() + lifetime - margin
            return self._token

    async def _fetch(self, http: httpx.AsyncClient) -> tuple[str, float]:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.app_id,
            "client_secret": self._password,
            "scope": self.scope,
        }
        try:
            answer = await http.post(self.token_url, data=form)
        except httpx.HTTPError as exc:
            raise TokenError(
                f"the token endpoint could not be reached ({type(exc).__name__})"
            ) from None
        try:
            body = answer.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {}
        if answer.status_code != 200:
            code = body.get("error")
            detail = f" ({code})" if isinstance(code, str) and code.isprintable() else ""
            raise TokenError(f"the token endpoint answered HTTP {answer.status_code}{detail}")
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise TokenError("the token endpoint's answer has no access_token")
        return token, _lifetime(body.get("expires_in"))


def _lifetime(value: object) -> float:
    """Seconds the token lives: ``expires_in`` as a number or a digit string (the v1 endpoint
    sends strings); 0 when unusable, so the token is not reused."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return float(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return 0.0
