"""The Schemathesis runner (tests/schemathesis): the baseline refuses what must never be accepted,
the event stream is folded right, and the verdict follows the failures. (The hooks and a real
run, which need Schemathesis itself, are in test_schemathesis_hooks.py.)"""

from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from conformance.evidence import Redactor
from tests.schemathesis import runner, wiring
from tests.schemathesis.baseline import (
    BaselineError,
    load_baseline,
    parse_baseline,
)
from tests.schemathesis.events import CheckFailure, RunResult, read_run
from tests.schemathesis.summary import MAX_EXAMPLES, summarize

SWAGGER = json.loads(runner.SWAGGER.read_text(encoding="utf-8"))
OPERATIONS = runner.swagger_operations(SWAGGER)
SEND = "POST /v3/directline/conversations/{conversationId}/activities"
GENERATE = "POST /v3/directline/tokens/generate"
SECRET = "runner-test-secret-value"


def _failure(check: str = "status_code_conformance", **fields: Any) -> CheckFailure:
    values: dict[str, Any] = {
        "operation": GENERATE,
        "check": check,
        "code": "ST103",
        "title": "Undocumented status code",
        "message": "Received: 400",
        "phase": "fuzzing",
        "mode": "positive",
        "media_type": "application/json",
        "status": 400,
        "error_code": "BadArgument",
        "exchange": None,
    }
    values.update(fields)
    return CheckFailure(**values)


def _baseline(text: str) -> Any:
    return parse_baseline(text, SWAGGER, OPERATIONS)


# -- the baseline ------------------------------------------------------------------------------
def test_the_shipped_baseline_loads_and_gives_every_entry_a_reason() -> None:
    baseline = load_baseline(runner.BASELINE, SWAGGER, OPERATIONS)
    assert len(baseline.readings) == 8 and len(baseline.accepted) >= 10
    assert all(entry.reason for entry in (*baseline.readings, *baseline.accepted))
    assert len(OPERATIONS) == 8


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ('check = "not_a_server_error"\nstatus = 400', "can never be accepted"),
        ('check = "response_schema_conformance"\nstatus = 200', "can never be accepted"),
        (f'check = "{wiring.STORED_CHECK}"\nstatus = 200', "can never be accepted"),
        ('check = "status_code_conformance"\nstatus = 500', "a 500 can never be accepted"),
        ('check = "status_code_conformance"\nstatus = [400, 502]', "a 502 can never be"),
        ('check = "status_code_conformance"\nstatus = 400\nreason = " "', "non-empty reason"),
        ('check = "no_such_check"\nstatus = 400', "is not a check"),
        ('check = "status_code_conformance"\nstatus = "400"', "status must be"),
        ('check = "status_code_conformance"\nwhen = 1', "unknown key 'when'"),
    ],
)
def test_the_baseline_refuses_what_it_must(entry: str, complaint: str) -> None:
    reason = "" if "reason" in entry else '\nreason = "because"'
    text = f'[[accepted]]\noperation = "{GENERATE}"\n{entry}{reason}\n'
    with pytest.raises(BaselineError, match=complaint):
        _baseline(text)


def test_the_baseline_refuses_unknown_operations_and_pointers() -> None:
    with pytest.raises(BaselineError, match="not an operation of the Swagger"):
        _baseline('[[accepted]]\noperation = "GET /nope"\ncheck = "unsupported_method"\n')
    with pytest.raises(BaselineError, match="no such schema"):
        _baseline(
            '[[reading]]\npointer = "/definitions/Activity/properties/nope"\n'
            'as = "any"\nreason = "r"'
        )
    with pytest.raises(BaselineError, match="as must be one of"):
        _baseline('[[reading]]\npointer = "/definitions/Activity"\nas = "lenient"\nreason = "r"')
    with pytest.raises(BaselineError, match="not valid TOML"):
        _baseline("[[accepted]\n")


