"""The baseline: how the kit reads the Swagger, and the deviations from it the reference may
keep, each with its reason (baseline.toml beside this file).

```toml
[[reading]]            # a Swagger schema the kit reads differently, applied before the run
pointer = "/definitions/Activity/properties/value"      # JSON pointer into the Swagger
as = "any"             # the schema becomes {} (any JSON), its description kept
reason = "..."

[[reading]]
pointer = "/paths/~1v3~1directline~1conversations/post/parameters/0/schema"
as = "null-is-absent"  # a request body's schema, inlined, every object property nullable
reason = "..."

[[accepted]]           # failures of one check on one operation that do not fail the run
operation = "POST /v3/directline/tokens/generate"       # as the Swagger lists it
check = "status_code_conformance"                       # a Schemathesis check name
status = [400]         # response statuses covered (required when the check has a response)
error_codes = ["BadArgument"]                           # optional: ErrorResponse codes covered
media_types = ["application/xml"]                       # optional: request media types covered
bodies = ["null"]      # optional: the exact request bodies covered (surrounding blanks ignored)
reason = "..."
```

A failure is accepted when some entry names its operation and check and every condition the
entry gives holds. Two things can never be accepted: a server error (check
`not_a_server_error`, or any 5xx status) and a response-schema violation
(`response_schema_conformance`, and `stored_activities_conform`, its twin for what a send stored):
the reference must simply not do them.

"null-is-absent" readings are meant for request bodies: the definitions they refer to are
copied in (after the "any" readings), so the responses' schemas stay as strict as they were.
Items of arrays and values of maps stay non-null: the reference refuses a null there.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.schemathesis.events import CheckFailure
from tests.schemathesis.wiring import STORED_CHECK

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "CHECKS",
    "NEVER_ACCEPTED",
    "Accepted",
    "Baseline",
    "BaselineError",
    "Reading",
    "load_baseline",
    "parse_baseline",
]

#: The checks the runner enables: Schemathesis 4.32's, and the one hooks.py adds.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
    "ignored_auth",
    "object_level_authorization",
    STORED_CHECK,
)
NEVER_ACCEPTED = frozenset({"not_a_server_error", "response_schema_conformance", STORED_CHECK})
_READING_KEYS = frozenset({"pointer", "as", "reason"})
_READING_KINDS = ("any", "null-is-absent")
_ACCEPTED_KEYS = frozenset(
    {"operation", "check", "status", "error_codes", "media_types", "bodies", "reason"}
)


class BaselineError(ValueError):
    """The baseline file is wrong (the message names the entry and what is wrong)."""


@dataclass(frozen=True)
class Reading:
    """A Swagger schema read differently: as any JSON, or with null members as absent ones."""

    pointer: str
    reason: str
    kind: str = "any"


@dataclass(frozen=True)
class Accepted:
    """Failures of one check on one operation that the reference is allowed."""

    operation: str
    check: str
    reason: str
    statuses: frozenset[int] = frozenset()
    error_codes: frozenset[str] = frozenset()
    media_types: frozenset[str] = frozenset()
    bodies: frozenset[str] = frozenset()

    def covers(self, failure: CheckFailure) -> bool:
        if failure.operation != self.operation or failure.check != self.check:
            return False
        if self.statuses and failure.status not in self.statuses:
            return False
        if self.error_codes and failure.error_code not in self.error_codes:
            return False
        media_type = (failure.media_type or "").split(";")[0].strip().lower()
        if self.media_types and media_type not in self.media_types:
            return False
        return not self.bodies or _body_text(failure) in self.bodies

    def describe(self) -> str:
        parts = [self.operation, self.check]
        if self.statuses:
            parts.append("/".join(str(s) for s in sorted(self.statuses)))
        if self.error_codes:
            parts.append("/".join(sorted(self.error_codes)))
        if self.media_types:
            parts.append(", ".join(sorted(self.media_types)))
        if self.bodies:
            parts.append("body " + " or ".join(sorted(self.bodies)))
        return " ".join(parts)


def _body_text(failure: CheckFailure) -> str | None:
    body = failure.exchange.request_body if failure.exchange else None
    return None if body is None else body.decode("utf-8", "replace").strip()


@dataclass(frozen=True)
class Baseline:
    readings: tuple[Reading, ...]
    accepted: tuple[Accepted, ...]

    def entry_for(self, failure: CheckFailure) -> Accepted | None:
        """The entry accepting `failure`, None when it is new (never for a 5xx or a schema
        violation, whatever the file says)."""
        if failure.check in NEVER_ACCEPTED or (failure.status or 0) >= 500:
            return None
        return next((entry for entry in self.accepted if entry.covers(failure)), None)

    def read_swagger(self, swagger: dict[str, Any]) -> dict[str, Any]:
        """A copy of the Swagger with every reading applied ("any" ones first)."""
        read = copy.deepcopy(swagger)
        for reading in sorted(self.readings, key=lambda r: r.kind != "any"):
            parent, key = _resolve(read, reading.pointer)
            if reading.kind == "any":
                described = parent[key] if isinstance(parent[key], dict) else {}
                description = described.get("description")
                parent[key] = {"description": description} if description else {}
            else:
                parent[key] = _nullable(parent[key], read.get("definitions", {}))
        return read


def _nullable(schema: Any, definitions: dict[str, Any]) -> Any:
    """`schema` with its `#/definitions/` references copied in and every object property
    marked `x-nullable` (OpenAPI 2.0's nullable), at every depth."""
    if not isinstance(schema, dict):
        return schema
    reference = schema.get("$ref")
    if isinstance(reference, str) and reference.startswith("#/definitions/"):
        target = definitions[reference.rsplit("/", 1)[-1]]
        description = schema.get("description")
        schema = {**target, "description": description} if description else dict(target)
    out = {key: value for key, value in schema.items() if key != "$ref"}
    if isinstance(schema.get("properties"), dict):
        out["properties"] = {
            name: {**_nullable(member, definitions), "x-nullable": True}
            for name, member in schema["properties"].items()
        }
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            out[key] = _nullable(schema[key], definitions)
    return out


def _resolve(document: dict[str, Any], pointer: str) -> tuple[Any, Any]:
    """The object or array holding the member `pointer` names, and the member's key."""
    if not pointer.startswith("/"):
        raise BaselineError(f"reading {pointer!r}: a JSON pointer starts with '/'")
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]
    node: Any = document
    for index, token in enumerate(tokens):
        key: Any = token
        if isinstance(node, list) and token.isdigit() and int(token) < len(node):
            key = int(token)
        elif not isinstance(node, dict) or token not in node:
            raise BaselineError(f"reading {pointer!r}: the Swagger has no such schema")
        if index == len(tokens) - 1:
            return node, key
        node = node[key]
    raise BaselineError(f"reading {pointer!r}: the Swagger has no such schema")


