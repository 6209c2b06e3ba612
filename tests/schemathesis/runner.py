"""Schemathesis against the reference server, judged against a baseline.

    python -m tests.schemathesis [--seconds N] [--seed N] [--workers N] [--baseline FILE]

Starts `directline-conformance serve` on a free loopback port with a fresh secret, starts a few
conversations for the hooks (hooks.py) to aim generated requests at, and runs `st run` on the
official Swagger (directline-3.0.json beside this file, with the baseline's readings applied)
with every check, positive and negative data, all four phases, a fixed seed and a time budget.
Then it reads the NDJSON event stream and prints what was exercised and what failed, by
operation and check, with the failing exchanges (credentials hidden) and curl lines.

Exit status: 0 when every failure is accepted by the baseline; 1 when any is not; 2 when the
run could not judge (the server or Schemathesis did not run, the baseline is wrong, an operation
was never answered 2xx, or Schemathesis reported errors). Schemathesis's own console output is
not shown: it prints response bodies, tokens included.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from conformance.evidence import Redactor
from tests.schemathesis import wiring
from tests.schemathesis.baseline import CHECKS, BaselineError, load_baseline
from tests.schemathesis.events import read_run
from tests.schemathesis.serve import ServedReference, ServeError
from tests.schemathesis.summary import summarize

__all__ = ["SCHEMATHESIS_VERSION", "main", "run"]

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SWAGGER = HERE / "directline-3.0.json"
BASELINE = HERE / "baseline.toml"
SCHEMATHESIS_VERSION = "4.32.5"
DEFAULT_SECONDS = 120
DEFAULT_SEED = 302024
#: Conversations started for the hooks to aim at.
POOL_SIZE = 4
#: Seconds past the budget before a Schemathesis run counts as hung.
GRACE = 300
REQUEST_TIMEOUT = 10.0
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")


class HarnessError(RuntimeError):
    """The run could not take place (one line says why)."""


def swagger_operations(swagger: dict[str, Any]) -> list[str]:
    """The Swagger's operations as Schemathesis labels them: "POST /v3/directline/...".

    The Swagger has no basePath: its paths already start with /v3/directline."""
    return [
        f"{method.upper()} {path}"
        for path, item in swagger.get("paths", {}).items()
        for method in item
        if method in HTTP_METHODS
    ]


def start_pool(origin: str, secret: str, size: int) -> tuple[list[str], str]:
    """Start `size` conversations with the secret: their ids, and the first one's token."""
    ids: list[str] = []
    token = ""
    headers = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=origin, headers=headers, timeout=REQUEST_TIMEOUT) as client:
        for _ in range(size):
            try:
                answer = client.post("/v3/directline/conversations")
            except httpx.HTTPError as exc:
                raise HarnessError(f"starting a conversation failed: {exc}") from None
            if answer.status_code != 201:
                raise HarnessError(f"starting a conversation answered {answer.status_code}")
            body = answer.json()
            ids.append(body["conversationId"])
            token = token or body["token"]
    return ids, token


def schemathesis_command(
    swagger: Path, origin: str, seconds: int, seed: int, workers: int, ndjson: Path
) -> list[str]:
    """The `st run` line: every check, positive and negative data, every phase."""
    return [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        str(swagger),
        "--url",
        origin,
        "--checks",
        ",".join(CHECKS),
        "--mode",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--seed",
        str(seed),
        "--max-time",
        str(seconds),
        "--workers",
        str(workers),
        "--request-timeout",
        f"{REQUEST_TIMEOUT:g}",
        "--generation-database",
        "none",
        "--suppress-health-check",
        "all",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(ndjson),
        "--no-color",
    ]


def run_schemathesis(command: list[str], env: dict[str, str], work: Path, timeout: float) -> int:
    """Run `st` in `work` (where it keeps its cache), its console output going to a file there;
    its exit status."""
    with (work / "st-output.txt").open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=work, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)
            raise HarnessError(f"Schemathesis did not finish within {timeout:g} s") from None


