"""The kit's test bot on the Bot Framework connector protocol, for emulators that forward to a bot.

offline-directline has no bot of its own: it POSTs each activity to a bot URL and stores what the
bot POSTs back to ``{serviceUrl}/v3/conversations/{id}/activities/{replyToId}``. This bot answers
the way the suite's bot features expect (``echo_bot``, ``bot_cards``, ``bot_welcome``, ``bot_error``
and ``#bot:many {n}``), replying *before* it answers the emulator, so a reply is recorded by the
time the client's send returns. Standard library only; it listens on 127.0.0.1.

Run: ``python -m tests.emulators.echo_bot [--port PORT]``; prints ``READY http://127.0.0.1:P/api/messages``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ERROR_TRIGGER = "#bot:error"
MANY = re.compile(r"^#bot:many (\d{1,2})$")
WELCOME = "Welcome! (the kit's echo bot)"
#: Seconds a reply POST to the emulator may take: a bot must not hang its caller forever.
REPLY_TIMEOUT = 5.0


def reply_to(activity: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A bot activity answering ``activity`` (replyToId set, from/recipient swapped)."""
    return {
        "type": "message",
        "id": str(uuid.uuid4()),
        "channelId": activity.get("channelId", "emulator"),
        "conversation": activity.get("conversation", {}),
        "from": {"id": "echo-bot", "name": "Echo bot", "role": "bot"},
        "recipient": activity.get("from") or {},
        "replyToId": activity.get("id"),
        **fields,
    }


def replies(activity: dict[str, Any]) -> list[dict[str, Any]] | None:
    """What the bot sends back for one incoming activity; None: the bot fails (HTTP 500)."""
    kind = activity.get("type")
    if kind == "conversationUpdate":
        # a greeting needs the conversation's id to be addressed (NLP.js sends none)
        known = bool((activity.get("conversation") or {}).get("id"))
        return [reply_to(activity, text=WELCOME)] if known else []
    if kind != "message":
        return []
    text = activity.get("text")
    if text == ERROR_TRIGGER:
        return None
    many = MANY.match(text) if isinstance(text, str) else None
    if many:
        return [reply_to(activity, text=str(i)) for i in range(1, int(many.group(1)) + 1)]
    fields: dict[str, Any] = {}
    if text is not None:
        fields["text"] = text
    if activity.get("attachments"):
        fields["attachments"] = activity["attachments"]
    return [reply_to(activity, **fields)]


def post_reply(activity: dict[str, Any], reply: dict[str, Any]) -> None:
    """POST ``reply`` to the emulator's connector endpoint for ``activity``'s conversation."""
    service = str(activity.get("serviceUrl", "")).rstrip("/")
    conversation = activity.get("conversation", {}).get("id", "")
    url = f"{service}/v3/conversations/{conversation}/activities"
    if activity.get("id"):
        url += f"/{activity['id']}"
    request = urllib.request.Request(
        url,
        data=json.dumps(reply).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=REPLY_TIMEOUT) as answer:
        answer.read()


class Handler(BaseHTTPRequestHandler):
    """POST /api/messages: one activity in, replies posted back, then 200 (or 500 on error)."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            activity = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._answer(400)
            return
        answers = replies(activity) if isinstance(activity, dict) else []
        if answers is None:
            self._answer(500)
            return
        for reply in answers:
            try:
                post_reply(activity, reply)
            except OSError as exc:  # the emulator refused the reply: say so, receipt still ok
                print(f"echo_bot: reply failed: {exc}", file=sys.stderr, flush=True)
        self._answer(200)

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the suite's own report says what happened."""


def _watch_parent(parent: int) -> None:
    """Exit when the process that started us is gone: a killed test run leaves nothing behind."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    """Serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--parent", type=int, default=0, help="exit when this process is gone")
    options = parser.parse_args(argv)
    if options.parent:
        threading.Thread(target=_watch_parent, args=(options.parent,), daemon=True).start()
    server = ThreadingHTTPServer(("127.0.0.1", options.port), Handler)
    server.daemon_threads = True
    print(f"READY http://127.0.0.1:{server.server_address[1]}/api/messages", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
