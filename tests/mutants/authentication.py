"""Mutants of the authentication and token rules (suite module test_authentication)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import jwt

from conformance.reference.app import create_app
from conformance.reference.config import ServerConfig
from conformance.reference.errors import (
    DirectLineError,
    invalid_credential,
    malformed_credential,
)
from conformance.reference.service import DirectLineService
from conformance.reference.tokens import CONVERSATION, Credential, TokenAuthority, TokenClaims
from tests.mutants.framework import mutant
from tests.mutants.wire import replace_error_body, set_header, with_request_body

MODULE = "test_authentication"

Message = dict[str, Any]
#: (scope, status, body) -> a replacement (status, body), or None to leave the answer alone.
AnswerChange = Callable[[dict[str, Any], int, bytes], "tuple[int, bytes] | None"]


def rewrite_answer(app: Any, change: AnswerChange) -> Any:
    """Wrap ``app`` so ``change`` may replace the status and body of any HTTP answer."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        start: Message = {}
        chunks: list[bytes] = []

        async def held_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            replaced = change(scope, start["status"], body)
            if replaced is not None:
                start["status"], body = replaced
                set_header(start, "content-length", str(len(body)))
            await send(start)
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await app(scope, receive, held_send)

    return wrapped


def error_code(body: bytes) -> str | None:
    try:
        return json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def is_operation(scope: dict[str, Any], method: str, pattern: str) -> bool:
    return (
        scope["method"] == method
        and re.fullmatch(r"/v3/directline" + pattern, scope["path"]) is not None
    )


# --- DL-AUTH-001 / 002 / 003 ------------------------------------------------------------------


@mutant("DL-AUTH-001", modules=MODULE)
class MissingHeaderAnswers403(DirectLineService):
    """A request without an Authorization header is refused with 403 instead of 401."""

    def authenticate(self, authorization: str | None) -> Credential:
        if authorization is None:
            raise invalid_credential("No credential")
        return super().authenticate(authorization)


@mutant("DL-AUTH-001", "DL-AUTH-002", modules=MODULE)
def reconnect_refuses_with_403(config: ServerConfig) -> Any:
    """Reconnect answers 403 where it should answer 401 (no or malformed Authorization)."""

    def change(scope: dict[str, Any], status: int, body: bytes) -> tuple[int, bytes] | None:
        if status == 401 and is_operation(scope, "GET", r"/conversations/[^/]+"):
            return 403, body
        return None

    return rewrite_answer(create_app(config), change)


@mutant("DL-AUTH-001", modules=MODULE)
def unauthorized_as_plain_text(config: ServerConfig) -> Any:
    """Every 401 carries a plain-text body instead of an ErrorResponse."""
    return replace_error_body(create_app(config), 401, b"Unauthorized")


@mutant("DL-AUTH-002", modules=MODULE)
class SchemeIsCaseSensitive(DirectLineService):
    """`Authorization: bearer <secret>` (lower-case scheme) is refused as malformed."""

    def authenticate(self, authorization: str | None) -> Credential:
        if authorization is not None and authorization.split()[:1] == ["bearer"]:
            raise malformed_credential()
        return super().authenticate(authorization)


@mutant("DL-AUTH-002", modules=MODULE)
class BareBearerAnswers403(DirectLineService):
    """`Authorization: Bearer` with no credential is answered 403 (as an unknown credential)."""

    def authenticate(self, authorization: str | None) -> Credential:
        if authorization is not None and authorization.strip() == "Bearer":
            raise invalid_credential()
        return super().authenticate(authorization)


@mutant("DL-AUTH-003", modules=MODULE)
def start_refuses_unknown_with_400(config: ServerConfig) -> Any:
    """Start answers an unknown credential with 400 instead of 403."""

    def change(scope: dict[str, Any], status: int, body: bytes) -> tuple[int, bytes] | None:
        if status == 403 and is_operation(scope, "POST", r"/conversations"):
            return 400, body
        return None

    return rewrite_answer(create_app(config), change)


# --- DL-AUTH-004 / 005 / 006 ------------------------------------------------------------------


@mutant("DL-AUTH-004", modules=MODULE)
class SecretCannotReconnect(DirectLineService):
    """Reconnect refuses the secret (403): it is not a master key there."""

    def reconnect(
        self, credential: Credential, conversation_id: str, watermark: str | None, origin: str
    ) -> dict[str, Any]:
        if credential.is_secret:
            raise invalid_credential("Reconnect needs the conversation's token")
        return super().reconnect(credential, conversation_id, watermark, origin)


