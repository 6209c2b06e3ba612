"""Load run against a Direct Line 3.0 endpoint; prints throughput, latency and server memory.

By default it starts the reference server in a separate process
(`directline-conformance serve --port P --secret S` on 127.0.0.1) and kills it at the end.

Phases (`--mode`, default `all`):
  max    N conversations, each with a WebSocket stream, each posting M activities one after
         the other as fast as it can: posted/s, delivered/s (the client's own activity and the
         echo bot's reply, both on the stream), latency POST -> arrival on the stream.
  paced  the same at a fixed rate (default: half the delivered/s of `max`): p50/p95/p99.
  idle   10,000 conversations started (no streams) on a fresh server: its RSS.
  wrk    raw POST throughput with `wrk` and a Lua script, when `wrk` is installed.

Every delivery is checked: none lost, none duplicated, order kept (own activities and replies
each in posting order, each reply after the activity it answers).

The load generator is `--workers` processes (multiprocessing), each running asyncio with one
httpx.AsyncClient and a websockets client per conversation. It shares the machine's cores with
the server: the figures are for both together. Everything is bounded: counts, and a deadline
per phase (`--deadline`); every network wait has a timeout.

    .venv/bin/python benchmarks/throughput.py
    .venv/bin/python benchmarks/throughput.py --target http://127.0.0.1:3000/v3/directline \
        --secret-env MY_SECRET --server-pid 1234
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import queue
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

CLI = Path(sys.executable).with_name("directline-conformance")
TIMEOUT = 10.0
"""Timeout of every single network wait (connect, request, frame)."""


# -- the server under test ---------------------------------------------------------------------
@dataclass
class Server:
    """A target: its base URL, secret, and the pid whose memory we read (if known)."""

    base_url: str
    secret: str
    pid: int | None = None
    process: subprocess.Popen[str] | None = None

    def stop(self) -> None:
        """Kill the server we started (by its own pid), if any."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_reference(stream_window: float = 60.0) -> Server:
    """Start `directline-conformance serve` on loopback in its own process."""
    port, secret = free_port(), secrets.token_urlsafe(24)
    command = [str(CLI), "serve", "--host", "127.0.0.1", "--port", str(port), f"--secret={secret}"]
    command += [f"--stream-window={stream_window}"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}/v3/directline"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the reference server exited with {process.returncode}")
        try:
            answer = httpx.get(base + "/session/getsessionid", timeout=1.0)
            if answer.status_code == 200:
                return Server(base, secret, process.pid, process)
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the reference server did not come up within 20 s")


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time a process has used so far (from /proc/<pid>/stat)."""
    if pid is None:
        return float("nan")
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory(pid: int | None) -> dict[str, float]:
    """VmRSS and VmHWM (peak RSS) of a process in MB, from /proc/<pid>/status."""
    if pid is None:
        return {}
    figures: dict[str, float] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                figures[name] = int(value.split()[0]) / 1024
    return figures


# -- one worker process ------------------------------------------------------------------------
@dataclass
class Plan:
    """What one worker does."""

    base_url: str
    secret: str
    conversations: list[int]
    activities: int
    interval: float
    """Seconds between two posts of one conversation (0: as fast as possible)."""
    deadline: float
    """Seconds the whole phase may take once started."""
    deflate: bool = True
    """Offer permessage-deflate on the streams (as browsers do)."""


@dataclass
class Outcome:
    """What one worker measured (monotonic clock, shared by all processes on Linux)."""

    posted: int = 0
    delivered: int = 0
    first_post: float = float("inf")
    last_post: float = 0.0
    last_arrival: float = 0.0
    latencies: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    cpu: float = 0.0
    """CPU seconds the worker used while the phase ran."""


class Conversation:
    """One conversation of the load: its token, its stream, what was sent and what came."""

    def __init__(self, index: int, count: int) -> None:
        self.index = index
        self.user = f"load-user-{index}"
        self.sent_at: list[float] = [0.0] * count
        self.own: list[int] = []
        self.replies: list[int] = []
        self.ids: list[str] = []
        self.expected = 2 * count
        self.token = ""
        self.conversation_id = ""
        self.stream_url = ""


async def open_conversation(http: httpx.AsyncClient, plan: Plan, conv: Conversation) -> None:
    """Start the conversation with the secret (a token bound to our user comes back)."""
    answer = await http.post(
        plan.base_url + "/conversations",
        headers={"Authorization": f"Bearer {plan.secret}"},
        json={"user": {"id": conv.user}},
    )
    answer.raise_for_status()
    body = answer.json()
    conv.token, conv.conversation_id = body["token"], body["conversationId"]
    conv.stream_url = body["streamUrl"]


async def receive(conv: Conversation, socket_: Any, outcome: Outcome) -> None:
    """Read the stream until every expected activity has come (the caller bounds the time)."""
    with contextlib.suppress(ConnectionClosed):
        async for frame in socket_:
            now = time.monotonic()
            if not frame:
                continue  # keepalive
            for activity in json.loads(frame).get("activities", []):
                if activity.get("type") != "message":
                    continue
                text = activity.get("text") or ""
                if not text.startswith(f"c{conv.index}-"):
                    continue  # a welcome or anything else: not ours to count
                number = int(text.rsplit("-", 1)[1])
                mine = (activity.get("from") or {}).get("id") == conv.user
                (conv.own if mine else conv.replies).append(number)
                conv.ids.append(str(activity.get("id")))
                outcome.delivered += 1
                outcome.latencies.append(now - conv.sent_at[number])
                outcome.last_arrival = max(outcome.last_arrival, now)
            if len(conv.own) + len(conv.replies) >= conv.expected:
                break


def check(conv: Conversation) -> list[str]:
    """Lost, duplicated or reordered deliveries of one conversation."""
    want = list(range(len(conv.sent_at)))
    problems = []
    for name, got in (("own", conv.own), ("reply", conv.replies)):
        if got != want:
            lost = sorted(set(want) - set(got))
            dup = len(got) - len(set(got))
            problems.append(
                f"conversation {conv.index} {name}: lost {lost[:5]}{'...' if len(lost) > 5 else ''}"
                f" duplicated {dup} reordered {sorted(got) == want and got != want}"
            )
    if len(set(conv.ids)) != len(conv.ids):
        problems.append(f"conversation {conv.index}: an activity id arrived twice")
    return problems


async def drive(
    http: httpx.AsyncClient, plan: Plan, conv: Conversation, outcome: Outcome, start: float
) -> None:
    """Post the conversation's activities in order, at the plan's pace."""
    url = f"{plan.base_url}/conversations/{conv.conversation_id}/activities"
    headers = {"Authorization": f"Bearer {conv.token}", "Content-Type": "application/json"}
    stop_at = start + plan.deadline
    for number in range(len(conv.sent_at)):
        if plan.interval:
            due = start + (number + conv.index % 97 / 97) * plan.interval
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        if time.monotonic() > stop_at:
            outcome.problems.append(f"conversation {conv.index}: deadline hit while posting")
            return
        body = {"type": "message", "from": {"id": conv.user}, "text": f"c{conv.index}-{number}"}
        sent = time.monotonic()
        conv.sent_at[number] = sent
        answer = await http.post(url, headers=headers, content=json.dumps(body).encode())
        outcome.posted += 1
        outcome.first_post = min(outcome.first_post, sent)
        outcome.last_post = max(outcome.last_post, time.monotonic())
        if answer.status_code != 200:
            outcome.problems.append(f"conversation {conv.index}: POST {answer.status_code}")
            return


async def worker_main(plan: Plan, ready: Any, go: Any, start_at: Any) -> Outcome:
    """Open the conversations and streams, wait for the go signal, run, check.

    Each conversation gets its own httpx.AsyncClient (one keep-alive connection): one shared
    pool of many connections costs the client O(connections) per request.
    """
    outcome = Outcome()
    convs = [Conversation(i, plan.activities) for i in plan.conversations]
    clients = [httpx.AsyncClient(timeout=TIMEOUT) for _ in convs]
    sockets: list[Any] = []
    try:
        await asyncio.gather(
            *(open_conversation(h, plan, c) for h, c in zip(clients, convs, strict=True))
        )
        for conv in convs:
            sockets.append(
                await connect(
                    conv.stream_url,
                    open_timeout=TIMEOUT,
                    close_timeout=2,
                    max_size=None,
                    compression="deflate" if plan.deflate else None,
                )
            )
        ready.put(len(convs))
        await asyncio.to_thread(go.wait, 60)
        start = start_at.value
        await asyncio.sleep(max(0.0, start - time.monotonic()))
        cpu_before = time.process_time()
        stop_at = start + plan.deadline
        receivers = [
            asyncio.ensure_future(receive(c, s, outcome))
            for c, s in zip(convs, sockets, strict=True)
        ]
        await asyncio.gather(
            *(drive(h, plan, c, outcome, start) for h, c in zip(clients, convs, strict=True))
        )
        _done, late = await asyncio.wait(receivers, timeout=max(0.0, stop_at - time.monotonic()))
        for task in late:
            task.cancel()
        if late:
            outcome.problems.append(f"{len(late)} streams still incomplete at the deadline")
        outcome.cpu = time.process_time() - cpu_before
    finally:
        for sock in sockets:
            await sock.close()
        for client in clients:
            await client.aclose()
    for conv in convs:
        outcome.problems.extend(check(conv))
    return outcome


def worker_entry(plan: Plan, ready: Any, go: Any, start_at: Any, results: Any) -> None:
    """Process entry point: run the worker and send back its outcome."""
    try:
        results.put(asyncio.run(worker_main(plan, ready, go, start_at)))
    except Exception as exc:  # reported by the parent
        ready.put(0)
        results.put(Outcome(problems=[f"worker failed: {exc!r}"]))


def run_load(server: Server, args: argparse.Namespace, interval: float) -> dict[str, Any]:
    """One load phase over `args.workers` processes; the merged figures."""
    ctx = mp.get_context("fork")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    start_at = ctx.Value("d", 0.0)
    shares = [list(range(i, args.conversations, args.workers)) for i in range(args.workers)]
    processes = []
    for share in shares:
        plan = Plan(
            server.base_url,
            server.secret,
            share,
            args.activities,
            interval,
            args.deadline,
            args.deflate,
        )
        process = ctx.Process(target=worker_entry, args=(plan, ready, go, start_at, results))
        process.start()
        processes.append(process)
    opened = 0
    try:
        for _ in processes:
            opened += ready.get(timeout=60)
        start_at.value = time.monotonic() + 0.3
        go.set()
        time.sleep(0.3)
        server_cpu = cpu_seconds(server.pid)
        outcomes = [results.get(timeout=args.deadline + 60) for _ in processes]
        server_cpu = cpu_seconds(server.pid) - server_cpu
    except queue.Empty:
        raise SystemExit("a load worker did not answer in time") from None
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
    problems = [p for o in outcomes for p in o.problems]
    latencies = sorted(x for o in outcomes for x in o.latencies)
    posted = sum(o.posted for o in outcomes)
    delivered = sum(o.delivered for o in outcomes)
    first = min(o.first_post for o in outcomes)
    last_post = max(o.last_post for o in outcomes)
    last_arrival = max(o.last_arrival for o in outcomes)
    expected = 2 * args.conversations * args.activities
    return {
        "streams": opened,
        "posted": posted,
        "delivered": delivered,
        "expected": expected,
        "posted_per_s": posted / max(last_post - first, 1e-9),
        "delivered_per_s": delivered / max(last_arrival - first, 1e-9),
        "p50_ms": percentile(latencies, 50) * 1000,
        "p95_ms": percentile(latencies, 95) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": (latencies[-1] if latencies else float("nan")) * 1000,
        "problems": problems,
        "span": last_arrival - first,
        "server_cpu": server_cpu,
        "load_cpu": sum(o.cpu for o in outcomes),
    }


def percentile(values: list[float], pct: float) -> float:
    """The pct-th percentile of sorted values (nearest rank)."""
    if not values:
        return float("nan")
    rank = max(0, min(len(values) - 1, round(pct / 100 * len(values) + 0.5) - 1))
    return values[rank]


def report_load(name: str, figures: dict[str, Any]) -> None:
    """Print one load phase."""
    ok = figures["delivered"] == figures["expected"] and not figures["problems"]
    print(
        f"{name}: {figures['streams']} streams, posted {figures['posted']} "
        f"({figures['posted_per_s']:.0f}/s), delivered {figures['delivered']}/"
        f"{figures['expected']} ({figures['delivered_per_s']:.0f}/s)"
    )
    print(
        f"{name}: latency POST -> stream p50 {figures['p50_ms']:.1f} ms, "
        f"p95 {figures['p95_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, "
        f"max {figures['max_ms']:.1f} ms"
    )
    span = max(figures["span"], 1e-9)
    print(
        f"{name}: CPU over {span:.1f} s: server {figures['server_cpu']:.1f} s "
        f"({figures['server_cpu'] / span:.0%} of a core), load generator "
        f"{figures['load_cpu']:.1f} s ({figures['load_cpu'] / span:.0%})"
    )
    if figures["server_cpu"] > 0:
        per_post = figures["server_cpu"] / max(figures["posted"], 1)
        print(
            f"{name}: server CPU per posted activity {per_post * 1e6:.0f} us (with its 2 "
            f"deliveries): one free core would deliver ~{2 / per_post:.0f}/s"
        )
    verdict = "none lost, none duplicated, order kept" if ok else "PROBLEMS"
    print(f"{name}: check: {verdict}")
    for problem in figures["problems"][:10]:
        print(f"  {problem}")


# -- idle conversations ------------------------------------------------------------------------
async def start_many(base_url: str, secret: str, count: int, deadline: float) -> int:
    """Start `count` conversations (no streams) with 32 requests in flight; how many started."""
    started = 0
    stop_at = time.monotonic() + deadline
    counter = iter(range(count))

    async def loop(http: httpx.AsyncClient) -> None:
        nonlocal started
        for _ in counter:
            if time.monotonic() > stop_at:
                return
            answer = await http.post(
                base_url + "/conversations", headers={"Authorization": f"Bearer {secret}"}
            )
            started += answer.status_code == 201

    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        await asyncio.gather(*(loop(http) for _ in range(32)))
    return started


def idle_entry(base_url: str, secret: str, count: int, deadline: float, results: Any) -> None:
    """Process entry point of the idle phase."""
    results.put(asyncio.run(start_many(base_url, secret, count, deadline)))


def run_idle(server: Server, args: argparse.Namespace) -> None:
    """Start `--idle` conversations over the worker processes; print the server's RSS."""
    before = memory(server.pid)
    ctx = mp.get_context("fork")
    results = ctx.Queue()
    share = -(-args.idle // args.workers)
    counts = [min(share, args.idle - i * share) for i in range(args.workers)]
    began = time.monotonic()
    processes = [
        ctx.Process(
            target=idle_entry, args=(server.base_url, server.secret, n, args.deadline, results)
        )
        for n in counts
        if n > 0
    ]
    for process in processes:
        process.start()
    try:
        started = sum(results.get(timeout=args.deadline + 30) for _ in processes)
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
    took = time.monotonic() - began
    after = memory(server.pid)
    rate = started / max(took, 1e-9)
    print(f"idle: started {started}/{args.idle} conversations in {took:.1f} s ({rate:.0f}/s)")
    if after:
        print(
            f"idle: server RSS {before['VmRSS']:.0f} MB before, {after['VmRSS']:.0f} MB with "
            f"{started} idle conversations (peak {after['VmHWM']:.0f} MB)"
        )


# -- wrk -----------------------------------------------------------------------------------------
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
wrk.body = '{"type":"message","from":{"id":"wrk-user"},"text":"wrk"}'
"""


def run_wrk(server: Server, args: argparse.Namespace) -> None:
    """Raw POST throughput with wrk (2 threads, 50 connections, --wrk-seconds)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk: not installed (apt-get install -y wrk), skipped")
        return
    answer = httpx.post(
        server.base_url + "/conversations",
        headers={"Authorization": f"Bearer {server.secret}"},
        json={"user": {"id": "wrk-user"}},
        timeout=TIMEOUT,
    )
    body = answer.json()
    url = f"{server.base_url}/conversations/{body['conversationId']}/activities"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % body["token"])
    try:
        command = [wrk, "-t2", "-c50", f"-d{args.wrk_seconds}s", "--timeout", "5s"]
        command += ["-s", script.name, url]
        output = subprocess.run(
            command, capture_output=True, text=True, timeout=args.wrk_seconds + 30, check=False
        ).stdout
    finally:
        os.unlink(script.name)
    lines = [ln.strip() for ln in output.splitlines()]
    wanted = ("Requests/sec", "Latency", "Non-2xx", "Socket errors")
    for line in lines:
        if line.startswith(wanted):
            print(f"wrk (POST activity, 2 threads, 50 connections): {line}")