def test_an_entry_accepts_only_what_all_its_conditions_name() -> None:
    baseline = _baseline(
        f'[[accepted]]\noperation = "{GENERATE}"\ncheck = "status_code_conformance"\n'
        'status = 400\nerror_codes = ["BadArgument"]\nmedia_types = ["text/xml"]\n'
        'reason = "r"\n'
    )
    assert baseline.entry_for(_failure(media_type="text/xml; charset=utf-8")) is not None
    assert baseline.entry_for(_failure()) is None  # application/json
    assert baseline.entry_for(_failure(media_type="text/xml", status=409)) is None
    assert baseline.entry_for(_failure(media_type="text/xml", error_code="Other")) is None
    assert baseline.entry_for(_failure(media_type="text/xml", operation=SEND)) is None


def test_a_server_error_is_never_accepted_even_by_a_matching_entry() -> None:
    baseline = _baseline(
        f'[[accepted]]\noperation = "{GENERATE}"\ncheck = "status_code_conformance"\n'
        'reason = "no status condition: any status"\n'
    )
    assert baseline.entry_for(_failure(status=404)) is not None
    assert baseline.entry_for(_failure(status=500)) is None


def test_readings_make_members_any_json_without_touching_the_original() -> None:
    baseline = load_baseline(runner.BASELINE, SWAGGER, OPERATIONS)
    read = baseline.read_swagger(SWAGGER)
    value = read["definitions"]["Activity"]["properties"]["value"]
    assert "type" not in value and value["description"]
    assert SWAGGER["definitions"]["Activity"]["properties"]["value"]["type"] == "object"
    assert read["definitions"]["Activity"]["properties"]["text"]["type"] == "string"


def test_request_bodies_read_nulls_as_absent_and_responses_stay_strict() -> None:
    baseline = load_baseline(runner.BASELINE, SWAGGER, OPERATIONS)
    read = baseline.read_swagger(SWAGGER)
    send = read["paths"]["/v3/directline/conversations/{conversationId}/activities"]["post"]
    body = send["parameters"][1]["schema"]
    assert "$ref" not in body and body["properties"]["text"]["x-nullable"] is True
    sender = body["properties"]["from"]
    assert sender["x-nullable"] is True and sender["properties"]["id"]["x-nullable"] is True
    attachment = body["properties"]["attachments"]["items"]
    assert "x-nullable" not in attachment  # a null item is refused
    assert "type" not in attachment["properties"]["content"]  # the "any" reading came first
    assert "x-nullable" not in read["definitions"]["Activity"]["properties"]["text"]
    answer = send["responses"]["200"]["schema"]
    assert answer == {"$ref": "#/definitions/ResourceResponse"}


# -- the event stream --------------------------------------------------------------------------
def _b64(data: bytes) -> dict[str, str]:
    return {"$base64": base64.b64encode(data).decode()}


def _interaction(method: str, path: str, status: int, body: bytes) -> dict[str, Any]:
    return {
        "request": {
            "method": method,
            "uri": f"http://127.0.0.1:9/{path}",
            "headers": {"Authorization": ["[Filtered]"], "Content-Type": ["application/json"]},
            "body": _b64(b'{"type": "message"}'),
        },
        "response": {
            "status_code": status,
            "headers": {"content-type": ["application/json"]},
            "content": _b64(body),
            "elapsed": 0.01,
        },
        "timestamp": 1.0,
    }


