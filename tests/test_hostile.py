"""The kit pointed at hostile targets and given bad input: it must say so, never judge garbage.

Each run is the real CLI in a subprocess, as a user runs it. Against a target that is not a
working Direct Line service (tests/hostile/), a run must end with exit 2 within its time bound,
with one line that says what came back and what to check, no Python traceback, no secret or
token in its output, bounded output and memory, and no requirement judged ``pass`` in a report
it wrote. Bad input to the CLI must be refused before the first request, in one line.

The explaining line, as these tests read it: one line (at most LINE_LIMIT characters) holding
the word "check" and a word naming what came back (per target: "html", "500", "json", ...).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from conformance.catalog import load_catalog
from conformance.reports.json import REPORT_FORMAT, validate_report
from tests.hostile import HOSTILES, Running, start_hostile
from tests.hostile.cli_run import CliRun, cli_environment, run_cli
from tests.hostile.directline_like import HUGE_ID

pytestmark = pytest.mark.hostile

SECRET = "hostile-secret-7d41c9e2b8"
BOUND = 60.0
"""Seconds a run against a hostile target may take."""
HANG_BOUND = 180.0
"""Seconds a default run may take against the target that answers the start, then hangs."""
GRACE = 15.0
"""Seconds past its bound before a run is killed (so a hang fails the test, not the session)."""
OUTPUT_LIMIT = 200 * 1024
RSS_LIMIT_MB = 400.0
LINE_LIMIT = 1000
TRACEBACK_MARKS = ("Traceback (most recent call last)", "INTERNALERROR", "_pytest/")
MEETS = ("pass", "unexpected-pass")

CLOSED = ("closed", "reset", "without answer", "no answer", "disconnect", "aborted")
SILENT = ("timed out", "timeout", "no answer", "did not answer", "not answer", "unanswered")
TOO_BIG = ("large", "limit", "bytes", "too big", " mb")


@dataclass(frozen=True)
class Case:
    """A hostile target and how the explaining line must name what came back."""

    hostile: str
    #: any one of these words (case-insensitive)
    says: tuple[str, ...]
    #: and every one of these
    names: tuple[str, ...] = ()
    #: wall-time bound of a run with the default profile and no -k
    bound: float = BOUND


CASES = [
    Case("html", ("html",)),
    Case("500-body", ("500",)),
    Case("500-empty", ("500",)),
    Case("broken-json", ("json",)),
    Case("huge-body", TOO_BIG),
    Case("endless-body", TOO_BIG),
    Case("close", CLOSED),
    Case("reset", CLOSED),
    Case("silent", SILENT),
    Case("start-then-hang", SILENT, bound=HANG_BOUND),
    Case("huge-id", ("conversationid",)),
    Case("number-id", ("conversationid",)),
    Case("object-id", ("conversationid",)),
    Case("root-path", ("404", "not found"), names=("/v3/directline",)),
    Case("v3-path", ("404", "not found"), names=("/v3/directline",)),
]


# -- helpers ------------------------------------------------------------------------------------
def traceback_marks(output: str) -> list[str]:
    return [mark for mark in TRACEBACK_MARKS if mark in output]


def explaining_line(
    output: str, says: tuple[str, ...], names: tuple[str, ...] = (), *, check: bool = True
) -> str | None:
    """The first short line holding one of ``says``, all of ``names`` and (if asked) "check"."""
    for line in output.splitlines():
        low = line.lower()
        if len(line) > LINE_LIMIT or (check and "check" not in low):
            continue
        if any(w.lower() in low for w in says) and all(n.lower() in low for n in names):
            return line
    return None


def judged_as_met(report_dir: Path) -> list[str]:
    """Requirements a written report.json judged as met (none may be, against garbage)."""
    path = report_dir / "report.json"
    if not path.exists():
        return []
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"(report.json unreadable: {exc})"]
    return [f"{r['id']}={r['verdict']}" for r in report["requirements"] if r["verdict"] in MEETS]


def common_problems(
    run: CliRun, *, bound: float, secrets: list[str], exit_status: int = 2
) -> list[str]:
    """What a run must not do: hang, crash, exit otherwise than expected, leak, balloon."""
    problems = []
    if run.killed_for:
        problems.append(f"killed: {run.killed_for}")
    elif run.returncode != exit_status:
        problems.append(f"exit {run.returncode}, not {exit_status}")
    if run.seconds >= bound:
        problems.append(f"took {run.seconds:.1f} s (bound {bound:g} s)")
    marks = traceback_marks(run.output)
    if marks:
        problems.append(f"traceback in the output ({', '.join(marks)})")
    if any(secret in run.output for secret in secrets):
        problems.append("the secret or a token handed out by the target is in the output")
    if run.output_bytes >= OUTPUT_LIMIT:
        problems.append(f"{run.output_bytes} bytes of output (limit {OUTPUT_LIMIT})")
    if run.max_rss_mb >= RSS_LIMIT_MB:
        problems.append(f"peak RSS {run.max_rss_mb:.0f} MB (limit {RSS_LIMIT_MB:g} MB)")
    return problems


@pytest.fixture
def counting_target() -> Iterator[Running]:
    """A target that counts every connection (an HTML page to each request)."""
    with start_hostile("html", SECRET) as target:
        yield target


# -- the hostile targets ------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["default", "smoke"])
@pytest.mark.parametrize("case", CASES, ids=[c.hostile for c in CASES])
def test_hostile_target_ends_the_run_with_exit_2_and_one_clear_line(
    case: Case, mode: str, tmp_path: Path, record_property: Callable[[str, Any], None]
) -> None:
    """`run --target URL` (profile spec) against a target that is not a working Direct Line
    service; `-k smoke` too, which runs in one process instead of under pytest-xdist."""
    bound = case.bound if mode == "default" else BOUND
    reports = tmp_path / "reports"
    with start_hostile(case.hostile, SECRET) as target:
        args = ["run", "--target", target.target_url, "--report-dir", str(reports)]
        if mode == "smoke":
            args += ["-k", "smoke"]
        run = run_cli(args, env=cli_environment(SECRET), timeout=bound + GRACE, cwd=tmp_path)
        issued = list(target.issued)
    record_property("observed", run.summary())
    problems = common_problems(run, bound=bound, secrets=[SECRET, *issued])
    if explaining_line(run.output, case.says, case.names) is None:
        wanted = " or ".join(repr(w) for w in case.says)
        names = "".join(f" and {n!r}" for n in case.names)
        problems.append(f"no line holding 'check' and {wanted}{names}")
    met = judged_as_met(reports)
    if met:
        problems.append(f"report.json judges {len(met)} requirement(s) met: {', '.join(met[:5])}")
    assert not problems, "; ".join(problems) + "\n" + run.summary()


def test_stream_of_bare_arrays_fails_the_activity_set_rule(
    tmp_path: Path, record_property: Callable[[str, Any], None]
) -> None:
    """A real Direct Line server whose stream sends ``[...]`` instead of an ActivitySet is a
    conformance failure (exit 1, DL-STREAM-002 fails), not a harness error, and no crash."""
    reports = tmp_path / "reports"
    with start_hostile("bare-array-stream", SECRET) as target:
        args = ["run", "--target", target.target_url, "--profile", "reference"]
        args += ["--report-dir", str(reports), "-k", "websocket_stream and not slow"]
        run = run_cli(args, env=cli_environment(SECRET), timeout=BOUND + GRACE, cwd=tmp_path)
    record_property("observed", run.summary())
    problems = common_problems(run, bound=BOUND, secrets=[SECRET], exit_status=1)
    path = reports / "report.json"
    verdicts = {}
    if path.exists():
        verdicts = {r["id"]: r["verdict"] for r in json.loads(path.read_text())["requirements"]}
    if verdicts.get("DL-STREAM-002") != "fail":
        problems.append(f"DL-STREAM-002 is {verdicts.get('DL-STREAM-002')!r}, not 'fail'")
    assert not problems, "; ".join(problems) + "\n" + run.summary()


# -- bad input, refused before the first request -----------------------------------------------
def unwritable_directory(tmp_path: Path) -> str | None:
    """An existing directory this process cannot create a file in (root ignores modes: then a
    sysfs directory), or None when there is none."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    for candidate in (str(locked), "/sys/kernel"):
        try:
            with tempfile.TemporaryFile(dir=candidate):
                pass
        except OSError:
            return candidate
    return None