def _reason(entry: dict[str, Any], where: str) -> str:
    reason = entry.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise BaselineError(f"{where}: every entry needs a non-empty reason")
    return reason.strip()


def _strings(entry: dict[str, Any], key: str, where: str) -> frozenset[str]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise BaselineError(f"{where}: {key} must be a list of strings")
    return frozenset(v.lower() if key == "media_types" else v for v in value)


def _statuses(entry: dict[str, Any], where: str) -> frozenset[int]:
    value = entry.get("status", [])
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise BaselineError(f"{where}: status must be a status code or a list of them")
    server_errors = [v for v in values if v >= 500]
    if server_errors:
        raise BaselineError(f"{where}: a {server_errors[0]} can never be accepted")
    return frozenset(values)


def _accepted(entry: Any, index: int, operations: frozenset[str]) -> Accepted:
    where = f"accepted entry {index}"
    if not isinstance(entry, dict):
        raise BaselineError(f"{where}: must be a table")
    unknown = sorted(set(entry) - _ACCEPTED_KEYS)
    if unknown:
        raise BaselineError(f"{where}: unknown key {unknown[0]!r}")
    operation, check = entry.get("operation"), entry.get("check")
    where = f"accepted entry {index} ({operation} {check})"
    if operation not in operations:
        raise BaselineError(f"{where}: {operation!r} is not an operation of the Swagger")
    if check not in CHECKS:
        raise BaselineError(f"{where}: {check!r} is not a check the runner enables")
    if check in NEVER_ACCEPTED:
        raise BaselineError(f"{where}: {check} failures can never be accepted")
    return Accepted(
        operation=operation,
        check=check,
        reason=_reason(entry, where),
        statuses=_statuses(entry, where),
        error_codes=_strings(entry, "error_codes", where),
        media_types=_strings(entry, "media_types", where),
        bodies=_strings(entry, "bodies", where),
    )


def _reading(entry: Any, index: int, swagger: dict[str, Any]) -> Reading:
    where = f"reading {index}"
    if not isinstance(entry, dict):
        raise BaselineError(f"{where}: must be a table")
    unknown = sorted(set(entry) - _READING_KEYS)
    if unknown:
        raise BaselineError(f"{where}: unknown key {unknown[0]!r}")
    pointer = entry.get("pointer")
    if not isinstance(pointer, str):
        raise BaselineError(f"{where}: pointer must be a JSON pointer string")
    kind = entry.get("as")
    if kind not in _READING_KINDS:
        raise BaselineError(f"reading {pointer}: as must be one of {', '.join(_READING_KINDS)}")
    _resolve(swagger, pointer)
    return Reading(pointer, _reason(entry, f"reading {pointer}"), kind)


def parse_baseline(text: str, swagger: dict[str, Any], operations: Iterable[str]) -> Baseline:
    """Parse and validate a baseline against the Swagger it applies to."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BaselineError(f"not valid TOML ({exc})") from None
    unknown = sorted(set(data) - {"reading", "accepted"})
    if unknown:
        raise BaselineError(f"unknown key {unknown[0]!r} (known: reading, accepted)")
    readings, accepted = data.get("reading", []), data.get("accepted", [])
    if not isinstance(readings, list) or not isinstance(accepted, list):
        raise BaselineError("reading and accepted must be arrays of tables ([[reading]])")
    known = frozenset(operations)
    return Baseline(
        readings=tuple(_reading(e, i, swagger) for i, e in enumerate(readings, 1)),
        accepted=tuple(_accepted(e, i, known) for i, e in enumerate(accepted, 1)),
    )


def load_baseline(path: Path, swagger: dict[str, Any], operations: Iterable[str]) -> Baseline:
    """The baseline file at `path`; BaselineError (naming the file) when it is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"baseline {path}: cannot be read ({exc})") from None
    try:
        return parse_baseline(text, swagger, operations)
    except BaselineError as exc:
        raise BaselineError(f"baseline {path}: {exc}") from None
