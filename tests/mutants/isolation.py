"""Mutants of the isolation rules (suite module test_isolation)."""

from __future__ import annotations

from typing import Any

from conformance.reference.errors import unknown_conversation
from conformance.reference.service import DirectLineService, StreamSubscription
from conformance.reference.store import Subscriber, activity_set
from conformance.reference.tokens import CONVERSATION, STREAM, Credential
from tests.mutants.framework import mutant

MODULE = "test_isolation"

#: The master key's credential: what a mutant hands on when it forgets a token's scope.
AS_SECRET = Credential(is_secret=True)


def foreign(credential: Credential, conversation_id: str) -> bool:
    """A token used on a conversation that is not its own."""
    return not credential.is_secret and credential.conversation_id != conversation_id


@mutant("DL-ISO-001", "DL-ISO-006", modules=MODULE)
class TokensReadAnyConversation(DirectLineService):
    """GET activities accepts any conversation's token (every token reads every conversation,
    refreshed ones included)."""

    def get_activities(self, credential: Credential, conversation_id: str, watermark: Any) -> Any:
        if foreign(credential, conversation_id):
            credential = AS_SECRET
        return super().get_activities(credential, conversation_id, watermark)


@mutant("DL-ISO-002", "DL-ISO-006", modules=MODULE)
class TokensPostAnywhere(DirectLineService):
    """A send accepts any conversation's token (refreshed ones included)."""

    async def post_activity(
        self, credential: Credential, conversation_id: str, raw: bytes, origin: str
    ) -> Any:
        if foreign(credential, conversation_id):
            credential = AS_SECRET
        return await super().post_activity(credential, conversation_id, raw, origin)


@mutant("DL-ISO-003", modules=MODULE)
class TokensReconnectAnywhere(DirectLineService):
    """Reconnect accepts any conversation's token."""

    def reconnect(
        self, credential: Credential, conversation_id: str, watermark: Any, origin: str
    ) -> Any:
        if foreign(credential, conversation_id):
            credential = AS_SECRET
        return super().reconnect(credential, conversation_id, watermark, origin)


@mutant("DL-ISO-004", modules=MODULE)
class TokensUploadAnywhere(DirectLineService):
    """Upload accepts any conversation's token."""

    async def upload(self, credential: Credential, conversation_id: str, *args: Any) -> Any:
        if foreign(credential, conversation_id):
            credential = AS_SECRET
        return await super().upload(credential, conversation_id, *args)


@mutant("DL-ISO-005", modules=MODULE)
class StreamTrustsThePath(DirectLineService):
    """A stream URL's `t` opens whichever conversation the path names."""

    def open_stream(self, conversation_id: str, stream_token: str | None) -> StreamSubscription:
        if not stream_token:
            return super().open_stream(conversation_id, stream_token)
        claims = self.tokens.verify(stream_token, STREAM)
        conversation = self.store.get(conversation_id)
        if conversation is None:
            raise unknown_conversation()
        subscriber = Subscriber(self.stream_queue_size)
        start = min(claims.watermark or 0, conversation.watermark)
        backlog = conversation.subscribe(subscriber, start)
        return StreamSubscription(conversation, subscriber, self.backlog_sets(backlog, start))


@mutant("DL-ISO-005", modules=MODULE)
class StreamsCarryEveryConversation(DirectLineService):
    """Every recorded client activity is pushed to the open streams of every conversation."""

    async def accept_client_activity(
        self, conversation: Any, activity: Any, credential: Credential, origin: str
    ) -> Any:
        answer = await super().accept_client_activity(conversation, activity, credential, origin)
        recorded = [a for a in conversation.activities if a.get("id") == answer["id"]]
        for other in self.store:
            if other is not conversation and recorded:
                other.broadcast(activity_set(recorded, other.watermark))
        return answer


class _TracksRefreshed(DirectLineService):
    def __init__(self, config: Any, store: Any = None) -> None:
        super().__init__(config, store)
        self.refreshed: set[str] = set()

    def refresh_token(self, credential: Credential) -> Any:
        answer = super().refresh_token(credential)
        self.refreshed.add(self.tokens.verify(answer["token"], CONVERSATION).jti)
        return answer


@mutant("DL-ISO-006", modules=MODULE)
class RefreshedTokensUnscoped(_TracksRefreshed):
    """A refreshed token is accepted on every conversation (it lost its scope)."""

    def authorize(self, credential: Credential, conversation_id: str) -> Any:
        if credential.claims is not None and credential.claims.jti in self.refreshed:
            credential = AS_SECRET
        return super().authorize(credential, conversation_id)