def _tail(path: Path, redactor: Redactor, lines: int = 15) -> str:
    try:
        text = path.read_text("utf-8", "replace")
    except OSError:
        return "(no output)"
    return "\n".join("    " + redactor.redact(x) for x in text.strip().splitlines()[-lines:])


# -- the run ------------------------------------------------------------------------------------
def run(seconds: int, seed: int, workers: int, baseline_path: Path) -> int:
    """One judged run (see the module docstring); prints as it goes, returns the exit status."""
    import schemathesis

    if schemathesis.__version__ != SCHEMATHESIS_VERSION:
        print(
            f"warning: Schemathesis {schemathesis.__version__} is installed; the runner and "
            f"the baseline are written for {SCHEMATHESIS_VERSION}",
            file=sys.stderr,
        )
    swagger = json.loads(SWAGGER.read_text(encoding="utf-8"))
    operations = swagger_operations(swagger)
    baseline = load_baseline(baseline_path, swagger, operations)
    secret = secrets.token_urlsafe(24)
    redactor = Redactor()
    redactor.add_secret(secret)
    with tempfile.TemporaryDirectory(prefix="dl-schemathesis-") as folder:
        work = Path(folder)
        read_swagger = work / "directline-3.0.read.json"
        read_swagger.write_text(json.dumps(baseline.read_swagger(swagger)), encoding="utf-8")
        ndjson = work / "events.ndjson"
        with ServedReference(secret, log=work / "server.log") as server:
            pool, token = start_pool(server.origin, secret, POOL_SIZE)
            redactor.add(token)
            print(
                f"Schemathesis {schemathesis.__version__} against the reference server "
                f"({server.origin}), seed {seed}, budget {seconds} s, {workers} worker(s)"
            )
            print(
                f"Swagger: {SWAGGER.relative_to(REPO)} with {len(baseline.readings)} readings; "
                f"baseline: {len(baseline.accepted)} accepted deviations",
                flush=True,
            )
            env = {
                **os.environ,
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.getenv("PYTHONPATH")])),
                "SCHEMATHESIS_HOOKS": wiring.HOOKS_MODULE,
                wiring.SECRET_ENV: secret,
                wiring.TOKEN_ENV: token,
                wiring.CONVERSATIONS_ENV: ",".join(pool),
                wiring.ORIGIN_ENV: server.origin,
                wiring.SWAGGER_ENV: str(read_swagger),
            }
            command = schemathesis_command(
                read_swagger, server.origin, seconds, seed, workers, ndjson
            )
            status = run_schemathesis(command, env, work, seconds + GRACE)
            if status not in (0, 1) or not ndjson.is_file():
                raise HarnessError(
                    f"Schemathesis exited with {status}; the end of its output:\n"
                    + _tail(work / "st-output.txt", redactor)
                )
        result = read_run(ndjson, operations)
    print(f"ran {result.seconds:.1f} s (stop: {result.stop_reason or 'unknown'})")
    text, code = summarize(result, baseline, operations, redactor, (secret, token))
    print(text)
    return code


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.schemathesis",
        description="Run Schemathesis against the reference server and judge it against the "
        "baseline of accepted Swagger deviations.",
    )
    parser.add_argument(
        "--seconds", type=_positive, default=DEFAULT_SECONDS, help="time budget (default 120)"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="Schemathesis seed")
    parser.add_argument("--workers", type=_positive, default=1, help="Schemathesis workers")
    parser.add_argument("--baseline", type=Path, default=BASELINE, metavar="FILE")
    options = parser.parse_args(argv)
    try:
        return run(options.seconds, options.seed, options.workers, options.baseline)
    except ModuleNotFoundError as exc:
        print(
            f"error: {exc.name} is not installed (pip install -e '.[dev]', on Python 3.11 or "
            "newer for Schemathesis 4.32)",
            file=sys.stderr,
        )
    except (BaselineError, HarnessError, ServeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    return 2
