"""Schemathesis hooks (loaded by `st` through SCHEMATHESIS_HOOKS): authentication and real
conversation ids, so generated requests reach the server's handlers instead of stopping at
401/404.

Read from the environment the runner sets (never printed):
    DL_SCHEMATHESIS_SECRET         the secret: `Authorization: Bearer <secret>` on every call
    DL_SCHEMATHESIS_TOKEN          a conversation token, for `POST /tokens/refresh` (which only
                                   refreshes tokens: with the secret it can only answer 403)
    DL_SCHEMATHESIS_CONVERSATIONS  comma-separated ids of conversations the runner started
    DL_SCHEMATHESIS_ORIGIN         the server's origin, http://127.0.0.1:PORT
    DL_SCHEMATHESIS_SWAGGER        the Swagger as the run reads it (the baseline's readings)

A generated `conversationId` is swapped for one of those conversations unless the server issued
it during the run (a stateful link from a start or generate answer) or it falls in the tenth
of generated ids kept as they are, so unknown conversations (404) stay covered.

An activity is recorded (and so echoed back by GET, where the response schema is checked) only
with a `type` and a `from.id`; the Swagger requires neither, so generated activities rarely
have both. Three in four generated activity bodies get `"type": "message"` and a `from` where
they have no such key at all (a key that is there, whatever its value, is left alone, so a
negative case stays negative); the fourth goes as generated and meets the MissingProperty
refusals. Every choice hashes what was generated (crc32), so a seeded run makes the same
choices every time.

One check is added (`stored_activities_conform`): after every accepted send, the activities the
conversation stored since the last look are read back with GET and validated against the
Swagger's ActivitySet, so whatever a send smuggled in is caught in the echo, whichever
conversation it went to.
"""

from __future__ import annotations

import json
import os
import threading
import zlib
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jsonschema_rs
import schemathesis

from tests.schemathesis.wiring import (
    ACTIVITIES_PATH,
    CONVERSATIONS_ENV,
    ORIGIN_ENV,
    REFRESH_PATH,
    SECRET_ENV,
    SWAGGER_ENV,
    TOKEN_ENV,
    UPLOAD_PATH,
)

#: One generated id in this many is sent as generated (an unknown conversation: 404).
KEEP_GENERATED_ONE_IN = 10
#: One generated activity in this many is sent without the `type` and `from` it lacks.
KEEP_ACTIVITY_ONE_IN = 4
SENDER = {"id": "dl_schemathesis"}

_issued: set[str] = set()
_seen_up_to: dict[str, str] = {}
_lock = threading.Lock()


def _pool() -> list[str]:
    return [cid for cid in os.environ.get(CONVERSATIONS_ENV, "").split(",") if cid]


def _digest(value: Any) -> int:
    return zlib.crc32(repr(value).encode("utf-8", "surrogatepass"))


def real_conversation_id(generated: Any, issued: set[str], pool: list[str]) -> Any:
    """The id to send instead of `generated` (see the module docstring)."""
    if not pool or (isinstance(generated, str) and generated in issued):
        return generated
    digest = _digest(generated)
    if digest % KEEP_GENERATED_ONE_IN == 0:
        return generated
    return pool[digest % len(pool)]


def recordable_activity(body: Any) -> Any:
    """The activity body to send instead of `body` (see the module docstring)."""
    if not isinstance(body, dict) or _digest(body) % KEEP_ACTIVITY_ONE_IN == 0:
        return body
    completed = dict(body)
    completed.setdefault("type", "message")
    completed.setdefault("from", dict(SENDER))
    return completed


@schemathesis.auth()
class DirectLineAuth:
    """The secret on every operation but refresh, which gets a conversation token."""

    def get(self, case: Any, context: Any) -> str:
        return os.environ[SECRET_ENV]

    def set(self, case: Any, data: str, context: Any) -> None:
        credential = os.environ[TOKEN_ENV] if case.operation.path == REFRESH_PATH else data
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {credential}"}


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    parameters = case.path_parameters
    if parameters and "conversationId" in parameters:
        parameters["conversationId"] = real_conversation_id(
            parameters["conversationId"], _issued, _pool()
        )
    if case.method == "POST" and case.operation.path == ACTIVITIES_PATH:
        completed = recordable_activity(case.body)
        if completed is not case.body:
            case.body = completed


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    """Remember the conversations the server hands out (start, generate, reconnect)."""
    if not 200 <= response.status_code < 300:
        return
    try:
        answer = json.loads(response.content)
    except ValueError:
        return
    if isinstance(answer, dict) and isinstance(answer.get("conversationId"), str):
        _issued.add(answer["conversationId"])


@cache
def _activity_set_validator() -> Any:
    swagger = json.loads(Path(os.environ[SWAGGER_ENV]).read_text(encoding="utf-8"))
    schema = {"$ref": "#/definitions/ActivitySet", "definitions": swagger["definitions"]}
    return jsonschema_rs.validator_for(schema, validate_formats=True)


@schemathesis.check
def stored_activities_conform(ctx: Any, response: Any, case: Any) -> None:
    """After an accepted send or upload, what GET now answers for the activities stored since
    the last look conforms to the Swagger's ActivitySet."""
    if case.method != "POST" or case.operation.path not in (ACTIVITIES_PATH, UPLOAD_PATH):
        return
    if not 200 <= response.status_code < 300:
        return
    conversation_id = str(case.path_parameters["conversationId"])
    url = f"{os.environ[ORIGIN_ENV]}/v3/directline/conversations/{quote(conversation_id, safe='')}"
    with _lock:
        watermark = _seen_up_to.get(conversation_id)
    answer = httpx.get(
        url + "/activities",
        params={"watermark": watermark} if watermark else None,
        headers={"Authorization": f"Bearer {os.environ[SECRET_ENV]}"},
        timeout=10.0,
    )
    if answer.status_code != 200:
        raise AssertionError(f"reading the activities back answered {answer.status_code}")
    stored = answer.json()
    errors = [
        f"{'/'.join(str(p) for p in error.instance_path)}: {error.message}"
        for error in _activity_set_validator().iter_errors(stored)
    ]
    if errors:
        raise AssertionError(
            "GET answers stored activities the Swagger's ActivitySet does not allow: "
            + "; ".join(errors[:5])
        )
    with _lock:
        _seen_up_to[conversation_id] = stored.get("watermark") or watermark or ""
