"""The nightly job, dry-run: the whole catalog with the shipped ``live`` profile and its shipped
expectations, the default worker count, against ``serve --behave live`` (the local stand-in for
the hosted service, docs/live-service.md) answering 2% of its polling GETs with a transient 503.

Two runs, each against its own stand-in (the same behaviour, counted at that server), started
together so CI pays for one: each must exit 0 with no requirement in ``error``, stay inside the
budget the README promises (counted at the server, not by the kit), and ``compare`` must find no
change at all between them, as a nightly gate would. A run takes minutes at the profile's 2
requests/s, so these tests carry the ``live`` marker and run in their own tox env
(``tox -e live``), in the background of .ci/run.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.external import serve_process

pytestmark = [pytest.mark.live, pytest.mark.integration]

SECRET = "live-dry-run-secret"
#: Of the polling and reconnect GETs, the fraction the stand-in answers 503 once.
TRANSIENT_ERRORS = "0.02"
#: What a full live-profile run may cost, counted at the server (issue 16; README "Nightly").
BUDGET = {"requests": 500, "conversations": 60, "activities": 150}
#: Far above a run's few minutes: only a hang reaches it.
RUN_TIMEOUT = 900


@dataclass
class StandIn:
    """A running ``serve --behave live`` and the file it counts its traffic into."""

    target: str
    traffic: Path

    def counted(self) -> dict[str, int]:
        return dict(json.loads(self.traffic.read_text(encoding="utf-8")))


@contextlib.contextmanager
def live_stand_in(folder: Path, seed: int) -> Iterator[StandIn]:
    """``serve --behave live`` with transient 503s, in its own process group."""
    traffic = folder / "traffic.json"
    with serve_process(
        ["--behave", "live", "--secret", SECRET, "--transient-errors", TRANSIENT_ERRORS,
         "--transient-seed", str(seed), "--count", str(traffic)],
    ) as target:  # fmt: skip
        yield StandIn(target, traffic)


def start_run(target: str, report: Path) -> subprocess.Popen[str]:
    """The nightly command of the README, as a user types it (default -n, shipped profile)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DIRECTLINE_")}
    environment["DIRECTLINE_SECRET"] = SECRET
    return subprocess.Popen(
        [sys.executable, "-m", "conformance.cli", "run", "--profile", "live", "--target", target,
         "--report-dir", str(report), "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment,
    )  # fmt: skip


@dataclass
class LiveRun:
    code: int
    output: str
    report: dict
    counted: dict[str, int]
    report_dir: Path


@pytest.fixture(scope="module")
def two_nights(tmp_path_factory: pytest.TempPathFactory) -> tuple[LiveRun, LiveRun]:
    """Two full live-profile runs, each against its own stand-in, run side by side."""
    folders = [tmp_path_factory.mktemp(night) for night in ("first", "second")]
    with contextlib.ExitStack() as stack:
        stand_ins = [
            stack.enter_context(live_stand_in(folder, seed)) for seed, folder in enumerate(folders)
        ]
        runs = [
            start_run(stand_in.target, folder / "report")
            for stand_in, folder in zip(stand_ins, folders, strict=True)
        ]
        finished = []
        for process, stand_in, folder in zip(runs, stand_ins, folders, strict=True):
            try:
                output, _ = process.communicate(timeout=RUN_TIMEOUT)
            finally:
                if process.poll() is None:
                    process.kill()
            report = json.loads((folder / "report" / "report.json").read_text(encoding="utf-8"))
            finished.append(
                LiveRun(process.returncode, output, report, stand_in.counted(), folder / "report")
            )
    return finished[0], finished[1]


def test_a_full_live_run_passes_with_no_error(two_nights: tuple[LiveRun, LiveRun]) -> None:
    for night in two_nights:
        errors = [r["id"] for r in night.report["requirements"] if r["verdict"] == "error"]
        assert night.code == 0, night.output[-6000:]
        assert errors == [], night.output[-6000:]
        assert night.report["profile"]["name"] == "live"
        assert night.report["stopped"] is None


def test_a_full_live_run_stays_in_its_budget(two_nights: tuple[LiveRun, LiveRun]) -> None:
    """Counted at the server: what the kit's own meter says is not the evidence."""
    for night in two_nights:
        over = {
            what: (night.counted[what], most)
            for what, most in BUDGET.items()
            if night.counted[what] > most
        }
        assert not over, f"over the budget (counted, allowed): {over}"


def test_no_test_sends_more_than_it_declares(two_nights: tuple[LiveRun, LiveRun]) -> None:
    """The plan audit: the budget holds because each test keeps to its cost marker."""
    for night in two_nights:
        over = {t["nodeid"]: t["overspent"] for t in night.report["tests"] if t["overspent"]}
        assert not over, f"tests over their declared cost: {over}"


def test_two_nights_give_the_same_verdicts(two_nights: tuple[LiveRun, LiveRun]) -> None:
    first, second = two_nights
    result = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "compare",
         str(first.report_dir / "report.json"), str(second.report_dir / "report.json")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    verdicts = [{r["id"]: r["verdict"] for r in n.report["requirements"]} for n in two_nights]
    assert verdicts[0] == verdicts[1]
