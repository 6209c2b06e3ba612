"""What a full nightly run costs: the whole catalog with the shipped `live` profile (its 2
requests/s, default workers) against `serve --behave live` with transient 503s, counted at the
server (`serve --count`), with the wall time and the kit's own plan and meter beside it.

    .venv/bin/python benchmarks/live_cost.py                    # one run
    .venv/bin/python benchmarks/live_cost.py --runs 2           # two in a row, and compare
    .venv/bin/python benchmarks/live_cost.py --transient 0.05   # a flakier stand-in

The budget it is measured against (issue 16, README "Nightly runs"): at most 500 requests, 60
conversations, 150 activities sent to the bot and 6 minutes. Bounded: every run is killed
after `--timeout` seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SECRET = "live-cost-benchmark-secret"
BUDGET = {"requests": 500, "conversations": 60, "activities": 150, "minutes": 6.0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def stand_in(traffic: Path, transient: float, seed: int) -> Iterator[str]:
    """`serve --behave live` counting into ``traffic``; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "conformance.cli", "serve", "--behave", "live", "--port",
         str(port), "--secret", SECRET, "--transient-errors", str(transient),
         "--transient-seed", str(seed), "--count", str(traffic)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if process.poll() is not None:
                raise SystemExit("the live stand-in exited at start-up")
            time.sleep(0.1)
        else:
            raise SystemExit("the live stand-in did not listen within 20 s")
        yield f"http://127.0.0.1:{port}/v3/directline"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


def one_run(folder: Path, transient: float, seed: int, timeout: float) -> dict[str, Any]:
    """One full live-profile run; the server's counts, the wall time, the report's figures."""
    traffic = folder / "traffic.json"
    report_dir = folder / "report"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DIRECTLINE_")}
    environment["DIRECTLINE_SECRET"] = SECRET
    with stand_in(traffic, transient, seed) as target:
        began = time.monotonic()
        try:
            done = subprocess.run(
                [sys.executable, "-m", "conformance.cli", "run", "--profile", "live",
                 "--target", target, "--report-dir", str(report_dir), "-q"],
                capture_output=True, text=True, timeout=timeout, env=environment, check=False,
            )  # fmt: skip
            status: int | str = done.returncode
        except subprocess.TimeoutExpired:
            status = f"killed after {timeout:g} s"
        wall = time.monotonic() - began
    counted = json.loads(traffic.read_text(encoding="utf-8"))
    report_file = report_dir / "report.json"
    report = json.loads(report_file.read_text(encoding="utf-8")) if report_file.exists() else {}
    verdicts = {r["id"]: r["verdict"] for r in report.get("requirements", [])}
    return {
        "status": status,
        "minutes": wall / 60,
        "counted": counted,
        "planned": (report.get("cost") or {}).get("planned") or {},
        "measured": (report.get("cost") or {}).get("measured") or {},
        "verdicts": verdicts,
        "report": report_file,
    }


def show(index: int, run: dict[str, Any]) -> None:
    counted, planned, measured = run["counted"], run["planned"], run["measured"]
    errors = sorted(rid for rid, v in run["verdicts"].items() if v == "error")
    print(f"run {index}: exit {run['status']}, {run['minutes']:.2f} min wall")
    print(
        f"  counted at the server: {counted['requests']} requests, {counted['conversations']} "
        f"conversations, {counted['streams']} streams, {counted['activities']} activities"
    )
    print(
        f"  the kit's meter:       {measured.get('sent_requests', 0)} requests "
        f"(+{measured.get('retries', 0)} retries), {measured.get('sent_conversations', 0)} "
        f"conversations, {measured.get('streams', 0)} streams, "
        f"{measured.get('sent_activities', measured.get('activities', 0))} activities"
    )
    print(
        f"  the plan (at most):    {planned.get('requests')} requests, "
        f"{planned.get('conversations')} conversations, {planned.get('streams')} streams, "
        f"{planned.get('activities')} activities, {planned.get('minutes')} min"
    )
    within = {
        "requests": counted["requests"] <= BUDGET["requests"],
        "conversations": counted["conversations"] <= BUDGET["conversations"],
        "activities": counted["activities"] <= BUDGET["activities"],
        "minutes": run["minutes"] <= BUDGET["minutes"],
    }
    print(f"  within the budget {BUDGET}: {within}")
    print(f"  requirements in error: {errors or 'none'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1, help="runs in a row (default 1)")
    parser.add_argument(
        "--transient", type=float, default=0.02, help="fraction of GETs answered 503 once"
    )
    parser.add_argument("--timeout", type=float, default=1200, help="seconds per run")
    options = parser.parse_args(argv)
    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        for index in range(1, options.runs + 1):
            folder = Path(scratch, f"run{index}")
            folder.mkdir()
            run = one_run(folder, options.transient, index, options.timeout)
            show(index, run)
            runs.append(run)
        if len(runs) > 1:
            compared = subprocess.run(
                [sys.executable, "-m", "conformance.cli", "compare", str(runs[0]["report"]),
                 str(runs[-1]["report"])],
                capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            same = runs[0]["verdicts"] == runs[-1]["verdicts"]
            print(f"compare first and last: exit {compared.returncode}; identical verdicts: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
