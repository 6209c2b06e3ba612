"""DirectLineClient over httpx.MockTransport: what goes on the wire, what is recorded, and how
the client behaves when the target is slow, gone, or asks it to slow down. No sockets."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from conformance import __version__
from conformance.client import (
    NOBODY,
    SECRET,
    Allowance,
    DirectLineClient,
    Meter,
    RawAuth,
    RunGovernor,
    UploadFile,
    parse_retry_after,
    stream_ws_url,
)
from conformance.errors import (
    BudgetExhausted,
    ConfigError,
    HarnessError,
    PreconditionFailed,
    TargetError,
    TargetTimeout,
    TargetUnreachable,
    Violation,
)
from conformance.evidence import REDACTED

BASE = "http://dl.test/v3/directline"
THE_SECRET = "the-secret.cwA.BKA.xyz123"
A_TOKEN = "issued-token.cwA.abc-DEF_123"
STREAM_T = "stream-t.cwA.streamtokenvalue"

Handler = Callable[[httpx.Request], httpx.Response]


class Target:
    """A scripted target: answers come from a list (one per request) or a function."""

    def __init__(self, *answers: httpx.Response | Exception | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer) and not isinstance(answer, httpx.Response):
            return answer(request)
        return answer

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


class FakeTime:
    """A clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def ok(body: Any = None, status: int = 200, **headers: str) -> httpx.Response:
    if body is None:
        return httpx.Response(status, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def make_client(fake_time: FakeTime) -> Iterator[Callable[..., DirectLineClient]]:
    clients: list[DirectLineClient] = []

    def make(target: Target, **kwargs: Any) -> DirectLineClient:
        kwargs.setdefault("secret", THE_SECRET)
        kwargs.setdefault("sleep", fake_time.sleep)
        kwargs.setdefault("clock", fake_time.clock)
        client = DirectLineClient(BASE, transport=httpx.MockTransport(target), **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


# --- each operation on the wire -----


def test_generate_token_without_and_with_body(make_client: Callable[..., DirectLineClient]) -> None:
    target = Target(ok({"conversationId": "c1", "token": A_TOKEN, "expires_in": 1800}))
    client = make_client(target)
    ex = client.generate_token()
    req = target.last
    assert (req.method, str(req.url)) == ("POST", f"{BASE}/tokens/generate")
    assert req.headers["Authorization"] == f"Bearer {THE_SECRET}"
    assert req.content == b"" and "content-type" not in req.headers
    assert ex.request_body is None and ex.status == 200 and ex.json()["token"] == A_TOKEN

    client.generate_token(body={"user": {"id": "dl_ü"}})
    assert target.last.headers["Content-Type"] == "application/json"
    assert json.loads(target.last.content) == {"user": {"id": "dl_ü"}}
    client.generate_token(body=None)
    assert target.last.content == b"null"


def test_refresh_token_uses_the_given_token(make_client: Callable[..., DirectLineClient]) -> None:
    target = Target(ok({"token": "new-token-value"}))
    make_client(target).refresh_token(auth=A_TOKEN)
    assert (target.last.method, target.last.url.path) == ("POST", "/v3/directline/tokens/refresh")
    assert target.last.headers["Authorization"] == f"Bearer {A_TOKEN}"


def test_start_conversation(make_client: Callable[..., DirectLineClient]) -> None:
    target = Target(ok({"conversationId": "c1"}, status=201))
    client = make_client(target)
    ex = client.start_conversation(body={"user": {"id": "u1"}, "locale": "en-US"})
    assert (target.last.method, str(target.last.url)) == ("POST", f"{BASE}/conversations")
    assert json.loads(target.last.content) == {"user": {"id": "u1"}, "locale": "en-US"}
    assert ex.status == 201 and client.recorder.exchanges == [ex]
    assert (client.meter.requests, client.meter.conversations) == (1, 1)


@pytest.mark.parametrize(
    ("watermark", "query"), [(None, b""), ("", b"watermark="), ("0000a-42", b"watermark=0000a-42")]
)
def test_reconnect_and_get_activities_watermark(
    make_client: Callable[..., DirectLineClient], watermark: str | None, query: bytes
) -> None:
    target = Target(ok({"activities": []}))
    client = make_client(target)
    client.reconnect("abc", watermark=watermark)
    assert target.last.method == "GET"
    assert (target.last.url.path, target.last.url.query) == (
        "/v3/directline/conversations/abc",
        query,
    )
    client.get_activities("abc", watermark=watermark)
    assert target.last.url.path == "/v3/directline/conversations/abc/activities"
    assert target.last.url.query == query


def test_conversation_ids_are_encoded_as_one_path_segment(
    make_client: Callable[..., DirectLineClient],
) -> None:
    target = Target(ok({}))
    make_client(target).get_activities("a/b?c d|e")
    assert target.last.url.raw_path == b"/v3/directline/conversations/a%2Fb%3Fc%20d%7Ce/activities"


def test_post_activity_sends_json(make_client: Callable[..., DirectLineClient]) -> None:
    target = Target(ok({"id": "c1|0001"}))
    activity = {"type": "message", "from": {"id": "user1"}, "text": "héllo ☃"}
    ex = make_client(target).post_activity("c1", activity)
    assert str(target.last.url) == f"{BASE}/conversations/c1/activities"
    assert target.last.headers["Content-Type"] == "application/json"
    assert json.loads(target.last.content) == activity
    assert ex.request_body == target.last.content
    assert ex.json() == {"id": "c1|0001"}


def test_raw_request(make_client: Callable[..., DirectLineClient]) -> None:
    target = Target(ok(None, status=415))
    client = make_client(target)
    ex = client.request(
        "POST",
        "/conversations/c1/activities",
        headers={"Content-Type": "text/plain", "X-Extra": "1"},
        content="not json",
        params={"a": "b"},
    )
    assert str(target.last.url) == f"{BASE}/conversations/c1/activities?a=b"
    assert target.last.headers["Content-Type"] == "text/plain"
    assert target.last.content == b"not json" and ex.status == 415
    client.request("GET", "http://other.test/x", auth=None)
    assert str(target.last.url) == "http://other.test/x"
    assert "authorization" not in target.last.headers


def test_caller_headers_override_the_clients_in_any_case(
    make_client: Callable[..., DirectLineClient],
) -> None:
    target = Target(ok({}))
    client = make_client(target)
    client.request(
        "POST",
        "/tokens/generate",
        headers={"authorization": "Bearer other-credential", "user-agent": "x"},
    )
    assert target.last.headers.get_list("Authorization") == ["Bearer other-credential"]
    assert target.last.headers.get_list("User-Agent") == ["x"]
    assert "other-credential" in client.redactor


def test_raw_post_to_conversations_spends_the_budget(
    make_client: Callable[..., DirectLineClient],
) -> None:
    governor = RunGovernor(allowance=Allowance(conversations=1))
    client = make_client(Target(ok({})), governor=governor)
    client.request("POST", "/conversations", content="{}")
    client.request("GET", "/conversations/c1/activities")
    with pytest.raises(BudgetExhausted):
        client.request("POST", f"{BASE}/conversations/")
    assert client.meter.conversations == 1


def test_http_errors_and_redirects_are_answers_not_exceptions(
    make_client: Callable[..., DirectLineClient],
) -> None:
    target = Target(ok(None, status=302, Location="http://elsewhere.test/"), ok(None, status=500))
    client = make_client(target)
    assert client.start_conversation().status == 302
    assert client.start_conversation().status == 500
    assert len(target.requests) == 2


# --- authentication variants and request tagging -----


@pytest.mark.parametrize(
    ("auth", "header"),
    [
        (SECRET, f"Bearer {THE_SECRET}"),
        (A_TOKEN, f"Bearer {A_TOKEN}"),
        (RawAuth("Basic Zm9vOmJhcg=="), "Basic Zm9vOmJhcg=="),
        (RawAuth("Bearer"), "Bearer"),
        (None, None),
    ],
)
def test_auth_variants(
    make_client: Callable[..., DirectLineClient], auth: Any, header: str | None
) -> None:
    target = Target(ok({}))
    make_client(target).reconnect("c1", auth=auth)
    assert target.last.headers.get("Authorization") == header


def test_secret_auth_without_a_secret_sends_no_header(
    make_client: Callable[..., DirectLineClient],
) -> None:
    target = Target(ok({}))
    make_client(target, secret=None).start_conversation()
    assert "authorization" not in target.last.headers


def test_case_id_and_user_agent(make_client: Callable[..., DirectLineClient]) -> None:
    target = Target(ok({}))
    client = make_client(target, case_id="suite/test_start.py::test_x[DL-START-001]")
    client.start_conversation()
    assert (
        target.last.headers["x-dl-conformance-case"] == "suite/test_start.py::test_x[DL-START-001]"
    )
    assert target.last.headers["User-Agent"] == f"directline-conformance/{__version__}"
    client.case_id = None
    client.start_conversation()
    assert "x-dl-conformance-case" not in target.last.headers


def test_credentials_sent_and_tokens_received_are_redacted(
    make_client: Callable[..., DirectLineClient],
) -> None:
    answer = {
        "conversationId": "c1",
        "token": A_TOKEN,
        "streamUrl": f"wss://dl.test/stream?watermark=-&amp;t={STREAM_T}",
    }
    target = Target(ok(answer, status=201))
    client = make_client(target)
    client.start_conversation()
    client.request("GET", "/x", auth=RawAuth("Custom raw-credential-value"))
    text = client.redactor.redact(
        f"{THE_SECRET} {A_TOKEN} {STREAM_T} raw-credential-value Custom raw-credential-value"
    )
    # the credential of a raw header value is registered, its scheme word stays readable
    assert text == " ".join([REDACTED] * 4) + f" Custom {REDACTED}"


# --- failures to answer -----


def test_timeout_raises_target_timeout_with_the_exchange(
    make_client: Callable[..., DirectLineClient],
) -> None:
    target = Target(httpx.ReadTimeout("timed out"))
    client = make_client(target, timeout=2.5)
    with pytest.raises(TargetTimeout) as info:
        client.post_activity("c1", {"type": "message"})
    error = info.value
    assert isinstance(error, HarnessError) and isinstance(error, TargetError)
    assert str(error) == f"POST {BASE}/conversations/c1/activities: no answer within 2.5 s (read)"
    assert error.exchange is client.recorder.exchanges[-1]
    assert error.exchange.status is None
    assert error.exchange.error == "timed out after 2.5 s (read)"
    assert error.exchange.request_body == b'{"type": "message"}'


def test_connect_error_raises_target_unreachable(
    make_client: Callable[..., DirectLineClient],
) -> None:
    target = Target(httpx.ConnectError("[Errno 111] Connection refused"))
    client = make_client(target)
    with pytest.raises(TargetUnreachable, match="connection refused") as info:
        client.start_conversation()
    assert info.value.exchange is not None and info.value.exchange.status is None
    assert len(client.recorder.exchanges) == 1


def test_reset_raises_target_unreachable(make_client: Callable[..., DirectLineClient]) -> None:
    target = Target(httpx.RemoteProtocolError("Server disconnected without sending a response."))
    with pytest.raises(TargetUnreachable, match="closed without an answer"):
        make_client(target).start_conversation()


def test_timeouts_never_leak_tokens_in_messages(
    make_client: Callable[..., DirectLineClient],
) -> None:
    target = Target(httpx.ConnectTimeout("slow"))
    client = make_client(target)
    with pytest.raises(TargetTimeout) as info:
        client.request("GET", f"{BASE}/stream?t={STREAM_T}")
    assert STREAM_T not in str(info.value) and "(connect)" in str(info.value)


def test_httpx_client_ignores_the_environment(
    make_client: Callable[..., DirectLineClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    client = DirectLineClient(BASE)
    try:
        assert client._http.trust_env is False
        assert client._http.follow_redirects is False
        assert client._http.timeout == httpx.Timeout(10.0)
    finally:
        client.close()


# --- Retry-After ---------------------------------------------------------------------------------


def test_429_is_retried_after_retry_after(
    make_client: Callable[..., DirectLineClient], fake_time: FakeTime
) -> None:
    target = Target(ok({}, status=429, **{"Retry-After": "1"}), ok({"id": "1"}))
    client = make_client(target)
    ex = client.post_activity("c1", {"type": "message"})
    assert ex.status == 200
    assert [e.status for e in client.recorder.exchanges] == [429, 200]
    assert fake_time.sleeps == [1.0]
    assert target.requests[0].content == target.requests[1].content


@pytest.mark.parametrize(
    ("header", "wait"),
    [("1500", 1.5), ("2", 2.0), ("0", 0.0), ("250ms", 0.25), ("3s", 3.0), ("nonsense", 1.0)],
)
def test_retry_after_readings(
    make_client: Callable[..., DirectLineClient],
    fake_time: FakeTime,
    header: str,
    wait: float,
) -> None:
    target = Target(ok({}, status=429, **{"Retry-After": header}), ok({}))
    make_client(target).start_conversation()
    assert fake_time.sleeps == [wait]


def test_429_without_retry_after_backs_off_one_second(
    make_client: Callable[..., DirectLineClient], fake_time: FakeTime
) -> None:
    target = Target(ok({}, status=429), ok({}))
    make_client(target).get_activities("c1")
    assert fake_time.sleeps == [1.0]


def test_retry_after_is_capped_and_retries_are_limited(
    make_client: Callable[..., DirectLineClient], fake_time: FakeTime
) -> None:
    target = Target(ok({}, status=429, **{"Retry-After": "600"}))
    client = make_client(target, max_retry_after=5.0)
    ex = client.start_conversation()
    assert ex.status == 429
    assert len(target.requests) == 4 and len(client.recorder.exchanges) == 4
    assert fake_time.sleeps == [5.0, 5.0, 5.0]
    assert (client.meter.requests, client.meter.retries) == (1, 3)
    assert [e.note for e in client.recorder.exchanges[:3]] == [
        "answered 429: retried after 5 s (Retry-After)"
    ] * 3


def test_parse_retry_after_http_date() -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    later = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert parse_retry_after(later, now=now.timestamp()) == pytest.approx(7.0)
    earlier = format_datetime(now - timedelta(seconds=7), usegmt=True)
    assert parse_retry_after(earlier, now=now.timestamp()) == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None


# --- run limits -----


def test_budget_exhausted_before_anything_is_sent(
    make_client: Callable[..., DirectLineClient],
) -> None:
    target = Target(ok({"conversationId": "c"}, status=201))
    client = make_client(target, governor=RunGovernor(allowance=Allowance(conversations=1)))
    client.start_conversation()
    with pytest.raises(BudgetExhausted, match="budget of this run is spent: 1 conversations"):
        client.new_conversation()
    assert len(target.requests) == 1
    client.start_conversation(auth="a-token-of-its-own")  # a token starts nothing new
    client.get_activities("c")


def test_one_governor_is_shared_by_every_client(
    make_client: Callable[..., DirectLineClient],
) -> None:
    governor = RunGovernor(allowance=Allowance(requests=3))
    a = make_client(Target(ok({})), governor=governor)
    b = make_client(Target(ok({})), governor=governor)
    a.get_activities("c")
    b.get_activities("c")
    a.get_activities("c")
    with pytest.raises(BudgetExhausted, match="3 requests"):
        b.get_activities("c")
    assert governor.counts()["requests"] == 3


def test_bad_limits_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        RunGovernor(rate=0)
    for timeout in (0, float("inf"), float("nan")):
        with pytest.raises(ConfigError):
            DirectLineClient(BASE, timeout=timeout)


def test_client_asks_the_governor_before_every_request_and_retry(
    make_client: Callable[..., DirectLineClient],
) -> None:
    class CountingGovernor(RunGovernor):
        calls = 0

        def admit(self, **kwargs: Any) -> None:
            type(self).calls += 1

    target = Target(ok({}, status=429, **{"Retry-After": "0"}), ok({}))
    client = make_client(target, governor=CountingGovernor())
    client.start_conversation()
    client.get_activities("c")
    assert CountingGovernor.calls == 3


def test_meter_counts_what_the_plan_counts(make_client: Callable[..., DirectLineClient]) -> None:
    answers = {
        "/v3/directline/conversations": ok({"conversationId": "c1", "token": A_TOKEN}, 201),
        "/v3/directline/conversations/c1/activities": ok({"id": "c1|1"}),
        "/v3/directline/tokens/generate": ok({"conversationId": "c2", "token": A_TOKEN}),
    }
    meter = Meter()
    client = make_client(Target(lambda r: answers[r.url.path]), meter=meter)
    client.new_conversation()
    client.start_conversation(auth=A_TOKEN)  # the token's conversation: nothing new
    client.post_activity("c1", {"type": "message"})
    client.generate_token()
    client.start_conversation(auth=None)  # no credential: refused by a target with auth
    assert meter.as_dict() | {} == {
        "requests": 5,
        "conversations": 2,
        "streams": 0,
        "activities": 1,
        "waits": 0,
        "polls": 0,
        "pagings": 0,
        "pages": 0,
        "retries": 0,
        "lane_requests": 0,
        "lane_conversations": 0,
        "lane_activities": 0,
    }


# --- transient errors, body cap, unusable values -----


def test_transient_get_errors_are_retried_and_recorded(
    make_client: Callable[..., DirectLineClient], fake_time: FakeTime
) -> None:
    service_error = {"error": {"code": "ServiceError", "message": "try again"}}
    target = Target(ok(service_error, 503), ok(service_error, 500), ok({"activities": []}))
    client = make_client(target)
    answer = client.get_activities("c1")
    assert answer.status == 200 and len(client.recorder.exchanges) == 3
    assert [e.status for e in client.recorder.exchanges] == [503, 500, 200]
    assert client.recorder.exchanges[0].note.startswith("answered 503: retried after 0.5 s")
    assert fake_time.sleeps == [0.5, 1.5]
    assert (client.meter.requests, client.meter.retries) == (1, 2)


def test_transient_errors_give_up_and_the_last_answer_is_judged(
    make_client: Callable[..., DirectLineClient],
) -> None:
    target = Target(ok({"error": {"code": "ServiceError", "message": "down"}}, 503))
    client = make_client(target)
    assert client.get_activities("c1").status == 503
    assert len(target.requests) == 3


def test_posts_are_never_retried_on_5xx(make_client: Callable[..., DirectLineClient]) -> None:
    target = Target(ok({"error": {"code": "ServiceError", "message": "down"}}, 503))
    client = make_client(target)
    assert client.post_activity("c1", {"type": "message"}).status == 503
    assert len(target.requests) == 1


def test_bodies_are_read_up_to_the_cap(make_client: Callable[..., DirectLineClient]) -> None:
    huge = httpx.Response(200, content=b"x" * 5000, headers={"Content-Length": "5000"})
    client = make_client(Target(huge), max_body=1024)
    answer = client.get_activities("c1")
    assert len(answer.response_body or b"") == 1024
    assert answer.truncated and answer.body_length == 5000


def test_a_conversation_id_that_cannot_be_used_fails_start_002(
    make_client: Callable[..., DirectLineClient],
) -> None:
    for value in ("x" * 100_000, 42, ""):
        target = Target(ok({"conversationId": value}, 201))
        with pytest.raises(Violation) as raised:
            make_client(target).new_conversation()
        assert raised.value.requirement == "DL-START-002"


def test_a_url_that_cannot_be_sent_is_a_target_error(
    make_client: Callable[..., DirectLineClient],
) -> None:
    client = make_client(Target(ok({})))
    with pytest.raises(TargetError, match="cannot send GET"):
        client.get_activities("c" * 70_000)


def test_a_sent_credential_is_hidden_but_its_scheme_stays(
    make_client: Callable[..., DirectLineClient],
) -> None:
    client = make_client(Target(ok({})))
    client.get_activities("c1", auth="some-token-value-1234")
    shown = client.redactor.redact("Authorization: Bearer some-token-value-1234")
    assert shown == f"Authorization: Bearer {REDACTED}"


# --- upload -----


def parse_multipart(request: httpx.Request) -> list[email.message.Message]:
    raw = b"Content-Type: " + request.headers["Content-Type"].encode() + b"\r\n\r\n"
    message = email.message_from_bytes(raw + request.content, policy=email.policy.HTTP)
    assert message.is_multipart()
    return list(message.iter_parts())  # type: ignore[attr-defined]


def test_upload_single_file(make_client: Callable[..., DirectLineClient]) -> None:
    target = Target(ok({"id": "0003"}))
    jpeg = b"\xff\xd8\xff\xe0JFIF\x00binary"
    ex = make_client(target).upload(
        "c1", [UploadFile("bad joke.jpg", jpeg, "image/jpeg")], user_id="user1", single=True
    )
    req = target.last
    assert str(req.url) == f"{BASE}/conversations/c1/upload?userId=user1"
    assert req.headers["Content-Type"] == "image/jpeg"
    assert req.headers["Content-Disposition"] == 'name="file"; filename="bad joke.jpg"'
    assert req.content == jpeg and ex.request_body == jpeg


def test_upload_single_needs_exactly_one_file(make_client: Callable[..., DirectLineClient]) -> None:
    client = make_client(Target(ok({})))
    files = [UploadFile("a", b"1"), UploadFile("b", b"2")]
    with pytest.raises(ValueError, match="exactly one file"):
        client.upload("c1", files, user_id="u", single=True)


def test_upload_multipart_with_activity(make_client: Callable[..., DirectLineClient]) -> None:
    target = Target(ok({"id": "0004"}))
    files = [
        UploadFile("a.png", b"\x89PNG\r\n\x1a\n\x00\xff", "image/png"),
        UploadFile('we"ird.txt', b"plain text\r\n--not a boundary", "text/plain"),
    ]
    activity = {"type": "message", "from": {"id": "user1"}, "text": "see attached"}
    make_client(target).upload("c1", files, user_id="user1", activity=activity)
    req = target.last
    assert str(req.url) == f"{BASE}/conversations/c1/upload?userId=user1"
    assert req.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    parts = parse_multipart(req)
    assert [p.get_content_type() for p in parts] == [
        "application/vnd.microsoft.activity",
        "image/png",
        "text/plain",
    ]
    names = [p.get_param("name", header="content-disposition") for p in parts]
    assert names == ["activity", "file", "file"]
    assert [p.get_filename() for p in parts] == [None, "a.png", "we%22ird.txt"]
    assert json.loads(parts[0].get_payload(decode=True)) == activity
    assert parts[1].get_payload(decode=True) == files[0].content
    assert parts[2].get_payload(decode=True) == files[1].content


def test_upload_multipart_files_only_and_activity_last(
    make_client: Callable[..., DirectLineClient],
) -> None:
    target = Target(ok({}))
    client = make_client(target)
    client.upload("c1", [UploadFile("x.bin", b"\x00")], user_id=None)
    assert target.last.url.query == b""
    assert [p.get_filename() for p in parse_multipart(target.last)] == ["x.bin"]
    client.upload(
        "c1", [UploadFile("x.bin", b"\x00")], user_id="u", activity={}, activity_first=False
    )
    types = [p.get_content_type() for p in parse_multipart(target.last)]
    assert types == ["application/octet-stream", "application/vnd.microsoft.activity"]


# --- helpers built on the operations -----


def test_new_conversation_reads_leniently(make_client: Callable[..., DirectLineClient]) -> None:
    answer = {
        "conversationId": "c9",
        "token": A_TOKEN,
        "expires_in": "1800",  # wrong type: read as absent, judged by the suite
        "streamUrl": "wss://dl.test/s?t=x",
        "extra": True,
    }
    conversation = make_client(Target(ok(answer, status=200))).new_conversation()
    assert conversation.id == "c9" and conversation.token == A_TOKEN
    assert conversation.stream_url == "wss://dl.test/s?t=x"
    assert conversation.expires_in is None
    assert conversation.answer.status == 200
    minimal = make_client(Target(ok({"conversationId": "c1", "expires_in": 60}, status=201)))
    conversation = minimal.new_conversation()
    assert (conversation.token, conversation.stream_url, conversation.expires_in) == (
        None,
        None,
        60,
    )


@pytest.mark.parametrize(
    "answer",
    [
        ok({"error": {"code": "BadArgument"}}, status=403),
        httpx.Response(201, text="<html>created</html>"),
        ok([{"conversationId": "c1"}], status=201),
        ok({"token": "no-conversation-id"}, status=201),
    ],
)
def test_new_conversation_precondition_failed(
    make_client: Callable[..., DirectLineClient], answer: httpx.Response
) -> None:
    client = make_client(Target(answer))
    with pytest.raises(PreconditionFailed, match="could not start a conversation") as info:
        client.new_conversation()
    assert isinstance(info.value, HarnessError)
    assert info.value.exchange is client.recorder.exchanges[-1]


def pages(*sets: dict[str, Any]) -> Handler:
    """Answer GET /activities from ActivitySets keyed by the watermark asked for."""
    by_watermark = {s.pop("_after"): s for s in sets}

    def handler(request: httpx.Request) -> httpx.Response:
        return ok(by_watermark[request.url.params.get("watermark")])

    return handler


def test_collect_activities_pages_until_empty(
    make_client: Callable[..., DirectLineClient],
) -> None:
    target = Target(
        pages(
            {"_after": None, "activities": [{"id": "1"}, {"id": "2"}], "watermark": "2"},
            {"_after": "2", "activities": [{"id": "3"}], "watermark": "3"},
            {"_after": "3", "activities": [], "watermark": "3"},
        )
    )
    client = make_client(target)
    activities, watermark, exchanges = client.collect_activities("c1")
    assert [a["id"] for a in activities] == ["1", "2", "3"]
    assert watermark == "3"
    assert [e.url.rsplit("/", 1)[-1] for e in exchanges] == [
        "activities",
        "activities?watermark=2",
        "activities?watermark=3",
    ]


def test_collect_activities_stops_without_watermark(
    make_client: Callable[..., DirectLineClient],
) -> None:
    target = Target(ok({"activities": [{"id": "1"}]}))
    activities, watermark, exchanges = make_client(target).collect_activities("c1", watermark="0")
    assert activities == [{"id": "1"}] and watermark == "0" and len(exchanges) == 1


def test_collect_activities_max_pages(make_client: Callable[..., DirectLineClient]) -> None:
    counter = iter(range(1, 1000))

    def endless(request: httpx.Request) -> httpx.Response:
        n = next(counter)
        return ok({"activities": [{"id": str(n)}], "watermark": str(n)})

    client = make_client(Target(endless))
    with pytest.raises(PreconditionFailed, match="not at an empty page after 3 pages"):
        client.collect_activities("c1", max_pages=3)
    assert len(client.recorder.exchanges) == 3


def test_collect_activities_watermark_that_does_not_move(
    make_client: Callable[..., DirectLineClient],
) -> None:
    target = Target(ok({"activities": [{"id": "1"}], "watermark": "1"}))
    with pytest.raises(PreconditionFailed, match="watermark stayed '1'"):
        make_client(target).collect_activities("c1")
    assert len(target.requests) == 2


def test_collect_activities_error_answer(make_client: Callable[..., DirectLineClient]) -> None:
    target = Target(ok({"error": {"code": "BadArgument"}}, status=404))
    with pytest.raises(PreconditionFailed, match="expected a 2xx ActivitySet"):
        make_client(target).collect_activities("c1")


# --- stream URLs and lifecycle -----


@pytest.mark.parametrize(
    ("given", "opened"),
    [
        (
            "https://h/v3/directline/conversations/a/stream?t=x",
            "wss://h/v3/directline/conversations/a/stream?t=x",
        ),
        ("http://h/s?watermark=1&amp;t=x", "ws://h/s?watermark=1&t=x"),
        ("wss://h/s?t=x", "wss://h/s?t=x"),
        ("HTTPS://h/s", "wss://h/s"),
        ("ftp://h/s", "ftp://h/s"),
    ],
)
def test_stream_ws_url(given: str, opened: str) -> None:
    assert stream_ws_url(given) == opened


def test_context_manager_closes(make_client: Callable[..., DirectLineClient]) -> None:
    with DirectLineClient(BASE, transport=httpx.MockTransport(Target(ok({})))) as client:
        client.get_activities("c1")
    assert client._http.is_closed


def test_sentinels_are_readable() -> None:
    assert repr(SECRET) == "SECRET" and repr(NOBODY) == "NOBODY"
