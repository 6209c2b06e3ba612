"""What a test did on the wire, made safe to show.

- :mod:`~conformance.evidence.exchange`: an :class:`Exchange` (one request and its answer, or a
  stream's handshake and frames) and the :class:`Recorder` that keeps a test's exchanges;
- :mod:`~conformance.evidence.redaction`: the :class:`Redactor`, the one place credentials are
  hidden;
- :mod:`~conformance.evidence.transcript`: an exchange as a transcript and as a ``curl`` line;
- :mod:`~conformance.evidence.bug_report`: a broken rule told as a bug report.

Nothing here knows the protocol or the catalog: the client records into it, the checks judge
it, the plugin and the reports show it.
"""

from conformance.evidence.bug_report import BugReport
from conformance.evidence.exchange import Exchange, Recorder, StreamEvent
from conformance.evidence.redaction import REDACTED, REDACTED_TOKEN, SECRET_ENV, Redactor
from conformance.evidence.transcript import curl_command, render_exchange, render_transcript

__all__ = [
    "REDACTED",
    "REDACTED_TOKEN",
    "SECRET_ENV",
    "BugReport",
    "Exchange",
    "Recorder",
    "Redactor",
    "StreamEvent",
    "curl_command",
    "render_exchange",
    "render_transcript",
]
