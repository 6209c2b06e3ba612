"""In-memory state: conversations, their recorded activities, live stream subscribers, files.

Theory of operation. All state is touched from the server's single event loop, and every change
is synchronous (no `await` between reading and writing), so no locks are needed:

- `Conversation.record` appends an activity, gives it the id `{conversationId}|{seq:07d}` and
  pushes an ActivitySet to every subscriber in the same step.
- `Conversation.subscribe` registers a subscriber and snapshots the backlog in the same step,
  so a stream sees every activity exactly once: the backlog ends where the live feed starts.

The watermark is the number of recorded activities (a decimal string on the wire): after the
activity with sequence n it is n + 1, and `?watermark=W` means "the activities with seq >= W".
`typing` activities get an id but are never recorded: they only reach open streams.

An idle conversation costs a few hundred bytes (slotted dataclass, no per-conversation queues or
locks until a socket subscribes).
"""

from __future__ import annotations

import asyncio
import secrets
import string
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Conversation",
    "ConversationStore",
    "StoredFile",
    "Subscriber",
    "activity_set",
    "new_conversation_id",
]

Activity = dict[str, Any]

_ID_ALPHABET = string.ascii_letters + string.digits
_ID_SUFFIX = "-ref"


def new_conversation_id(suffix: str = _ID_SUFFIX) -> str:
    """22 random alphanumerics and a partition-like suffix, like the live service's ids."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(22)) + suffix


def activity_set(activities: list[Activity], watermark: int) -> dict[str, Any]:
    """The ActivitySet object of the API reference (watermark always a string)."""
    return {"activities": activities, "watermark": str(watermark)}


class Subscriber:
    """One open stream's feed: a bounded queue of ActivitySets.

    When a slow socket lets the queue fill up, the subscriber is marked `overflowed` and the
    stream is closed rather than buffering without bound; the client reconnects with its
    watermark and loses nothing.
    """

    __slots__ = ("overflowed", "queue")

    def __init__(self, max_pending: int) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=max_pending)
        self.overflowed = False

    def push(self, item: dict[str, Any]) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed = True


@dataclass(slots=True, eq=False)
class Conversation:
    """One Direct Line conversation."""

    id: str
    created: float = field(default_factory=time.time)
    user: dict[str, str] | None = None
    """The user bound when the conversation was created (generate/start body)."""
    started: bool = False
    ended: bool = False
    activities: list[Activity] = field(default_factory=list)
    unrecorded: int = 0
    """How many ids were handed to activities that are not recorded (typing, updates)."""
    subscribers: set[Subscriber] | None = None

    @property
    def watermark(self) -> int:
        return len(self.activities)

    def next_activity_id(self) -> str:
        return f"{self.id}|{len(self.activities):07d}"

    def unrecorded_id(self, prefix: str) -> str:
        self.unrecorded += 1
        return f"{self.id}|{prefix}{self.unrecorded}"

    def record(self, activity: Activity) -> Activity:
        """Give the activity its id, append it, and feed it to every open stream."""
        activity["id"] = self.next_activity_id()
        self.activities.append(activity)
        self.broadcast(activity_set([activity], self.watermark))
        return activity

    def broadcast(self, item: dict[str, Any]) -> None:
        for subscriber in self.subscribers or ():
            subscriber.push(item)

    def subscribe(self, subscriber: Subscriber, watermark: int) -> list[Activity]:
        """Register a stream and return what it must replay first (seq >= watermark)."""
        if self.subscribers is None:
            self.subscribers = set()
        self.subscribers.add(subscriber)
        return self.activities[watermark:]

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if self.subscribers is not None:
            self.subscribers.discard(subscriber)
            if not self.subscribers:
                self.subscribers = None


@dataclass(frozen=True, slots=True)
class StoredFile:
    """An uploaded file, served back byte for byte from its capability URL."""

    content_type: str
    name: str
    data: bytes
    stored_at: float


class ConversationStore:
    """All conversations and uploaded files of one server."""

    file_ttl = 24 * 3600.0
    """Uploaded files may be deleted after 24 hours (DL-UPLOAD-009)."""

    def __init__(self, id_suffix: str = _ID_SUFFIX) -> None:
        self.id_suffix = id_suffix  # ends every id: `-ref`; the live stand-in's region `-us`
        self._conversations: dict[str, Conversation] = {}
        self._files: dict[str, StoredFile] = {}

    def __len__(self) -> int:
        return len(self._conversations)

    def __iter__(self) -> Iterator[Conversation]:
        return iter(list(self._conversations.values()))

    def create(self, user: dict[str, str] | None = None) -> Conversation:
        conversation_id = new_conversation_id(self.id_suffix)
        while conversation_id in self._conversations:  # pragma: no cover - 131 bits of luck
            conversation_id = new_conversation_id(self.id_suffix)
        conversation = Conversation(conversation_id, user=user)
        self._conversations[conversation_id] = conversation
        return conversation

    def get(self, conversation_id: str) -> Conversation | None:
        return self._conversations.get(conversation_id)

    def put_file(self, content_type: str, name: str, data: bytes) -> str:
        """Keep a file and return the unguessable key of its URL."""
        self._expire_files()
        key = secrets.token_urlsafe(24)
        self._files[key] = StoredFile(content_type, name, data, time.time())
        return key

    def get_file(self, key: str) -> StoredFile | None:
        stored = self._files.get(key)
        if stored is not None and time.time() - stored.stored_at > self.file_ttl:
            del self._files[key]
            return None
        return stored

    def _expire_files(self) -> None:
        limit = time.time() - self.file_ttl
        for key in [k for k, f in self._files.items() if f.stored_at < limit]:
            del self._files[key]