def assert_refused_before_the_run(
    run: CliRun,
    target: Running,
    *,
    says: tuple[str, ...],
    names: tuple[str, ...] = (),
    secrets: tuple[str, ...] = (SECRET,),
) -> None:
    problems = common_problems(run, bound=BOUND, secrets=list(secrets))
    if target.connections:
        problems.append(f"the target saw {target.connections} connection(s) before the refusal")
    if explaining_line(run.output, says, names, check=False) is None:
        wanted = " or ".join(repr(w) for w in says)
        problems.append(f"no line naming {wanted}" + "".join(f" and {n!r}" for n in names))
    lines = [line for line in run.output.splitlines() if line.strip()]
    if len(lines) > 2:
        problems.append(f"{len(lines)} lines of output, not one")
    assert not problems, "; ".join(problems) + "\n" + run.summary()


@pytest.mark.parametrize("kind", ["a file", "unwritable", "empty", "report.html is a folder"])
def test_bad_report_dir_is_refused_before_the_first_request(
    kind: str,
    counting_target: Running,
    tmp_path: Path,
    record_property: Callable[[str, Any], None],
) -> None:
    if kind == "a file":
        path = tmp_path / "reports"
        path.write_text("not a directory\n")
        report_dir, says = str(path), (str(path),)
    elif kind == "unwritable":
        found = unwritable_directory(tmp_path)
        if found is None:
            pytest.skip("no directory here refuses this process a new file")
        report_dir, says = found, (found,)
    elif kind == "empty":
        report_dir, says = "", ("report",)
    else:
        (tmp_path / "reports" / "report.html").mkdir(parents=True)
        report_dir, says = str(tmp_path / "reports"), ("report.html",)
    args = ["run", "--target", counting_target.target_url, "--report-dir", report_dir]
    run = run_cli(
        [*args, "-k", "smoke"], env=cli_environment(SECRET), timeout=BOUND + GRACE, cwd=tmp_path
    )
    record_property("observed", run.summary())
    try:
        assert_refused_before_the_run(run, counting_target, says=says)
    finally:
        if kind == "unwritable":
            (tmp_path / "locked").chmod(0o700)


