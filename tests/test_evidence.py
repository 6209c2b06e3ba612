"""Redaction, transcripts, reproductions and the failure message: what users and CI logs see."""

from __future__ import annotations

import json
import pickle
import shlex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.errors import StreamClosed, StreamRefused, TargetTimeout
from conformance.evidence import (
    REDACTED,
    BugReport,
    Exchange,
    Recorder,
    Redactor,
    StreamEvent,
    curl_command,
    render_exchange,
    render_transcript,
)

SECRET = "s3cr3t_XV9ZA.cwA.BKA.iaJrC8xpy8qbOF5xnR2vtCX7CZj0"
TOKEN = "tok_ZZ9.cwA.BKA.y8qbOF5xPGfiCpg4Fv0y8qqbOF5x8qbOF5xn"
BASE = "http://127.0.0.1:3000/v3/directline"


def make_exchange(**overrides: object) -> Exchange:
    values: dict[str, object] = dict(
        method="POST",
        url=f"{BASE}/conversations",
        request_headers=[
            ("Host", "127.0.0.1:3000"),
            ("Content-Length", "2"),
            ("User-Agent", "directline-conformance/0.1.0"),
            ("Accept-Encoding", "gzip"),
            ("Authorization", f"Bearer {SECRET}"),
            ("Content-Type", "application/json"),
            ("x-dl-conformance-case", "test_start[DL-START-001]"),
        ],
        request_body=b"{}",
        status=201,
        response_headers=[("content-type", "application/json")],
        response_body=json.dumps(
            {"conversationId": "abc123", "token": TOKEN, "expires_in": 1800}
        ).encode(),
        started=1_700_000_000.0,
        elapsed=0.012,
    )
    values.update(overrides)
    return Exchange(**values)  # type: ignore[arg-type]


@pytest.fixture
def redactor() -> Redactor:
    r = Redactor()
    r.add_secret(SECRET)
    r.add(TOKEN)
    return r


# --- Redactor -----


def test_registered_values_are_replaced_everywhere(redactor: Redactor) -> None:
    text = f"secret={SECRET} token {TOKEN} again {SECRET}"
    out = redactor.redact(text)
    assert SECRET not in out and TOKEN not in out
    assert out.count(REDACTED) == 3


def test_longest_value_wins_when_values_overlap() -> None:
    r = Redactor(["abcdefgh", "abcdefghijkl"])
    assert r.redact("x abcdefghijkl y") == f"x {REDACTED} y"


def test_url_encoded_form_of_a_value_is_hidden() -> None:
    r = Redactor(["a/b+c=d e"])
    assert r.redact("q=a%2Fb%2Bc%3Dd%20e and a%2Fb%2Bc%3Dd+e") == f"q={REDACTED} and {REDACTED}"


@pytest.mark.parametrize("value", [None, "", "abc", "12345"])
def test_none_empty_and_short_values_are_ignored(value: str | None) -> None:
    r = Redactor()
    r.add(value)
    assert r.redact("abc 12345 text") == "abc 12345 text"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def-ghi", f"Authorization: Bearer {REDACTED}"),
        ("authorization: Basic dXNlcjpwYXNz", f"authorization: Basic {REDACTED}"),
        ("Authorization: rawcredential", f"Authorization: {REDACTED}"),
        ('{"Authorization": "Bearer xyz123"}', f'{{"Authorization": "Bearer {REDACTED}"}}'),
        ("Authorization: Bearer", "Authorization: Bearer"),
        ("sent Bearer eyJhbGciOi.J9x_y-z= to it", f"sent Bearer {REDACTED} to it"),
        ("wss://h/stream?t=RCurR_XV9ZA.cwA", f"wss://h/stream?t={REDACTED}"),
        ("/stream?watermark=5&amp;t=RCurR.cwA&x=1", f"/stream?watermark=5&amp;t={REDACTED}&x=1"),
        ('{"token": "RCurR_XV9ZA.cwA"}', f'{{"token": "{REDACTED}"}}'),
        ('{"Token":"a\\"b"}', f'{{"Token":"{REDACTED}"}}'),
    ],
)
def test_credentials_are_hidden_by_pattern(text: str, expected: str) -> None:
    assert Redactor().redact(text) == expected


