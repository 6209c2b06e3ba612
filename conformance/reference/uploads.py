"""Reading an upload body (send page § Send attachment(s) by upload).

Two forms reach `POST /conversations/{id}/upload`:

1. one raw file: the body is the file, `Content-Type` its type, `Content-Disposition` its name;
2. `multipart/form-data`: at most one part typed `application/vnd.microsoft.activity` is the
   activity (JSON), every other part is a file.

This module only takes the body apart into parts; what the parts mean (which activity is sent,
which attachments it carries) is decided by the service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import unquote

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

from .errors import bad_argument

__all__ = [
    "ACTIVITY_MEDIA_TYPE",
    "DEFAULT_FILE_TYPE",
    "UploadForm",
    "UploadedFile",
    "filename_from_disposition",
    "parse_header_params",
    "parse_upload",
]

ACTIVITY_MEDIA_TYPE = "application/vnd.microsoft.activity"
DEFAULT_FILE_TYPE = "application/octet-stream"
_MAX_PARTS = 100


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """One file of an upload."""

    content_type: str
    name: str
    data: bytes


@dataclass(frozen=True, slots=True)
class UploadForm:
    """An upload taken apart: the activity part's raw JSON text (if any) and the files."""

    activity_json: str | None
    files: list[UploadedFile] = field(default_factory=list)


def _split_params(value: str) -> list[str]:
    """Split a header value on `;` outside quoted strings."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in value:
        if escaped:
            current.append(ch)
            escaped = False
        elif quoted and ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == '"':
            quoted = not quoted
            current.append(ch)
        elif ch == ";" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _unquote_value(value: str) -> str:
    """Strip quotes; only `\\"` and `\\\\` are escapes, so a Windows path keeps its backslashes."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        inner = value[1:-1]
        out: list[str] = []
        index = 0
        while index < len(inner):
            ch = inner[index]
            if ch == "\\" and index + 1 < len(inner) and inner[index + 1] in '"\\':
                out.append(inner[index + 1])
                index += 2
                continue
            out.append(ch)
            index += 1
        return "".join(out)
    return value


def parse_header_params(value: str) -> tuple[str, dict[str, str]]:
    """`form-data; name="file"; filename="a.jpg"` -> ("form-data", {"name": ..., ...}).

    The leading value is optional: the docs' example sends `name="file"; filename="x.jpg"`.
    Parameter names are lower-cased; values unquoted.
    """
    main = ""
    params: dict[str, str] = {}
    for index, segment in enumerate(_split_params(value)):
        segment = segment.strip()
        if not segment:
            continue
        key, sep, raw = segment.partition("=")
        if not sep:
            if index == 0:
                main = segment.lower()
            continue
        params[key.strip().lower()] = _unquote_value(raw)
    return main, params


def _extended_value(value: str) -> str | None:
    """RFC 5987 `charset'lang'percent-encoded` -> text, or None if malformed."""
    charset, sep, rest = value.partition("'")
    _lang, sep2, encoded = rest.partition("'")
    if not (sep and sep2):
        return None
    try:
        return unquote(encoded, encoding=charset or "utf-8", errors="strict")
    except (LookupError, UnicodeDecodeError):
        return None


def filename_from_disposition(value: str | None) -> str | None:
    """The file name a Content-Disposition gives (`filename*` preferred), path stripped."""
    if not value:
        return None
    _main, params = parse_header_params(value)
    name = None
    if "filename*" in params:
        name = _extended_value(params["filename*"])
    if name is None:
        name = params.get("filename")
    if name is None:
        return None
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    return name or None


def _header_text(raw: bytes) -> str:
    """Part headers are UTF-8 in practice (browsers send raw UTF-8 file names)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _media_type(value: str | None) -> str:
    main, _params = parse_header_params(value or "")
    return main


class _PartCollector:
    """Callbacks for python-multipart that collect whole parts in memory."""

    def __init__(self) -> None:
        self.parts: list[tuple[dict[str, str], bytes]] = []
        self.ended = False
        self._headers: dict[str, str] = {}
        self._field = bytearray()
        self._value = bytearray()
        self._data = bytearray()

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self._headers = {}
        self._data = bytearray()
        if len(self.parts) >= _MAX_PARTS:
            raise bad_argument(f"An upload may carry at most {_MAX_PARTS} parts")

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[_header_text(bytes(self._field)).strip().lower()] = _header_text(
            bytes(self._value)
        ).strip()
        self._field = bytearray()
        self._value = bytearray()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._data += data[start:end]

    def on_part_end(self) -> None:
        self.parts.append((self._headers, bytes(self._data)))

    def on_end(self) -> None:
        self.ended = True


def _parse_multipart(boundary: str, body: bytes) -> list[tuple[dict[str, str], bytes]]:
    collector = _PartCollector()
    try:
        parser = MultipartParser(boundary.encode("latin-1"), collector.callbacks())
        parser.write(body)
        parser.finalize()
    except (FormParserError, UnicodeEncodeError, ValueError) as exc:
        raise bad_argument(f"Malformed multipart body: {exc}") from None
    if not collector.ended:
        raise bad_argument("Malformed multipart body: no closing boundary")
    return collector.parts


def parse_upload(
    content_type: str | None, content_disposition: str | None, body: bytes
) -> UploadForm:
    """Take an upload body apart into its activity part and files (400 if it cannot be)."""
    media_type, params = parse_header_params(content_type or "")
    if media_type != "multipart/form-data":
        name = filename_from_disposition(content_disposition)
        if not body and name is None:
            raise bad_argument("No file to upload: the body is empty")
        file_type = (content_type or "").strip() or DEFAULT_FILE_TYPE
        return UploadForm(None, [UploadedFile(file_type, name or "file", body)])

    boundary = params.get("boundary")
    if not boundary:
        raise bad_argument("Malformed multipart body: no boundary in Content-Type")
    activity_json: str | None = None
    files: list[UploadedFile] = []
    for headers, data in _parse_multipart(boundary, body):
        part_type = headers.get("content-type") or ""
        if _media_type(part_type) == ACTIVITY_MEDIA_TYPE:
            if activity_json is not None:
                raise bad_argument("An upload may carry at most one activity part")
            try:
                activity_json = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise bad_argument("The activity part is not UTF-8 text") from None
            continue
        disposition = headers.get("content-disposition")
        _main, disposition_params = parse_header_params(disposition or "")
        name = filename_from_disposition(disposition) or disposition_params.get("name") or "file"
        files.append(UploadedFile(part_type or DEFAULT_FILE_TYPE, name, data))
    if activity_json is None and not files:
        raise bad_argument("No file to upload: the multipart body has no parts")
    return UploadForm(activity_json, files)