@pytest.mark.parametrize("value", ["inf", "nan"])
def test_profile_timeout_that_is_not_a_finite_number_is_refused(
    value: str,
    counting_target: Running,
    tmp_path: Path,
    record_property: Callable[[str, Any], None],
) -> None:
    profile = tmp_path / "endless.toml"
    profile.write_text(
        'name = "endless"\ndescription = "a request timeout that is not a number of seconds"\n'
        'end_of_conversation = "refuse"\n\n[features]\nauth = true\ntokens = true\n\n'
        f"[timings]\nrequest_timeout = {value}\n"
    )
    args = ["run", "--target", counting_target.target_url, "--profile", str(profile)]
    run = run_cli(
        [*args, "-k", "smoke"], env=cli_environment(SECRET), timeout=BOUND + GRACE, cwd=tmp_path
    )
    record_property("observed", run.summary())
    assert_refused_before_the_run(run, counting_target, says=("request_timeout", "request timeout"))


def test_secret_with_a_non_ascii_character_is_refused(
    counting_target: Running, tmp_path: Path, record_property: Callable[[str, Any], None]
) -> None:
    """An HTTP header cannot carry it: one line naming the character problem, not the secret."""
    secret = "hostile-sécret-€-2b8"
    args = ["run", "--target", counting_target.target_url, "-k", "smoke"]
    run = run_cli(args, env=cli_environment(secret), timeout=BOUND + GRACE, cwd=tmp_path)
    record_property("observed", run.summary())
    assert_refused_before_the_run(
        run, counting_target, says=("ascii", "character"), secrets=(secret,)
    )


def test_bad_k_expression_is_refused(
    counting_target: Running, tmp_path: Path, record_property: Callable[[str, Any], None]
) -> None:
    args = ["run", "--target", counting_target.target_url, "-k", "smoke and ("]
    run = run_cli(args, env=cli_environment(SECRET), timeout=BOUND + GRACE, cwd=tmp_path)
    record_property("observed", run.summary())
    assert_refused_before_the_run(run, counting_target, says=("-k", "expression"))


# -- compare and requirements -------------------------------------------------------------------
def canned_report(verdicts: list[tuple[str, str]]) -> dict[str, Any]:
    """A report.json of the current format with these (ID, verdict) rows, catalog titles."""
    catalog = load_catalog()
    rows = []
    for rid, verdict in verdicts:
        requirement = catalog[rid]
        rows.append(
            {
                "id": rid,
                "level": requirement.level,
                "area": requirement.area,
                "title": requirement.title,
                "page": requirement.source.page,
                "section": requirement.source.section,
                "verdict": verdict,
                "reason": "",
                "tests": [],
            }
        )
    return {
        "format": REPORT_FORMAT,
        "kit_version": "0.1.0",
        "python": "3.12.1",
        "target": {"url": "http://127.0.0.1:3000/v3/directline", "embedded": False},
        "profile": {
            "name": "spec",
            "source": "built-in:spec",
            "end_of_conversation": "refuse",
            "features": [],
            "timings": {"request_timeout": 10.0},
        },
        "fail_on": "should",
        "started": "2026-01-05T02:00:00Z",
        "finished": "2026-01-05T02:01:00Z",
        "exit_status": 0,
        "conclusion": "conformant for every exercised requirement (exit 0)",
        "summary": {},
        "requirements": rows,
        "tests": [],
    }


