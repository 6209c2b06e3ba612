"""Wall time of `directline-conformance run`: the default run, the real-timing run, the smoke run.

The headline of each run is its **overhead**: the wall time minus its longest wait (the longest
protocol wait, which no scheduling can shorten), i.e. what starting workers, collecting, the
reference server, the other tests and writing the reports add to the wait. The longest wait is
the longest clock: the timing tests that wait out one timing run one after another on one
worker with their conversations started together (conformance.plugin.clocks), so a clock lasts
the sum of its tests' durations; or the longest single test, if that is longer. Beside it: the
wall time, the CPU time of the run's processes (user + system, the figure a busy machine
disturbs least), the sum of the test durations, the longest wait (from the report.json written
with `--report-dir`), the exit status, and the machine's load average before the run.

    .venv/bin/python benchmarks/suite_wall.py                  # all three, once each
    .venv/bin/python benchmarks/suite_wall.py default --repeat 3
    .venv/bin/python benchmarks/suite_wall.py -- -n 4          # extra arguments for every run

Bounded: every run is killed after `--timeout` seconds.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CLI = Path(sys.executable).with_name("directline-conformance")
#: name: (flags, target of the wall time, target of the overhead)
RUNS: dict[str, tuple[list[str], str, str]] = {
    "default": ([], "<= 12 s", "<= 2 s"),
    "real": (["--timing", "real"], "<= longest wait + 30 s", "<= 30 s"),
    "smoke": (["-k", "smoke"], "< 5 s", "-"),
}


def timed_run(extra: list[str], timeout: float) -> dict[str, Any]:
    """Run the CLI once; wall time, exit status and the report's per-test durations."""
    with tempfile.TemporaryDirectory() as report_dir:
        command = [str(CLI), "run", "-q", "--report-dir", report_dir, *extra]
        load = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.monotonic()
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
            status: int | str = done.returncode
        except subprocess.TimeoutExpired:
            status = f"killed after {timeout:g} s"
        wall = time.monotonic() - began
        # the CLI waits for its pytest-xdist workers, so their CPU is counted in its children
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        report = Path(report_dir, "report.json")
        tests = json.loads(report.read_text())["tests"] if report.exists() else []
    durations = [(float(t.get("duration") or 0.0), t["nodeid"]) for t in tests]
    spans: dict[str, float] = {}
    for duration, nodeid in durations:
        clock = clock_of(nodeid)
        if clock is not None:
            spans[clock] = spans.get(clock, 0.0) + duration
    longest = max(
        [*durations, *((span, f"the {clock} clock") for clock, span in spans.items())],
        default=(0.0, "-"),
    )
    return {
        "wall": wall,
        "cpu": cpu,
        "load": load,
        "overhead": wall - longest[0],
        "status": status,
        "tests": len(tests),
        "sum": sum(d for d, _ in durations),
        "longest": longest,
    }


def clock_of(nodeid: str) -> str | None:
    """The clock of a packaged suite test, read off its markers (None: it has none)."""
    module_path, _, name = nodeid.partition("::")
    module = importlib.import_module(module_path.removesuffix(".py").replace("/", "."))
    function = getattr(module, name.split("[", 1)[0], None)
    marks = {mark.name: mark for mark in getattr(function, "pytestmark", [])}
    if "slow" not in marks or "cost" not in marks:
        return None
    timing = marks["cost"].kwargs.get("wait")
    return str(timing) if timing else None


def byte_compile_the_kit() -> None:
    """Write the kit's .pyc files, as installing it does: in a checkout run with
    PYTHONDONTWRITEBYTECODE set, every worker would compile the kit's modules again."""
    import compileall

    import conformance

    compileall.compile_dir(Path(conformance.__file__).parent, quiet=1)


def main(argv: list[str] | None = None) -> int:
    """Time the chosen runs and print one block per run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", help=f"any of {', '.join(RUNS)} (default: all)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per run")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each kind (default 1)")
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1 :]
    args = parser.parse_args(argv)
    unknown = [name for name in args.runs if name not in RUNS]
    if unknown:
        parser.error(f"unknown run {unknown[0]!r}: choose from {', '.join(RUNS)}")
    byte_compile_the_kit()
    print(f"{os.cpu_count()} CPUs, machine load average before the runs: {os.getloadavg()[0]:.1f}")
    for name in args.runs or list(RUNS):
        flags, target, overhead_target = RUNS[name]
        print(f"{name}: `directline-conformance run {' '.join([*flags, *extra])}`".rstrip())
        for _ in range(max(1, args.repeat)):
            figures = timed_run([*flags, *extra], args.timeout)
            longest, nodeid = figures["longest"]
            print(
                f"  overhead {figures['overhead']:5.1f} s (target {overhead_target})   "
                f"wall {figures['wall']:5.1f} s (target {target})   "
                f"CPU {figures['cpu']:5.1f} s   load {figures['load']:4.1f}"
            )
            print(
                f"    {figures['tests']} tests, exit status {figures['status']}; sum of "
                f"durations {figures['sum']:.1f} s; longest wait {longest:.1f} s: {nodeid}"
            )
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
