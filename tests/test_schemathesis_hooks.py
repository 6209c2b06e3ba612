"""The Schemathesis hooks (tests/schemathesis/hooks.py) and a real run: generated requests are
aimed at real conversations, activities get what recording needs, the stored-activities check
catches what a send smuggled in, and a short run passes against the reference. Schemathesis
4.32 needs Python 3.11: on 3.10 these are skipped."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from conformance.reference import EmbeddedServer, ServerConfig
from conformance.reference.app import create_app
from conformance.reference.service import DirectLineService
from tests.schemathesis import runner, wiring
from tests.schemathesis.baseline import load_baseline

hooks = pytest.importorskip("tests.schemathesis.hooks", reason="Schemathesis needs Python 3.11")

SWAGGER = json.loads(runner.SWAGGER.read_text(encoding="utf-8"))
OPERATIONS = runner.swagger_operations(SWAGGER)
SECRET = "hooks-test-secret-value"


def test_generated_conversation_ids_mostly_become_real_ones() -> None:
    pool = ["real-a", "real-b"]
    generated = [f"generated-{n}" for n in range(1000)]
    sent = [hooks.real_conversation_id(g, set(), pool) for g in generated]
    kept = sum(1 for g, s in zip(generated, sent, strict=True) if g == s)
    assert 50 <= kept <= 150  # about one in ten, for the 404s
    assert set(sent) - set(generated) == set(pool)
    assert sent == [hooks.real_conversation_id(g, set(), pool) for g in generated]
    assert hooks.real_conversation_id("issued", {"issued"}, pool) == "issued"


def test_activities_get_what_recording_needs_but_present_keys_stay() -> None:
    bodies = [{"text": f"t{n}"} for n in range(400)]
    completed = [hooks.recordable_activity(b) for b in bodies]
    changed = [c for b, c in zip(bodies, completed, strict=True) if c is not b]
    assert 250 <= len(changed) <= 350  # three in four
    assert all(c["type"] == "message" and c["from"] == hooks.SENDER for c in changed)
    negative = {"type": 5, "from": "nobody", "text": "x"}
    assert hooks.recordable_activity(negative) in (negative,)
    assert hooks.recordable_activity([1, 2]) == [1, 2]


class _StoresAnything(DirectLineService):
    """Stores a message as sent, without checking its fields (the old null-item/date bugs)."""

    def validate_client_activity(self, value: Any) -> Any:
        return dict(value)


def _check_after_send(
    server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch, swagger: Path, activity: Any
) -> None:
    origin = server.origin
    assert origin is not None
    monkeypatch.setenv(wiring.ORIGIN_ENV, origin)
    monkeypatch.setenv(wiring.SECRET_ENV, SECRET)
    monkeypatch.setenv(wiring.SWAGGER_ENV, str(swagger))
    hooks._activity_set_validator.cache_clear()
    conversation, _token = runner.start_pool(origin, SECRET, 1)
    answer = httpx.post(
        f"{origin}/v3/directline/conversations/{conversation[0]}/activities",
        json=activity,
        headers={"Authorization": f"Bearer {SECRET}"},
    )
    assert answer.status_code == 200, answer.text
    case = SimpleNamespace(
        method="POST",
        operation=SimpleNamespace(path=wiring.ACTIVITIES_PATH),
        path_parameters={"conversationId": conversation[0]},
    )
    hooks.stored_activities_conform(None, SimpleNamespace(status_code=200), case)


def test_the_stored_check_catches_what_a_send_smuggled_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert hooks.stored_activities_conform.__name__ == wiring.STORED_CHECK
    swagger = tmp_path / "read.json"
    baseline = load_baseline(runner.BASELINE, SWAGGER, OPERATIONS)
    swagger.write_text(json.dumps(baseline.read_swagger(SWAGGER)), encoding="utf-8")
    bad = {"type": "message", "from": {"id": "u"}, "localTimestamp": "2024-01-01T12:99:00Z"}
    config = ServerConfig(secret=SECRET)
    broken = EmbeddedServer(app=_app(config, _StoresAnything))
    with broken, pytest.raises(AssertionError, match="localTimestamp"):
        _check_after_send(broken, monkeypatch, swagger, bad)
    good = {**bad, "localTimestamp": "2024-01-01T12:59:00Z", "value": "any JSON"}
    with EmbeddedServer(config) as faithful:
        _check_after_send(faithful, monkeypatch, swagger, good)


def _app(config: ServerConfig, service: type[DirectLineService]) -> Any:
    return create_app(config, service_class=service)


# -- a real run --------------------------------------------------------------------------------
def test_a_short_real_run_passes_against_the_reference(capsys: pytest.CaptureFixture) -> None:
    code = runner.main(["--seconds", "20", "--seed", "7"])
    out = capsys.readouterr().out
    assert code == 0, out[-4000:]
    assert "result: PASS" in out
    for operation in OPERATIONS:
        assert operation in out
