"""Upload bodies: the ``multipart/form-data`` the official client sends, built by hand so a test
controls every byte (part order, an activity part or none, odd file names)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from conformance.client.wire import UploadFile

__all__ = ["multipart_body", "quote_filename"]


def quote_filename(name: str) -> str:
    """A file name as a quoted-string value (HTML form encoding of ", CR and LF)."""
    return name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def multipart_body(
    files: Sequence[UploadFile], activity: dict[str, Any] | None, *, activity_first: bool
) -> tuple[bytes, str]:
    """(body, Content-Type): one ``file`` part per file and, when given, an ``activity`` part of
    type ``application/vnd.microsoft.activity`` (first unless ``activity_first`` is False)."""
    boundary = f"----dl-conformance-{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for file in files:
        head = (
            f'Content-Disposition: form-data; name="file"; filename="{quote_filename(file.name)}"'
            f"\r\nContent-Type: {file.content_type}\r\n\r\n"
        )
        parts.append(head.encode("utf-8") + file.content)
    if activity is not None:
        head = (
            'Content-Disposition: form-data; name="activity"\r\n'
            "Content-Type: application/vnd.microsoft.activity\r\n\r\n"
        )
        part = head.encode("utf-8") + json.dumps(activity, ensure_ascii=False).encode("utf-8")
        if activity_first:
            parts.insert(0, part)
        else:
            parts.append(part)
    delimiter = f"--{boundary}\r\n".encode("ascii")
    body = b"".join(delimiter + part + b"\r\n" for part in parts)
    body += f"--{boundary}--\r\n".encode("ascii")
    return body, f"multipart/form-data; boundary={boundary}"