def test_patterns_keep_evidence_that_is_no_credential() -> None:
    r = Redactor()
    keep = [
        '{"token": ""}',  # an empty token is evidence of a bug, not a secret
        '{"token": null}',
        'WWW-Authenticate: Bearer realm="directline"',
        "the Authorization header was missing",
        "?watermark=0000a-42",
        '{"message": "Invalid Bearer token"}',
    ]
    for text in keep:
        assert r.redact(text) == text


def test_redaction_is_idempotent(redactor: Redactor) -> None:
    text = (
        f"Authorization: Bearer {SECRET}\n"
        f'{{"token": "{TOKEN}", "streamUrl": "wss://h/s?t={TOKEN}"}}\n'
        "Bearer loose.token-value and Authorization: Basic Zm9vOmJhcg=="
    )
    once = redactor.redact(text)
    assert redactor.redact(once) == once
    assert SECRET not in once and TOKEN not in once and "loose.token" not in once


def _one_alternation(values: list[str], text: str) -> str:
    """Registered values hidden the plain way: one regex alternation of them, longest first."""
    import re

    ordered = sorted(values, key=len, reverse=True)
    return re.compile("|".join(re.escape(v) for v in ordered)).sub(REDACTED, text)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    # two letters: values that start alike, nest and overlap are the common case
    values=st.lists(st.text(alphabet="ab", min_size=6, max_size=10), min_size=1, max_size=8),
    filler=st.lists(st.text(alphabet="abx ", max_size=6), max_size=8),
    data=st.data(),
)
def test_values_are_hidden_as_one_alternation_would(
    values: list[str], filler: list[str], data: st.DataObject
) -> None:
    """The prefix index hides exactly what one alternation of every value (longest first)
    hides, overlapping and nested values included, whatever order they were added in."""
    pieces = [data.draw(st.sampled_from(values + filler)) for _ in range(6)]
    text = "".join(pieces) + "".join(filler)
    r = Redactor()
    for value in values:
        r.add(value)
        r.redact("warm the index between adds")
    plain = _one_alternation(sorted({v for v in values}), text)
    # the pattern rules run after the values in both; a text of these letters meets none
    assert r.redact(text) == plain


def test_many_tokens_are_hidden_without_recompiling_them_all() -> None:
    """Hundreds of tokens sharing their first characters (as one service's JWTs do): each is
    hidden, and adding one does not rebuild the pattern that finds them."""
    header = "eyJhbGciOiJIUzI1NiJ9."
    tokens = [f"{header}{n:06d}payload.sig{n}" for n in range(500)]
    r = Redactor()
    for token in tokens:
        r.add(token)
        assert r.redact(f"x {token} y") == f"x {REDACTED} y"
    assert r.redact(" ".join(tokens[::-1])) == " ".join([REDACTED] * 500)
    assert r.redact(header + "not-a-token") == header + "not-a-token"


def test_values_inside_the_placeholder_are_not_registered() -> None:
    r = Redactor(["redacted"])
    assert r.redact(REDACTED) == REDACTED


def test_redact_headers(redactor: Redactor) -> None:
    headers = [
        ("Authorization", f"Bearer {SECRET}"),
        ("authorization", "Basic Zm9vOmJhcg=="),
        ("Cookie", "a=1; session=xyz"),
        ("Set-Cookie", "sid=abc; Path=/; HttpOnly"),
        ("Location", f"wss://h/stream?t={TOKEN}"),
        ("Content-Type", "application/json"),
    ]
    assert redactor.redact_headers(headers) == [
        ("Authorization", f"Bearer {REDACTED}"),
        ("authorization", f"Basic {REDACTED}"),
        ("Cookie", f"a={REDACTED}; session={REDACTED}"),
        ("Set-Cookie", f"sid={REDACTED}; Path=/; HttpOnly"),
        ("Location", f"wss://h/stream?t={REDACTED}"),
        ("Content-Type", "application/json"),
    ]
    assert redactor.redact_headers({"Authorization": "Bearer"}) == [("Authorization", "Bearer")]


# --- Exchange and Recorder -----


