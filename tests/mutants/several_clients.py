"""Mutants of the several-clients rules (suite module test_several_clients)."""

from __future__ import annotations

import asyncio
from typing import Any

from conformance.reference.service import DirectLineService
from tests.mutants.framework import mutant

MODULE = "test_several_clients"


@mutant("DL-MULTI-001", modules=MODULE)
class SecretSendsHiddenFromTokens(DirectLineService):
    """Activities sent with the secret are not shown to readers using a token."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent_with_secret: set[str] = set()

    async def accept_client_activity(
        self, conversation: Any, activity: Any, credential: Any, origin: str
    ) -> Any:
        answer = await super().accept_client_activity(conversation, activity, credential, origin)
        if credential.is_secret:
            self.sent_with_secret.add(answer["id"])
        return answer

    def get_activities(self, credential: Any, conversation_id: str, watermark: str | None) -> Any:
        answer = super().get_activities(credential, conversation_id, watermark)
        if not credential.is_secret:
            answer["activities"] = [
                a for a in answer["activities"] if a.get("id") not in self.sent_with_secret
            ]
        return answer


@mutant("DL-MULTI-002", modules=MODULE)
class FirstSenderOwnsTheConversation(DirectLineService):
    """Every client activity of a conversation takes the from.id of its first sender."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.first_sender: dict[str, Any] = {}

    def stamp_client_activity(
        self, conversation: Any, activity: Any, credential: Any, origin: str
    ) -> Any:
        stamped = super().stamp_client_activity(conversation, activity, credential, origin)
        first = self.first_sender.setdefault(conversation.id, stamped["from"])
        stamped["from"] = dict(first)
        return stamped


@mutant("DL-MULTI-003", modules=MODULE)
class LosesEveryTenthSend(DirectLineService):
    """Every tenth client message of a conversation is answered with an id but not recorded."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.counts: dict[str, int] = {}

    async def accept_client_activity(
        self, conversation: Any, activity: Any, credential: Any, origin: str
    ) -> Any:
        count = self.counts[conversation.id] = self.counts.get(conversation.id, 0) + 1
        if count % 10:
            return await super().accept_client_activity(conversation, activity, credential, origin)
        return {"id": f"{conversation.id}|lost{count}"}


@mutant("DL-MULTI-003", modules=MODULE)
class OverlappingSendGetsAnotherId(DirectLineService):
    """A message that arrives while another send to the same conversation is in flight is
    answered with the id of the send answered before it (a race in id assignment); sends one
    after the other are answered right."""

    #: How long each send stays in flight after it is recorded: the race's window.
    WINDOW = 0.05

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_flight: dict[str, int] = {}
        self.last_answered: dict[str, str] = {}

    async def accept_client_activity(
        self, conversation: Any, activity: Any, credential: Any, origin: str
    ) -> Any:
        key = conversation.id
        overlapped = self.in_flight.get(key, 0) > 0
        self.in_flight[key] = self.in_flight.get(key, 0) + 1
        try:
            answer = await super().accept_client_activity(
                conversation, activity, credential, origin
            )
            await asyncio.sleep(self.WINDOW)
            earlier = self.last_answered.get(key)
            if overlapped and earlier is not None and activity.get("type") == "message":
                return {"id": earlier}
            self.last_answered[key] = answer["id"]
            return answer
        finally:
            self.in_flight[key] -= 1


@mutant("DL-MULTI-003", modules=MODULE)
class SecretReadersSeeReverseOrder(DirectLineService):
    """GET with the secret returns each page newest first (token readers see record order)."""

    def get_activities(self, credential: Any, conversation_id: str, watermark: str | None) -> Any:
        answer = super().get_activities(credential, conversation_id, watermark)
        if credential.is_secret:
            answer["activities"] = list(reversed(answer["activities"]))
        return answer
