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
from .checks import CHECKS, Outcome, card, echo, run_check, upload, welcome
from .targets import TARGETS, Target, serve_target

MODES = ("websocket", "polling")


def tour(chat: Chat, target: Target) -> list[Outcome]:
    """One conversation a person would have: greeting, a message, a card, a file."""
    return [welcome(chat, target), echo(chat, target), card(chat, target), upload(chat, target)]


def matrix(targets: list[str], screenshot: Path | None) -> list[tuple[str, str, dict[str, str]]]:
    """Every check on a freshly started target (one check may break an emulator for the
    next: an upload kills the NLP.js connector)."""
    rows = []
    with launch() as browser:
        if screenshot is not None:
            with (
                serve_target("reference") as target,
                open_chat(browser, target.page_origin, "websocket", 1000) as chat,
            ):
                bad = [o.detail for o in tour(chat, target) if not o.ok]
                if bad:
                    raise SystemExit(f"report: the conversation for the screenshot failed: {bad}")
                chat.page.wait_for_timeout(500)
                chat.page.screenshot(path=str(screenshot))
        for name in targets:
            for mode in MODES:
                cells = {}
                for title, check in CHECKS.items():
                    with (
                        serve_target(name) as target,
                        open_chat(browser, target.page_origin, mode) as chat,
                    ):
                        cells[title] = run_check(check, chat, target, mode).cell()
                    print(f"{name} {mode} {title}: {cells[title]}", file=sys.stderr)
                rows.append((name, mode, cells))
    return rows


def markdown(rows: list[tuple[str, str, dict[str, str]]]) -> str:
    """The table (yes / no / n/a per target, mode and check), then what was seen wherever
    the answer is not a plain yes."""
    titles = list(CHECKS)
    lines = [
        "| target | mode | " + " | ".join(titles) + " |",
        "|---|---|" + "---|" * len(titles),
    ]
    seen = []
    for name, mode, cells in rows:
        words = [cells[t].split(":", 1)[0] for t in titles]
        lines.append(f"| {name} | {mode} | " + " | ".join(words) + " |")
        for title in titles:
            word, detail = cells[title].split(": ", 1)
            if word != "yes":
                seen.append(f"- {name}, {mode}, {title}: {word}: {detail}")
    return "\n".join([*lines, "", "What was seen where the answer is not yes:", "", *seen])


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
