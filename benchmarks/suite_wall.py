"""Wall time of `directline-conformance run`: the default run, the real-timing run, the smoke run.

For each run it prints the wall time, the sum of the test durations and the longest single
test (both from the report.json written with `--report-dir`), and the exit status. The
real-timing run waits out the spec's 60 s stream window, so its target is "longest wait + 30 s".

    .venv/bin/python benchmarks/suite_wall.py              # all three
    .venv/bin/python benchmarks/suite_wall.py default smoke
    .venv/bin/python benchmarks/suite_wall.py -- -n 4      # extra arguments for every run

Bounded: every run is killed after `--timeout` seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CLI = Path(sys.executable).with_name("directline-conformance")
RUNS: dict[str, tuple[list[str], str]] = {
    "default": ([], "<= 30 s"),
    "real": (["--timing", "real"], "<= longest wait + 30 s"),
    "smoke": (["-k", "smoke"], "< 5 s"),
}


def timed_run(extra: list[str], timeout: float) -> dict[str, Any]:
    """Run the CLI once; wall time, exit status and the report's per-test durations."""
    with tempfile.TemporaryDirectory() as report_dir:
        command = [str(CLI), "run", "-q", "--report-dir", report_dir, *extra]
        began = time.monotonic()
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
            status: int | str = done.returncode
        except subprocess.TimeoutExpired:
            status = f"killed after {timeout:g} s"
        wall = time.monotonic() - began
        report = Path(report_dir, "report.json")
        tests = json.loads(report.read_text())["tests"] if report.exists() else []
    durations = [(float(t.get("duration") or 0.0), t["nodeid"]) for t in tests]
    longest = max(durations, default=(0.0, "-"))
    return {
        "wall": wall,
        "status": status,
        "tests": len(tests),
        "sum": sum(d for d, _ in durations),
        "longest": longest,
    }


def main(argv: list[str] | None = None) -> int:
    """Time the chosen runs and print one block per run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", help=f"any of {', '.join(RUNS)} (default: all)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per run")
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1 :]
    args = parser.parse_args(argv)
    unknown = [name for name in args.runs if name not in RUNS]
    if unknown:
        parser.error(f"unknown run {unknown[0]!r}: choose from {', '.join(RUNS)}")
    print(f"{os.cpu_count()} CPUs, machine load average before the runs: {os.getloadavg()[0]:.1f}")
    for name in args.runs or list(RUNS):
        flags, target = RUNS[name]
        figures = timed_run([*flags, *extra], args.timeout)
        longest, nodeid = figures["longest"]
        print(f"{name}: `directline-conformance run {' '.join([*flags, *extra])}`".rstrip())
        print(f"  wall time        {figures['wall']:7.1f} s   (target {target})")
        print(f"  tests            {figures['tests']:7d}     exit status {figures['status']}")
        print(f"  sum of durations {figures['sum']:7.1f} s")
        print(f"  longest test     {longest:7.1f} s   {nodeid}")
        if name == "real":
            print(f"  wall - longest   {figures['wall'] - longest:7.1f} s   (target <= 30 s)")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