def test_exchange_accessors() -> None:
    ex = make_exchange(
        response_headers=[("Content-Type", "application/json"), ("X-A", "1"), ("x-a", "2")]
    )
    assert ex.header("content-type") == "application/json"
    assert ex.header("X-a") == "1, 2"
    assert ex.header("missing") is None
    assert ex.request_header("AUTHORIZATION") == f"Bearer {SECRET}"
    assert ex.json()["conversationId"] == "abc123"
    assert "abc123" in ex.text
    assert ex.summary == f"POST {BASE}/conversations -> 201"


def test_exchange_json_errors_are_readable_and_redacted() -> None:
    html = make_exchange(
        status=500,
        response_headers=[("content-type", "text/html")],
        response_body=b"<html>oops ?t=abcdefgh</html>",
    )
    with pytest.raises(ValueError, match=r"not JSON .*text/html, 29 bytes") as info:
        html.json()
    assert "abcdefgh" not in str(info.value)
    assert html.json_or_none() is None
    with pytest.raises(ValueError, match="no body"):
        make_exchange(response_body=None).json()
    with pytest.raises(ValueError, match="NaN is not a JSON value"):
        make_exchange(response_body=b'{"a": NaN}').json()
    assert make_exchange(status=None, error="timed out", response_body=None).text == ""


def test_recorder_keeps_order_and_clears() -> None:
    rec = Recorder()
    a, b = make_exchange(method="GET"), make_exchange(method="POST")
    assert rec.add(a) is a
    rec.add(b)
    assert rec.exchanges == [a, b] and rec.last is b and len(rec) == 2
    rec.clear()
    assert rec.exchanges == [] and rec.last is None


# --- rendering -----


def test_render_exchange_shows_both_sides_redacted(redactor: Redactor) -> None:
    text = render_exchange(make_exchange(), redactor)
    lines = text.splitlines()
    assert lines[0] == f"> POST {BASE}/conversations"
    assert f"> Authorization: Bearer {REDACTED}" in lines
    assert "> {}" in lines
    assert "< 201 Created (12 ms)" in lines
    assert "< content-type: application/json" in lines
    assert any(line.startswith('< {"conversationId": "abc123"') for line in lines)
    assert SECRET not in text and TOKEN not in text


def test_render_exchange_truncates_long_bodies(redactor: Redactor) -> None:
    body = b'{"text": "' + b"x" * 5000 + b'"}'
    text = render_exchange(make_exchange(response_body=body), redactor, max_body=100)
    assert "[4912 more bytes not shown]" in text
    assert "x" * 101 not in text


def test_render_exchange_summarises_binary_bodies(redactor: Redactor) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    ex = make_exchange(
        request_body=png,
        request_headers=[("Content-Type", "image/png")],
        status=None,
        error="timed out after 10 s (read)",
        response_body=None,
        response_headers=[],
    )
    text = render_exchange(ex, redactor)
    assert "[binary body: 264 bytes, image/png, sha256 " in text
    assert "PNG" not in text
    assert "< no answer: timed out after 10 s (read) (12 ms)" in text


def test_render_exchange_shows_multipart_parts(redactor: Redactor) -> None:
    boundary = "BOUNDARY"
    body = (
        b"--BOUNDARY\r\n"
        b'Content-Disposition: form-data; name="file"; filename="a.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
        b"\x00\x01\x02\xff\r\n"
        b"--BOUNDARY\r\n"
        b'Content-Disposition: form-data; name="activity"\r\n'
        b"Content-Type: application/vnd.microsoft.activity\r\n\r\n"
        b'{"type": "message"}\r\n'
        b"--BOUNDARY--\r\n"
    )
    ex = make_exchange(
        request_body=body,
        request_headers=[("Content-Type", f"multipart/form-data; boundary={boundary}")],
    )
    text = render_exchange(ex, redactor)
    assert '> Content-Disposition: form-data; name="file"; filename="a.bin"' in text
    assert "> [binary body: 4 bytes, application/octet-stream" in text
    assert '> {"type": "message"}' in text
    assert "> --BOUNDARY--" in text