@mutant("DL-AUTH-005", modules=MODULE)
class TokenCannotUpload(DirectLineService):
    """Upload refuses the conversation's own token (403): only the secret may upload."""

    async def upload(self, credential: Credential, *args: Any) -> dict[str, Any]:
        if not credential.is_secret:
            raise invalid_credential("Uploads need the secret")
        return await super().upload(credential, *args)


@mutant("DL-AUTH-006", modules=MODULE)
class GenerateAcceptsTokens(DirectLineService):
    """tokens/generate hands out a new conversation to a conversation token too."""

    def generate_token(self, credential: Credential, params: Any) -> dict[str, Any]:
        return super().generate_token(Credential(is_secret=True), params)


# --- DL-AUTH-007 / 008, DL-TOKEN-010 / 011: expiry ----------------------------------------


class _NeverExpiring(TokenAuthority):
    """Verifies signatures but ignores `exp`."""

    def verify(self, token: str, kind: str) -> TokenClaims:
        try:
            return super().verify(token, kind)
        except DirectLineError as err:
            if err.code != "TokenExpired":
                raise
        payload = jwt.decode(token, self._key, algorithms=["HS256"], options={"verify_exp": False})
        claims = self._claims(payload)
        assert claims is not None
        return claims


@mutant("DL-AUTH-007", "DL-TOKEN-010", modules=MODULE)
class ExpiredTokensAccepted(DirectLineService):
    """Tokens never expire: an expired token still reads and refreshes."""

    def __init__(self, config: ServerConfig, store: Any = None) -> None:
        super().__init__(config, store)
        self.tokens = _NeverExpiring(config.secret)


@mutant("DL-AUTH-007", modules=MODULE)
def expired_get_answers_bad_argument(config: ServerConfig) -> Any:
    """GET activities with an expired token answers 403 with the code BadArgument, not
    TokenExpired."""

    def change(scope: dict[str, Any], status: int, body: bytes) -> tuple[int, bytes] | None:
        if (
            status == 403
            and error_code(body) == "TokenExpired"
            and is_operation(scope, "GET", r"/conversations/[^/]+/activities")
        ):
            return 403, error_body("BadArgument", "Invalid token")
        return None

    return rewrite_answer(create_app(config), change)


@mutant("DL-AUTH-008", modules=MODULE)
class TokensExpireEarly(DirectLineService):
    """Tokens live 60% of the expires_in they are answered with.

    The check tries a token at min(90%, lifetime - margin) of its lifetime (clock skew): it can
    only see an expiry earlier than that moment (6 s of the compressed 8 s).
    """

    def issue_token(self, conversation: Any, user: dict[str, str] | None) -> str:
        return self.tokens.issue(
            CONVERSATION, conversation.id, self.config.token_lifetime * 0.6, user=user
        )


@mutant("DL-TOKEN-010", modules=MODULE)
def expired_refresh_answers_401(config: ServerConfig) -> Any:
    """Refreshing an expired token answers 401 instead of 403 TokenExpired."""

    def change(scope: dict[str, Any], status: int, body: bytes) -> tuple[int, bytes] | None:
        if (
            status == 403
            and error_code(body) == "TokenExpired"
            and is_operation(scope, "POST", r"/tokens/refresh")
        ):
            return 401, body
        return None

    return rewrite_answer(create_app(config), change)


@mutant("DL-TOKEN-011", modules=MODULE)
class RefreshKeepsTheOldExpiry(DirectLineService):
    """A refreshed token expires when the refreshed one did (expires_in still claims more)."""

    def refresh_token(self, credential: Credential) -> dict[str, Any]:
        answer = super().refresh_token(credential)
        claims = credential.claims
        assert claims is not None
        answer["token"] = self.tokens.issue(
            CONVERSATION,
            claims.conversation_id,
            max(0.001, claims.expires_at - time.time()),
            user=credential.user,
        )
        return answer


# --- DL-TOKEN-001 .. 009, 012 ---------------------------------------------------------------


@mutant("DL-TOKEN-001", modules=MODULE)
class GenerateExpiresInAsString(DirectLineService):
    """The generate answer's `expires_in` is the string "1800", not an integer."""

    def generate_token(self, credential: Credential, params: Any) -> dict[str, Any]:
        answer = super().generate_token(credential, params)
        answer["expires_in"] = str(answer["expires_in"])
        return answer


@mutant("DL-TOKEN-002", modules=MODULE)
class GenerateAnswersStreamUrl(DirectLineService):
    """The generate answer carries a streamUrl."""

    def generate_token(self, credential: Credential, params: Any) -> dict[str, Any]:
        answer = super().generate_token(credential, params)
        conversation = self.store.get(answer["conversationId"])
        answer["streamUrl"] = self.stream_url(conversation, 0, "http://127.0.0.1")
        return answer


