"""The preflight: before the first test, make sure the target is a Direct Line service at all.

One start (and, where the profile has tokens, one generate) must answer the way Direct Line
does: a 2xx JSON object with a usable ``conversationId`` string, or a Direct Line error body.
Anything else (nothing listening, no answer, a 404, an HTML page, a body that is not JSON, a 5xx,
a refused secret) stops the run with exit status 2 and one line saying what came back and what
to check. No test runs and nothing is judged: a verdict on a web server that is not Direct Line,
or on a wrong URL, would only be noise.
"""

from __future__ import annotations

from collections.abc import Callable

from conformance.client import DirectLineClient
from conformance.client.wire import id_problem
from conformance.errors import ConfigError, TargetError, TargetTimeout, TargetUnreachable
from conformance.evidence import Exchange
from conformance.expect import not_direct_line
from conformance.profile import Profile

__all__ = ["BASE_PATH_HINT", "preflight"]

BASE_PATH_HINT = "is the base URL the one ending in /v3/directline?"


def preflight(client: DirectLineClient, profile: Profile, *, secret_flag: str) -> None:
    """Raise ConfigError (one line) unless the target answers like a Direct Line service."""
    probes: list[tuple[str, Callable[[], Exchange]]] = [
        ("POST /conversations", lambda: client.start_conversation())
    ]
    if profile.supports("tokens") and profile.supports("auth"):
        probes.append(("POST /tokens/generate", lambda: client.generate_token()))
    refused: list[Exchange] = []
    for _name, send in probes:
        try:
            answer = send()
        except TargetTimeout as exc:
            raise ConfigError(
                f"target {client.base_url} cannot be used: {exc} (is it up, and is "
                f"{client.base_url} its Direct Line base URL?)"
            ) from None
        except TargetUnreachable as exc:
            raise ConfigError(
                f"target {client.base_url} cannot be used: {exc} (is it running there?)"
            ) from None
        except TargetError as exc:
            raise ConfigError(f"target {client.base_url} cannot be used: {exc}") from None
        problem = _problem(answer, profile)
        if problem == "refused":
            refused.append(answer)
            continue
        if problem:
            raise ConfigError(f"target {client.base_url} is not usable as Direct Line: {problem}")
    if refused and len(refused) == len(probes):
        statuses = " and ".join(f"{_what(a)} answered {a.status}" for a in refused)
        raise ConfigError(
            f"target {client.base_url} refused the secret: {statuses} (check the secret, or "
            f"name the variable that holds it with {secret_flag})"
        )


def _problem(answer: Exchange, profile: Profile) -> str:
    """What is wrong with a preflight answer: "" when it is a Direct Line answer the suite can
    work with, "refused" for a refused credential, else the one line to show."""
    what = _what(answer)
    shape = not_direct_line(answer)
    status = answer.status or 0
    ctype = answer.header("content-type") or "no Content-Type"
    if status == 404:
        return f"{what} answered 404 ({ctype}): {BASE_PATH_HINT}"
    if status >= 500:
        detail = shape or _shorten(answer.text.strip(), 120)
        return f"{what} answered {detail if shape else f'{status}: {detail}'} (the target fails)"
    if shape is not None:
        return f"{what} answered {shape}: not a Direct Line service ({BASE_PATH_HINT})"
    data = answer.json_or_none()
    if 200 <= status < 300:
        if "conversationId" not in data:
            return (
                f"{what} answered {status} with a JSON object without a conversationId: not a "
                "Direct Line answer"
            )
        problem = id_problem(data["conversationId"])
        if problem is not None:
            return f"{what} answered a conversationId that is {problem}"
        return ""
    error = data.get("error")
    if not isinstance(error, dict) or not isinstance(error.get("code"), str):
        return (
            f"{what} answered {status} with JSON that is no Direct Line error body "
            f"({_shorten(answer.text.strip(), 120)!r})"
        )
    if status in (401, 403) and profile.supports("auth"):
        return "refused"
    return ""


def _what(answer: Exchange) -> str:
    return f"{answer.method} {answer.url.split('?', 1)[0]}"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
