"""The reference server against offline-directline (npm), side by side, in one run.

Both servers run on this machine at once: the reference server (`directline-conformance serve`,
its in-process echo bot) and offline-directline 1.3.1 from `tests/emulators` with the kit's test
bot behind it (`directline-conformance bot`, started the way tests/emulators/harness.py starts
it). One generator drives both, alternately, round after round: `wrk`, one thread and one
keep-alive connection per conversation, each connection posting numbered messages to its own
conversation one after the other for `--seconds`.

After each wrk run the whole history of every conversation is read back (GET activities) and
checked: each connection's messages are all there, once each, in the order they were sent
(every answered one at least, and at most the one wrk had in flight when it stopped), and each
has exactly one echo, after it, the echoes in the same order. The CPU time each server process
used during the run is read from /proc and printed per send beside the rate, the figure a busy
machine disturbs least (offline-directline's is the Node process and the test bot, apart).

    .venv/bin/python benchmarks/side_by_side.py [--rounds 2] [--seconds 8] [--connections 16]

Needs `wrk` (`apt-get install -y wrk`), node and the emulators (`npm ci --prefix
tests/emulators`); says so in one line and exits 2 when one is missing. Exits 1 when a check
fails or the ratio is below `--target-ratio`. Every process it starts is killed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from throughput import TIMEOUT, cpu_seconds, start_reference

REPO = Path(__file__).resolve().parent.parent

#: The wrk script: every thread owns one connection and one conversation (handed over in
#: setup), posts `w<thread>-<k>` for k = 0, 1, ... and counts what it sent and what came back.
WRK_SCRIPT = """
local targets = %(targets)s
local threads = {}

function setup(thread)
  local n = #threads + 1
  local target = targets[n]
  thread:set("n", n)
  thread:set("path", target.path)
  thread:set("auth", target.auth)
  thread:set("user", target.user)
  table.insert(threads, thread)
end

function init(args)
  sent, answered, failed = 0, 0, 0
  request_headers = { ["Content-Type"] = "application/json" }
  if auth ~= "" then request_headers["Authorization"] = "Bearer " .. auth end
end