@mutant("DL-TOKEN-003", modules=MODULE)
class GenerateReusesUnstarted(DirectLineService):
    """Generate answers the previous generated conversation again while it is not started."""

    last: Any = None

    def generate_token(self, credential: Credential, params: Any) -> dict[str, Any]:
        if credential.is_secret and self.last is not None and not self.last.started:
            return self.conversation_answer(self.last, params.user, None, None)
        answer = super().generate_token(credential, params)
        self.last = self.store.get(answer["conversationId"])
        return answer


@mutant("DL-TOKEN-004", modules=MODULE)
class GeneratedTokenStartsAnother(DirectLineService):
    """A start with a generated token opens a different, new conversation."""

    async def start_conversation(
        self, credential: Credential, params: Any, origin: str
    ) -> tuple[int, dict[str, Any]]:
        if not credential.is_secret:
            own = self.store.get(credential.conversation_id or "")
            if own is not None and not own.started:
                own.started = True
                other = self.store.create(user=credential.user)
                other.started = True
                return 201, self.conversation_answer(other, credential.user, origin, 0)
        return await super().start_conversation(credential, params, origin)


@mutant("DL-TOKEN-005", modules=MODULE)
def generate_refuses_a_body(config: ServerConfig) -> Any:
    """tokens/generate answers 400 when it has a TokenParameters body."""

    def change(scope: dict[str, Any], body: bytes, message: dict[str, Any]) -> None:
        if is_operation(scope, "POST", r"/tokens/generate") and body.strip():
            message["status"] = 400

    return with_request_body(create_app(config), change)


@mutant("DL-TOKEN-006", modules=MODULE)
class ForgedSenderKept(DirectLineService):
    """The from.id a client sends is recorded as sent, even with a user embedded in the token."""

    def stamp_client_activity(
        self, conversation: Any, activity: Any, credential: Credential, origin: str
    ) -> Any:
        anonymous = Credential(is_secret=credential.is_secret)
        return super().stamp_client_activity(conversation, activity, anonymous, origin)


@mutant("DL-TOKEN-007", modules=MODULE)
class RefreshExpiresInAsString(DirectLineService):
    """The refresh answer's `expires_in` is a string."""

    def refresh_token(self, credential: Credential) -> dict[str, Any]:
        answer = super().refresh_token(credential)
        answer["expires_in"] = str(answer["expires_in"])
        return answer


class _TracksRefreshed(DirectLineService):
    """Remembers the jti of every token refresh issued."""

    def __init__(self, config: ServerConfig, store: Any = None) -> None:
        super().__init__(config, store)
        self.refreshed: set[str] = set()

    def refresh_token(self, credential: Credential) -> dict[str, Any]:
        answer = super().refresh_token(credential)
        self.refreshed.add(self.tokens.verify(answer["token"], CONVERSATION).jti)
        return answer

    def was_refreshed(self, credential: Credential) -> bool:
        return credential.claims is not None and credential.claims.jti in self.refreshed


@mutant("DL-TOKEN-008", modules=MODULE)
class RefreshedTokensCannotSend(_TracksRefreshed):
    """A refreshed token can read its conversation but not send to it (403)."""

    async def post_activity(
        self, credential: Credential, conversation_id: str, raw: bytes, origin: str
    ) -> dict[str, Any]:
        if self.was_refreshed(credential):
            raise invalid_credential("Refreshed tokens cannot send")
        return await super().post_activity(credential, conversation_id, raw, origin)


@mutant("DL-TOKEN-009", modules=MODULE)
class RefreshedTokensCannotBeRefreshed(_TracksRefreshed):
    """A token that came from a refresh cannot be refreshed again (403)."""

    def refresh_token(self, credential: Credential) -> dict[str, Any]:
        if self.was_refreshed(credential):
            raise invalid_credential("This token was already refreshed once")
        return super().refresh_token(credential)


@mutant("DL-TOKEN-012", modules=MODULE)
def refresh_without_header_answers_400(config: ServerConfig) -> Any:
    """tokens/refresh without an Authorization header answers 400 instead of 401."""

    def change(scope: dict[str, Any], status: int, body: bytes) -> tuple[int, bytes] | None:
        if status == 401 and is_operation(scope, "POST", r"/tokens/refresh"):
            return 400, body
        return None

    return rewrite_answer(create_app(config), change)


@mutant(
    "DL-TOKEN-013",
    modules=MODULE,
    profile_timings={"token_lifetime": None},
    token_lifetime=600,
)
class TenMinuteTokens(DirectLineService):
    """Tokens live 600 s: shorter than the official client's 15-minute refresh timer.

    The profile declares no token lifetime, as for a target that hands out real ones.
    """
