"""Catalog requirements the suite deliberately has no test for, each with the reason.

A conformance check must be able to fail. These rules allow every outcome a run could see, or
need something a run must not do; ``directline-conformance requirements`` and the reports show
these reasons instead of a bare "not covered". A kit test keeps this list and the suite in step.
"""

from __future__ import annotations

__all__ = ["UNTESTED"]

UNTESTED: dict[str, str] = {
    "DL-TOKEN-014": "MAY: refusing a user id without dl_ is allowed, accepting it too; no outcome "
    "can fail (and it needs enhanced_auth)",
    "DL-SEND-014": "MAY: refusing an activity without from.id is allowed, accepting it too; the "
    "suite always sends one",
    "DL-STREAM-012": "MAY: the keep-alive interval is unpublished and a service may send none; any "
    "frame that does arrive is judged by DL-STREAM-002",
    "DL-STREAM-013": "MAY: closing extra sockets is optional and which one closes is unspecified; "
    "the suite keeps one socket per conversation",
    "DL-EOC-010": "MAY: closing the stream or refusing a reconnect after the end is optional; both "
    "outcomes conform",
    "DL-UPLOAD-009": "MAY: deleting uploads after 24 hours cannot be waited out in a run",
    "DL-ERR-006": "MAY: a 429 must never be provoked on a live service; the client honours "
    "Retry-After whenever one appears",
}
