"""The Direct Line 3.0 operations, one method each, over already-parsed inputs.

`DirectLineService` holds the config, the store, the token authority and the bot. Handlers in
`app.py` only turn HTTP into arguments and results (or `DirectLineError`s) back into HTTP, so
every rule of the catalog lives in exactly one method here. Deliberately broken "mutant"
servers subclass this class and override single methods (answer 200 instead of 201, ignore the
watermark, drop channelData, let the stream window never close, ...).

Operation methods:
    generate_token, refresh_token, start_conversation, reconnect, get_activities,
    post_activity, upload, open_stream / close_stream, connector_post, get_attachment,
    session_id
Building blocks they share (override these to change one rule everywhere):
    authenticate, authorize, check_open, parse_token_parameters, parse_watermark,
    parse_activity_body, validate_client_activity, stamp_client_activity, accept_client_activity,
    deliver_to_bot, bot_failure_error, bot_timeout_error, receive_from_bot, stamp_bot_activity,
    ends_conversation, greet, conversation_answer, stream_url, upload_activity,
    store_attachment, backlog_sets, create_store, error_response
`live.LiveDirectLineService` overrides some of them to stand in for the hosted service.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.responses import Response

from .activities import check_activity_shape, type_is, utc_timestamp
from .bot import Bot, BotFailed, EchoBot, ForwardingBot
from .config import ServerConfig
from .errors import (
    DirectLineError,
    bad_argument,
    bot_error,
    bot_timed_out,
    conversation_ended,
    error_response,
    forbidden_conversation,
    invalid_credential,
    missing_property,
    missing_stream_token,
    too_large,
    unknown_conversation,
)
from .store import (
    Conversation,
    ConversationStore,
    StoredFile,
    Subscriber,
    activity_set,
)
from .tokens import CONVERSATION, STREAM, Credential, TokenAuthority, parse_authorization
from .uploads import UploadedFile, UploadForm, parse_upload
from .wire import JSONInputError, dumps, loads

__all__ = [
    "BASE_PATH",
    "CONNECTOR_PATH",
    "DirectLineService",
    "StreamSubscription",
    "TokenParameters",
]

BASE_PATH = "/v3/directline"
CONNECTOR_PATH = "/v3/conversations"
CHANNEL_ID = "directline"
#: What JSON counts as blank (RFC 8259 § 2): str.strip() would also drop \v, \f and more.
JSON_WHITESPACE = " \t\n\r"

logger = logging.getLogger("conformance.reference")

Activity = dict[str, Any]


@dataclass(frozen=True, slots=True)
class TokenParameters:
    """The optional body of generate and start (API reference § TokenParameters object)."""

    user: dict[str, str] | None = None
    trusted_origins: tuple[str, ...] = ()
    etag: str | None = None


@dataclass(frozen=True, slots=True)
class StreamSubscription:
    """An accepted stream: what to replay first, and the live feed that follows it."""

    conversation: Conversation
    subscriber: Subscriber
    backlog: list[dict[str, Any]]


def _lookup(obj: dict[str, Any], name: str) -> Any:
    """A property by case-insensitive name (the docs' examples send `User: {Id}`)."""
    if name in obj:
        return obj[name]
    for key, value in obj.items():
        if isinstance(key, str) and key.lower() == name.lower():
            return value
    return None


class DirectLineService:
    """The state and the rules of one reference Direct Line server."""

    forbidden_client_types = frozenset(
        {"invoke", "conversationUpdate", "contactRelationUpdate", "handoff"}
    )
    """Types a client may not send (catalog decision 9; activity spec A5301, A6200)."""
    undelivered_types = frozenset({"conversationUpdate", "contactRelationUpdate"})
    """Bot activities that never reach a client (receive page table, DL-POLL-010)."""
    page_size = 1000
    """Most activities one GET answers; the client pages on with the watermark."""
    stream_queue_size = 1000
    """ActivitySets a socket may fall behind before it is closed."""
    backlog_frame_chars = 128 * 1024
    """Rough size bound of one replayed ActivitySet frame."""
    late_reply_grace = 60.0
    """How long a bot call may run on after the send answered 504, to deliver late replies."""
    token_parameters_max_bytes = 64 * 1024

    def __init__(self, config: ServerConfig, store: ConversationStore | None = None) -> None:
        self.config = config
        self.store = store if store is not None else self.create_store()
        self.tokens = TokenAuthority(config.secret)
        self.bot_account = {"id": config.bot_id, "name": config.bot_name, "role": "bot"}
        self.bot: Bot = self.create_bot()
        self._tasks: set[asyncio.Task[None]] = set()

    def create_store(self) -> ConversationStore:
        return ConversationStore()

    def error_response(self, err: DirectLineError) -> Response:
        """The HTTP answer of a refusal: every error of the app and its middleware goes here."""
        return error_response(err)

    def create_bot(self) -> Bot:
        if self.config.bot_url:
            return ForwardingBot(
                self.config.bot_url, self.config.bot_timeout + self.late_reply_grace
            )
        return EchoBot(self.config, self.receive_from_bot, dict(self.bot_account))

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.bot.aclose()

    # Credentials -------------------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> Credential:
        """The caller of an `Authorization` header: 401 if missing/malformed, 403 if unknown."""
        credential = parse_authorization(authorization)
        if self.tokens.is_secret(credential):
            return Credential(is_secret=True)
        return Credential(is_secret=False, claims=self.tokens.verify(credential, CONVERSATION))

    def authorize(self, credential: Credential, conversation_id: str) -> Conversation:
        """The conversation, if the credential may use it: the secret may use every one, a
        token only its own (403); an unknown conversation is 404."""
        if not credential.is_secret and credential.conversation_id != conversation_id:
            raise forbidden_conversation()
        conversation = self.store.get(conversation_id)
        if conversation is None:
            raise unknown_conversation()
        return conversation

    def check_open(self, conversation: Conversation) -> None:
        """Under the refuse reading, nothing more is sent after an endOfConversation (409)."""
        if conversation.ended and self.config.end_of_conversation == "refuse":
            raise conversation_ended()

    def ends_conversation(self, activity: Activity) -> bool:
        return self.config.end_of_conversation == "refuse" and type_is(
            activity, "endOfConversation"
        )

    # Answers -----------------------------------------------------------------------------

    def public_origin(self, scheme: str, host: str) -> str:
        """The origin clients and bots reach us at (config.public_url wins)."""
        return self.config.public_origin or f"{scheme}://{host}"

    def issue_token(self, conversation: Conversation, user: dict[str, str] | None) -> str:
        return self.tokens.issue(
            CONVERSATION, conversation.id, self.config.token_lifetime, user=user
        )

    def stream_url(self, conversation: Conversation, watermark: int, origin: str) -> str:
        """A ws(s):// URL whose `t` replays from `watermark` and must be connected within
        the stream window."""
        token = self.tokens.issue(
            STREAM, conversation.id, self.config.stream_window, watermark=watermark
        )
        if origin.startswith("https://"):
            ws_origin = "wss://" + origin[len("https://") :]
        else:
            ws_origin = "ws://" + origin.split("://", 1)[-1]
        path = f"{BASE_PATH}/conversations/{quote(conversation.id, safe='')}/stream"
        return f"{ws_origin}{path}?watermark={watermark}&t={token}"

    def conversation_answer(
        self,
        conversation: Conversation,
        user: dict[str, str] | None,
        origin: str | None,
        stream_from: int | None,
    ) -> dict[str, Any]:
        """The Conversation object: a fresh token, and a streamUrl when stream_from is set."""
        answer: dict[str, Any] = {
            "conversationId": conversation.id,
            "token": self.issue_token(conversation, user),
            "expires_in": self.config.token_lifetime,
        }
        if stream_from is not None and origin is not None:
            answer["streamUrl"] = self.stream_url(conversation, stream_from, origin)
        return answer

    # Tokens (auth § Generate, § Refresh) -------------------------------------------------

    def parse_token_parameters(self, raw: bytes) -> TokenParameters:
        """The optional TokenParameters body: none, empty, or JSON (keys case-insensitive)."""
        if len(raw) > self.token_parameters_max_bytes:
            raise too_large("The token parameters are too large")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise bad_argument("The body is not UTF-8 text") from None
        if not text.strip(JSON_WHITESPACE):
            return TokenParameters()
        try:
            value = loads(text)
        except JSONInputError as exc:
            raise bad_argument(f"The token parameters are not valid JSON: {exc}") from None
        if value is None:
            return TokenParameters()
        if not isinstance(value, dict):
            raise bad_argument("The token parameters must be a JSON object")
        user = self._token_user(_lookup(value, "user"))
        origins = _lookup(value, "trustedOrigins")
        if origins is not None and not (
            isinstance(origins, list) and all(isinstance(o, str) for o in origins)
        ):
            raise bad_argument("'trustedOrigins' must be an array of strings")
        etag = _lookup(value, "eTag")
        if etag is not None and not isinstance(etag, str):
            raise bad_argument("'eTag' must be a string")
        return TokenParameters(user, tuple(origins or ()), etag)

    @staticmethod
    def _token_user(user: Any) -> dict[str, str] | None:
        if user is None:
            return None
        if not isinstance(user, dict):
            raise bad_argument("'user' must be an object")
        user_id, name = _lookup(user, "id"), _lookup(user, "name")
        for key in ("id", "name", "aadObjectId", "role"):  # the Swagger's ChannelAccount
            value = _lookup(user, key)
            if value is not None and not isinstance(value, str):
                raise bad_argument(f"'user.{key}' must be a string")
        if not user_id:
            return None
        return {"id": user_id, "name": name} if name is not None else {"id": user_id}

    def generate_token(self, credential: Credential, params: TokenParameters) -> dict[str, Any]:
        """`POST /tokens/generate`: secret only; a new, not yet started conversation and a
        token for it (with the body's user embedded); no streamUrl."""
        if not credential.is_secret:
            raise invalid_credential("Tokens are generated with the secret, not with a token")
        conversation = self.store.create(user=params.user)
        return self.conversation_answer(conversation, params.user, None, None)

    def refresh_token(self, credential: Credential) -> dict[str, Any]:
        """`POST /tokens/refresh`: a new token (same conversation and user, fresh lifetime)."""
        if credential.is_secret or credential.claims is None:
            raise invalid_credential("Only tokens can be refreshed; this is the secret")
        conversation = self.store.get(credential.claims.conversation_id)
        if conversation is None:
            raise unknown_conversation()
        return self.conversation_answer(conversation, credential.user, None, None)

    # Conversations (start, reconnect) ----------------------------------------------------

    async def start_conversation(
        self, credential: Credential, params: TokenParameters, origin: str
    ) -> tuple[int, dict[str, Any]]:
        """`POST /conversations`: 201 and a new conversation (secret, or a generated token
        not used yet); 200, same conversation, nothing created, with a token that already
        started it."""
        if credential.is_secret:
            conversation = self.store.create(user=params.user)
            user = params.user
        else:
            conversation = self.authorize(credential, credential.conversation_id or "")
            user = credential.user or conversation.user or params.user
            if conversation.started:
                return 200, self.conversation_answer(
                    conversation, user, origin, conversation.watermark
                )
            if conversation.user is None:
                conversation.user = user
        conversation.started = True
        await self.greet(conversation, user, origin)
        return 201, self.conversation_answer(conversation, user, origin, 0)

    async def greet(
        self, conversation: Conversation, user: dict[str, str] | None, origin: str
    ) -> None:
        """Tell the bot about the new conversation (a conversationUpdate no client ever sees);
        a bot failure here does not fail the start."""
        members = [dict(self.bot_account)] + ([dict(user)] if user else [])
        update: Activity = {
            "type": "conversationUpdate",
            "id": conversation.unrecorded_id("u"),
            "timestamp": utc_timestamp(),
            "channelId": CHANNEL_ID,
            "serviceUrl": origin + "/",
            "from": dict(user) if user else {"id": CHANNEL_ID},
            "conversation": {"id": conversation.id},
            "recipient": dict(self.bot_account),
            "membersAdded": members,
        }
        try:
            await self.deliver_to_bot(conversation, update)
        except DirectLineError as err:
            logger.warning(
                "bot did not take the conversationUpdate of %s: %s", conversation.id, err
            )

    def reconnect(
        self, credential: Credential, conversation_id: str, watermark: str | None, origin: str
    ) -> dict[str, Any]:
        """`GET /conversations/{id}`: a fresh token and a streamUrl replaying from the
        watermark, or from now when none is given."""
        conversation = self.authorize(credential, conversation_id)
        start = self.parse_watermark(watermark, conversation)
        user = conversation.user if credential.is_secret else credential.user
        stream_from = conversation.watermark if start is None else start
        return self.conversation_answer(conversation, user, origin, stream_from)

    def parse_watermark(self, raw: str | None, conversation: Conversation) -> int | None:
        """A watermark this conversation issued: None when absent or empty, `-` = 0; a value
        never issued is 400."""
        if raw is None or raw == "":
            return None
        if raw == "-":
            return 0
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
            raise bad_argument(
                f"Invalid watermark {raw[:40]!r}: not a watermark of this conversation"
            )
        value = int(raw)
        if value > conversation.watermark:
            raise bad_argument(f"Invalid watermark {raw!r}: not issued by this conversation")
        return value

    # Receive by polling ------------------------------------------------------------------

    def get_activities(
        self, credential: Credential, conversation_id: str, watermark: str | None
    ) -> dict[str, Any]:
        """`GET /conversations/{id}/activities`: the recorded activities from the watermark
        on, in record order, with the watermark after the last one (always a string)."""
        conversation = self.authorize(credential, conversation_id)
        start = self.parse_watermark(watermark, conversation) or 0
        page = conversation.activities[start : start + self.page_size]
        return activity_set(page, start + len(page))

    # Send --------------------------------------------------------------------------------

    def parse_activity_body(self, raw: bytes) -> Any:
        """Decode a JSON body of at most max_activity_chars characters (413 above, 400 if
        it is not JSON)."""
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise bad_argument("The body is not UTF-8 text") from None
        return self.parse_activity_text(text)

    def parse_activity_text(self, text: str) -> Any:
        limit = self.config.max_activity_chars
        if len(text) > limit:
            raise too_large(f"The activity is larger than {limit} characters of JSON")
        if not text.strip(JSON_WHITESPACE):
            raise bad_argument("The body is empty: expected one activity as a JSON object")
        try:
            return loads(text)
        except JSONInputError as exc:
            raise bad_argument(f"The body is not valid JSON: {exc}") from None

    def validate_client_activity(self, value: Any) -> Activity:
        """One activity object with the right field types, of a type a client may send."""
        activity = check_activity_shape(value)
        if activity["type"] in self.forbidden_client_types:
            raise bad_argument(
                f"Activities of type '{activity['type']}' cannot be sent by a client"
            )
        return activity

    async def post_activity(
        self, credential: Credential, conversation_id: str, raw: bytes, origin: str
    ) -> dict[str, Any]:
        """`POST /conversations/{id}/activities`: record, deliver to the bot, answer `{id}`."""
        conversation = self.authorize(credential, conversation_id)
        self.check_open(conversation)
        activity = self.validate_client_activity(self.parse_activity_body(raw))
        return await self.accept_client_activity(conversation, activity, credential, origin)

    def stamp_client_activity(
        self,
        conversation: Conversation,
        activity: Activity,
        credential: Credential,
        origin: str,
    ) -> Activity:
        """The activity as recorded: the channel's fields set, everything else as sent, and
        `from.id` forced to the token's user when one is embedded."""
        stamped = dict(activity)
        user = credential.user
        sender = stamped.get("from")
        if user is not None:
            sender = dict(sender) if isinstance(sender, dict) else {}
            sender["id"] = user["id"]
            if user.get("name") is not None and not sender.get("name"):
                sender["name"] = user["name"]
            stamped["from"] = sender
        elif not (isinstance(sender, dict) and isinstance(sender.get("id"), str) and sender["id"]):
            raise missing_property("Missing 'Activity.From.Id' field")
        stamped["timestamp"] = utc_timestamp()
        stamped["channelId"] = CHANNEL_ID
        stamped["conversation"] = {"id": conversation.id}
        stamped["serviceUrl"] = origin + "/"
        stamped["recipient"] = dict(self.bot_account)
        return stamped

    async def accept_client_activity(
        self,
        conversation: Conversation,
        activity: Activity,
        credential: Credential,
        origin: str,
    ) -> dict[str, Any]:
        """Record the activity (typing only goes to open streams), then hand it to the bot."""
        stamped = self.stamp_client_activity(conversation, activity, credential, origin)
        if type_is(stamped, "typing"):
            self.publish_unrecorded(conversation, stamped, "t")
        else:
            conversation.record(stamped)
            if self.ends_conversation(stamped):
                conversation.ended = True
        await self.deliver_to_bot(conversation, stamped)
        return {"id": stamped["id"]}

    def publish_unrecorded(
        self, conversation: Conversation, activity: Activity, prefix: str
    ) -> None:
        """Give an unrecorded activity (typing) an id and push it to open streams only."""
        activity["id"] = conversation.unrecorded_id(prefix)
        conversation.broadcast(activity_set([activity], conversation.watermark))

    # The bot -----------------------------------------------------------------------------

    async def deliver_to_bot(self, conversation: Conversation, activity: Activity) -> None:
        """Hand an activity to the bot and wait at most bot_timeout: 502 if it fails, 504 if
        it is late (it keeps running, so a late reply is still delivered).

        The bot gets the recorded activity itself, not a copy (bots only read it, see bot.Bot).
        The in-process bot usually finishes in its first step: one turn of the loop tells, and
        only a bot that takes longer costs a timer for the wait and one for its grace limit.
        """
        task = asyncio.ensure_future(self.bot.on_activity(conversation.id, activity))
        self._tasks.add(task)
        task.add_done_callback(self._forget_task)
        await asyncio.sleep(0)
        if not task.done():
            self._limit_bot_call(task)
            done, _pending = await asyncio.wait({task}, timeout=self.config.bot_timeout)
            if not done:
                raise self.bot_timeout_error()
        if task.cancelled():
            raise self.bot_failure_error(None)
        failure = task.exception()
        if failure is None:
            return
        if not isinstance(failure, BotFailed):
            logger.error("the bot raised %r", failure)
        raise self.bot_failure_error(failure)

    def bot_failure_error(self, failure: BaseException | None) -> DirectLineError:
        """The refusal of a send the bot failed (`failure`: what it raised, if anything)."""
        return bot_error()

    def bot_timeout_error(self) -> DirectLineError:
        """The refusal of a send the bot did not take within bot_timeout."""
        return bot_timed_out()

    def _limit_bot_call(self, task: asyncio.Task[None]) -> None:
        """Cancel a bot call still running late_reply_grace after the send answered 504."""
        limit = self.config.bot_timeout + self.late_reply_grace
        timer = asyncio.get_running_loop().call_later(limit, task.cancel)
        task.add_done_callback(lambda _task: timer.cancel())

    def _forget_task(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a late failure is not an "unretrieved" error

    async def receive_from_bot(self, conversation_id: str, activity: Activity) -> str | None:
        """A bot activity enters the conversation: its id, or None when it is dropped
        because the conversation has ended (refuse reading)."""
        conversation = self.store.get(conversation_id)
        if conversation is None:
            return None
        if conversation.ended and self.config.end_of_conversation == "refuse":
            return None
        stamped = self.stamp_bot_activity(conversation, activity)
        if stamped.get("type") in self.undelivered_types:
            return conversation.unrecorded_id("u")
        if type_is(stamped, "typing"):
            self.publish_unrecorded(conversation, stamped, "t")
            return str(stamped["id"])
        conversation.record(stamped)
        if self.ends_conversation(stamped):
            conversation.ended = True
        return str(stamped["id"])

    def stamp_bot_activity(self, conversation: Conversation, activity: Activity) -> Activity:
        stamped = dict(activity)
        if not isinstance(stamped.get("from"), dict) or not stamped["from"].get("id"):
            stamped["from"] = dict(self.bot_account)
        stamped["timestamp"] = utc_timestamp()
        stamped["channelId"] = CHANNEL_ID
        stamped["conversation"] = {"id": conversation.id}
        return stamped

    async def connector_post(
        self, conversation_id: str, raw: bytes, reply_to_id: str | None
    ) -> dict[str, Any]:
        """`POST /v3/conversations/{id}/activities[/{activityId}]` from an external bot."""
        conversation = self.store.get(conversation_id)
        if conversation is None:
            raise unknown_conversation()
        activity = check_activity_shape(self.parse_activity_body(raw))
        if reply_to_id and not activity.get("replyToId"):
            activity["replyToId"] = reply_to_id
        activity_id = await self.receive_from_bot(conversation.id, activity)
        if activity_id is None:
            raise conversation_ended()
        return {"id": activity_id}

    # Upload ------------------------------------------------------------------------------

    def parse_upload(
        self, content_type: str | None, content_disposition: str | None, body: bytes
    ) -> UploadForm:
        return parse_upload(content_type, content_disposition, body)

    async def upload(
        self,
        credential: Credential,
        conversation_id: str,
        user_id: str | None,
        content_type: str | None,
        content_disposition: str | None,
        body: bytes,
        origin: str,
    ) -> dict[str, Any]:
        """`POST /conversations/{id}/upload?userId=`: the files become attachments of one
        activity (the activity part, or an empty message from the user), sent like a send."""
        conversation = self.authorize(credential, conversation_id)
        self.check_open(conversation)
        if not user_id:
            raise missing_property("Missing 'userId' query parameter")
        form = self.parse_upload(content_type, content_disposition, body)
        activity = self.upload_activity(user_id, form, origin)
        return await self.accept_client_activity(conversation, activity, credential, origin)

    def upload_activity(self, user_id: str, form: UploadForm, origin: str) -> Activity:
        """The activity an upload sends: the uploaded files replace any attachment list the
        activity part declared (the official client lists them there too)."""
        activity: Activity = {"type": "message"}
        if form.activity_json is not None:
            value = self.parse_activity_text(form.activity_json)
            if isinstance(value, dict) and value.get("type") is None:
                value["type"] = "message"
            activity = self.validate_client_activity(value)
        sender = activity.get("from")
        sender = dict(sender) if isinstance(sender, dict) else {}
        sender["id"] = user_id
        activity["from"] = sender
        if form.files:
            activity["attachments"] = [self.store_attachment(f, origin) for f in form.files]
        return activity

    def store_attachment(self, file: UploadedFile, origin: str) -> dict[str, Any]:
        key = self.store.put_file(file.content_type, file.name, file.data)
        url = f"{origin}{BASE_PATH}/attachments/{key}/{quote(file.name, safe='')}"
        return {"contentType": file.content_type, "contentUrl": url, "name": file.name}

    def get_attachment(self, key: str) -> StoredFile:
        """An uploaded file by the key of its capability URL (404 when unknown)."""
        stored = self.store.get_file(key)
        if stored is None:
            raise DirectLineError(404, "BadArgument", "File not found")
        return stored

    # Stream ------------------------------------------------------------------------------

    def open_stream(self, conversation_id: str, stream_token: str | None) -> StreamSubscription:
        """Check a stream URL's `t` and subscribe: 401 without one, 403 if forged, for
        another conversation, or past its connect window (TokenExpired)."""
        if not stream_token:
            raise missing_stream_token()
        claims = self.tokens.verify(stream_token, STREAM)
        if claims.conversation_id != conversation_id:
            raise forbidden_conversation()
        conversation = self.store.get(conversation_id)
        if conversation is None:
            raise unknown_conversation()
        subscriber = Subscriber(self.stream_queue_size)
        start = min(claims.watermark or 0, conversation.watermark)
        backlog = conversation.subscribe(subscriber, start)
        return StreamSubscription(conversation, subscriber, self.backlog_sets(backlog, start))

    def close_stream(self, subscription: StreamSubscription) -> None:
        subscription.conversation.unsubscribe(subscription.subscriber)

    def backlog_sets(self, activities: list[Activity], start: int) -> list[dict[str, Any]]:
        """The replay as ActivitySets in record order, each bounded in size, each with the
        watermark after its last activity."""
        sets: list[dict[str, Any]] = []
        batch: list[Activity] = []
        size = 0
        position = start
        for activity in activities:
            batch.append(activity)
            position += 1
            size += len(dumps(activity))
            if size >= self.backlog_frame_chars:
                sets.append(activity_set(batch, position))
                batch, size = [], 0
        if batch:
            sets.append(activity_set(batch, position))
        return sets

    # Extras ------------------------------------------------------------------------------

    def session_id(self) -> dict[str, Any]:
        """`GET /session/getsessionid` (newer Swagger; the official client's getSessionId)."""
        return {"sessionId": secrets.token_urlsafe(16)}