def first_ids(count: int) -> list[str]:
    return [requirement.id for requirement in list(load_catalog())[:count]]


def write_report(path: Path, report: dict[str, Any]) -> str:
    assert validate_report(report) == [], "the canned report must be valid"
    path.write_text(json.dumps(report))
    return str(path)


@pytest.mark.parametrize("which", ["new", "base"])
def test_compare_refuses_a_report_listing_an_id_twice(
    which: str, tmp_path: Path, record_property: Callable[[str, Any], None]
) -> None:
    ids = first_ids(3)
    good = canned_report([(rid, "pass") for rid in ids])
    twice = canned_report([(rid, "pass") for rid in ids] + [(ids[0], "fail")])
    good_path = write_report(tmp_path / "good.json", good)
    twice_path = str(tmp_path / "twice.json")
    Path(twice_path).write_text(json.dumps(twice))  # valid but for the repeated ID
    pair = (good_path, twice_path) if which == "new" else (twice_path, good_path)
    run = run_cli(["compare", *pair], env=cli_environment(None), timeout=BOUND, cwd=tmp_path)
    record_property("observed", run.summary())
    problems = common_problems(run, bound=BOUND, secrets=[])
    if explaining_line(run.stderr, (ids[0],), check=False) is None:
        problems.append(f"no line naming the repeated {ids[0]}")
    assert not problems, "; ".join(problems) + "\n" + run.summary()


