"""Mutants: deliberately broken reference servers, each breaking one rule, and the runner that
proves the suite catches exactly that.

A mutant is a DirectLineService subclass (one overridden method) or a function that wraps the
reference ASGI app (for wire-level breakage such as plain-text error bodies). It declares the
requirement IDs the suite must fail against it, and the suite modules that judge them. The
runner serves the mutant on 127.0.0.1, runs those modules against it in a subprocess (as a user
would: the packaged suite, the plugin, ``--dl-target``), and reads the verdicts from report.json.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import pkgutil
import re
import secrets
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.config.target import COMPRESSED_TIMINGS
from conformance.reference.app import create_app
from conformance.reference.config import ServerConfig
from conformance.reference.server import EmbeddedServer
from conformance.reference.service import DirectLineService

__all__ = [
    "MUTANTS",
    "Mutant",
    "StampMutant",
    "SuiteRun",
    "function_name",
    "mutant",
    "recorded_activity",
    "run_suite",
]

AppFactory = Callable[[ServerConfig], Any]


@dataclass(frozen=True)
class Mutant:
    """One broken server and the requirements the suite must fail on it (and only those)."""

    name: str
    doc: str
    breaks: frozenset[str]
    modules: tuple[str, ...]
    build: AppFactory
    #: The reading the suite certifies under.
    end_of_conversation: str = "refuse"
    #: The reading the server really follows (None: the same).
    server_end_of_conversation: str | None = None
    #: Timings the suite is told, over the compressed ones (None: leave one undeclared).
    profile_timings: dict[str, Any] = field(default_factory=dict)
    #: Extra ServerConfig fields (e.g. a longer bot timeout).
    config: dict[str, Any] = field(default_factory=dict)
    #: Suite test functions that must be among the failing ones: where several tests of a
    #: module judge one requirement (the Hypothesis properties), this says which one it proves.
    tests: tuple[str, ...] = ()
    #: The breach is one the preflight stops the run for: exit 2, one line naming the rules.
    preflight: bool = False


MUTANTS: list[Mutant] = []


class StampMutant(DirectLineService):
    """Base: a client activity is recorded as ``alter`` leaves it (changed after stamping, before
    it is recorded, so every reader sees the change)."""

    def alter(self, activity: dict[str, Any]) -> None:
        raise NotImplementedError

    def stamp_client_activity(self, conversation: Any, activity: Any, *args: Any) -> Any:
        stamped = super().stamp_client_activity(conversation, activity, *args)
        self.alter(stamped)
        return stamped


def recorded_activity(conversation: Any, activity_id: str) -> dict[str, Any] | None:
    """The activity a conversation recorded under ``activity_id`` (a mutant changing it after
    the fact), None if there is none."""
    return next((a for a in conversation.activities if a.get("id") == activity_id), None)


def mutant(
    *breaks: str,
    modules: tuple[str, ...] | str,
    end_of_conversation: str = "refuse",
    server_end_of_conversation: str | None = None,
    profile_timings: dict[str, Any] | None = None,
    tests: tuple[str, ...] | str = (),
    preflight: bool = False,
    **config: Any,
) -> Callable[[Any], Any]:
    """Register a mutant: a DirectLineService subclass, or a function ServerConfig -> ASGI app."""
    names = (modules,) if isinstance(modules, str) else tuple(modules)

    def register(target: Any) -> Any:
        if isinstance(target, type) and issubclass(target, DirectLineService):

            def build(server_config: ServerConfig, service: type = target) -> Any:
                return create_app(server_config, service_class=service)

        else:
            build = target
        doc = (target.__doc__ or "").strip().splitlines()[0] if target.__doc__ else target.__name__
        MUTANTS.append(
            Mutant(
                name=target.__name__,
                doc=doc,
                breaks=frozenset(breaks),
                modules=names,
                build=build,
                end_of_conversation=end_of_conversation,
                server_end_of_conversation=server_end_of_conversation,
                profile_timings=dict(profile_timings or {}),
                config=config,
                tests=(tests,) if isinstance(tests, str) else tuple(tests),
                preflight=preflight,
            )
        )
        return target

    return register


@dataclass
class SuiteRun:
    """What one run of the suite concluded."""

    returncode: int
    verdicts: dict[str, str]
    output: str
    #: Names of the test functions that failed (parameters and module dropped).
    failed_tests: frozenset[str] = frozenset()
    #: The one line of a run the preflight stopped ("" when the tests ran).
    preflight_line: str = ""
    #: Tests that sent more than their cost marker declares, with where (the plan audit).
    overspent: dict[str, list[str]] = field(default_factory=dict)

    def with_verdict(self, *verdicts: str) -> set[str]:
        """The requirement IDs that got one of ``verdicts``."""
        return {rid for rid, v in self.verdicts.items() if v in verdicts}


def function_name(nodeid: str) -> str:
    """``pkg/mod.py::test_x[param]`` -> ``test_x``."""
    return nodeid.rsplit("::", 1)[-1].split("[", 1)[0]


PROFILE_TEMPLATE = """\
name = "reference-compressed"
description = "the reference server at the mutant runner's compressed timings"
end_of_conversation = "{reading}"

