"""Start the real open-source Direct Line emulators on loopback and certify them with the kit.

Each emulator runs from its npm package (``tests/emulators/package.json``, installed with
``npm ci --prefix tests/emulators``, or into another folder named by ``DIRECTLINE_EMULATORS_DIR``)
through a small Node script that mounts its router on a server bound to 127.0.0.1. Every process
is started in its own process group and killed as a group on the way out, and every wait is
bounded, so a run can neither hang nor leave a process behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
#: Seconds an emulator or the bot may take to print its ready line.
START_TIMEOUT = 30.0
#: Seconds a whole certification run may take (the emulators' profiles keep it near 30 s).
RUN_TIMEOUT = 300.0
#: The hypothesis modules (test_conversation_machine, test_fuzz_activities) are still being
#: written by another issue; against the emulators they shrink failures for minutes. Left out
#: here until their budget and the emulators' expectations for them are settled.
SELECTION = "not conversation_machine and not fuzz_activities"


@dataclass(frozen=True)
class Emulator:
    """One emulator: its built-in profile name, its Node start script, whether it needs a bot."""

    profile: str
    script: str
    needs_bot: bool
    package: str


EMULATORS: dict[str, Emulator] = {
    "offline-directline": Emulator(
        "offline-directline", "offline_directline.js", True, "offline-directline"
    ),
    "nlpjs": Emulator("nlpjs", "nlpjs.js", True, "@nlpjs/directline-connector"),
}


def modules_dir() -> Path:
    """Where the npm packages are installed (a ``node_modules`` folder)."""
    prefix = os.environ.get("DIRECTLINE_EMULATORS_DIR")
    return (Path(prefix) if prefix else HERE) / "node_modules"


def unavailable() -> str | None:
    """Why the emulators cannot run here, or None when they can."""
    if not shutil.which("node") or not shutil.which("npm"):
        return "node/npm not on PATH: the real emulators cannot run on this machine"
    missing = [e.package for e in EMULATORS.values() if not (modules_dir() / e.package).is_dir()]
    if missing:
        return (
            f"emulator packages not installed in {modules_dir()} ({', '.join(missing)}): "
            "run `npm ci --prefix tests/emulators`"
        )
    return None


class Process:
    """A child in its own process group, with its output collected by a reader thread."""

    def __init__(self, args: list[str], *, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.lines: list[str] = []
        self._ready = threading.Event()
        self.popen = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=str(REPO),
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, args=(self.popen.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str] | None) -> None:
        if stream is None:
            return
        for line in stream:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("READY "):
                self._ready.set()
        self._ready.set()  # the process ended: stop waiting

    def ready_url(self, timeout: float = START_TIMEOUT) -> str:
        """The URL of the ``READY <url>`` line, waiting at most ``timeout`` seconds."""
        self._ready.wait(timeout)
        for line in self.lines:
            if line.startswith("READY "):
                return line.split(" ", 1)[1].strip()
        output = "\n".join(self.lines[-20:])
        raise RuntimeError(f"{' '.join(self.args)} did not start within {timeout} s:\n{output}")

    def stop(self) -> None:
        """Kill the whole process group (a Node child would otherwise outlive us)."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
        self._reader.join(timeout=5)


@dataclass
class Running:
    """A started emulator: its base URL and its processes (the emulator last)."""

    url: str
    processes: list[Process]


@contextlib.contextmanager
def running(name: str) -> Iterator[Running]:
    """Run emulator ``name`` (and the kit's test bot behind it) on loopback; yield where it is."""
    emulator = EMULATORS[name]
    started: list[Process] = []
    env = dict(os.environ, NODE_PATH=str(modules_dir()))
    try:
        args = ["node", str(HERE / emulator.script), "--port", "0", "--parent", str(os.getpid())]
        if emulator.needs_bot:
            # the shipped test bot, as the profiles assume: `directline-conformance bot`
            bot_args = ["-m", "conformance.cli", "bot", "--port", "0"]
            bot = Process([sys.executable, *bot_args, "--parent", str(os.getpid())])
            started.append(bot)
            args += ["--bot-url", bot.ready_url()]
        process = Process(args, env=env)
        started.append(process)
        yield Running(process.ready_url(), started)
    finally:
        for process in reversed(started):
            process.stop()


@dataclass
class Certification:
    """What one run against an emulator gave: exit status, verdicts, output and wall time."""

    name: str
    returncode: int
    verdicts: dict[str, str]
    report: dict[str, object]
    output: str
    seconds: float


def certify(name: str, report_dir: Path, *extra: str) -> Certification:
    """Run the suite (one process, the emulator's built-in profile and expectations) against
    emulator ``name``; the run itself is bounded by RUN_TIMEOUT."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DIRECTLINE_")}
    environment["DIRECTLINE_SECRET"] = "emulators-check-no-credentials"
    started = time.monotonic()
    with running(name) as emulator:
        result = subprocess.run(
            [sys.executable, "-m", "conformance.cli", "run", "-n", "0", "-q",
             "--target", emulator.url, "--profile", EMULATORS[name].profile,
             "--report-dir", str(report_dir), "-k", SELECTION, *extra],
            capture_output=True, text=True, timeout=RUN_TIMEOUT, env=environment,
            cwd=str(REPO), check=False,
        )  # fmt: skip
    seconds = time.monotonic() - started
    path = report_dir / "report.json"
    report = json.loads(path.read_text()) if path.is_file() else {}
    verdicts = {r["id"]: r["verdict"] for r in report.get("requirements", [])}  # type: ignore[union-attr]
    return Certification(
        name, result.returncode, verdicts, report, result.stdout + result.stderr, seconds
    )