@contextlib.contextmanager
def reader_gone() -> Iterator[int]:
    """The write end of a pipe whose reader has already exited (as `| head -1` leaves it)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        yield write_end
    finally:
        os.close(write_end)


def pipe_problems(run: CliRun) -> list[str]:
    """A run writing into a closed pipe must end quietly: no traceback, no BrokenPipeError."""
    problems = [f"killed: {run.killed_for}"] if run.killed_for else []
    marks = (*TRACEBACK_MARKS, "BrokenPipeError", "Exception ignored")
    return problems + [f"{mark!r} on stderr" for mark in marks if mark in run.stderr]


def test_compare_into_a_closed_pipe_has_no_traceback(
    tmp_path: Path, record_property: Callable[[str, Any], None]
) -> None:
    """`compare A B | head -1` with no regression between A and B: the status is not 1
    (nothing regressed) and no BrokenPipeError reaches the user."""
    ids = first_ids(6)
    base = write_report(tmp_path / "a.json", canned_report([(i, "fail") for i in ids]))
    new = write_report(tmp_path / "b.json", canned_report([(i, "pass") for i in ids]))
    with reader_gone() as stdout:
        run = run_cli(
            ["compare", base, new], env=cli_environment(None), timeout=BOUND, stdout=stdout
        )
    record_property("observed", run.summary())
    problems = pipe_problems(run)
    if run.returncode == 1:
        problems.append("exit 1 (no regression between the reports)")
    assert not problems, "; ".join(problems) + "\n" + run.summary()


def test_requirements_into_a_closed_pipe_has_no_traceback(
    tmp_path: Path, record_property: Callable[[str, Any], None]
) -> None:
    """`requirements | head -1`: no BrokenPipeError traceback."""
    with reader_gone() as stdout:
        run = run_cli(
            ["requirements"], env=cli_environment(None), timeout=BOUND + GRACE, stdout=stdout
        )
    record_property("observed", run.summary())
    problems = pipe_problems(run)
    assert not problems, "; ".join(problems) + "\n" + run.summary()


# -- the hostile targets really are hostile -----------------------------------------------------
HEAD_WAIT_PLUS = 4.0
"""Seconds a raw probe waits: longer than the closing targets take to read a request head."""


def raw_exchange(target: Running, wait: float) -> tuple[bytes, str]:
    """Send one request on a raw socket; what came back within ``wait`` s and how it ended."""
    host_port = target.target_url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    request = (
        f"POST /v3/directline/conversations HTTP/1.1\r\nHost: {host_port}\r\n"
        f"Authorization: Bearer {SECRET}\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    received = b""
    with socket.create_connection((host, int(port)), timeout=wait) as sock:
        sock.sendall(request)
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    return received, "closed"
                received += data
        except TimeoutError:
            return received, "silent"
        except ConnectionResetError:
            return received, "reset"


def start_answer(target: Running, client: httpx.Client) -> httpx.Response:
    return client.post(
        target.target_url + "/conversations", headers={"Authorization": f"Bearer {SECRET}"}
    )


def probe(name: str, target: Running, client: httpx.Client) -> None:
    """Fail unless the named target misbehaves exactly as its catalogue entry says."""
    auth = {"Authorization": f"Bearer {SECRET}"}
    url = target.target_url
    if name == "html":
        answer = client.get(url + "/conversations/c/activities")
        assert answer.status_code == 200 and "text/html" in answer.headers["content-type"]
        assert "Welcome to nginx" in answer.text
    elif name in ("500-body", "500-empty"):
        answer = start_answer(target, client)
        assert answer.status_code == 500
        assert bool(answer.content) == (name == "500-body")
    elif name == "broken-json":
        answer = start_answer(target, client)
        assert answer.status_code == 201 and answer.headers["content-type"] == "application/json"
        with pytest.raises(ValueError):
            answer.json()
    elif name in ("huge-body", "endless-body"):
        with client.stream("POST", url + "/conversations", headers=auth) as answer:
            assert answer.status_code == 200
            read = 0
            for chunk in answer.iter_raw():
                read += len(chunk)
                if read > 60 * 1024 * 1024:
                    break
        if name == "huge-body":
            assert read == 50 * 1024 * 1024
        else:
            assert read > 60 * 1024 * 1024
    elif name in ("close", "reset", "silent"):
        ending = {"close": "closed", "reset": "reset", "silent": "silent"}[name]
        assert raw_exchange(target, wait=HEAD_WAIT_PLUS) == (b"", ending)
    elif name == "start-then-hang":
        grant = client.post(url + "/tokens/generate", headers=auth).json()
        assert set(grant) >= {"conversationId", "token", "expires_in"}
        started = start_answer(target, client)
        assert started.status_code == 201 and started.json()["streamUrl"].startswith("ws://")
        with pytest.raises(httpx.ReadTimeout):
            client.get(url + "/conversations/hostile-c1/activities", headers=auth, timeout=1.0)
    elif name in ("huge-id", "number-id", "object-id"):
        started = start_answer(target, client)
        assert started.status_code == 201
        expected = {"huge-id": HUGE_ID, "number-id": 4242, "object-id": {"id": "c1"}}[name]
        assert started.json()["conversationId"] == expected
    elif name in ("root-path", "v3-path"):
        assert client.post(url + "/tokens/generate", headers=auth).status_code == 404
        origin = url.split("/v3", 1)[0].rstrip("/")
        right = client.post(origin + "/v3/directline/tokens/generate", headers=auth)
        assert right.status_code == 200, "the server behind the wrong path must be a real one"
    elif name == "bare-array-stream":
        started = start_answer(target, client).json()
        with ws_connect(started["streamUrl"], open_timeout=5) as stream:
            client.post(
                f"{url}/conversations/{started['conversationId']}/activities",
                headers={"Authorization": f"Bearer {started['token']}"},
                json={"type": "message", "from": {"id": "u1"}, "text": "hello"},
            )
            frame = ""
            deadline = time.monotonic() + 5
            while not frame and time.monotonic() < deadline:
                frame = stream.recv(timeout=5)
        assert isinstance(json.loads(frame), list)
    else:
        raise AssertionError(f"no probe for hostile target {name!r}")


@pytest.mark.parametrize("name", sorted(HOSTILES))
def test_hostile_target_misbehaves_as_declared(name: str) -> None:
    """Each hostile target does what its entry says, so a refused run is refused for that."""
    with (
        start_hostile(name, SECRET) as target,
        httpx.Client(timeout=10.0, trust_env=False) as client,
    ):
        probe(name, target, client)
        assert target.requests >= 1


def test_hostile_target_runs_as_a_process() -> None:
    """`python -m tests.hostile NAME` prints the target URL, serves, and stops on SIGTERM."""
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.hostile", "html"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _, _ = select.select([process.stdout], [], [], 20)
        assert ready, "the hostile target printed no URL within 20 s"
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v3/directline")
        answer = httpx.get(url + "/conversations", timeout=5.0, trust_env=False)
        assert answer.status_code == 200 and "text/html" in answer.headers["content-type"]
        process.terminate()
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