def _write_events(path: Path) -> None:
    send_path = "/v3/directline/conversations/{conversationId}/activities"
    error_body = f'{{"error":{{"code":"ServiceError","message":"{SECRET}"}}}}'.encode()
    scenario = {
        "phase": "fuzzing",
        "recorder": {
            "label": SEND,
            "cases": {
                "ok": {"value": {"method": "POST", "path": send_path, "media_type": None}},
                "bad": {
                    "value": {
                        "method": "POST",
                        "path": send_path,
                        "media_type": "application/json",
                        "meta": {"generation": {"mode": "negative"}},
                    }
                },
            },
            "interactions": {
                "ok": _interaction("POST", "ok", 200, b'{"id":"x"}'),
                "bad": _interaction("POST", "bad", 500, error_body),
            },
            "checks": {
                "ok": [{"name": "not_a_server_error", "status": "success"}],
                "bad": [
                    {
                        "name": "not_a_server_error",
                        "status": "failure",
                        "failure_info": {
                            "failure": {
                                "operation": SEND,
                                "code": "ST101",
                                "title": "Server error",
                                "message": "500",
                            }
                        },
                    }
                ],
            },
        },
    }
    events = [
        {"Initialize": {"seed": 1}},
        {"ScenarioFinished": scenario},
        {"NonFatalError": {"label": SEND, "value": {"type": "TypeError", "message": "boom"}}},
        {"EngineFinished": {"running_time": 12.5, "stop_reason": "max_time"}},
    ]
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n", encoding="utf-8")


def test_the_event_stream_is_folded_into_counts_and_failures(tmp_path: Path) -> None:
    _write_events(tmp_path / "events.ndjson")
    result = read_run(tmp_path / "events.ndjson", OPERATIONS)
    assert result.finished and result.seconds == 12.5 and result.stop_reason == "max_time"
    assert result.requests == 2 and result.statuses[SEND] == Counter({200: 1, 500: 1})
    assert result.checks_run["not_a_server_error"] == 2
    [failure] = result.failures
    assert (failure.operation, failure.check, failure.status) == (SEND, "not_a_server_error", 500)
    assert failure.error_code == "ServiceError" and failure.mode == "negative"
    assert failure.exchange is not None and failure.exchange.request_body == b'{"type": "message"}'
    assert result.errors == Counter({f"{SEND}: TypeError: boom": 1})


def _report(result: RunResult, baseline_text: str = "") -> tuple[str, int]:
    redactor = Redactor()
    redactor.add_secret(SECRET)
    baseline = _baseline(baseline_text)
    return summarize(result, baseline, OPERATIONS, redactor, (SECRET, "a-token-value"))


def _reached() -> dict[str, Counter[int]]:
    return {operation: Counter({200: 1}) for operation in OPERATIONS}


def test_a_new_failure_fails_the_run_and_is_shown_without_the_secret(tmp_path: Path) -> None:
    _write_events(tmp_path / "events.ndjson")
    result = read_run(tmp_path / "events.ndjson", OPERATIONS)
    result.errors.clear()
    result.statuses.update({op: Counter({200: 1}) for op in OPERATIONS if op != SEND})
    text, code = _report(result)
    assert code == 1
    assert "NEW FAILURES (1, 1 kinds)" in text and "result: FAIL" in text
    assert SECRET not in text
    assert "Authorization: Bearer <redacted>" in text and "$DIRECTLINE_SECRET" in text


def test_accepted_failures_pass_and_problems_make_the_run_unjudged() -> None:
    entry = (
        f'[[accepted]]\noperation = "{GENERATE}"\ncheck = "status_code_conformance"\n'
        'status = 400\nreason = "r"\n'
    )
    passing = RunResult(finished=True, statuses=_reached(), failures=[_failure()])
    text, code = _report(passing, entry)
    assert code == 0 and "result: PASS" in text and "1 accepted by 1 of its 1 entries" in text

    unreached = RunResult(finished=True, statuses={GENERATE: Counter({400: 3})})
    text, code = _report(unreached, entry)
    assert code == 2 and "never answered 2xx" in text

    erred = RunResult(finished=True, statuses=_reached(), errors=Counter({"x: E: y": 2}))
    assert _report(erred)[1] == 2
    assert _report(RunResult(finished=False, statuses=_reached()))[1] == 2


def test_only_the_first_kinds_of_new_failures_are_shown_in_full() -> None:
    failures = [_failure(status=400 + n) for n in range(MAX_EXAMPLES + 5)]
    text, code = _report(RunResult(finished=True, statuses=_reached(), failures=failures))
    assert code == 1
    assert text.count("\n- POST ") == MAX_EXAMPLES and "... and 5 more kinds" in text