# -- main --------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """Parse the options, run the phases, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", help="base URL ending in /v3/directline (default: start one)")
    parser.add_argument("--secret-env", default="DIRECTLINE_SECRET", help="secret's variable")
    parser.add_argument("--server-pid", type=int, help="pid of the target, to read its memory")
    parser.add_argument("--mode", choices=("all", "max", "paced", "idle", "wrk"), default="all")
    parser.add_argument("-n", "--conversations", type=int, default=100)
    parser.add_argument("-m", "--activities", type=int, default=20)
    parser.add_argument("-w", "--workers", type=int, default=8, help="load processes")
    parser.add_argument(
        "--no-deflate",
        dest="deflate",
        action="store_false",
        help="streams without permessage-deflate (default: offered, as browsers do)",
    )
    parser.add_argument("--rate", type=float, help="paced: delivered/s (default: half of max)")
    parser.add_argument("--idle", type=int, default=10_000, help="idle conversations")
    parser.add_argument("--deadline", type=float, default=60.0, help="seconds per phase")
    parser.add_argument("--wrk-seconds", type=int, default=10)
    args = parser.parse_args(argv)
    args.workers = max(1, min(args.workers, args.conversations))

    def target() -> Server:
        if args.target:
            secret = os.environ.get(args.secret_env)
            if not secret:
                raise SystemExit(f"set ${args.secret_env} to the target's secret")
            return Server(args.target.rstrip("/"), secret, args.server_pid)
        return start_reference()

    print(
        f"load generator: {args.workers} processes x (asyncio + httpx.AsyncClient + websockets), "
        f"{os.cpu_count()} CPUs shared with the server"
    )
    print(f"machine load average before the run: {os.getloadavg()[0]:.1f}")
    phases = ("max", "paced", "wrk", "idle") if args.mode == "all" else (args.mode,)
    max_rate: float | None = None
    server = target()
    print(f"target: {server.base_url} (server pid {server.pid or 'unknown'})")
    try:
        for phase in phases:
            if phase == "max":
                figures = run_load(server, args, 0.0)
                max_rate = figures["delivered_per_s"]
                report_load(f"max ({args.conversations} x {args.activities})", figures)
            elif phase == "paced":
                rate = args.rate or (max_rate / 2 if max_rate else 1000.0)
                interval = 2 * args.conversations / rate  # two deliveries per post
                figures = run_load(server, args, interval)
                report_load(f"paced at {rate:.0f} delivered/s", figures)
            elif phase == "wrk":
                run_wrk(server, args)
            elif phase == "idle":
                if server.process is not None and args.mode == "all":
                    print(f"server peak RSS after the load phases: {memory(server.pid)}")
                    server.stop()
                    server = target()
                run_idle(server, args)
        figures_mem = memory(server.pid)
        if figures_mem:
            print(f"server peak RSS (VmHWM): {figures_mem['VmHWM']:.0f} MB")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
