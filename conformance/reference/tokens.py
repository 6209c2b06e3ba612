"""Credentials: the secret, conversation tokens and stream tokens.

Tokens are HS256 JWTs signed with a key derived from the secret and a per-process random salt, so
a token never outlives the server that issued it and never reveals the secret. Two kinds exist
and neither is accepted where the other is expected:

- `conversation`: answered by generate, start, reconnect and refresh; goes in `Authorization`.
- `stream`: the `t` of a streamUrl; carries the watermark the stream replays from and lives only
  for the connect window.

Expiry is checked against the precise (fractional) `exp` claim, so compressed test timings hold
to the millisecond; a token is refused with `TokenExpired` only when its signature is good.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any, TypeGuard

import jwt

from .errors import (
    invalid_credential,
    malformed_credential,
    missing_credential,
    token_expired,
)

__all__ = [
    "CONVERSATION",
    "STREAM",
    "Credential",
    "TokenAuthority",
    "TokenClaims",
    "parse_authorization",
]

CONVERSATION = "conversation"
STREAM = "stream"
_ALGORITHM = "HS256"
_ISSUER = "reference-directline"


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a verified token says."""

    conversation_id: str
    kind: str
    user_id: str | None
    user_name: str | None
    watermark: int | None
    issued_at: float
    expires_at: float
    jti: str

    @property
    def user(self) -> dict[str, str] | None:
        """The embedded user as a ChannelAccount, or None."""
        if self.user_id is None:
            return None
        account = {"id": self.user_id}
        if self.user_name is not None:
            account["name"] = self.user_name
        return account


@dataclass(frozen=True, slots=True)
class Credential:
    """Who is calling: the secret holder, or the holder of one conversation's token."""

    is_secret: bool
    claims: TokenClaims | None = None

    @property
    def conversation_id(self) -> str | None:
        return self.claims.conversation_id if self.claims else None

    @property
    def user(self) -> dict[str, str] | None:
        return self.claims.user if self.claims else None


def parse_authorization(header: str | None) -> str:
    """The credential of an `Authorization: Bearer <credential>` header.

    Missing header -> 401; not `Bearer <one credential>` -> 401 (RFC 7235: the scheme name is
    case-insensitive).
    """
    if header is None:
        raise missing_credential()
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        raise malformed_credential()
    return parts[1]


class TokenAuthority:
    """Issues and verifies the tokens of one server instance."""

    verified_cache_size = 4096
    """How many verified tokens are remembered, so a busy client's token is checked (HMAC,
    base64, JSON) once rather than on every request; kind and expiry are still checked on
    every use."""

    def __init__(self, secret: str, *, salt: bytes | None = None) -> None:
        self._secret = secret.encode("utf-8")
        self._key = hmac.new(salt or os.urandom(32), self._secret, hashlib.sha256).digest()
        self._verified: dict[str, TokenClaims] = {}

    def is_secret(self, credential: str) -> bool:
        """Constant-time comparison with the secret."""
        return hmac.compare_digest(credential.encode("utf-8", "surrogatepass"), self._secret)

    def issue(
        self,
        kind: str,
        conversation_id: str,
        lifetime: float,
        *,
        user: dict[str, str] | None = None,
        watermark: int | None = None,
    ) -> str:
        """A new token (unique `jti`) valid for `lifetime` seconds from now."""
        now = time.time()
        claims: dict[str, Any] = {
            "iss": _ISSUER,
            "conv": conversation_id,
            "kind": kind,
            "iat": round(now, 3),
            "nbf": round(now, 3) - 1,
            "exp": round(now + lifetime, 3),
            "jti": secrets.token_urlsafe(12),
        }
        if user is not None:
            claims["user"] = user["id"]
            if user.get("name") is not None:
                claims["user_name"] = user["name"]
        if watermark is not None:
            claims["wm"] = watermark
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM)

    def verify(self, token: str, kind: str) -> TokenClaims:
        """The claims of a token of `kind`; 403 BadArgument if forged/foreign, 403 TokenExpired
        if its lifetime has passed."""
        claims = self._verified.get(token)
        if claims is None:
            claims = self._decode(token)
            if claims is not None:
                if len(self._verified) >= self.verified_cache_size:
                    del self._verified[next(iter(self._verified))]  # the oldest entry
                self._verified[token] = claims
        if claims is None or claims.kind != kind:
            raise invalid_credential()
        if time.time() >= claims.expires_at:
            raise token_expired()
        return claims

    def _decode(self, token: str) -> TokenClaims | None:
        """The claims of a token signed by us (None when they are not ours); 403 if forged."""
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                issuer=_ISSUER,
                options={"verify_exp": False, "require": ["exp", "iat", "jti"]},
            )
        except (jwt.PyJWTError, ValueError, TypeError):
            raise invalid_credential() from None
        return self._claims(payload)

    @staticmethod
    def _claims(payload: dict[str, Any]) -> TokenClaims | None:
        conv, kind, jti = payload.get("conv"), payload.get("kind"), payload.get("jti")
        exp, iat = payload.get("exp"), payload.get("iat")
        user, user_name, wm = payload.get("user"), payload.get("user_name"), payload.get("wm")
        if not (isinstance(conv, str) and isinstance(kind, str) and isinstance(jti, str)):
            return None
        if not (_seconds(exp) and _seconds(iat)):
            return None
        if user is not None and not isinstance(user, str):
            return None
        if user_name is not None and not isinstance(user_name, str):
            return None
        if wm is not None and (not isinstance(wm, int) or isinstance(wm, bool) or wm < 0):
            return None
        return TokenClaims(conv, kind, user, user_name, wm, float(iat), float(exp), jti)


def _seconds(value: object) -> TypeGuard[int | float]:
    """A claim that is a number of seconds (a bool is none)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)
