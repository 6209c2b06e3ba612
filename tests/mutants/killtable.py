"""The kill table: run the suite against every mutant and say which ones it caught.

``python -m tests.mutants`` (from a source checkout; ``tox -e mutants``) prints it: the mutants
are the kit's own tests, not part of the installed package. A mutant is *killed* when the suite
fails exactly the requirements it declares; *survived* when none of them failed (the check
could not fail: a defect of the suite); *partial* when only some did; *over-killed* when other
requirements failed too (a check blames the wrong rule); *killed by other tests* when the
requirements are right but a test the mutant names (``tests=``, the Hypothesis property it
proves) did not fail.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.mutants.catalogue import MUTANTS
from tests.mutants.framework import (
    Mutant,
    mutant_config,
    new_secret,
    run_suite,
    timing_requirements,
)

__all__ = ["KillResult", "main", "run_mutant"]


@dataclass
class KillResult:
    """What the suite did against one mutant."""

    mutant: Mutant
    failed: frozenset[str]
    seconds: float
    error: str = ""
    failed_tests: frozenset[str] = frozenset()

    @property
    def status(self) -> str:
        if self.error:
            return "error"
        if self.failed == self.mutant.breaks:
            missing = set(self.mutant.tests) - self.failed_tests
            return (
                f"killed by other tests (not {', '.join(sorted(missing))})" if missing else "killed"
            )
        if not self.failed & self.mutant.breaks:
            return "survived"
        if self.mutant.breaks - self.failed:
            return "partial"
        return "over-killed"


def run_mutant(mutant: Mutant) -> KillResult:
    """Serve one mutant and run its suite modules against it."""
    started = time.monotonic()
    secret = new_secret()
    with tempfile.TemporaryDirectory(prefix="dl-mutant-") as folder:
        try:
            run = run_suite(
                mutant.build(mutant_config(mutant, secret)),
                secret=secret,
                modules=mutant.modules,
                workdir=Path(folder),
                end_of_conversation=mutant.end_of_conversation,
                skip_timing=not mutant.breaks & timing_requirements(),
                timings=mutant.profile_timings,
            )
        except Exception as exc:  # one broken run must not hide the rest of the table
            return KillResult(mutant, frozenset(), time.monotonic() - started, f"{exc}"[:300])
    return KillResult(
        mutant,
        frozenset(run.with_verdict("fail")),
        time.monotonic() - started,
        failed_tests=run.failed_tests,
    )


def render(results: Sequence[KillResult], markdown: bool) -> str:
    """The table, one row per mutant, then a one-line total."""
    rows = [
        (
            r.mutant.name,
            ", ".join(sorted(r.mutant.breaks)),
            ", ".join(sorted(r.failed)) or "-",
            r.status + (f" ({r.error})" if r.error else ""),
        )
        for r in results
    ]
    header = ("mutant", "must fail", "failed", "result")
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|---|---|---|---|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    else:
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
        lines = [
            "  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row))
            for row in [header, *rows]
        ]
    killed = sum(1 for r in results if r.status == "killed")
    lines.append(f"\n{killed}/{len(results)} mutants killed by exactly their requirements")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.mutants",
        description="Run the suite against every mutant and print the kill table.",
    )
    parser.add_argument("-k", metavar="TEXT", help="only mutants whose name contains TEXT")
    parser.add_argument("--workers", type=int, default=4, help="mutants run at once (default 4)")
    parser.add_argument("--format", choices=("text", "markdown"), default="text")
    options = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if not options.k or options.k.lower() in m.name.lower()]
    if not chosen:
        print(f"no mutant matches {options.k!r}", file=sys.stderr)
        return 2
    timing_requirements()  # import the suite once, before the threads do
    with ThreadPoolExecutor(max_workers=max(1, options.workers)) as pool:
        results = list(pool.map(run_mutant, chosen))
    print(render(results, options.format == "markdown"))
    return 0 if all(r.status == "killed" for r in results) else 1