[features]
{features}

[timings]
{timings}
"""


def profile_timings(overrides: dict[str, Any] | None = None) -> dict[str, float]:
    """The timings the runner declares: the compressed ones, with overrides (None drops one)."""
    timings: dict[str, Any] = {**COMPRESSED_TIMINGS, "request_timeout": 10, "max_wait": 60}
    timings.update(overrides or {})
    return {key: value for key, value in timings.items() if value is not None}


def server_config(secret: str, end_of_conversation: str = "refuse", **extra: Any) -> ServerConfig:
    """The reference server's config at the compressed timings the suite is told about."""
    fields: dict[str, Any] = {
        "stream_window": COMPRESSED_TIMINGS["stream_connect_window"],
        "token_lifetime": int(COMPRESSED_TIMINGS["token_lifetime"]),
        "bot_timeout": COMPRESSED_TIMINGS["bot_timeout"],
        "end_of_conversation": end_of_conversation,
        **extra,
    }
    return ServerConfig(secret=secret, **fields)


def mutant_config(m: Mutant, secret: str) -> ServerConfig:
    """The server config a mutant runs with."""
    return server_config(secret, m.server_end_of_conversation or m.end_of_conversation, **m.config)


@functools.cache
def timing_requirements() -> frozenset[str]:
    """Requirement IDs judged by tests marked ``slow`` (they wait out real protocol timings)."""
    import conformance.suite

    found: set[str] = set()
    for info in pkgutil.iter_modules(conformance.suite.__path__):
        if not info.name.startswith("test_"):
            continue
        module = importlib.import_module(f"conformance.suite.{info.name}")
        for name, function in vars(module).items():
            marks = getattr(function, "pytestmark", []) if name.startswith("test_") else []
            if any(mark.name == "slow" for mark in marks):
                for mark in marks:
                    if mark.name == "requirement":
                        found.update(mark.args)
    return frozenset(found)


