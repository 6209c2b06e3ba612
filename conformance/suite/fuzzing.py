"""What the two Hypothesis modules share: their settings at the run's level and seed, the
conversation an example uses, and stopping at the first harness error.

- **Levels** (conformance.config.costs.FUZZ_LEVELS): ``ci`` runs many derandomized examples,
  each in a conversation of its own; ``live`` runs a few examples from a fixed seed (printed in
  the header, ``--seed`` to change it), all in the test's one conversation, and never shrinks:
  two nights send the same examples, and the plan can count every request.
- **Inconclusive, not failed.** A harness error inside an example (the target stopped
  answering, a step the example needs failed, the run's deadline passed) ends the test at once
  as an error: Hypothesis is not allowed to generate or shrink more examples against a target
  that cannot answer, and a Flaky result is reported as inconclusive by the plugin.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from conformance.client import Conversation, DirectLineClient
from conformance.errors import HarnessError

__all__ = ["ExampleConversations", "Inconclusive", "harnessed", "run_inconclusive_aware"]

F = TypeVar("F", bound=Callable[..., Any])


class Inconclusive(BaseException):
    """Carries a harness error out of Hypothesis, which treats every Exception as a failure
    to shrink: a BaseException ends the run of examples at once."""

    def __init__(self, error: HarnessError) -> None:
        super().__init__(str(error))
        self.error = error


def harnessed(function: F) -> F:
    """Let a harness error raised in ``function`` end the examples at once."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except HarnessError as error:
            raise Inconclusive(error) from None

    return wrapper  # type: ignore[return-value]


def run_inconclusive_aware(run: Callable[[], None]) -> None:
    """Run the examples; a harness error met in one is raised as itself (an error verdict)."""
    try:
        run()
    except Inconclusive as stop:
        raise stop.error from None


class ExampleConversations:
    """The conversation of each example: its own at the ci level (examples cannot disturb each
    other), the test's one at the live level (a few examples must not cost a conversation
    each on a shared service)."""

    def __init__(self, level: str) -> None:
        self.shared = level == "live"
        self._conversation: Conversation | None = None

    def get(self, client: DirectLineClient) -> Conversation:
        if not self.shared:
            return client.new_conversation()
        if self._conversation is None:
            self._conversation = client.new_conversation()
        return self._conversation
