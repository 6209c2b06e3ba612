"""A Direct Line 3.0 client for the suite: one method per operation, every exchange recorded.

``http`` holds the client (:class:`DirectLineClient`), ``stream`` the WebSocket side,
``limits`` what the whole run must respect (pace, budget, deadline, a dead target),
``multipart`` the upload bodies and ``wire`` the vocabulary they share.
"""

from conformance.client.http import MAX_BODY, DirectLineClient
from conformance.client.limits import Allowance, Ledger, Meter, RateLimiter, RunGovernor
from conformance.client.stream import StreamConnection
from conformance.client.wire import (
    CASE_HEADER,
    NOBODY,
    SECRET,
    Auth,
    Conversation,
    RawAuth,
    TimedStart,
    UploadFile,
    parse_retry_after,
    stream_ws_url,
)

__all__ = [
    "CASE_HEADER",
    "MAX_BODY",
    "NOBODY",
    "SECRET",
    "Allowance",
    "Auth",
    "Conversation",
    "DirectLineClient",
    "Ledger",
    "Meter",
    "RateLimiter",
    "RawAuth",
    "RunGovernor",
    "StreamConnection",
    "TimedStart",
    "UploadFile",
    "parse_retry_after",
    "stream_ws_url",
]