def run_suite(
    app: Any,
    *,
    secret: str,
    modules: tuple[str, ...],
    workdir: Path,
    end_of_conversation: str = "refuse",
    timeout: float = 1200.0,
    skip_timing: bool = False,
    timings: dict[str, Any] | None = None,
    marks: str | None = None,
) -> SuiteRun:
    """Serve ``app`` on loopback and run the packaged suite modules against it.

    ``skip_timing`` leaves out the tests that wait out real timings: a mutant that breaks no
    timing rule need not pay for them (the faithful runs always include them). Hypothesis does
    not shrink here: the kill table needs the verdicts, not a minimal example. ``marks``: a
    ``-m`` expression of its own instead.
    """
    from conformance.config.profile import PROFILE_FEATURES

    features = "\n".join(
        f"{name} = {'false' if name == 'enhanced_auth' else 'true'}" for name in PROFILE_FEATURES
    )
    profile = workdir / "profile.toml"
    profile.write_text(
        PROFILE_TEMPLATE.format(
            reading=end_of_conversation,
            features=features,
            timings="\n".join(f"{k} = {v}" for k, v in profile_timings(timings).items()),
        ),
        encoding="utf-8",
    )
    report_dir = workdir / "report"
    targets = [f"conformance.suite.{module}" for module in modules]
    with EmbeddedServer(app=app) as server:
        command = [
            sys.executable, "-m", "pytest", "--pyargs", *targets, *plugins_for(modules),
            "-p", "no:cacheprovider", "--noconftest", "-c", os.devnull, "--assert=plain",
            "--rootdir", str(workdir), "-q", "--tb=line",
            "--dl-target", str(server.base_url), "--dl-profile", str(profile),
            "--dl-report-dir", str(report_dir), "--dl-shrink", "no",
        ] + (["-m", marks or "not slow"] if skip_timing or marks else [])  # fmt: skip
        environment = {
            **os.environ,
            "DIRECTLINE_SECRET": secret,
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        }
        environment.pop("DIRECTLINE_TARGET", None)
        completed = subprocess.run(
            command,
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=workdir,
            check=False,
        )
    output = completed.stdout + completed.stderr
    report = report_dir / "report.json"
    if not report.exists():
        refusal = preflight_refusal(completed.returncode, output)
        if refusal:
            named = dict.fromkeys(REQUIREMENT_ID.findall(refusal), "fail")
            return SuiteRun(completed.returncode, named, output, preflight_line=refusal)
        raise AssertionError(f"the suite wrote no report (exit {completed.returncode}):\n{output}")
    data = json.loads(report.read_text(encoding="utf-8"))
    verdicts = {r["id"]: r["verdict"] for r in data["requirements"]}
    failed = frozenset(
        function_name(t["nodeid"]) for t in data["tests"] if t["outcome"] == "failed"
    )
    overspent = {t["nodeid"]: t["overspent"] for t in data["tests"] if t.get("overspent")}
    return SuiteRun(completed.returncode, verdicts, output, failed, overspent=overspent)


#: Suite modules whose tests are Hypothesis properties or state machines.
HYPOTHESIS_MODULES = frozenset({"test_fuzz_activities", "test_conversation_machine"})


def plugins_for(modules: tuple[str, ...]) -> list[str]:
    """The pytest plugins of a mutant run (their autoloading is off): the kit's, and
    Hypothesis's where the modules have Hypothesis tests. The others a user has installed
    (pytest-xdist, anyio, Schemathesis...) take no part in a one-process run of the suite, and
    importing them, and Hypothesis's plugin importing Hypothesis at the end of a run that never
    used it, was a third of the CPU of a mutant run. (``--assert=plain``, as ``run`` has it:
    the suite judges with its own checks, so rewriting its asserts bought nothing.)"""
    plugins = ["-p", "conformance.plugin"]
    if HYPOTHESIS_MODULES.intersection(modules):
        plugins += ["-p", "_hypothesis_pytestplugin"]
    return plugins


REQUIREMENT_ID = re.compile(r"\bDL-[A-Z]+-\d{3}\b")
PREFLIGHT_PREFIX = "directline-conformance: error: "


def preflight_refusal(returncode: int, output: str) -> str:
    """The preflight's one line when it stopped the run (exit 2), else ""."""
    if returncode != 2:
        return ""
    lines = [line for line in output.splitlines() if line.startswith(PREFLIGHT_PREFIX)]
    return lines[0][len(PREFLIGHT_PREFIX) :] if len(lines) == 1 else ""


def new_secret() -> str:
    return "mutant-" + secrets.token_urlsafe(16)
