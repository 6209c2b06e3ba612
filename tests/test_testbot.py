"""`directline-conformance bot`, the kit's test bot, driven over HTTP as a channel would.

Each bot is the shipped command itself, started as a subprocess on a loopback port; its replies
go to a fake channel (tests/fake_channel.py) that records every connector call and plays an
OAuth token endpoint for the Azure-registration options.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.testbot.behaviour import Triggers, respond
from tests.emulators.harness import REPO, Process
from tests.fake_channel import FakeChannel

SLOW = 1.0
REPLY_TIMEOUT = 1.0
PASSWORD_ENV = "H3_TESTBOT_PASSWORD"
PASSWORD = "not-a-real-password-4711"

CARDS = [
    {
        "contentType": "application/vnd.microsoft.card.hero",
        "content": {"title": "Hero ✓", "buttons": [{"type": "imBack", "value": None}]},
    },
    {
        "contentType": "application/vnd.microsoft.card.adaptive",
        "content": {"type": "AdaptiveCard", "version": "1.5", "body": [], "x": [1, 2.5, True]},
    },
]


def start_bot(*args: str, env: dict[str, str] | None = None) -> Process:
    """The shipped command on a free loopback port; stopped by the caller."""
    command = [sys.executable, "-m", "conformance.cli", "bot", "--port", "0"]
    return Process([*command, "--parent", str(os.getpid()), *args], env=env)


@pytest.fixture(scope="module")
def channel() -> Iterator[FakeChannel]:
    with FakeChannel() as fake:
        yield fake


@pytest.fixture(scope="module")
def bot() -> Iterator[Process]:
    process = start_bot("--slow-seconds", str(SLOW), "--reply-timeout", str(REPLY_TIMEOUT))
    process.ready_url()
    yield process
    process.stop()


def message(channel: FakeChannel, text: str | None, **fields: Any) -> dict[str, Any]:
    """A message as a channel forwards it, in a conversation of its own."""
    activity: dict[str, Any] = {
        "type": "message",
        "id": f"act-{uuid.uuid4().hex[:8]}",
        "channelId": "fake",
        "serviceUrl": channel.service_url,
        "conversation": {"id": f"conv-{uuid.uuid4().hex[:8]}"},
        "from": {"id": "user-1", "name": "User"},
        "recipient": {"id": "bot-1", "name": "The bot", "role": "bot"},
    }
    if text is not None:
        activity["text"] = text
    activity.update(fields)
    return activity


def post(process: Process, activity: Any, **kwargs: Any) -> httpx.Response:
    if "content" not in kwargs:
        kwargs["json"] = activity
    return httpx.post(process.ready_url(), timeout=30, trust_env=False, **kwargs)


def texts(channel: FakeChannel, activity: dict[str, Any]) -> list[Any]:
    return [r.activity.get("text") for r in channel.in_conversation(activity["conversation"]["id"])]


# -- messages and triggers ------------------------------------------------------------------------
def test_a_message_is_echoed_before_the_bot_answers(bot: Process, channel: FakeChannel) -> None:
    sent = message(channel, "  hällo 🤖\n", attachments=CARDS)
    answer = post(bot, sent)
    assert answer.status_code == 200
    replies = channel.in_conversation(sent["conversation"]["id"])  # no wait: already recorded
    assert len(replies) == 1
    reply = replies[0]
    conversation = sent["conversation"]["id"]
    assert reply.raw_path == f"/v3/conversations/{conversation}/activities/{sent['id']}"
    assert reply.reply_to == sent["id"]
    assert reply.authorization is None
    assert reply.activity["type"] == "message"
    assert reply.activity["text"] == sent["text"]
    assert reply.activity["attachments"] == CARDS
    assert reply.activity["replyToId"] == sent["id"]
    assert reply.activity["from"] == sent["recipient"]
    assert reply.activity["recipient"] == sent["from"]
    assert reply.activity["conversation"] == sent["conversation"]


def test_text_that_utf_8_cannot_carry_is_echoed_too(bot: Process, channel: FakeChannel) -> None:
    """A lone surrogate arrives as a JSON escape (NLP.js, offline-directline forward it so):
    the echo carries it back the same way, and the bot never answers 500 for it."""
    sent = message(channel, None)
    raw = json.dumps({**sent, "text": "a\ud800b"}).encode()
    answer = post(bot, None, content=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == 200
    assert texts(channel, sent) == ["a\ud800b"]


def test_ids_are_escaped_in_the_reply_route(bot: Process, channel: FakeChannel) -> None:
    sent = message(channel, "escape me", id="a|1 ?#")
    sent["conversation"]["id"] += "|live chat"
    assert post(bot, sent).status_code == 200
    [reply] = channel.in_conversation(sent["conversation"]["id"])
    assert reply.raw_path.endswith("%7Clive%20chat/activities/a%7C1%20%3F%23")
    assert reply.reply_to == "a|1 ?#"


def test_a_message_without_text_echoes_its_attachments_only(
    bot: Process, channel: FakeChannel
) -> None:
    sent = message(channel, None, attachments=CARDS[:1])
    assert post(bot, sent).status_code == 200
    [reply] = channel.in_conversation(sent["conversation"]["id"])
    assert "text" not in reply.activity
    assert reply.activity["attachments"] == CARDS[:1]


def test_the_error_trigger_answers_500_and_sends_nothing(
    bot: Process, channel: FakeChannel
) -> None:
    sent = message(channel, "#bot:error")
    answer = post(bot, sent)
    assert answer.status_code == 500
    assert channel.in_conversation(sent["conversation"]["id"]) == []
    near_miss = message(channel, "#bot:error ")
    assert post(bot, near_miss).status_code == 200
    assert texts(channel, near_miss) == ["#bot:error "]


def test_the_end_trigger_ends_then_speaks_once_more(bot: Process, channel: FakeChannel) -> None:
    sent = message(channel, "#bot:end")
    assert post(bot, sent).status_code == 200
    end, after = channel.in_conversation(sent["conversation"]["id"])
    assert end.activity["type"] == "endOfConversation"
    assert end.activity["code"] == "completedSuccessfully"
    assert after.activity["type"] == "message"
    assert after.activity["text"] == "after the end"
    assert end.reply_to == after.reply_to == sent["id"]
    assert end.activity["replyToId"] == after.activity["replyToId"] == sent["id"]


def test_the_slow_trigger_waits_then_echoes_before_answering(
    bot: Process, channel: FakeChannel
) -> None:
    sent = message(channel, "#bot:slow")
    began = time.monotonic()
    answer = post(bot, sent)
    took = time.monotonic() - began
    assert answer.status_code == 200
    assert SLOW <= took < SLOW + 5.0
    assert texts(channel, sent) == ["#bot:slow"]


@pytest.mark.parametrize("count", [1, 5, 50])
def test_the_many_trigger_sends_numbered_replies_in_order(
    bot: Process, channel: FakeChannel, count: int
) -> None:
    sent = message(channel, f"#bot:many {count}")
    assert post(bot, sent).status_code == 200
    assert texts(channel, sent) == [str(i) for i in range(1, count + 1)]
    assert {r.reply_to for r in channel.in_conversation(sent["conversation"]["id"])} == {sent["id"]}


@pytest.mark.parametrize("text", ["#bot:many 0", "#bot:many 51", "#bot:many x", "#bot:many 5 "])
def test_a_many_trigger_out_of_range_is_just_echoed(
    bot: Process, channel: FakeChannel, text: str
) -> None:
    sent = message(channel, text)
    assert post(bot, sent).status_code == 200
    assert texts(channel, sent) == [text]


# -- greetings, other activity types, bad input ---------------------------------------------------
def update(channel: FakeChannel, **fields: Any) -> dict[str, Any]:
    activity = message(channel, None, type="conversationUpdate")
    activity.update(fields)
    return activity


def test_a_member_joining_is_greeted_once(bot: Process, channel: FakeChannel) -> None:
    bot_account = {"id": "bot-1", "name": "The bot"}
    users = [{"id": "user-1", "name": "User"}, {"id": "user-2"}]
    sent = update(channel, membersAdded=[bot_account, *users])
    assert post(bot, sent).status_code == 200
    [greeting] = channel.in_conversation(sent["conversation"]["id"])
    assert greeting.raw_path == f"/v3/conversations/{sent['conversation']['id']}/activities"
    assert greeting.reply_to is None
    assert greeting.activity["text"] == "Welcome!"
    assert "replyToId" not in greeting.activity
    assert greeting.activity["recipient"] == users[0]
    assert greeting.activity["from"] == sent["recipient"]


def test_an_emulator_announcing_a_conversation_is_greeted(
    bot: Process, channel: FakeChannel
) -> None:
    """offline-directline sends empty membersAdded and membersRemoved lists on a new
    conversation: someone started it, so the bot greets."""
    sent = update(channel, membersAdded=[], membersRemoved=[])
    del sent["recipient"]
    assert post(bot, sent).status_code == 200
    assert texts(channel, sent) == ["Welcome!"]


@pytest.mark.parametrize(
    "fields",
    [
        {"membersAdded": [{"id": "bot-1"}]},
        {"membersAdded": [], "membersRemoved": [{"id": "user-1"}]},
        {"membersAdded": "user-1"},
    ],
    ids=["only-the-bot-joins", "someone-leaves", "malformed"],
)
def test_updates_without_a_newcomer_get_no_greeting(
    bot: Process, channel: FakeChannel, fields: dict[str, Any]
) -> None:
    sent = update(channel, **fields)
    assert post(bot, sent).status_code == 200
    assert channel.in_conversation(sent["conversation"]["id"]) == []


def test_a_conversation_without_id_gets_no_greeting(bot: Process, channel: FakeChannel) -> None:
    """NLP.js's update has no conversation id: there is nowhere to greet, and no error."""
    before = len(channel.received)
    sent = update(channel, membersAdded=[], membersRemoved=[], conversation={})
    assert post(bot, sent).status_code == 200
    assert len(channel.received) == before


