"""Regenerate docs/targets.md: certify each real emulator and print its verdict table.

Run from a checkout with the emulators installed (``npm ci --prefix tests/emulators``):

    python -m tests.emulators.report > docs/targets.md

The table is what the run found, so the doc can never drift from the shipped expectations.
"""

from __future__ import annotations

import sys
import tempfile
from collections import Counter
from pathlib import Path

from tests.emulators.harness import EMULATORS, certify, unavailable

GUIDE = Path(__file__).with_name("targets_guide.md")


def table(name: str) -> str:
    """One emulator's section: run time, verdict counts and one row per requirement."""
    with tempfile.TemporaryDirectory() as folder:
        result = certify(name, Path(folder) / "report")
    if not result.report:
        raise SystemExit(f"{name}: no report (exit {result.returncode}):\n{result.output[-3000:]}")
    counts = Counter(result.verdicts.values())
    lines = [
        f"## {name}",
        "",
        f"Profile `{name}` (`conformance/config/profiles/{name}.toml`), expectations "
        f"`conformance/config/profiles/{name}.expect.toml`; exit status {result.returncode}, "
        f"{result.seconds:.0f} s. Verdicts: "
        + ", ".join(f"{verdict} {n}" for verdict, n in sorted(counts.items()))
        + ".",
        "",
        "| ID | level | title | verdict | reason |",
        "|---|---|---|---|---|",
    ]
    for row in result.report["requirements"]:  # type: ignore[union-attr]
        reason = str(row.get("reason") or "").splitlines()[0:1]
        text = (reason[0] if reason else "").replace("|", "\\|")
        if len(text) > 160:
            text = text[:157] + "..."
        lines.append(
            f"| {row['id']} | {row['level']} | {row['title']} | {row['verdict']} | {text} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    """Print the whole document (the hand-written guide, then one table per emulator)."""
    why = unavailable()
    if why:
        print(why, file=sys.stderr)
        return 2
    print(GUIDE.read_text(encoding="utf-8"))
    for name in sorted(EMULATORS):
        print(table(name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
