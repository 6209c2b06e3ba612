"""Mutants of the WebSocket stream rules (suite module test_websocket_stream)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from conformance.reference.app import create_app
from conformance.reference.config import ServerConfig
from conformance.reference.errors import DirectLineError
from conformance.reference.service import DirectLineService, StreamSubscription
from conformance.reference.store import Subscriber, activity_set
from conformance.reference.tokens import STREAM
from tests.mutants.framework import mutant, recorded_activity

MODULE = "test_websocket_stream"

Message = dict[str, Any]


def rewrite_stream_frames(app: Any, change: Callable[[Message], Message]) -> Any:
    """Wrap ``app`` so ``change`` may rewrite every ``websocket.send`` message."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await app(scope, receive, send)
            return

        async def edited_send(message: Message) -> None:
            if message["type"] == "websocket.send":
                message = change(message)
            await send(message)

        await app(scope, receive, edited_send)

    return wrapped


@mutant("DL-STREAM-001", modules=MODULE)
def handshake_needs_authorization(config: ServerConfig) -> Any:
    """The stream handshake is refused (403) without an Authorization header."""
    app = create_app(config)

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = scope.get("headers", [])
        if scope["type"] == "websocket" and not any(
            k.lower() == b"authorization" for k, _ in headers
        ):
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})
            return
        await app(scope, receive, send)

    return wrapped


@mutant("DL-STREAM-002", modules=MODULE)
def activity_sets_as_binary(config: ServerConfig) -> Any:
    """ActivitySets are sent as binary WebSocket messages, not text."""

    def change(message: Message) -> Message:
        text = message.get("text")
        if text:
            return {"type": "websocket.send", "bytes": text.encode("utf-8")}
        return message

    return rewrite_stream_frames(create_app(config), change)


@mutant("DL-STREAM-002", modules=MODULE)
def activity_sets_as_bare_arrays(config: ServerConfig) -> Any:
    """Each stream message is the bare JSON array of its activities, not an ActivitySet."""

    def change(message: Message) -> Message:
        text = message.get("text")
        if not text:
            return message
        data = json.loads(text)
        if isinstance(data, dict) and isinstance(data.get("activities"), list):
            return {**message, "text": json.dumps(data["activities"])}
        return message

    return rewrite_stream_frames(create_app(config), change)


@mutant("DL-STREAM-003", modules=MODULE)
class BotActivitiesNotStreamed(DirectLineService):
    """The bot's activities are recorded but never pushed to open streams."""

    async def receive_from_bot(self, conversation_id: str, activity: Any) -> str | None:
        conversation = self.store.get(conversation_id)
        if conversation is None:
            return await super().receive_from_bot(conversation_id, activity)
        subscribers, conversation.subscribers = conversation.subscribers, None
        try:
            return await super().receive_from_bot(conversation_id, activity)
        finally:
            if conversation.subscribers is None:
                conversation.subscribers = subscribers


@mutant("DL-STREAM-004", modules=MODULE)
class NoBacklogOnConnect(DirectLineService):
    """A new stream starts from now: what was posted before the socket opened is never sent."""

    def open_stream(self, conversation_id: str, stream_token: str | None) -> Any:
        subscription = super().open_stream(conversation_id, stream_token)
        return StreamSubscription(subscription.conversation, subscription.subscriber, [])


@mutant("DL-STREAM-005", modules=MODULE)
class ClientTypingNotStreamed(DirectLineService):
    """The client's typing is accepted but never pushed to streams."""

    def publish_unrecorded(self, conversation: Any, activity: Any, prefix: str) -> None:
        activity["id"] = conversation.unrecorded_id(prefix)


@mutant("DL-STREAM-006", modules=MODULE)
def empty_client_frame_ends_the_stream(config: ServerConfig) -> Any:
    """An empty message from the client ends the stream."""
    app = create_app(config)

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await app(scope, receive, send)
            return

        async def edited_receive() -> Message:
            message = await receive()
            if message["type"] == "websocket.receive" and message.get("text") == "":
                return {"type": "websocket.disconnect", "code": 1000}
            return message

        await app(scope, edited_receive, send)

    return wrapped


@mutant("DL-STREAM-007", modules=MODULE)
class ClientActivitiesStreamedTwice(DirectLineService):
    """Each recorded client activity is pushed to open streams twice."""

    async def accept_client_activity(
        self, conversation: Any, activity: Any, credential: Any, origin: str
    ) -> Any:
        answer = await super().accept_client_activity(conversation, activity, credential, origin)
        recorded = recorded_activity(conversation, answer["id"])
        if recorded is not None:
            conversation.broadcast(activity_set([recorded], conversation.watermark))
        return answer


@mutant("DL-STREAM-008", modules=MODULE)
def stream_watermark_zero(config: ServerConfig) -> Any:
    """Every ActivitySet on the stream carries watermark "0"."""

    def change(message: Message) -> Message:
        text = message.get("text")
        if text:
            data = json.loads(text)
            if isinstance(data, dict) and "watermark" in data:
                data["watermark"] = "0"
                return {"type": "websocket.send", "text": json.dumps(data)}
        return message

    return rewrite_stream_frames(create_app(config), change)


@mutant("DL-STREAM-009", modules=MODULE)
class HalfTheStreamWindow(DirectLineService):
    """Stream URLs expire after half the declared connect window."""

    def stream_url(self, conversation: Any, watermark: int, origin: str) -> str:
        url = super().stream_url(conversation, watermark, origin)
        token = self.tokens.issue(
            STREAM, conversation.id, self.config.stream_window / 2, watermark=watermark
        )
        return url.split("&t=", 1)[0] + "&t=" + token


@mutant("DL-STREAM-010", modules=MODULE)
class StreamWindowNeverCloses(DirectLineService):
    """Stream URLs can be connected to for a day."""

    def stream_url(self, conversation: Any, watermark: int, origin: str) -> str:
        url = super().stream_url(conversation, watermark, origin)
        token = self.tokens.issue(STREAM, conversation.id, 86400.0, watermark=watermark)
        return url.split("&t=", 1)[0] + "&t=" + token


@mutant("DL-STREAM-011", modules=MODULE)
class StreamOnlyActivities(DirectLineService):
    """Each client event is followed on the stream by a bot message GET never returns."""

    async def accept_client_activity(
        self, conversation: Any, activity: Any, credential: Any, origin: str
    ) -> Any:
        answer = await super().accept_client_activity(conversation, activity, credential, origin)
        if activity.get("type") == "event":
            phantom = {
                "type": "message",
                "id": conversation.unrecorded_id("p"),
                "timestamp": "2026-01-01T00:00:00.000Z",
                "channelId": "directline",
                "from": dict(self.bot_account),
                "conversation": {"id": conversation.id},
                "text": "only on the stream",
            }
            conversation.broadcast(activity_set([phantom], conversation.watermark))
        return answer


@mutant("DL-STREAM-014", modules=MODULE)
class ForgedStreamTokenAccepted(DirectLineService):
    """A stream URL whose `t` does not verify is accepted anyway (expired ones are refused)."""

    def open_stream(self, conversation_id: str, stream_token: str | None) -> Any:
        try:
            return super().open_stream(conversation_id, stream_token)
        except DirectLineError as err:
            conversation = self.store.get(conversation_id)
            if err.code == "TokenExpired" or not stream_token or conversation is None:
                raise
        subscriber = Subscriber(self.stream_queue_size)
        backlog = conversation.subscribe(subscriber, 0)
        return StreamSubscription(conversation, subscriber, self.backlog_sets(backlog, 0))