function request()
  local body = string.format(
    '{"type":"message","from":{"id":"%%s"},"text":"w%%d-%%d"}', user, n, sent)
  sent = sent + 1
  return wrk.format("POST", path, request_headers, body)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then answered = answered + 1 else failed = failed + 1 end
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    io.write(string.format("THREAD %%d %%d %%d %%d\\n", thread:get("n"), thread:get("sent"),
      thread:get("answered"), thread:get("failed")))
  end
  local errors = summary.errors
  io.write(string.format("SUMMARY %%d %%d %%d %%d %%d %%d %%d %%.0f %%.0f\\n", summary.duration,
    summary.requests, errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass
class Target:
    """One server under test: how to start a conversation and read it back, and whose CPU."""

    name: str
    base: str
    """Base URL: .../v3/directline (reference) or .../directline (offline-directline)."""
    pids: dict[str, int]
    """The processes doing the work, by name (their CPU is reported per send)."""
    secret: str | None = None

    def start(self, http: httpx.Client, user: str) -> tuple[str, str]:
        """A new conversation for `user`: its id and the token to post with ("" for none)."""
        headers = {"Authorization": f"Bearer {self.secret}"} if self.secret else {}
        answer = http.post(
            f"{self.base}/conversations", headers=headers, json={"user": {"id": user}}
        )
        if answer.status_code not in (200, 201):
            raise SystemExit(f"{self.name}: starting a conversation answered {answer.status_code}")
        body = answer.json()
        return str(body["conversationId"]), str(body.get("token") or "")

    def history(self, http: httpx.Client, conversation: str, token: str) -> list[dict[str, Any]]:
        """Every activity of the conversation, in record order (paged by the watermark)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        url = f"{self.base}/conversations/{conversation}/activities"
        activities: list[dict[str, Any]] = []
        watermark: str | None = None
        for _page in range(100_000):
            params = {"watermark": watermark} if watermark is not None else {}
            answer = http.get(url, headers=headers, params=params)
            if answer.status_code != 200:
                raise SystemExit(f"{self.name}: reading the history answered {answer.status_code}")
            body = answer.json()
            page = body.get("activities") or []
            activities.extend(page)
            if not page or str(body.get("watermark")) == watermark:
                break
            watermark = str(body.get("watermark"))
        return activities


@dataclass
class Round:
    """What one wrk run against one target gave."""

    target: str
    seconds: float
    answered: int
    sent: int
    errors: dict[str, int]
    p50_ms: float
    p99_ms: float
    cpu: dict[str, float]
    """CPU seconds each server process used during the run."""
    wrk_cpu: float
    problems: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.answered / max(self.seconds, 1e-9)

    def cpu_per_send_us(self, name: str | None = None) -> float:
        used = self.cpu[name] if name else sum(self.cpu.values())
        return used / max(self.answered, 1) * 1e6


# -- the servers ---------------------------------------------------------------------------------
def missing_tools() -> str | None:
    """Why the benchmark cannot run here, or None."""
    if shutil.which("wrk") is None:
        return "wrk is not installed (apt-get install -y wrk): nothing measured"
    if not shutil.which("node"):
        return "node is not on PATH: offline-directline cannot run here"
    sys.path.insert(0, str(REPO))
    from tests.emulators import harness

    return harness.unavailable()


@contextmanager
def offline_directline() -> Iterator[Target]:
    """offline-directline with the kit's test bot behind it (tests/emulators/harness.py)."""
    from tests.emulators import harness

    with harness.running("offline-directline") as running:
        bot, node = running.processes
        pids = {"node": node.popen.pid, "test bot": bot.popen.pid}
        yield Target("offline-directline", running.url.rstrip("/"), pids)


@contextmanager
def reference() -> Iterator[Target]:
    """`directline-conformance serve` in its own process."""
    server = start_reference()
    try:
        assert server.pid is not None
        yield Target("reference", server.base_url, {"server": server.pid}, server.secret)
    finally:
        server.stop()


# -- one round -----------------------------------------------------------------------------------
def lua_string(text: str) -> str:
    """A Lua string literal (JSON's escapes are a subset of Lua's for the ASCII we pass)."""
    return json.dumps(text, ensure_ascii=True)


def run_round(target: Target, args: argparse.Namespace, label: str) -> Round:
    """Start the conversations, run wrk against them, read them back and check them."""
    wrk = shutil.which("wrk")
    assert wrk is not None
    users = [f"{label}-user-{n}" for n in range(1, args.connections + 1)]
    with httpx.Client(timeout=TIMEOUT, trust_env=False) as http:
        conversations = [target.start(http, user) for user in users]
    origin = re.match(r"https?://[^/]+", target.base)
    assert origin is not None
    prefix = target.base[origin.end() :]
    entries = ", ".join(
        f"{{ path = {lua_string(f'{prefix}/conversations/{cid}/activities')}, "
        f"auth = {lua_string(token)}, user = {lua_string(user)} }}"
        for (cid, token), user in zip(conversations, users, strict=True)
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % {"targets": "{ " + entries + " }"})
    count = str(args.connections)
    command = [wrk, "-t", count, "-c", count, "-d", f"{args.seconds}s", "--timeout", "5s"]
    command += ["-s", script.name, origin.group(0)]
    before = {name: cpu_seconds(pid) for name, pid in target.pids.items()}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=args.seconds + 60, check=False
        )
    finally:
        os.unlink(script.name)
    cpu = {name: cpu_seconds(pid) - before[name] for name, pid in target.pids.items()}
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    threads, summary = parse_wrk(done.stdout)
    if summary is None or len(threads) != args.connections:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise SystemExit(f"wrk against {target.name} printed no figures: {' / '.join(tail)}")
    time.sleep(args.settle)  # replies to the requests in flight when wrk stopped
    problems: list[str] = []
    with httpx.Client(timeout=TIMEOUT, trust_env=False) as http:
        for n, ((cid, token), user) in enumerate(zip(conversations, users, strict=True), 1):
            sent, answered, failed = threads[n]
            if failed:
                problems.append(f"connection {n}: {failed} sends not answered 2xx")
            activities = target.history(http, cid, token)
            counts = (answered, sent, n == 1)
            problems += check_history(activities, user, f"w{n}-", counts, f"conn {n}")
    duration, _requests, *errors, p50, p99 = summary
    names = ("connect", "read", "write", "status", "timeout")
    return Round(
        target.name,
        duration / 1e6,
        sum(t[1] for t in threads.values()),
        sum(t[0] for t in threads.values()),
        {k: v for k, v in zip(names, errors, strict=True) if v},
        p50 / 1000,
        p99 / 1000,
        cpu,
        wrk_cpu,
        problems,
    )


def parse_wrk(output: str) -> tuple[dict[int, tuple[int, int, int]], list[int] | None]:
    """The THREAD lines (n -> sent, answered, failed) and the SUMMARY figures of WRK_SCRIPT."""
    threads: dict[int, tuple[int, int, int]] = {}
    summary: list[int] | None = None
    for line in output.splitlines():
        parts = line.split()
        if parts[:1] == ["THREAD"] and len(parts) == 5:
            n, sent, answered, failed = (int(p) for p in parts[1:])
            threads[n] = (sent, answered, failed)
        elif parts[:1] == ["SUMMARY"] and len(parts) == 10:
            summary = [int(float(p)) for p in parts[1:]]
    return threads, summary


def check_history(
    activities: list[dict[str, Any]],
    user: str,
    tag: str,
    counts: tuple[int, int, bool],
    name: str,
) -> list[str]:
    """Lost, duplicated or reordered messages and echoes of one connection's conversation.

    `counts`: the sends wrk saw answered, the sends it made, and whether this is wrk's first
    thread. The user's messages must be `tag`0 .. `tag`(m-1) in this order, with answered <= m
    <= sent (the last one may have been in flight when wrk stopped); the echoes (same text,
    another sender) the same numbers in the same order, each after its message.
    """
    answered, sent, first_thread = counts
    own: list[tuple[int, int]] = []
    echoes: list[tuple[int, int]] = []
    ids: list[str] = []
    for position, activity in enumerate(activities):
        text = activity.get("text")
        if activity.get("type") != "message" or not isinstance(text, str):
            continue
        if not text.startswith(tag) or not text[len(tag) :].isdigit():
            continue
        number = int(text[len(tag) :])
        sender = (activity.get("from") or {}).get("id")
        (own if sender == user else echoes).append((number, position))
        ids.append(str(activity.get("id")))
    problems = []
    own_numbers = [number for number, _ in own]
    # wrk calls request() once on its first thread to check the script, and never sends that
    # request: that thread's messages start at 1
    start = 1 if first_thread and own_numbers[:1] == [1] else 0
    expected = list(range(start, start + len(own)))
    if not answered <= len(own) <= sent - start or own_numbers != expected:
        problems.append(
            f"{name}: messages {describe(own_numbers, expected)}; {answered} answered, "
            f"{sent - start} sent"
        )
    echo_numbers = [number for number, _ in echoes]
    if echo_numbers != own_numbers:
        problems.append(f"{name}: echoes {describe(echo_numbers, expected)}")
    else:
        early = [n for (n, at), (_, mine) in zip(echoes, own, strict=True) if at < mine]
        if early:
            problems.append(f"{name}: {len(early)} echoes before their message (first {early[0]})")
    if len(set(ids)) != len(ids):
        problems.append(f"{name}: {len(ids) - len(set(ids))} activity ids used twice")
    return problems


def describe(numbers: list[int], expected: list[int]) -> str:
    """What is wrong with a sequence that should be `expected`."""
    lost = sorted(set(expected) - set(numbers))
    duplicated = len(numbers) - len(set(numbers))
    reordered = numbers != sorted(numbers)
    return (
        f"{len(numbers)} found, lost {lost[:5]}{'...' if len(lost) > 5 else ''}, "
        f"duplicated {duplicated}, reordered {reordered}"
    )


# -- printing ------------------------------------------------------------------------------------
def report_round(index: int, result: Round) -> None:
    """One line per round: the rate, and the server's CPU per send beside it."""
    cpu = ", ".join(
        f"{name} {result.cpu_per_send_us(name):,.0f} us ({used / result.seconds:.0%} of a core)"
        for name, used in result.cpu.items()
    )
    errors = f", wrk errors {result.errors}" if result.errors else ""
    verdict = "ok" if not result.problems else f"{len(result.problems)} PROBLEMS"
    print(
        f"round {index} {result.target:<18} {result.rate:>8,.0f} sends/s ({result.answered:,} in "
        f"{result.seconds:.1f} s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms{errors}); "
        f"CPU per send: {cpu}; check: {verdict}",
        flush=True,
    )
    for problem in result.problems[:10]:
        print(f"    {problem}")


def summarise(results: list[Round], target_ratio: float) -> bool:
    """The overall figures of each server, the ratio, and whether everything checked out."""
    by_target: dict[str, list[Round]] = {}
    for result in results:
        by_target.setdefault(result.target, []).append(result)
    rates: dict[str, float] = {}
    cpu: dict[str, dict[str, float]] = {}
    for name, rounds in by_target.items():
        answered = sum(r.answered for r in rounds)
        rates[name] = answered / max(sum(r.seconds for r in rounds), 1e-9)
        cpu[name] = {
            n: sum(r.cpu[n] for r in rounds) / max(answered, 1) * 1e6 for n in rounds[0].cpu
        }
        cpu_text = " + ".join(f"{v:,.0f} us ({n})" for n, v in cpu[name].items())
        if len(cpu[name]) > 1:
            cpu_text += f" = {sum(cpu[name].values()):,.0f} us"
        spread = ", ".join(f"{r.rate:,.0f}" for r in rounds)
        print(
            f"{name}: {rates[name]:,.0f} sends/s over {len(rounds)} rounds ({spread}); "
            f"CPU per send {cpu_text}"
        )
    problems = sum(len(r.problems) for r in results)
    ratio = rates["reference"] / max(rates["offline-directline"], 1e-9)
    reference_cpu = max(sum(cpu["reference"].values()), 1e-9)
    met = ratio >= target_ratio
    print(
        f"ratio: the reference sends {ratio:.1f}x offline-directline's rate "
        f"(target {target_ratio:g}x: {'met' if met else 'NOT met'}); per send it spends "
        f"{sum(cpu['offline-directline'].values()) / reference_cpu:.1f}x less CPU than "
        f"offline-directline and its bot, {cpu['offline-directline']['node'] / reference_cpu:.1f}x "
        "less than the Node process alone"
    )
    verdict = "none lost, duplicated or reordered" if not problems else f"{problems} PROBLEMS"
    print(f"check, every conversation of every round: {verdict}")
    return met and not problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="runs of each server, alternately")
    parser.add_argument("--seconds", type=int, default=8, help="length of one wrk run")
    parser.add_argument(
        "--connections", type=int, default=16, help="wrk threads = connections = conversations"
    )
    parser.add_argument("--settle", type=float, default=1.0, help="seconds before reading back")
    parser.add_argument("--target-ratio", type=float, default=5.0)
    args = parser.parse_args(argv)
    if not (1 <= args.rounds <= 20 and 1 <= args.seconds <= 120 and 1 <= args.connections <= 64):
        parser.error("--rounds 1..20, --seconds 1..120, --connections 1..64")
    reason = missing_tools()
    if reason is not None:
        print(f"side_by_side: {reason}", file=sys.stderr)
        return 2
    print(
        f"generator: wrk, {args.connections} threads x 1 keep-alive connection, each posting to "
        f"its own conversation, {args.seconds} s per run; {os.cpu_count()} CPUs shared by "
        f"everything; load average before: {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    results: list[Round] = []
    with reference() as ref, offline_directline() as odl:
        print(f"reference: {ref.base} (pid {ref.pids['server']}, in-process echo bot)")
        print(f"offline-directline: {odl.base} (node pid {odl.pids['node']}, test bot pid "
              f"{odl.pids['test bot']})", flush=True)  # fmt: skip
        for index in range(1, args.rounds + 1):
            for target in (ref, odl) if index % 2 else (odl, ref):
                result = run_round(target, args, f"r{index}")
                report_round(index, result)
                results.append(result)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0 if summarise(results, args.target_ratio) else 1


if __name__ == "__main__":
    sys.exit(main())
