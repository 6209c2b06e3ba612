"""The preflight: before the first test, make sure the target is a Direct Line service at all.

One start (and, where the profile has tokens, one generate) must answer the way Direct Line
does: a 2xx JSON object with a usable ``conversationId`` string, or a Direct Line error body.
Anything else (nothing listening, no answer, a 404, an HTML page, a body that is not JSON, a 5xx,
an answer of megabytes, a refused secret) stops the run with exit status 2 and one line saying
what came back and what to check. No test runs and nothing is judged: a verdict on a web server
that is not Direct Line, or on a wrong URL, would only be noise.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from conformance.client import DirectLineClient
from conformance.client.wire import id_problem
from conformance.config.profile import Profile
from conformance.errors import ConfigError, TargetError, TargetTimeout, TargetUnreachable
from conformance.evidence import Exchange

__all__ = ["BASE_PATH_CHECK", "preflight"]

BASE_PATH_CHECK = "check that the base URL is the one ending in /v3/directline"
#: The rule a start answer without a usable conversationId breaks.
START_ID_RULE = "DL-START-002"
#: Characters of a body the line quotes.
QUOTED = 80


def preflight(client: DirectLineClient, profile: Profile, *, secret_flag: str) -> None:
    """Raise ConfigError (one line) unless the target answers like a Direct Line service."""
    probes: list[Callable[[], Exchange]] = [client.start_conversation]
    if profile.supports("tokens") and profile.supports("auth"):
        probes.append(client.generate_token)
    refused: list[Exchange] = []
    base = client.base_url
    for send in probes:
        try:
            answer = send()
        except TargetTimeout as exc:
            raise ConfigError(
                f"{exc}; check that the target is up and that {base} is its Direct Line base URL"
            ) from None
        except TargetUnreachable as exc:
            raise ConfigError(f"{exc}; check that the target is running at {base}") from None
        except TargetError as exc:
            raise ConfigError(f"{exc}; check the target") from None
        problem = _problem(answer, profile)
        if problem == "refused":
            refused.append(answer)
        elif problem:
            raise ConfigError(problem)
    if refused and len(refused) == len(probes):
        statuses = " and ".join(f"{_what(a)} answered {a.status}" for a in refused)
        raise ConfigError(
            f"the target refused the secret: {statuses}; check the secret (or name the variable "
            f"that holds it with {secret_flag})"
        )


def _problem(answer: Exchange, profile: Profile) -> str:
    """What is wrong with a preflight answer: "" when it is a Direct Line answer the suite can
    work with, "refused" for a refused credential, else the one line to show."""
    what = _what(answer)
    status = answer.status or 0
    ctype = (answer.header("content-type") or "no Content-Type").split(";")[0].strip()
    body = answer.response_body or b""
    if answer.truncated:
        return (
            f"{what} answered {status} with more than {len(body):,} bytes, far more than a start "
            "answer holds (a conversationId, a token, a streamUrl); check the target"
        )
    if status == 404:
        return f"{what} answered 404 ({ctype}): not found; {BASE_PATH_CHECK}"
    if status >= 500:
        said = f": {_quote(answer)}" if body.strip() else " with an empty body"
        return f"{what} answered {status} ({ctype}){said}; the target fails: check it (its logs)"
    try:
        data = json.loads(body) if body.strip() else None
    except (ValueError, UnicodeDecodeError):
        return (
            f"{what} answered {status} {ctype}, not JSON ({len(body):,} bytes: {_quote(answer)}):"
            f" not a Direct Line service; {BASE_PATH_CHECK}"
        )
    if not isinstance(data, dict):
        shape = "an empty body" if data is None else f"JSON {type(data).__name__}"
        return (
            f"{what} answered {status} with {shape}, not a JSON object: not a Direct Line "
            f"service; {BASE_PATH_CHECK}"
        )
    if 200 <= status < 300:
        if "conversationId" not in data:
            return (
                f"{what} answered {status} with a JSON object without a conversationId "
                f"({START_ID_RULE}): not a Direct Line start answer, nothing can be tested; "
                f"{BASE_PATH_CHECK}"
            )
        problem = id_problem(data["conversationId"])
        if problem is not None:
            return (
                f"{what} answered a conversationId that is {problem} ({START_ID_RULE}): "
                "nothing can be tested with it; check the target"
            )
        return ""
    error = data.get("error")
    if not isinstance(error, dict) or not isinstance(error.get("code"), str):
        return (
            f"{what} answered {status} with JSON that is no Direct Line error body "
            f"({_quote(answer)}); {BASE_PATH_CHECK}"
        )
    if status in (401, 403) and profile.supports("auth"):
        return "refused"
    return ""


def _what(answer: Exchange) -> str:
    return f"{answer.method} {answer.url.split('?', 1)[0]}"


def _quote(answer: Exchange) -> str:
    text = " ".join(answer.text.split())
    return repr(text if len(text) <= QUOTED else text[:QUOTED] + "...")