@pytest.mark.parametrize("kind", ["typing", "event", "endOfConversation", "invoke", None])
def test_other_activity_types_are_taken_silently(
    bot: Process, channel: FakeChannel, kind: str | None
) -> None:
    sent = message(channel, "hello", type=kind)
    assert post(bot, sent).status_code == 200
    assert channel.in_conversation(sent["conversation"]["id"]) == []


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe{}"])
def test_a_body_that_is_not_an_activity_is_400(bot: Process, body: bytes) -> None:
    answer = post(bot, None, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["error"]["message"]


def test_only_post_api_messages_exists(bot: Process) -> None:
    url = bot.ready_url()
    assert httpx.get(url, trust_env=False, timeout=5).status_code == 405
    assert httpx.post(url + "x", json={}, trust_env=False, timeout=5).status_code == 404


# -- a channel that misbehaves --------------------------------------------------------------------
def test_a_channel_that_never_answers_does_not_hang_the_bot(
    bot: Process, channel: FakeChannel
) -> None:
    sent = message(channel, "#bot:many 3", conversation={"id": f"hang-{uuid.uuid4().hex[:8]}"})
    began = time.monotonic()
    answer = post(bot, sent)
    took = time.monotonic() - began
    assert answer.status_code == 200
    assert REPLY_TIMEOUT <= took < 3 * REPLY_TIMEOUT  # one timeout, not three
    wanted = f"conversation '{sent['conversation']['id']}' not delivered"
    line = wait_for_line(bot, wanted)
    assert f"did not answer within {REPLY_TIMEOUT:g} s; 2 more not sent" in line


def test_a_channel_refusing_a_reply_is_logged(bot: Process, channel: FakeChannel) -> None:
    sent = message(channel, "hi", conversation={"id": f"refuse-{uuid.uuid4().hex[:8]}"})
    assert post(bot, sent).status_code == 200
    line = wait_for_line(bot, sent["conversation"]["id"])
    assert "the channel answered HTTP 500" in line
    unreachable = message(channel, "hi", serviceUrl="http://127.0.0.1:9/")
    assert post(bot, unreachable).status_code == 200
    assert "could not be reached" in wait_for_line(bot, unreachable["conversation"]["id"])
    no_way_back = message(channel, "hi", serviceUrl="ftp://example.invalid/")
    assert post(bot, no_way_back).status_code == 200
    assert "is not an http(s) URL" in wait_for_line(bot, no_way_back["conversation"]["id"])
    assert not any("Traceback" in line for line in bot.lines)


def wait_for_line(process: Process, fragment: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [line for line in process.lines if fragment in line]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no line with {fragment!r} in {process.lines[-10:]!r}")


# -- a profile's [bot] table ----------------------------------------------------------------------
def test_a_profile_sets_the_triggers(channel: FakeChannel, tmp_path: Path) -> None:
    profile = tmp_path / "mine.toml"
    profile.write_text(
        'name = "mine"\n[bot]\nerror = "boom!"\nend = "bye now"\nslow = "take your time"\n'
        'many = "give me {n} please"\n'
    )
    process = start_bot("--profile", str(profile), "--welcome", "Hi there", "--slow-seconds", "1")
    try:
        process.ready_url()
        assert post(process, message(channel, "boom!")).status_code == 500
        old = message(channel, "#bot:error")
        assert post(process, old).status_code == 200
        assert texts(channel, old) == ["#bot:error"]
        many = message(channel, "give me 3 please")
        post(process, many)
        assert texts(channel, many) == ["1", "2", "3"]
        end = message(channel, "bye now")
        post(process, end)
        assert [r.activity["type"] for r in channel.in_conversation(end["conversation"]["id"])] == [
            "endOfConversation",
            "message",
        ]
        joined = update(channel, membersAdded=[{"id": "user-9"}])
        post(process, joined)
        assert texts(channel, joined) == ["Hi there"]
    finally:
        process.stop()


# -- an Azure bot registration ---------------------------------------------------------------------
def test_replies_carry_the_apps_token_fetched_once(channel: FakeChannel) -> None:
    environment = dict(os.environ, **{PASSWORD_ENV: PASSWORD})
    process = start_bot(
        "--app-id", "app-123", "--app-password-env", PASSWORD_ENV,
        "--token-url", channel.token_url, "--trust-service-url", channel.service_url,
        env=environment,
    )  # fmt: skip
    channel.token_requests.clear()
    channel.token_lifetime = 3600
    try:
        process.ready_url()
        first, second = message(channel, "one"), message(channel, "#bot:many 2")
        post(process, first)
        post(process, second)
        replies = [*channel.in_conversation(first["conversation"]["id"])]
        replies += channel.in_conversation(second["conversation"]["id"])
        assert [r.authorization for r in replies] == ["Bearer fake-token-1"] * 3
        [request] = channel.token_requests
        assert request.form == {
            "grant_type": "client_credentials",
            "client_id": "app-123",
            "client_secret": PASSWORD,
            "scope": "https://api.botframework.com/.default",
        }
        # another origin for the same channel: not trusted, so no token goes there
        elsewhere = message(channel, "where", serviceUrl=channel.service_url.replace(
            "127.0.0.1", "localhost"))  # fmt: skip
        post(process, elsewhere)
        [untrusted] = channel.in_conversation(elsewhere["conversation"]["id"])
        assert untrusted.authorization is None
    finally:
        process.stop()
    output = "\n".join(process.lines)
    assert PASSWORD not in output
    assert "fake-token" not in output


def test_a_token_about_to_expire_is_replaced(channel: FakeChannel) -> None:
    """The token lives 2 s here (as a string, like the v1 endpoint): reused at once, replaced
    after 1.8 s (a tenth of its life before expiry)."""
    environment = dict(os.environ, **{PASSWORD_ENV: PASSWORD})
    process = start_bot(
        "--app-id", "app-123", "--app-password-env", PASSWORD_ENV,
        "--token-url", channel.token_url, "--trust-service-url", channel.service_url,
        env=environment,
    )  # fmt: skip
    channel.token_requests.clear()
    channel.token_lifetime = "2"
    try:
        process.ready_url()
        first, cached = message(channel, "first"), message(channel, "cached")
        post(process, first)
        post(process, cached)
        time.sleep(2.0)
        renewed = message(channel, "renewed")
        post(process, renewed)
    finally:
        channel.token_lifetime = 3600
        process.stop()
    assert len(channel.token_requests) == 2
    tokens = [
        channel.in_conversation(a["conversation"]["id"])[0].authorization
        for a in (first, cached, renewed)
    ]
    assert tokens == ["Bearer fake-token-1", "Bearer fake-token-1", "Bearer fake-token-2"]


def test_a_failing_token_endpoint_is_one_line_without_the_password(channel: FakeChannel) -> None:
    environment = dict(os.environ, **{PASSWORD_ENV: PASSWORD})
    process = start_bot(
        "--app-id", "app-123", "--app-password-env", PASSWORD_ENV,
        "--token-url", channel.token_url, "--trust-service-url", channel.origin,
        env=environment,
    )  # fmt: skip
    channel.token_status = 401
    try:
        process.ready_url()
        sent = message(channel, "no token")
        assert post(process, sent).status_code == 200
        assert channel.in_conversation(sent["conversation"]["id"]) == []
        line = wait_for_line(process, sent["conversation"]["id"])
        assert "the token endpoint answered HTTP 401 (invalid_client)" in line
    finally:
        channel.token_status = 200
        process.stop()
    assert PASSWORD not in "\n".join(process.lines)


# -- the command ----------------------------------------------------------------------------------
def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conformance.cli", "bot", *args],
        capture_output=True, text=True, timeout=60, cwd=str(REPO), env=env, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--host", "0.0.0.0"], "refusing to listen on '0.0.0.0'"),
        (["--profile", "no-such-profile"], "unknown profile 'no-such-profile'"),
        (["--app-id", "x", "--app-password-env", "H3_UNSET_VARIABLE"], "H3_UNSET_VARIABLE"),
        (["--app-password-env", "X"], "need --app-id"),
        (["--trust-service-url", "nope"], "--trust-service-url 'nope'"),
        (["--welcome", " "], "--welcome must not be empty"),
    ],
)
def test_bad_options_are_one_line(args: list[str], fragment: str) -> None:
    environment = {k: v for k, v in os.environ.items() if k != "H3_UNSET_VARIABLE"}
    result = cli("--port", "0", *args, env=environment)
    assert result.returncode == 2
    assert fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "READY" not in result.stdout


