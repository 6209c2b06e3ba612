"""What a Schemathesis run did, read from its NDJSON event stream (`st run --report ndjson`).

Every ScenarioFinished event carries the cases it generated, the request/response of each
(`interactions`) and the result of every check on each response. This module folds them into
counts (requests per operation and status, check results) and keeps the full exchange only for
the responses some check failed, as `conformance.evidence.Exchange`s, so the runner can print
them with the kit's redaction and curl lines. The stream is read line by line: a ten-minute
run writes a few hundred megabytes.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.evidence import Exchange

__all__ = ["CheckFailure", "RunResult", "read_run"]


@dataclass(frozen=True)
class CheckFailure:
    """One check that failed on one response."""

    operation: str  #: "POST /v3/directline/conversations"
    check: str  #: "status_code_conformance"
    code: str  #: Schemathesis's failure code, "ST103"
    title: str
    message: str
    phase: str
    mode: str | None  #: "positive" or "negative" generation
    media_type: str | None  #: of the request body, when there is one
    status: int | None  #: of the response, None without one
    error_code: str | None  #: `error.code` of an ErrorResponse answer
    exchange: Exchange | None


@dataclass
class RunResult:
    """The folded event stream of one run."""

    seconds: float = 0.0
    stop_reason: str = ""
    operations: int = 0
    requests: int = 0
    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    checks_run: Counter[str] = field(default_factory=Counter)
    failures: list[CheckFailure] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    fatal: list[str] = field(default_factory=list)
    finished: bool = False

    def failed_checks(self) -> Counter[str]:
        return Counter(f.check for f in self.failures)


def _bytes(payload: Any) -> bytes | None:
    if payload is None:
        return None
    if isinstance(payload, dict) and "$base64" in payload:
        return base64.b64decode(payload["$base64"])
    if isinstance(payload, dict) and "string" in payload:
        return str(payload["string"]).encode("utf-8")
    return str(payload).encode("utf-8")


def _pairs(headers: dict[str, Any] | None) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name, values in (headers or {}).items():
        for value in values if isinstance(values, list) else [values]:
            pairs.append((name, str(value)))
    return pairs


def to_exchange(interaction: dict[str, Any]) -> Exchange:
    """An NDJSON interaction (request and response) as the kit's Exchange."""
    request = interaction.get("request") or {}
    response = interaction.get("response") or {}
    return Exchange(
        method=str(request.get("method", "?")),
        url=str(request.get("uri", "?")),
        request_headers=_pairs(request.get("headers")),
        request_body=_bytes(request.get("body")),
        status=response.get("status_code"),
        response_headers=_pairs(response.get("headers")),
        response_body=_bytes(response.get("content")),
        started=float(interaction.get("timestamp") or 0.0),
        elapsed=float(response.get("elapsed") or 0.0),
        error=None if response else "no response",
    )


def error_code(body: bytes | None) -> str | None:
    """The `error.code` of an ErrorResponse body, None for anything else."""
    if not body:
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def _operation(case: dict[str, Any], label: str, known: frozenset[str]) -> str:
    """The Swagger operation a case exercised: its own method and path, or (a method the
    Swagger does not list, sent to probe 405s) the operation its scenario was about."""
    own = f"{case.get('method', '?')} {case.get('path', '?')}"
    if own in known or label not in known:
        return own
    return label


def _fold_scenario(result: RunResult, scenario: dict[str, Any], known: frozenset[str]) -> None:
    recorder = scenario.get("recorder") or {}
    label = str(recorder.get("label", ""))
    cases = recorder.get("cases") or {}
    interactions = recorder.get("interactions") or {}
    for case_id, interaction in interactions.items():
        case = (cases.get(case_id) or {}).get("value") or {}
        status = (interaction.get("response") or {}).get("status_code")
        operation = _operation(case, label, known)
        result.requests += 1
        result.statuses.setdefault(operation, Counter())[status] += 1
    for case_id, checks in (recorder.get("checks") or {}).items():
        for check in checks:
            name = str(check.get("name"))
            result.checks_run[name] += 1
            if check.get("status") != "failure":
                continue
            case = (cases.get(case_id) or {}).get("value") or {}
            info = ((check.get("failure_info") or {}).get("failure")) or {}
            interaction = interactions.get(case_id)
            exchange = to_exchange(interaction) if interaction else None
            generation = ((case.get("meta") or {}).get("generation")) or {}
            result.failures.append(
                CheckFailure(
                    operation=str(info.get("operation") or _operation(case, label, known)),
                    check=name,
                    code=str(info.get("code", "")),
                    title=str(info.get("title", "")),
                    message=str(info.get("message", "")),
                    phase=str(scenario.get("phase", "")),
                    mode=generation.get("mode"),
                    media_type=case.get("media_type"),
                    status=exchange.status if exchange else None,
                    error_code=error_code(exchange.response_body) if exchange else None,
                    exchange=exchange,
                )
            )


def _events(lines: Iterable[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    for line in lines:
        if line.strip():
            yield from json.loads(line).items()


def read_run(path: Path, operations: Iterable[str]) -> RunResult:
    """Fold the NDJSON stream at `path`; `operations` are the Swagger's "METHOD /path" labels."""
    known = frozenset(operations)
    result = RunResult(operations=len(known))
    with path.open(encoding="utf-8") as stream:
        for kind, payload in _events(stream):
            if kind == "ScenarioFinished":
                _fold_scenario(result, payload, known)
            elif kind == "NonFatalError":
                value = payload.get("value") or {}
                where = payload.get("label") or "the run"
                what = f"{value.get('type', 'Error')}: {value.get('message', '')}"
                result.errors[f"{where}: {what}"] += 1
            elif kind == "FatalError":
                value = payload.get("value") or payload.get("exception") or payload
                result.fatal.append(str(value)[:500])
            elif kind == "EngineFinished":
                result.finished = True
                result.seconds = float(payload.get("running_time") or 0.0)
                result.stop_reason = str(payload.get("stop_reason") or "")
    return result
