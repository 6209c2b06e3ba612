"""The live behaviour: the reference server standing in for the hosted Direct Line service.

The hosted service (directline.botframework.com) cannot be reached from a test machine, and it
departs from the docs in ways a client must survive. `LiveDirectLineService` reproduces those
departures, each from an observation of docs/live-service.md (cited by § next to the code);
every other rule stays the reference's. Selected by `ServerConfig(behave="live")`; the wire
headers of the same behaviour are `middleware.LiveHeaders`.

What it changes:
    ids          conversation ids end in a region suffix (`-us`), §5
    answers      start and reconnect carry `referenceGrammarId`; the streamUrl replays from
                 `watermark=-`, §5
    errors       CRLF, two-space indented bodies, §5; an expired token is a plain 403
                 BadArgument, §2; anything over a size limit is 500 ServiceError with no
                 message, §8 and §11; bot failures carry `httpStatusCode`, §6
    uploads      the bot gets a tokenized URL on the service host, clients a placeholder, §11
    getsessionid refused: the stand-in has no trusted origins, §12
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from starlette.responses import Response

from .activities import type_is
from .bot import BotFailed
from .config import ServerConfig
from .errors import DirectLineError, invalid_credential, missing_property
from .service import Activity, DirectLineService
from .store import Conversation, ConversationStore
from .tokens import Credential
from .uploads import UploadedFile, UploadForm
from .wire import PrettyJSONAnswer

__all__ = [
    "ATTACHMENTS_PATH",
    "PLACEHOLDER_PATH",
    "PLACEHOLDER_PNG",
    "REGION_SUFFIX",
    "LiveDirectLineService",
]

REGION_SUFFIX = "-us"
"""§5: ids end in a region or partition suffix (`-us`, `-au`, `-j`, ... were seen)."""
PLACEHOLDER_PATH = "/static/devportal/client/images/bot-framework-default-placeholder.png"
"""§11: what clients see instead of an uploaded file's URL: the hosted service points at this
path on docs.botframework.com; the stand-in serves a placeholder image at the same path on its
own host, so a dry run never needs the internet (and finds the same mismatch: an image that is
not the uploaded file)."""
PLACEHOLDER_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da63f8ffff3f0005fe02fea7d6a3d10000000049454e44ae426082"
)
"""A 1x1 transparent PNG: the stand-in's placeholder image."""
ATTACHMENTS_PATH = "/attachments"
"""§11: uploaded files live at the service host's root, not under /v3/directline."""
BOT_FAILED = "Failed to send activity: bot returned an error"
BOT_TIMED_OUT = "Failed to send activity: bot timed out"