def test_render_websocket_exchange_lists_events(redactor: Redactor) -> None:
    ex = make_exchange(
        method="GET",
        url=f"ws://127.0.0.1:3000/v3/directline/conversations/abc/stream?t={TOKEN}",
        request_headers=[("User-Agent", "kit")],
        request_body=None,
        status=101,
        response_headers=[("Upgrade", "websocket")],
        response_body=None,
        kind="websocket",
        events=[
            StreamEvent(1_700_000_000.5, "recv", ""),
            StreamEvent(1_700_000_001.0, "recv", '{"activities": [], "watermark": "1"}'),
            StreamEvent(1_700_000_002.0, "close", None, "by the server: code 1000, reason 'bye'"),
        ],
    )
    text = render_exchange(ex, redactor)
    assert text.splitlines()[0].endswith(f"stream?t={REDACTED}  (WebSocket handshake)")
    assert "< 101 Switching Protocols" in text
    assert "[+0.500 s] recv empty frame" in text
    assert '[+1.000 s] recv {"activities": [], "watermark": "1"}' in text
    assert "[+2.000 s] close (by the server: code 1000, reason 'bye')" in text
    assert TOKEN not in text


def test_render_transcript_numbers_and_limits(redactor: Redactor) -> None:
    exchanges = [make_exchange(url=f"{BASE}/n{i}") for i in range(5)]
    text = render_transcript(exchanges, redactor)
    assert "[1/5] 2023-11-14 22:13:20.000 UTC" in text and "[5/5]" in text
    short = render_transcript(exchanges, redactor, max_exchanges=2)
    assert "(3 earlier exchanges not shown)" in short
    assert "/n2" not in short and "/n3" in short and "/n4" in short
    assert render_transcript([], redactor) == "(no exchanges recorded)"


# --- curl -----


def test_curl_reads_the_secret_from_the_environment(redactor: Redactor) -> None:
    line = curl_command(make_exchange(), redactor)
    assert SECRET not in line
    assert "-H 'Authorization: Bearer '\"$DIRECTLINE_SECRET\"" in line
    words = shlex.split(line)
    assert words[:6] == ["curl", "-sS", "-i", "-X", "POST", f"{BASE}/conversations"]
    assert "Authorization: Bearer $DIRECTLINE_SECRET" in words  # shlex leaves $ for the shell
    assert "x-dl-conformance-case: test_start[DL-START-001]" in words
    for skipped in ("Host", "Content-Length", "User-Agent", "Accept-Encoding"):
        assert not any(w.startswith(f"{skipped}:") for w in words)
    assert words[words.index("--data-binary") + 1] == "{}"
    assert words[-2:] == ["--max-time", "30"]


def test_curl_uses_the_registered_variable_name() -> None:
    r = Redactor()
    r.add_secret(SECRET, env_var="MY_BOT_SECRET")
    r.add_secret(SECRET)  # a later registration keeps the first name
    assert '"$MY_BOT_SECRET"' in curl_command(make_exchange(), r)


def test_curl_hides_tokens_and_keeps_other_schemes(redactor: Redactor) -> None:
    ex = make_exchange(request_headers=[("Authorization", f"Bearer {TOKEN}")])
    line = curl_command(ex, redactor)
    assert TOKEN not in line and "'Authorization: Bearer <redacted-token>'" in line
    basic = make_exchange(request_headers=[("Authorization", "Basic Zm9vOmJhcg==")])
    assert "'Authorization: Basic <redacted-token>'" in curl_command(basic, Redactor())
    lone = make_exchange(request_headers=[("Authorization", "Bearer")])
    assert "'Authorization: Bearer'" in curl_command(lone, Redactor())


def test_curl_is_shell_safe_with_quotes_in_the_body(redactor: Redactor) -> None:
    body = json.dumps({"type": "message", "text": 'it\'s "quoted" $HOME `id` \\ \n'}).encode()
    line = curl_command(make_exchange(request_body=body), redactor)
    words = shlex.split(line)
    assert words[words.index("--data-binary") + 1].encode() == body


def test_curl_redacts_tokens_in_body_and_url(redactor: Redactor) -> None:
    body = json.dumps({"token": "some-other-token-value"}).encode()
    ex = make_exchange(url=f"{BASE}/x?t=abcdefghijk", request_body=body)
    line = curl_command(ex, redactor)
    assert "some-other-token-value" not in line and "abcdefghijk" not in line


