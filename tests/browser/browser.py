"""Headless Chromium (the system's, driven by Playwright) and Web Chat as a person sees it.

Nothing is downloaded at run time: Playwright is pointed at the Debian `chromium` binary
(`apt-get install chromium`), started with the flags that keep it off the network (without
them it waits on Google hosts the closed network never answers) and a fresh profile of its
own (Playwright gives every launch a new temporary `--user-data-dir`).

`Chat` reads the page the way a person reads it: the transcript's bubbles (who said what,
the status line under each, the file links), the typing indicator, the send box.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT = 15.0
"""Seconds any one thing a person waits for may take (page load, a reply)."""
LAUNCH_TIMEOUT_MS = 30_000
ONLINE = 2
"""DirectLineJS's ConnectionStatus.Online."""

_TRANSCRIPT_JS = """() => [
  ...document.querySelectorAll('article.webchat__basic-transcript__activity')
].map((article) => {
    const content = article.querySelector('.webchat__stacked-layout__content');
    const status = article.querySelector('.webchat__activity-status');
    return {
      who: article.querySelector('.webchat__stacked-layout--from-user') ? 'user' : 'bot',
      text: content ? content.innerText : '',
      status: status ? status.innerText : '',
      links: [...article.querySelectorAll('a[href]')].map((a) => a.href),
      cards: article.querySelectorAll('.ac-adaptiveCard').length
    };
  })"""