def test_a_plain_http_token_url_is_refused_off_loopback() -> None:
    environment = dict(os.environ, **{PASSWORD_ENV: PASSWORD})
    result = cli(
        "--port", "0", "--app-id", "x", "--app-password-env", PASSWORD_ENV,
        "--token-url", "http://login.example.com/token", env=environment,
    )  # fmt: skip
    assert result.returncode == 2
    assert "https only" in result.stderr
    assert PASSWORD not in result.stderr + result.stdout


def test_a_port_in_use_is_one_line(bot: Process) -> None:
    port = bot.ready_url().split(":")[2].split("/")[0]
    result = cli("--port", port)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_bot_stops_cleanly_on_a_signal(signum: int) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "conformance.cli", "bot", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        ready = process.stdout.readline()
        assert ready.startswith("READY http://127.0.0.1:") and ready.endswith("/api/messages\n")
        process.send_signal(signum)
        _out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "Traceback" not in err


def test_the_bot_stops_when_its_parent_is_gone(tmp_path: Path) -> None:
    """--parent: a harness killed before it could stop the bot leaves nothing behind."""
    script = (
        "import os, subprocess, sys\n"
        "bot = subprocess.Popen([sys.executable, '-m', 'conformance.cli', 'bot', '--port', '0',"
        " '--parent', str(os.getpid())], stdout=subprocess.PIPE, text=True)\n"
        "print(bot.stdout.readline().strip(), bot.pid, flush=True)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=str(REPO)
    )
    ready, _url, pid = result.stdout.split()
    assert ready == "READY"
    deadline = time.monotonic() + 10
    while _alive(int(pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(int(pid)), "the bot outlived its parent"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:  # a zombie waiting for its reaper is gone too
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_the_bot_stands_alone() -> None:
    """The bot a user runs imports nothing of the reference server, the suite or the plugin."""
    probe = (
        "import sys, conformance.cli, conformance.testbot.command, conformance.config.profile\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('conformance.'))))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert "conformance.testbot.app" in loaded
    forbidden = ("conformance.reference", "conformance.suite", "conformance.plugin")
    assert [m for m in loaded if m.startswith(forbidden)] == []


# -- the decision itself --------------------------------------------------------------------------
@given(st.text(max_size=200), st.lists(st.dictionaries(st.text(max_size=5), st.integers())))
def test_any_other_text_is_echoed_unchanged(text: str, attachments: list[dict[str, int]]) -> None:
    triggers = Triggers()
    activity = {"type": "message", "id": "a", "text": text, "attachments": attachments}
    turn = respond(activity, triggers, "Welcome!", 20.0)
    if text in (triggers.error, triggers.end, triggers.slow) or triggers.many_count(text):
        return
    [reply] = turn.replies
    assert reply.activity["text"] == text
    assert reply.activity["attachments"] == attachments
    assert reply.reply_to == "a"
    assert not turn.fail and turn.delay == 0
