"""Lanes: one conversation shared by several tests, so a live service is spared their starts.

The tests of a lane (``@pytest.mark.lane(NAME)``) run one after another on one worker; the
first to need it starts the lane's conversation, and every test of the lane gets that start's
answer among its evidence. A lane starts again once its token is half spent, so every test gets
a token with at least half its lifetime to go.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from conformance.evidence import Exchange

if TYPE_CHECKING:
    from conformance.client import Conversation

__all__ = ["LANE_LIFETIME", "Lane", "lane_lifetime", "parse_start"]

#: Seconds a lane's conversation is used when the target says nothing of its token's lifetime.
LANE_LIFETIME = 1800.0


class Lane:
    """A conversation shared by the tests of a lane, with the start answer that made it."""

    def __init__(self, answer: Exchange, lifetime: float) -> None:
        self.answer = answer
        self.conversation: Conversation | None = None
        self.born = time.monotonic()
        self.lifetime = lifetime
        #: What the lane's tests leave for the next ones (e.g. "ended": the conversation was
        #: ended); it goes with the conversation when the lane starts a new one.
        self.state: dict[str, Any] = {}

    def stale(self) -> bool:
        """Whether the token is half spent (the next test would get too little of it)."""
        return time.monotonic() - self.born > self.lifetime / 2


def lane_lifetime(declared: float | None, answer: Exchange) -> float:
    """Seconds a lane's conversation lives: the profile's token lifetime, else the start's
    ``expires_in``, else :data:`LANE_LIFETIME`."""
    if declared is not None:
        return float(declared)
    data = answer.json_or_none()
    expires = data.get("expires_in") if isinstance(data, dict) else None
    return float(expires) if isinstance(expires, int) and expires > 0 else LANE_LIFETIME


def parse_start(answer: Exchange) -> Conversation | None:
    """The conversation a start answer gave, when it is a usable one."""
    # the client (httpx, websockets) is imported once a test talks to the target, not when
    # pytest loads the plugin
    from conformance.client.wire import Conversation, id_problem

    data = answer.json_or_none()
    if (
        answer.status is None
        or not 200 <= answer.status < 300
        or not isinstance(data, dict)
        or id_problem(data.get("conversationId")) is not None
    ):
        return None
    expires = data.get("expires_in")
    return Conversation(
        id=data["conversationId"],
        token=data["token"] if isinstance(data.get("token"), str) else None,
        stream_url=data["streamUrl"] if isinstance(data.get("streamUrl"), str) else None,
        expires_in=expires if isinstance(expires, int) and not isinstance(expires, bool) else None,
        answer=answer,
    )