def chromium_path() -> str | None:
    """The system Chromium: $DIRECTLINE_CHROMIUM, else `chromium` / `chromium-browser` on PATH."""
    named = os.environ.get("DIRECTLINE_CHROMIUM")
    if named:
        return named if Path(named).is_file() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def unavailable() -> str | None:
    """Why the browser tests cannot run here (one line), or None when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "the Python package playwright is missing: pip install -e '.[dev]'"
    named = os.environ.get("DIRECTLINE_CHROMIUM")
    if named and chromium_path() is None:
        return f"DIRECTLINE_CHROMIUM names {named}, which is not a file"
    if chromium_path() is None:
        return (
            "no system Chromium: apt-get install -y --no-install-recommends chromium "
            "(or set DIRECTLINE_CHROMIUM to its path)"
        )
    return None


@dataclass(frozen=True)
class Bubble:
    """One activity of the transcript, as rendered."""

    who: str  # "bot" or "user"
    text: str  # what the bubble shows, including Web Chat's "Bot said:" / "You said:" label
    status: str  # the line under it: a time, "Sending", "Send failed. Retry."
    links: tuple[str, ...]
    cards: int  # rendered Adaptive Cards

    @property
    def failed(self) -> bool:
        return "Send failed" in self.status

    def says(self, text: str) -> bool:
        """The bubble shows exactly this message text (one of its lines)."""
        return text in self.text.splitlines()


@dataclass
class Chat:
    """One Web Chat page in one browser context: read it, type into it, keep its console."""

    page: Any  # playwright.sync_api.Page
    url: str
    console: list[str] = field(default_factory=list)

    def open(self) -> None:
        self.page.on("console", lambda message: self.console.append(_console_line(message)))
        self.page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))
        self.page.goto(self.url, timeout=WAIT * 1000)

    # Reading ---------------------------------------------------------------------------

    def transcript(self) -> list[Bubble]:
        rows = self.page.evaluate(_TRANSCRIPT_JS)
        return [
            Bubble(r["who"], r["text"], r["status"], tuple(r["links"]), int(r["cards"]))
            for r in rows
        ]

    def typing_shown(self) -> bool:
        """Web Chat's typing indicator is on screen."""
        indicator = self.page.locator(".webchat__typing-indicator")
        return indicator.count() > 0 and indicator.first.is_visible()

    def statuses(self) -> list[int]:
        """DirectLineJS ConnectionStatus values, in the order the page saw them."""
        return list(self.page.evaluate("() => window.directLineStatuses || []"))

    def conversation_id(self) -> str | None:
        value = self.page.evaluate("() => window.directLine && window.directLine.conversationId")
        return value if isinstance(value, str) and value else None

    def wait_online(self, timeout: float = WAIT) -> None:
        """DirectLineJS says Online (the conversation started), then a moment for the page
        to settle (the greeting, when the bot sends one, comes in that moment)."""
        deadline = time.monotonic() + timeout
        while ONLINE not in self.statuses():
            if time.monotonic() > deadline:
                raise ChatTimeout(f"not online within {timeout:g} s (statuses {self.statuses()})")
            self.page.wait_for_timeout(100)
        self.page.wait_for_timeout(500)

    def wait_for_console(self, text: str, timeout: float = WAIT) -> str:
        """The first console line holding `text`, within `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            line = next((line for line in self.console if text in line), None)
            if line is not None:
                return line
            if time.monotonic() > deadline:
                raise ChatTimeout(f"no console line with {text!r} within {timeout:g} s")
            self.page.wait_for_timeout(100)

    def wait_for(
        self, found: Callable[[list[Bubble]], Any], what: str, timeout: float = WAIT
    ) -> Any:
        """The first truthy `found(transcript)` within `timeout` s; ChatTimeout otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            value = found(self.transcript())
            if value:
                return value
            if time.monotonic() > deadline:
                raise ChatTimeout(f"{what}: not seen within {timeout:g} s ({self.summary()})")
            self.page.wait_for_timeout(100)

    def wait_for_bubble(self, who: str, text: str, timeout: float = WAIT) -> Bubble:
        bubble: Bubble = self.wait_for(
            lambda bubbles: next((b for b in bubbles if b.who == who and b.says(text)), None),
            f"the {who}'s {text!r}",
            timeout,
        )
        return bubble

    def summary(self) -> str:
        """The transcript in one line, for failure messages (a send's trouble included)."""
        shown = []
        for bubble in self.transcript():
            text = " / ".join(line for line in bubble.text.splitlines()[1:] if line)
            trouble = f" [{bubble.status}]" if "Send" in bubble.status else ""
            shown.append(f"{bubble.who}: {text}{trouble}")
        return "transcript: " + (" | ".join(shown) if shown else "empty")

    # Acting ----------------------------------------------------------------------------

    def send(self, text: str) -> None:
        """Type into the send box and press Enter, as a person does."""
        box = self.page.get_by_role("textbox")
        box.fill(text, timeout=WAIT * 1000)
        box.press("Enter")

    def attach(self, name: str, data: bytes, mime_type: str) -> None:
        """Pick a file through Web Chat's attachment button (its file input)."""
        picker = self.page.locator("input[type=file]")
        picker.set_input_files(
            files=[{"name": name, "mimeType": mime_type, "buffer": data}], timeout=WAIT * 1000
        )

    # Evidence --------------------------------------------------------------------------

    def save(self, directory: Path, stem: str) -> list[Path]:
        """A screenshot, the browser console and the transcript, named after `stem`."""
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        with contextlib.suppress(Exception):  # a crashed page still leaves its console
            shot = directory / f"{stem}.png"
            self.page.screenshot(path=str(shot), timeout=WAIT * 1000)
            written.append(shot)
        console = directory / f"{stem}.console.txt"
        console.write_text("\n".join(self.console) + "\n", encoding="utf-8")
        written.append(console)
        with contextlib.suppress(Exception):
            rows = [b.__dict__ for b in self.transcript()]
            transcript = directory / f"{stem}.transcript.json"
            transcript.write_text(json.dumps(rows, indent=1, ensure_ascii=False), "utf-8")
            written.append(transcript)
        return written


class ChatTimeout(AssertionError):
    """Something a person waits for did not show up in time (the message says what was seen)."""


def _console_line(message: Any) -> str:
    return f"{message.type}: {message.text}"


@contextlib.contextmanager
def launch() -> Iterator[Any]:
    """The system Chromium, headless, off the network; closed (with its profile) on exit."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError(unavailable() or "no Chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=FLAGS, headless=True, timeout=LAUNCH_TIMEOUT_MS
        )
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def open_chat(browser: Any, page_origin: str, mode: str, height: int = 720) -> Iterator[Chat]:
    """A new context (no shared storage), one page of Web Chat in `mode` ("websocket" or
    "polling"), 900 px wide; closed on exit."""
    context = browser.new_context(viewport={"width": 900, "height": height})
    context.set_default_timeout(WAIT * 1000)
    try:
        chat = Chat(context.new_page(), f"{page_origin}/?mode={mode}")
        chat.open()
        yield chat
    finally:
        context.close()
