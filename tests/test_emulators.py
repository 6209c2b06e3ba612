"""The suite against the real open-source Direct Line emulators, installed from npm.

Each emulator is started on 127.0.0.1 (tests/emulators/harness.py) and certified with its
built-in profile and the expectations file shipped beside it, strictly: the run must exit 0
(every failure listed, no unexpected pass, no harness error), so a change in the emulator, the
suite or the profile shows up here. Skipped only when node/npm or the packages are missing
(`npm ci --prefix tests/emulators` installs them; .ci/run does).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from conformance.catalog import load_catalog
from conformance.config.expectations import load_expectations
from conformance.config.profile import companion_expectations, load_profile
from tests.emulators.harness import (
    EMULATORS,
    REPO,
    RUN_TIMEOUT,
    certify,
    running,
    unavailable,
)

pytestmark = pytest.mark.skipif(bool(unavailable()), reason=unavailable() or "")


@pytest.mark.parametrize("name", sorted(EMULATORS))
def test_emulator_matches_its_expectations(name: str, tmp_path: Path) -> None:
    result = certify(name, tmp_path / "report")
    counts = Counter(result.verdicts.values())
    print(f"{name}: {result.seconds:.1f} s, {dict(sorted(counts.items()))}")
    assert result.returncode == 0, result.output[-6000:]
    expected = load_expectations(companion_expectations(load_profile(name)), load_catalog())
    failing = {rid for rid, verdict in result.verdicts.items() if verdict == "expected-fail"}
    assert failing == set(expected), "every listed deviation must be seen failing"
    assert "error" not in counts and "unexpected-pass" not in counts
    assert result.report["profile"]["name"] == name  # type: ignore[index]
    assert counts["pass"] > 30, "the emulator must actually be exercised"
    assert result.seconds < 300


def test_a_dead_emulator_is_reported_once(tmp_path: Path) -> None:
    """Kill the emulator after a few tests: one report of the dead target, the rest skipped,
    exit 2, and no process left behind."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DIRECTLINE_")}
    started = time.monotonic()
    with running("nlpjs") as emulator:
        node = emulator.processes[-1]
        process = subprocess.Popen(
            [sys.executable, "-m", "conformance.cli", "run", "-n", "0", "-v", "--target",
             emulator.url, "--profile", "nlpjs", "--report-dir", str(tmp_path),
             "-k", "receive_polling or activity_content"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment,
            cwd=str(REPO), start_new_session=True,
        )  # fmt: skip
        lines: list[str] = []
        try:
            assert process.stdout is not None
            for line in process.stdout:  # bounded: the run ends within its timeouts
                lines.append(line)
                if sum(" PASSED" in x or " FAILED" in x for x in lines) == 3:
                    os.killpg(node.popen.pid, signal.SIGKILL)
            process.wait(timeout=RUN_TIMEOUT)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
    output = "".join(lines)
    print(f"dead-target run: {time.monotonic() - started:.1f} s")
    assert process.returncode == 2, output[-3000:]
    assert output.count("the run stopped early: the target is not answering") == 1, output[-3000:]
    assert node.popen.poll() is not None
