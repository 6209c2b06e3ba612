"""Run every check against every target in both modes; print docs/webchat.md's table.

    python -m tests.browser.report [--targets reference,live] [--screenshot docs/webchat.png]

Needs Chromium, `npm ci --prefix tests/browser`, and for the emulators
`npm ci --prefix tests/emulators`. Each check runs in a new browser context on a new
conversation. `--screenshot` also saves the picture of a conversation with the reference
server (the one docs/webchat.md shows): see `tour`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .browser import Chat, launch, open_chat, unavailable
from .checks import CHECKS, Outcome, card, echo, run_check, upload
from .targets import TARGETS, Target, serve_target

MODES = ("websocket", "polling")


def tour(chat: Chat, target: Target) -> list[Outcome]:
    """One conversation a person would have: greeting, a message, a card, a file."""
    return [echo(chat, target), card(chat, target), upload(chat, target)]


def matrix(targets: list[str], screenshot: Path | None) -> list[tuple[str, str, dict[str, str]]]:
    rows = []
    with launch() as browser:
        for name in targets:
            with serve_target(name) as target:
                if screenshot is not None and name == "reference":
                    with open_chat(browser, target.page_origin, "websocket") as chat:
                        bad = [o for o in tour(chat, target) if not o.ok]
                        if bad:
                            raise SystemExit(f"the tour failed: {bad}")
                        chat.page.wait_for_timeout(500)
                        chat.page.screenshot(path=str(screenshot))
                for mode in MODES:
                    cells = {}
                    for title, check in CHECKS.items():
                        with open_chat(browser, target.page_origin, mode) as chat:
                            cells[title] = run_check(check, chat, target, mode).cell()
                        print(f"{name} {mode} {title}: {cells[title]}", file=sys.stderr)
                    rows.append((name, mode, cells))
    return rows


def markdown(rows: list[tuple[str, str, dict[str, str]]]) -> str:
    titles = list(CHECKS)
    lines = [
        "| target | mode | " + " | ".join(titles) + " |",
        "|---|---|" + "---|" * len(titles),
    ]
    for name, mode, cells in rows:
        values = [cells[t].replace("|", "/") for t in titles]
        lines.append(f"| {name} | {mode} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.browser.report", description=__doc__)
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated")
    parser.add_argument("--screenshot", type=Path, help="save the reference conversation here")
    options = parser.parse_args(argv)
    reason = unavailable()
    if reason:
        print(f"report: {reason}", file=sys.stderr)
        return 2
    names = [n for n in options.targets.split(",") if n]
    unknown = [n for n in names if n not in (*TARGETS, "cors-mutant")]
    if unknown:
        print(f"report: unknown target(s) {', '.join(unknown)}", file=sys.stderr)
        return 2
    print(markdown(matrix(names, options.screenshot)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
