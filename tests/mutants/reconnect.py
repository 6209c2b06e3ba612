"""Mutants of the reconnect rules (suite module test_reconnect)."""

from __future__ import annotations

from typing import Any

from conformance.reference.errors import bad_argument, invalid_credential
from conformance.reference.service import DirectLineService
from tests.mutants.framework import mutant

MODULE = "test_reconnect"


@mutant("DL-RECON-001", modules=MODULE)
class ReconnectWithoutToken(DirectLineService):
    """The reconnect answer has no `token`."""

    def reconnect(
        self, credential: Any, conversation_id: str, watermark: str | None, origin: str
    ) -> Any:
        answer = super().reconnect(credential, conversation_id, watermark, origin)
        answer.pop("token", None)
        return answer


@mutant("DL-RECON-002", modules=MODULE)
class ReconnectStreamUrlForAnotherConversation(DirectLineService):
    """The reconnect streamUrl names a conversation that does not exist (refused)."""

    def reconnect(
        self, credential: Any, conversation_id: str, watermark: str | None, origin: str
    ) -> Any:
        answer = super().reconnect(credential, conversation_id, watermark, origin)
        answer["streamUrl"] = answer["streamUrl"].replace(conversation_id, conversation_id + "x")
        return answer


@mutant(
    "DL-RECON-003",
    modules=(MODULE, "test_conversation_machine"),
    tests=(
        "test_reconnect_with_watermark_replays_what_was_missed",
        "test_machine_streams_deliver_once_in_order_across_reconnects",
    ),
)
class ReconnectIgnoresTheWatermark(DirectLineService):
    """Reconnect with a watermark streams only from now (what was missed is lost)."""

    def reconnect(
        self, credential: Any, conversation_id: str, watermark: str | None, origin: str
    ) -> Any:
        return super().reconnect(credential, conversation_id, None, origin)


@mutant("DL-RECON-004", modules=MODULE)
class ReconnectReplaysEverything(DirectLineService):
    """Reconnect without a watermark replays the whole history on the new stream."""

    def reconnect(
        self, credential: Any, conversation_id: str, watermark: str | None, origin: str
    ) -> Any:
        return super().reconnect(credential, conversation_id, watermark or "0", origin)


@mutant("DL-RECON-005", modules=MODULE)
class ReconnectForgetsTheHistory(DirectLineService):
    """After a reconnect, GET without a watermark returns only what followed it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.forgotten: dict[str, int] = {}

    def reconnect(
        self, credential: Any, conversation_id: str, watermark: str | None, origin: str
    ) -> Any:
        answer = super().reconnect(credential, conversation_id, watermark, origin)
        self.forgotten[conversation_id] = self.store.get(conversation_id).watermark
        return answer

    def get_activities(self, credential: Any, conversation_id: str, watermark: str | None) -> Any:
        if not watermark and conversation_id in self.forgotten:
            watermark = str(self.forgotten[conversation_id])
        return super().get_activities(credential, conversation_id, watermark)


@mutant("DL-RECON-006", modules=MODULE)
class ReconnectRefusesTheSecret(DirectLineService):
    """Reconnect with the secret is refused (403)."""

    def reconnect(
        self, credential: Any, conversation_id: str, watermark: str | None, origin: str
    ) -> Any:
        if credential.is_secret:
            raise invalid_credential("Reconnect needs the conversation's token")
        return super().reconnect(credential, conversation_id, watermark, origin)


@mutant("DL-RECON-007", modules=MODULE)
class ReconnectTokenForAnotherConversation(DirectLineService):
    """The token reconnect answers belongs to another (new) conversation."""

    def reconnect(
        self, credential: Any, conversation_id: str, watermark: str | None, origin: str
    ) -> Any:
        answer = super().reconnect(credential, conversation_id, watermark, origin)
        answer["token"] = self.issue_token(self.store.create(), None)
        return answer


@mutant("DL-RECON-008", modules=MODULE)
class ReconnectRefusesAnEmptyWatermark(DirectLineService):
    """`GET /conversations/{id}?watermark=` (empty) answers 400."""

    def reconnect(
        self, credential: Any, conversation_id: str, watermark: str | None, origin: str
    ) -> Any:
        if watermark == "":
            raise bad_argument("Invalid watermark ''")
        return super().reconnect(credential, conversation_id, watermark, origin)