@pytest.mark.parametrize(("body", "kind"), [(b"\x00\x01binary", "binary"), (b"a" * 5000, "long")])
def test_curl_asks_to_save_large_or_binary_bodies(
    redactor: Redactor, body: bytes, kind: str
) -> None:
    line = curl_command(make_exchange(request_body=body), redactor)
    note, command = line.split("\n")
    assert note.startswith(f"# the {kind} request body ({len(body)} bytes) is not inlined")
    assert "--data-binary @request-body.bin" in command


def test_curl_for_a_websocket_exchange(redactor: Redactor) -> None:
    ex = make_exchange(
        method="GET",
        url=f"wss://h.example/v3/directline/conversations/a/stream?watermark=-&t={TOKEN}",
        kind="websocket",
        request_body=None,
    )
    line = curl_command(ex, redactor)
    assert line == (
        "python -m websockets "
        f"'wss://h.example/v3/directline/conversations/a/stream?watermark=-&t={REDACTED}'"
    )


# --- the failure message -----


def test_bug_report_reads_like_a_bug_report(redactor: Redactor) -> None:
    answer = make_exchange(status=200, response_headers=[("Content-Type", "application/json")])
    failure = BugReport(
        "DL-START-001",
        "MUST",
        "New conversation answers 201 Created",
        expected="201 Created",
        observed=f"200 OK with token {TOKEN}",
        exchanges=[answer],
        redactor=redactor,
        hint="a 200 means the token already started a conversation",
    )
    text = str(failure)
    lines = text.splitlines()
    assert lines[0] == "DL-START-001 (MUST) New conversation answers 201 Created"
    assert lines[1] == "  expected: 201 Created"
    assert lines[2] == f"  observed: 200 OK with token {REDACTED}"
    assert lines[3] == "  hint: a 200 means the token already started a conversation"
    assert "  exchanges:" in lines and "  reproduce:" in lines
    assert f"    > POST {BASE}/conversations" in lines
    assert any(line.startswith("    curl -sS -i -X POST") for line in lines)
    assert '"$DIRECTLINE_SECRET"' in text
    assert SECRET not in text and TOKEN not in text
    assert failure.requirement_id == "DL-START-001" and failure.level == "MUST"


def test_bug_report_without_redactor_still_hides_patterns() -> None:
    failure = BugReport(
        "DL-X-1", "SHOULD", "t", "a", "Authorization: Bearer abcdefghij", exchanges=()
    )
    text = str(failure)
    assert "abcdefghij" not in text and "exchanges:" not in text
    assert "  observed: Authorization: Bearer <redacted>" in text


def test_bug_report_multiline_fields_and_several_steps(redactor: Redactor) -> None:
    steps = [make_exchange(), make_exchange(method="GET", request_body=None)]
    text = str(BugReport("DL-A-1", "MUST", "t", "one\ntwo", "x", steps, redactor=redactor))
    assert "  expected: one\n            two" in text
    assert "# the steps in order" in text
    assert text.count("curl -sS") == 2


def test_errors_survive_pickling(redactor: Redactor) -> None:
    ex = make_exchange()
    failure = BugReport("DL-A-1", "MUST", "t", "e", "o", [ex], redactor=redactor)
    assert str(pickle.loads(pickle.dumps(failure))) == str(failure)
    for error in (
        TargetTimeout("no answer", ex),
        StreamRefused(403, ex),
        StreamClosed(1000, "bye", ex),
    ):
        copy = pickle.loads(pickle.dumps(error))
        assert str(copy) == str(error) and copy.exchange == ex
    assert pickle.loads(pickle.dumps(StreamRefused(403, ex))).status == 403
    closed = pickle.loads(pickle.dumps(StreamClosed(1000, "bye", ex)))
    assert (closed.code, closed.reason) == (1000, "bye")


def test_a_token_cut_off_by_truncation_is_still_hidden() -> None:
    from conformance.evidence import Exchange
    from conformance.suite.expect import describe_status

    token = "eyJhbGciOiJIUzI1NiJ9." + "x" * 300
    body = ('{"conversationId": "abc", "token": "' + token + '", "expires_in": 1800}').encode()
    exchange = Exchange(
        method="POST", url="http://t/conversations", request_headers=[], request_body=None,
        status=200, response_headers=[], response_body=body, started=0.0, elapsed=0.01,
    )  # fmt: skip
    shown = describe_status(exchange)
    assert "xxxxxxxx" not in shown
    assert '"token": "<redacted>' in shown