class LiveDirectLineService(DirectLineService):
    """The hosted service as docs/live-service.md describes it (forward reading only)."""

    def __init__(self, config: ServerConfig, store: ConversationStore | None = None) -> None:
        super().__init__(config, store)
        self.reference_grammar_id = str(uuid.uuid4())

    def create_store(self) -> ConversationStore:
        return ConversationStore(id_suffix=REGION_SUFFIX)  # §5

    # Errors --------------------------------------------------------------------------------

    def error_response(self, err: DirectLineError) -> Response:
        """§5: error bodies are indented with CRLF line ends."""
        err = self.live_error(err)
        return PrettyJSONAnswer(err.payload(), err.status, err.headers)

    @staticmethod
    def live_error(err: DirectLineError) -> DirectLineError:
        """The service's answer where it names a refusal differently from the reference."""
        if err.code == "MessageSizeTooBig":
            # §8 (activity over the limit) and §11 (upload over 4 MB): 500 with no message
            return DirectLineError(500, "ServiceError", None)
        if err.code == "TokenExpired":
            # §2: an expired token gets 403; no report shows a TokenExpired code
            return invalid_credential()
        return err

    def bot_failure_error(self, failure: BaseException | None) -> DirectLineError:
        """§6: 502 BotError with the bot's own status as a top-level `httpStatusCode`. An
        exception of the in-process bot counts as its 500; an unreachable bot (no status)
        gets no `httpStatusCode`, since no report quotes that body."""
        status: int | None = None
        if isinstance(failure, BotFailed):
            status = failure.status
        elif failure is not None:
            status = 500
        extra = {"httpStatusCode": status} if status is not None else None
        return DirectLineError(502, "BotError", BOT_FAILED, extra=extra)

    def bot_timeout_error(self) -> DirectLineError:
        """§6: 504 after 15 s (config.bot_timeout); the activity stays delivered."""
        return DirectLineError(504, "BotError", BOT_TIMED_OUT, extra={"httpStatusCode": 504})

    # Answers -------------------------------------------------------------------------------

    def stream_url(self, conversation: Conversation, watermark: int, origin: str) -> str:
        """§5: `...stream?watermark=-&t=<ticket>` from the start; the ticket is the
        reference's stream token, valid for the connect window only (§9)."""
        url = super().stream_url(conversation, watermark, origin)
        if watermark != 0:
            return url
        parts = urlsplit(url)
        query = [(k, "-" if k == "watermark" else v) for k, v in parse_qsl(parts.query)]
        return urlunsplit(parts._replace(query=urlencode(query, safe="-")))

    def conversation_answer(
        self,
        conversation: Conversation,
        user: dict[str, str] | None,
        origin: str | None,
        stream_from: int | None,
    ) -> dict[str, Any]:
        """§5: start answers carry `referenceGrammarId` (a GUID) next to the streamUrl."""
        answer = super().conversation_answer(conversation, user, origin, stream_from)
        if "streamUrl" in answer:
            answer["referenceGrammarId"] = self.reference_grammar_id
        return answer

    # Upload (§11) --------------------------------------------------------------------------

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
        """The reference's upload, with each file at a tokenized URL of the service host:
        `/attachments/{conversation}/{sequence}/{index}/{name}?t={key}`."""
        conversation = self.authorize(credential, conversation_id)
        self.check_open(conversation)
        if not user_id:
            raise missing_property("Missing 'userId' query parameter")
        form = self.parse_upload(content_type, content_disposition, body)
        activity = self.upload_activity(user_id, UploadForm(form.activity_json), origin)
        if form.files:
            sequence = conversation.watermark  # the id the activity is recorded with below
            activity["attachments"] = [
                self.tokenized_attachment(conversation, sequence, index, file, origin)
                for index, file in enumerate(form.files)
            ]
        return await self.accept_client_activity(conversation, activity, credential, origin)

    def tokenized_attachment(
        self, conversation: Conversation, sequence: int, index: int, file: UploadedFile, origin: str
    ) -> dict[str, Any]:
        key = self.store.put_file(file.content_type, file.name, file.data)
        path = "/".join(
            (
                ATTACHMENTS_PATH,
                quote(conversation.id, safe=""),
                str(sequence),
                str(index),
                quote(file.name, safe=""),
            )
        )
        url = f"{origin}{path}?t={key}"
        return {"contentType": file.content_type, "contentUrl": url, "name": file.name}

    async def accept_client_activity(
        self,
        conversation: Conversation,
        activity: Activity,
        credential: Credential,
        origin: str,
    ) -> dict[str, Any]:
        """The reference's, except that the history (GET and stream) holds a copy whose
        uploaded files point at the placeholder image, while the bot gets the real URLs."""
        stamped = self.stamp_client_activity(conversation, activity, credential, origin)
        if type_is(stamped, "typing"):
            self.publish_unrecorded(conversation, stamped, "t")
        else:
            shown = self.as_shown_to_clients(stamped, origin)
            conversation.record(shown)
            stamped["id"] = shown["id"]
            # no ends_conversation check: endOfConversation is inert on the service (§7)
        await self.deliver_to_bot(conversation, stamped)
        return {"id": stamped["id"]}

    @staticmethod
    def as_shown_to_clients(activity: Activity, origin: str) -> Activity:
        """The activity with the URLs of files uploaded here replaced by the placeholder
        (itself when it has none)."""
        prefix = origin + ATTACHMENTS_PATH + "/"
        attachments = activity.get("attachments")
        if not isinstance(attachments, list) or not any(
            isinstance(a, dict) and str(a.get("contentUrl", "")).startswith(prefix)
            for a in attachments
        ):
            return activity
        shown = dict(activity)
        shown["attachments"] = [
            {**a, "contentUrl": origin + PLACEHOLDER_PATH}
            if isinstance(a, dict) and str(a.get("contentUrl", "")).startswith(prefix)
            else a
            for a in attachments
        ]
        return shown

    # Extras --------------------------------------------------------------------------------

    def session_id(self) -> dict[str, Any]:
        """§12: without trusted origins (the stand-in has none) getsessionid is refused."""
        raise DirectLineError(403, "ServiceError", "Trusted Origin list is empty.")
