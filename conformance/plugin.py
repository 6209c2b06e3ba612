"""The pytest plugin: target options, fixtures, the ``requirement`` marker, plan and verdicts.

Registered through the ``pytest11`` entry point, so it is loaded in every pytest run of an
environment that has the kit installed. It stays inert until used: until collected tests carry
``@pytest.mark.requirement`` (the packaged suite does) or a fixture of it is requested. Heavy
imports (the reference server, websockets, jsonschema) happen only then.

Flow of a run:

1. settings are resolved once (command line > environment > profile > spec defaults), and the
   report directory is created and proven writable;
2. collection checks every test's requirement IDs against the catalog, marks the tests whose
   requirements need a feature the profile lacks as not-applicable, and plans the run
   (conformance.plan): what it will send at most, against the profile's limits. A run that does
   not fit (or ``--plan``) deselects everything: not one request is sent;
3. the target is checked once before the first test (the preflight): it must answer a start
   like a Direct Line service, else the run stops with exit 2 and one line saying what came
   back. The embedded reference server is started instead when no target is given;
4. each test gets clients that record every exchange and ask the run's governor before each
   request (pace, limits, deadline, a dead target); a check's Violation becomes a bug report;
5. at the end every test outcome is folded into one verdict per requirement, recorded in a
   RunRecord that the reports and the summary read. An interrupted or stopped run still writes
   its reports, with what did not run as errors.

Under pytest-xdist the controller runs the preflight and writes the reports; the workers
collect, plan and test; what the whole run shares (rate, budget, stop) lives in a folder the
controller hands to every worker.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets as secrets_module
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from conformance.settings import SETTINGS, check_report_dir, resolve

if TYPE_CHECKING:
    from conformance.catalog import Catalog, Requirement
    from conformance.client import Conversation, DirectLineClient, Meter, RunGovernor
    from conformance.evidence import Exchange, Recorder, Redactor
    from conformance.expectations import Expectations
    from conformance.plan import Plan
    from conformance.profile import Profile
    from conformance.settings import Resolved
    from conformance.target import Target
    from conformance.verdicts import RequirementVerdict, RunRecord, TestResult

__all__ = ["MARKER", "SUITE_PACKAGE", "DirectLinePlugin", "requirement_ids"]

MARKER = "requirement"
#: The fixture every test that talks to the target depends on.
TARGET_FIXTURE = "dl_target"
SUITE_PACKAGE = "conformance.suite"
PLUGIN_NAME = "directline-conformance:session"
NOT_APPLICABLE = "not-applicable: "
RECORDER_KEY = pytest.StashKey["Recorder"]()
METER_KEY = pytest.StashKey["Meter"]()
#: The file of the run folder holding the plan a worker computed, for the controller.
PLAN_FILE = "plan.json"
#: Requirement lines with the same reason the summary shows before it counts the rest.
SAME_REASON_SHOWN = 3
#: Bot behaviours a test can need beyond the catalog's features (``@pytest.mark.bot(...)``).
BOT_NEEDS: dict[str, Callable[[Profile], bool]] = {
    "many": lambda profile: bool(profile.bot.many),
    "reply_to_id": lambda profile: profile.bot.reply_to_id,
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("directline-conformance", "Direct Line 3.0 conformance")
    for setting in SETTINGS:
        if setting.switch:
            group.addoption(
                setting.option, dest=f"dl_{setting.name}", action="store_true", default=None,
                help=setting.help,
            )  # fmt: skip
            continue
        group.addoption(
            setting.option,
            dest=f"dl_{setting.name}",
            default=None,
            metavar=setting.metavar or setting.name.upper(),
            help=setting.help,
        )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(*ids): the Direct Line 3.0 requirement IDs this test checks"
    )
    config.addinivalue_line(
        "markers", "slow: waits out a real protocol timing (stream window, token lifetime)"
    )
    config.addinivalue_line(
        "markers", "smoke: a fast, broad subset (one check per spec page) for a quick verdict"
    )
    config.addinivalue_line(
        "markers",
        "cost(conversations=0, requests=0, streams=0, activities=0, waits=0, per_example=False): "
        "what the test sends at most (conformance.plan)",
    )
    config.addinivalue_line(
        "markers", "bot(*behaviours): bot behaviours the test needs beyond the catalog's features"
    )
    config.addinivalue_line(
        "markers", "fuzz_level(*levels): the Hypothesis levels the test means something at"
    )
    config.addinivalue_line(
        "markers",
        "lane(name): the test shares the lane's conversation (dl_conversation, dl_start_answer) "
        "with the other tests of the lane, run one after another on one worker",
    )
    config.pluginmanager.register(DirectLinePlugin(config), PLUGIN_NAME)


def requirement_ids(item: pytest.Item) -> tuple[str, ...]:
    """The requirement IDs a test declares, in order, without repeats."""
    ids: list[str] = []
    for mark in item.iter_markers(MARKER):
        for rid in mark.args:
            if rid not in ids:
                ids.append(rid)
    return tuple(ids)


def _plugin(config: pytest.Config) -> DirectLinePlugin:
    plugin = config.pluginmanager.get_plugin(PLUGIN_NAME)
    assert isinstance(plugin, DirectLinePlugin)
    return plugin


class DirectLinePlugin:
    """Session state of one conformance run (one instance per pytest process)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.active = False
        self.results: dict[str, TestResult] = {}
        self.verdicts: list[RequirementVerdict] = []
        self.record: RunRecord | None = None
        worker = getattr(config, "workerinput", None)
        #: When the run started (the controller's clock, shared with every worker).
        self.started: float = float(worker["dl_started"]) if worker else time.time()
        self._run_folder: Path | None = Path(worker["dl_run_dir"]) if worker else None
        self._own_folder = False
        self._settings: Resolved | None = None
        self._profile: Profile | None = None
        self._catalog: Catalog | None = None
        self._target: Target | None = None
        self._server: Any = None
        self._redactor: Redactor | None = None
        self._governor: RunGovernor | None = None
        self._expectations: Expectations | None = None
        self.plan: Plan | None = None
        #: Why the run stopped early: deadline, dead target, interrupted (None: it did not).
        self.stopped: str | None = None
        #: --plan, or a plan that does not fit: nothing runs, the plan is the outcome.
        self.plan_only = False
        self.plan_problems: list[str] = []
        self._preflight_done = False
        #: Why the run could not start (bad configuration, a target that is no Direct Line
        #: service): one line, exit 2, nothing judged.
        self.fatal: str | None = None
        #: The shared conversations of this process, by lane name.
        self._lanes: dict[str, Lane] = {}
        #: The pytest-xdist scheduler of a distributed run (the controller's).
        self._scheduler: Any = None
        #: The report files written at the end of the run (--dl-report-dir), for the summary.
        self.report_paths: list[Path] = []

    @property
    def is_worker(self) -> bool:
        return hasattr(self.config, "workerinput")

    @property
    def distributed(self) -> bool:
        return getattr(self.config.option, "numprocesses", None) not in (None, 0)

    # -- lazily resolved state -------------------------------------------------------------
    @property
    def settings(self) -> Resolved:
        if self._settings is None:
            given = {s.name: self.config.getoption(f"dl_{s.name}") for s in SETTINGS}
            self._settings = self._guard(lambda: resolve(given))
        return self._settings

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            from conformance.catalog import load_catalog

            self._catalog = self._guard(load_catalog)
        return self._catalog

    @property
    def embedded(self) -> bool:
        return not self.settings.get("target")

    @property
    def profile(self) -> Profile:
        if self._profile is None:
            from conformance.target import effective_profile

            self._profile = self._guard(
                lambda: effective_profile(self.settings, embedded=self.embedded)
            )
        return self._profile

    @property
    def redactor(self) -> Redactor:
        if self._redactor is None:
            from conformance.evidence import Redactor

            self._redactor = Redactor()
            secret = self.settings.get("secret")
            if secret:
                self._redactor.add_secret(secret, env_var=self.settings["secret_env"])
        return self._redactor

    @property
    def expectations_path(self) -> str | None:
        """--dl-expect, else the file shipped with a built-in profile (NAME.expect.toml)."""
        from conformance.profile import companion_expectations

        given = self.settings.get("expect")
        if given:
            return str(given)
        companion = companion_expectations(self.profile)
        return str(companion) if companion else None

    @property
    def expectations(self) -> Expectations:
        """Known deviations and informational rules of the target, from the expectations file."""
        if self._expectations is None:
            from conformance.expectations import Expectations, load_expectations

            path = self.expectations_path
            self._expectations = (
                self._guard(lambda: load_expectations(path, self.catalog))
                if path
                else Expectations()
            )
        return self._expectations

    @property
    def fail_on(self) -> str:
        return str(self.settings.get("fail_on", "should"))

    @property
    def deadline_seconds(self) -> float:
        """Seconds the run may take: --deadline, else the profile's, else from the plan."""
        given = self.settings.get("deadline")
        if given is not None:
            return float(given)
        if self.plan is not None:
            return float(self.plan.deadline(self.profile.timings))
        timings = self.profile.timings
        return timings.deadline if timings.deadline is not None else 3600.0

    @property
    def governor(self) -> RunGovernor:
        """The one governor of this process's requests (pace, limits, deadline, stop)."""
        if self._governor is None:
            from conformance.client import Allowance, Ledger, RunGovernor

            limits = self.profile.limits
            shared = self.is_worker and not self.embedded and self._run_folder is not None
            self._governor = RunGovernor(
                ledger=Ledger(self._run_folder if shared else None),
                rate=limits.requests_per_second,
                sends_per_conversation=limits.sends_per_conversation_per_second,
                allowance=Allowance(
                    conversations=limits.conversations,
                    requests=limits.requests,
                    activities=limits.activities,
                    max_throttled=limits.max_throttled,
                ),
                deadline=self.started + self.deadline_seconds,
            )
        return self._governor

    def _guard(self, build: Callable[[], Any]) -> Any:
        """Turn a configuration problem into one clear line and exit status 2, not a traceback."""
        from conformance.errors import HarnessError

        try:
            return build()
        except HarnessError as exc:
            self.stop_with(str(exc))

    def stop_with(self, problem: str) -> NoReturn:
        """End the run at once, before anything is judged: one line, exit status 2."""
        self.fatal = self.redactor.redact(problem) if self._settings is not None else problem
        pytest.exit(f"directline-conformance: {self.fatal}", returncode=2)

    def preflight_passes(self) -> bool:
        """Run the preflight (once); when the target is no usable Direct Line service, say so
        in one line at the end of the run (exit 2), and False: no test may run."""
        from conformance.errors import HarnessError

        try:
            self.preflight()
        except HarnessError as exc:
            self.fatal = self.redactor.redact(str(exc))
            return False
        return True

    # -- the run folder (pytest-xdist) -------------------------------------------------------
    def run_folder(self) -> Path:
        """The folder the controller shares with its workers (ledger, stop flag, plan)."""
        if self._run_folder is None:
            self._run_folder = Path(tempfile.mkdtemp(prefix="directline-conformance-"))
            self._own_folder = True
        return self._run_folder

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """Give each pytest-xdist worker the run's folder and start time."""
        node.workerinput["dl_run_dir"] = str(self.run_folder())
        node.workerinput["dl_started"] = repr(self.started)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self._own_folder and self._run_folder is not None:
            shutil.rmtree(self._run_folder, ignore_errors=True)

    # -- target ---------------------------------------------------------------------------------
    def ensure_target(self) -> Target:
        """The session's Target: the given URL (checked once by the preflight, before the first
        test that uses it; under pytest-xdist by the controller), or the embedded reference
        server."""
        if self._target is None:
            self._target = self._guard(self._start_embedded if self.embedded else self._connect)
        return self._target

    def _start_embedded(self) -> Target:
        from conformance.reference.config import ServerConfig
        from conformance.reference.server import EmbeddedServer
        from conformance.target import Target

        profile = self.profile
        secret = secrets_module.token_urlsafe(24)
        self.redactor.add_secret(secret, env_var=self.settings["secret_env"])
        timings = profile.timings
        config = ServerConfig(
            secret=secret,
            stream_window=timings.stream_connect_window,
            token_lifetime=int(timings.token_lifetime or 1800),
            bot_timeout=timings.bot_timeout,
            end_of_conversation=profile.end_of_conversation,
        )
        self._server = EmbeddedServer(config)
        base_url = self._server.start()
        return Target(base_url=base_url, secret=secret, profile=profile, embedded=True)

    def _connect(self) -> Target:
        from conformance.errors import ConfigError
        from conformance.target import Target, normalise_target_url

        base_url = normalise_target_url(self.settings["target"])
        secret = self.settings.get("secret")
        profile = self.profile
        if not secret and profile.supports("auth"):
            raise ConfigError(
                f"no secret for {base_url}: set {self.settings['secret_env']} "
                f"(or name another variable with {self.settings.flag('secret_env')})"
            )
        return Target(base_url=base_url, secret=secret, profile=profile)

    def preflight(self) -> None:
        """Check once, before the first test, that the target is a Direct Line service (the
        embedded server needs no check); raises a HarnessError saying what came back."""
        if self._preflight_done or self.embedded:
            return
        self._preflight_done = True
        from conformance.preflight import preflight

        target = self.ensure_target()
        client = self.make_client(target, case_id="directline-conformance:preflight")
        try:
            preflight(client, target.profile, secret_flag=self.settings.flag("secret_env"))
        finally:
            client.close()

    def make_client(
        self,
        target: Target,
        *,
        case_id: str,
        recorder: Recorder | None = None,
        meter: Meter | None = None,
    ) -> DirectLineClient:
        from conformance.client import DirectLineClient

        return DirectLineClient(
            target.base_url,
            target.secret,
            timeout=target.profile.timings.request_timeout,
            recorder=recorder,
            redactor=self.redactor,
            case_id=case_id,
            governor=self.governor,
            meter=meter,
            max_body=target.profile.limits.max_body,
            poll_interval=target.profile.timings.poll_interval,
        )

    def lane(self, name: str, client: DirectLineClient) -> Lane:
        """The lane's shared conversation, started (with ``client``) by its first test, and
        again once its token is half spent: every test of the lane gets a token with at least
        half its lifetime to go. Its start answer is put among each test's evidence."""
        held = self._lanes.get(name)
        if held is None or held.stale():
            client.meter.starting_lane = True
            try:
                answer = client.start_conversation()
            finally:
                client.meter.starting_lane = False
            held = Lane(answer, self._lane_lifetime(answer))
            with contextlib.suppress(Exception):
                held.conversation = _parse_start(client, answer)
            self._lanes[name] = held
        elif held.answer not in client.recorder.exchanges:
            client.recorder.add(held.answer)
        return held

    def _lane_lifetime(self, answer: Any) -> float:
        declared = self.profile.timings.token_lifetime
        if declared is not None:
            return float(declared)
        data = answer.json_or_none()
        expires = data.get("expires_in") if isinstance(data, dict) else None
        return float(expires) if isinstance(expires, int) and expires > 0 else LANE_LIFETIME

    # -- session start --------------------------------------------------------------------------
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Check what the user gave before anything else (a report directory that cannot be
        written is refused now, not after the run), and make SIGTERM end the run like Ctrl-C:
        the reports of what ran are written either way."""
        if self.is_worker or not self._conformance_options_given():
            return
        report_dir = self.settings.get("report_dir")
        if report_dir is not None:
            self._guard(lambda: check_report_dir(report_dir, self.settings.flag("report_dir")))
        with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
            signal.signal(signal.SIGTERM, _interrupt)

    def _conformance_options_given(self) -> bool:
        """Whether this pytest run is a conformance run as far as its options tell."""
        if any(self.config.getoption(f"dl_{s.name}") is not None for s in SETTINGS):
            return True
        return any(SUITE_PACKAGE in str(arg) for arg in self.config.args)

    # -- collection -----------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Before pytest-xdist reads the groups: every timing test in a group of its own, every
        lane in one group (a lane's tests run one after another on one worker)."""
        marked = [item for item in items if requirement_ids(item) or _in_suite(item)]
        if marked:
            schedule_timing_tests_first(items)
            group_lanes(marked)
            if self.is_worker:
                from conformance.scheduling import GROUPS_FILE

                folder = Path(self.config.workerinput["dl_run_dir"])  # type: ignore[attr-defined]
                groups = {item.nodeid: group for item in marked if (group := _group_of(item))}
                _write_atomically(folder / GROUPS_FILE, json.dumps(groups))

    @pytest.hookimpl(tryfirst=True, optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """A conformance run spreads its tests by group (see conformance.scheduling)."""
        if config.getvalue("dist") not in ("load", "loadgroup", "loadscope", "loadfile"):
            return None
        if not self._conformance_options_given():
            return None
        from conformance.scheduling import GROUPS_FILE, GroupScheduling

        self._scheduler = GroupScheduling(config, log, self.run_folder() / GROUPS_FILE)
        return self._scheduler

    @pytest.hookimpl(trylast=True, specname="pytest_collection_modifyitems")
    def pytest_collection_modifyitems_plan(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        """After ``-k`` and ``-m`` have deselected: mark what does not apply, plan the rest."""
        marked = [item for item in items if requirement_ids(item) or _in_suite(item)]
        if not marked:
            return
        self.active = True
        self._check_markers(marked)
        profile = self.profile
        _ = self.expectations  # a bad expectations file stops the run before any test
        for item in marked:
            reason = self._not_applicable(item, profile)
            if reason:
                item.add_marker(pytest.mark.skip(reason=f"{NOT_APPLICABLE}{reason}"))
        self.plan = self._build_plan(marked)
        self.plan_problems = self.plan.problems(profile, self.deadline_seconds)
        self.plan_only = bool(self.settings.get("plan")) or bool(self.plan_problems)
        if self.is_worker:
            folder = Path(self.config.workerinput["dl_run_dir"])  # type: ignore[attr-defined]
            _write_atomically(folder / PLAN_FILE, self.plan.to_json())
        distributed = self.distributed and not self.is_worker  # the controller checks then
        if (
            not self.plan_only
            and not self.is_worker
            and not distributed
            and self.plan.reaches_target
        ):
            self.plan_only = not self.preflight_passes()
        if self.plan_only:
            config.hook.pytest_deselected(items=list(items))
            items[:] = []

    def _check_markers(self, marked: list[pytest.Item]) -> None:
        problems = []
        for item in marked:
            ids = requirement_ids(item)
            if not ids:
                problems.append(f"{item.nodeid}: a suite test without @pytest.mark.{MARKER}")
            problems += [
                f"{item.nodeid}: unknown requirement {rid!r}"
                for rid in ids
                if rid not in self.catalog
            ]
        if problems:
            pytest.exit(
                "directline-conformance: bad requirement markers:\n  " + "\n  ".join(problems),
                returncode=pytest.ExitCode.USAGE_ERROR,
            )

    def _not_applicable(self, item: pytest.Item, profile: Profile) -> str:
        """Why a test does not apply to the target ("" when it does)."""
        missing: list[str] = []
        for rid in requirement_ids(item):
            missing += [f for f in profile.missing(self.catalog[rid].needs) if f not in missing]
        if missing:
            return f"profile {profile.name!r} does not declare " + ", ".join(missing)
        for mark in item.iter_markers("bot"):
            absent = [need for need in mark.args if not BOT_NEEDS[need](profile)]
            if absent:
                return f"profile {profile.name!r} describes no bot behaviour {absent[0]!r}"
        levels = [level for mark in item.iter_markers("fuzz_level") for level in mark.args]
        level, _ = self.fuzz_level()
        if levels and level not in levels:
            return (
                f"the fuzz level of this run is {level}; this test needs {' or '.join(levels)} "
                "(--fuzz)"
            )
        return ""

    def _build_plan(self, marked: list[pytest.Item]) -> Plan:
        from conformance.plan import COST_MARKER, Cost, Plan, PlannedTest, declared_cost

        profile = self.profile
        level, _ = self.fuzz_level()
        tests: list[PlannedTest] = []
        undeclared: list[str] = []
        for item in marked:
            skip = item.get_closest_marker("skip")
            reason = str(skip.kwargs.get("reason", "")) if skip else ""
            if reason.startswith(NOT_APPLICABLE):
                reason = reason[len(NOT_APPLICABLE) :]
            mark = item.get_closest_marker(COST_MARKER)
            if mark is None:
                undeclared.append(item.nodeid)
            cost, wait = (
                declared_cost(dict(mark.kwargs), profile.timings, level)
                if mark is not None and not reason
                else (Cost(), 0.0)
            )
            tests.append(PlannedTest(item.nodeid, requirement_ids(item), reason or "", cost, wait))
        if self.is_worker:
            workers = int(self.config.workerinput.get("workercount", 1) or 1)  # type: ignore[attr-defined]
        else:
            workers = int(getattr(self.config.option, "numprocesses", 0) or 0)
        # the preflight: one start, and one generate where the profile has tokens; none when no
        # test to run uses the target
        reaches = any(
            TARGET_FIXTURE in getattr(item, "fixturenames", ())
            for item, planned in zip(marked, tests, strict=True)
            if not planned.not_applicable
        )
        probes = (
            0
            if self.embedded or not reaches
            else 1 + (profile.supports("tokens") and profile.supports("auth"))
        )
        overhead = Cost(conversations=probes, requests=probes)
        draft = Plan.build(
            tests, profile, workers=workers, undeclared=undeclared, overhead=overhead
        )
        deadline = self.settings.get("deadline") or draft.deadline(profile.timings)
        lanes: dict[str, tuple[int, Cost]] = {}
        for item, planned in zip(marked, tests, strict=True):
            name = _lane_name(item)
            if name is None or planned.not_applicable:
                continue
            count, once = lanes.get(name, (0, Cost()))
            mark = item.get_closest_marker(COST_MARKER)
            extra = mark.kwargs.get("lane_once", Cost()) if mark is not None else Cost()
            lanes[name] = (count + 1, once.widest(extra))
        lifetime = profile.timings.token_lifetime or LANE_LIFETIME
        for count, once in lanes.values():
            # a lane starts again (and does its shared steps again) each time its token is
            # half spent
            starts = min(count, math.ceil(float(deadline) / (lifetime / 2)))
            overhead = overhead + (Cost(conversations=1, requests=1) + once).times(starts)
        return Plan.build(
            tests,
            profile,
            workers=workers,
            undeclared=undeclared,
            overhead=overhead,
            reaches_target=reaches,
        )

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """In the controller, once a worker has collected and planned (before any test is
        scheduled): show the plan, and check the target before the first test runs."""
        if self.plan is not None:
            return
        path = self.run_folder() / PLAN_FILE
        if not path.is_file():
            return  # not a conformance run
        from conformance.plan import Plan

        self.active = True
        self.plan = Plan.from_json(path.read_text(encoding="utf-8"))
        self.plan_problems = self.plan.problems(self.profile, self.deadline_seconds)
        self.plan_only = bool(self.settings.get("plan")) or bool(self.plan_problems)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and not self.plan_only:
            reporter.write_line("")
            for line in self.describe_run():
                reporter.write_line(line)
        checked = self.plan.reaches_target and not self.plan_only
        if checked and not self.preflight_passes() and self._scheduler is not None:
            self._scheduler.cancel()  # no test is sent to a worker

    def pytest_report_collectionfinish(self, config: pytest.Config) -> list[str]:
        if not self.active or self.is_worker or self.plan_only:
            return []  # a run that only plans prints its plan once, at the end
        return self.describe_run()

    def describe_run(self) -> list[str]:
        """Target, profile, reading, timings, plan: printed before and after a run."""
        profile = self.profile
        t = profile.timings
        where = (
            "embedded reference server on 127.0.0.1 (compressed timings)"
            if self.embedded
            else (self.settings["target"])
        )
        if self.embedded and self.settings.get("timing") == "real":
            where = "embedded reference server on 127.0.0.1 (real timings)"
        secret_source = self.settings.sources.get("secret", "default")
        lines = [
            f"directline-conformance: target {where}",
            f"  profile {profile.name} ({profile.source}); endOfConversation reading "
            f"{profile.end_of_conversation}; secret from {'-' if self.embedded else secret_source}",
            f"  timings: stream window {t.stream_connect_window:g} s, token lifetime "
            f"{'as answered' if t.token_lifetime is None else f'{t.token_lifetime:g} s'}, "
            f"request timeout {t.request_timeout:g} s, bot timeout {t.bot_timeout:g} s; "
            f"fail on {self.fail_on.upper()}",
        ]
        expectations = self.expectations
        if expectations.listed:
            lines.append(
                f"  expectations: {self.expectations_path} ({len(expectations.expected)} known "
                f"deviations, {len(expectations.informational)} informational)"
            )
        level, seed = self.fuzz_level()
        lines.append(
            f"  fuzz: level {level}"
            + (f", seed {seed} (--seed to change)" if seed is not None else ", derandomized")
        )
        if self.plan is not None:
            lines += self.plan.lines(profile, self.deadline_seconds)
        return lines

    def fuzz_level(self) -> tuple[str, int | None]:
        """(the Hypothesis level, its seed: None for the derandomized ci level)."""
        level = self.settings.get("fuzz")
        if not level:
            limited = any(
                v is not None
                for v in (
                    self.profile.limits.requests_per_second,
                    self.profile.limits.conversations,
                    self.profile.limits.requests,
                )
            )
            loopback = self.embedded or _is_loopback(str(self.settings.get("target")))
            level = "live" if limited or not loopback else "ci"
        if level == "ci":
            return level, None
        seed = self.settings.get("seed")
        return level, int(seed) if seed is not None else self.profile.fuzz.seed

    # -- a run that stops ---------------------------------------------------------------------
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Once the run has stopped (deadline, dead target, 429s), later tests are not run:
        each ends at once as an error naming the reason, and the summary says it once."""
        if not requirement_ids(item):
            return
        from conformance.errors import RunStopped

        reason = self.governor.stopped()
        if reason is not None:
            raise RunStopped(f"not run: {reason}")

    # -- outcomes -------------------------------------------------------------------------------
    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Iterator[Any]:
        report = yield
        ids = requirement_ids(item)
        if not ids:
            return report
        from conformance.verdicts import Outcome

        outcome: Outcome | None = None
        failed_ids: tuple[str, ...] = ()
        if report.skipped and call.when in ("setup", "call"):
            reason = _skip_reason(report)
            outcome = (
                Outcome.NOT_APPLICABLE if reason.startswith(NOT_APPLICABLE) else Outcome.SKIPPED
            )
            report.user_properties.append(("dl_message", reason))
        elif report.failed:
            outcome, failed_ids, text = self._classify(item, call, ids)
            report.longrepr = text
            report.user_properties.append(("dl_message", text))
        elif call.when == "call" and report.passed:
            outcome = Outcome.PASSED
        if outcome is not None:
            report.user_properties.append(("dl_outcome", outcome.value))
            report.user_properties.append(("dl_requirements", ids))
            report.user_properties.append(("dl_failed_requirements", failed_ids))
            meter = item.stash.get(METER_KEY, None)
            if meter is not None:
                report.user_properties.append(("dl_cost", meter.as_dict()))
        return report

    def _classify(
        self, item: pytest.Item, call: pytest.CallInfo[None], ids: tuple[str, ...]
    ) -> tuple[Any, tuple[str, ...], str]:
        """(outcome, the requirements a failure names, the redacted text shown for it)."""
        from conformance.errors import ConformanceFailure, HarnessError, Violation
        from conformance.evidence import render_transcript
        from conformance.verdicts import Outcome

        exc = _first_cause(call.excinfo.value) if call.excinfo else None
        recorder = item.stash.get(RECORDER_KEY, None)
        exchanges = list(recorder.exchanges) if recorder is not None else []
        if isinstance(exc, Violation) and call.when == "call":
            named = (exc.requirement,) if exc.requirement else ids
            return (
                Outcome.FAILED,
                tuple(r for r in named if r),
                self._bug_report(exc, named, exchanges),
            )
        if isinstance(exc, ConformanceFailure) and call.when == "call":
            return Outcome.FAILED, (), self.redactor.redact(str(exc))
        if isinstance(exc, HarnessError) or _is_flaky(exc):
            detail = str(exc) if isinstance(exc, HarnessError) else _flaky_text(exc)
            text = f"error (not a verdict on {', '.join(ids)}): {detail}"
            if exchanges and not str(detail).startswith("not run: "):
                text += "\n  exchanges:\n" + _indent(
                    render_transcript(exchanges[-8:], self.redactor), 4
                )
            return Outcome.ERROR, (), _clip(self.redactor.redact(text), MESSAGE_CHARS)
        longrepr = self.redactor.redact(
            str(call.excinfo.getrepr(style="short")) if call.excinfo else ""
        )
        if isinstance(exc, AssertionError) and call.when == "call":
            return Outcome.FAILED, (), _clip(longrepr, MESSAGE_CHARS)
        return Outcome.ERROR, (), _clip(longrepr, MESSAGE_CHARS)

    def _bug_report(self, violation: Any, named: tuple[str, ...], exchanges: list[Any]) -> str:
        """A failure message that reads like a bug report, secrets removed."""
        from conformance.errors import ConformanceFailure

        requirements = [self.catalog[rid] for rid in named if rid in self.catalog]
        first: Requirement = requirements[0]
        level = min((r.level for r in requirements), key=["MUST", "SHOULD", "MAY", "RETIRED"].index)
        title = first.title if len(requirements) == 1 else "; ".join(r.title for r in requirements)
        shown = list(exchanges[-8:]) or list(violation.exchanges)
        for exchange in violation.exchanges:
            if exchange not in shown:
                shown.append(exchange)
        failure = ConformanceFailure(
            ", ".join(named),
            level,
            title,
            violation.expected,
            violation.observed,
            shown,
            redactor=self.redactor,
            hint=violation.hint or first.rule,
        )
        # Hypothesis attaches its falsifying example and @reproduce_failure blob as notes
        notes = "\n".join(_clip(str(n), 4000) for n in getattr(violation, "__notes__", ()))
        text = str(failure) + (f"\n{notes}" if notes else "")
        return _clip(self.redactor.redact(text), MESSAGE_CHARS)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        if "dl_outcome" not in props:
            return
        # Under pytest-xdist the controller collects nothing: a worker's verdict-carrying
        # report is what tells it that this is a conformance run.
        self.active = True
        from conformance.verdicts import Outcome, TestResult

        outcome = Outcome(props["dl_outcome"])
        previous = self.results.get(report.nodeid)
        duration = report.duration + (previous.duration if previous else 0.0)
        cost = props.get("dl_cost") or (previous.cost if previous else {})
        if previous is not None and previous.outcome.rank >= outcome.rank:
            previous.duration = duration
            previous.cost = cost
            return
        self.results[report.nodeid] = TestResult(
            nodeid=report.nodeid,
            requirements=tuple(props["dl_requirements"]),
            outcome=outcome,
            duration=duration,
            message=str(props.get("dl_message", "")),
            failed_requirements=tuple(props.get("dl_failed_requirements", ())),
            cost=cost,
        )

    # -- the end of the run ---------------------------------------------------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self.fatal is not None and not self.is_worker:
            session.exitstatus = 2
            return
        if not self.active or self.is_worker or self.config.option.collectonly:
            return
        if exitstatus in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
            return
        if self.plan_only:
            session.exitstatus = 2 if self.plan_problems else 0
            return
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            self.stopped = "interrupted (Ctrl-C or SIGTERM)"
        elif self._governor is not None or self._run_folder is not None:
            self.stopped = self._stop_reason()
        self.record = self._build_record()
        self.verdicts = list(self.record.verdicts)
        session.exitstatus = self.record.exit_status
        report_dir = self.settings.get("report_dir")
        if report_dir:
            from conformance.report import write_reports

            try:
                self.report_paths = write_reports(report_dir, self.record, self.redactor)
            except OSError as exc:
                self.report_paths = []
                self.report_error = f"the reports could not be written to {report_dir}: {exc}"
                session.exitstatus = 2

    def _stop_reason(self) -> str | None:
        """Why the run stopped early, as the governors of its processes recorded it."""
        if self._governor is not None:
            reason = self._governor.stopped()
            if reason:
                return reason
        if self._run_folder is not None:
            stop = self._run_folder / "stop"
            if stop.is_file():
                return stop.read_text(encoding="utf-8") or "stopped"
        return None

    def _audited(self, results: dict[str, TestResult]) -> dict[str, TestResult]:
        """Each test's result with its planned cost, and where it sent more than that."""
        from dataclasses import asdict, replace

        from conformance.plan import overspent
        from conformance.verdicts import Outcome

        assert self.plan is not None
        planned = {t.nodeid: t.cost for t in self.plan.tests}
        audited = {}
        for nodeid, result in results.items():
            declared = planned.get(nodeid)
            if declared is None:
                audited[nodeid] = result
                continue
            # a failing Hypothesis test shrinks and replays its example: only a pass is held to
            # its declaration (the run's governor holds every test to the budget regardless)
            audited_outcome = result.outcome is Outcome.PASSED and result.cost
            over = (
                overspent(declared, result.cost, self.plan.polls_per_wait)
                if audited_outcome
                else []
            )
            audited[nodeid] = replace(result, planned=asdict(declared), overspent=tuple(over))
        return audited

    def _build_record(self) -> RunRecord:
        from conformance.report import public_url
        from conformance.suite.untested import UNTESTED
        from conformance.verdicts import Outcome, RunRecord, TestResult, compute_verdicts

        results = dict(self.results)
        if self.stopped and self.plan is not None:
            for planned in self.plan.tests:
                if planned.nodeid not in results and not planned.not_applicable:
                    results[planned.nodeid] = TestResult(
                        nodeid=planned.nodeid,
                        requirements=planned.requirements,
                        outcome=Outcome.ERROR,
                        message=f"not run: {self.stopped}",
                    )
        if self.plan is not None:
            results = self._audited(results)
        expectations = self.expectations
        verdicts = compute_verdicts(
            self.catalog,
            results.values(),
            expectations.expected,
            informational=expectations.informational,
            untested=UNTESTED,
        )
        profile = self.profile
        given = self.settings.get("target")
        target = public_url(given) if given else "embedded reference server"
        measured: dict[str, int] = {}
        for result in results.values():
            for key, value in result.cost.items():
                measured[key] = measured.get(key, 0) + int(value)
        if measured:
            # what reached the target, however the plan files it (polls, pages, lane starts)
            measured["sent_requests"] = sum(
                measured.get(key, 0) for key in ("requests", "polls", "pages", "lane_requests")
            )
            measured["sent_conversations"] = measured.get("conversations", 0) + measured.get(
                "lane_conversations", 0
            )
            measured["sent_activities"] = measured.get("activities", 0) + measured.get(
                "lane_activities", 0
            )
        planned = None
        if self.plan is not None:
            total = self.plan.total
            planned = {
                "conversations": total.conversations,
                "requests": self.plan.requests,
                "streams": total.streams,
                "activities": total.activities,
                "minutes": round(self.plan.minutes, 2),
            }
        return RunRecord(
            target=target,
            embedded=self.embedded,
            profile={
                "name": profile.name,
                "source": profile.source,
                "end_of_conversation": profile.end_of_conversation,
                "features": sorted(profile.features),
                "timings": dict(vars(profile.timings)),
            },
            expectations=self.expectations_path if expectations.listed else None,
            header=tuple(
                line.replace(given, target) if given else line for line in self.describe_run()
            ),
            fail_on=self.fail_on,
            started=self.started,
            finished=time.time(),
            verdicts=tuple(verdicts),
            results=tuple(results.values()),
            planned=planned,
            measured=measured or None,
            stopped=self.stopped,
        )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.fatal is not None and not self.is_worker:
            terminalreporter.write_line(
                f"directline-conformance: error: {self.fatal}", red=True, bold=True
            )
            return
        if self.is_worker or not self.active:
            return
        tr = terminalreporter
        if self.plan_only and self.plan is not None:
            tr.section("directline-conformance plan")
            for line in self.describe_run():
                tr.write_line(line)
            if self.plan_problems:
                tr.write_line(
                    "directline-conformance: the run does not fit the profile's limits, so "
                    "nothing was sent (exit 2):",
                    red=True,
                    bold=True,
                )
                for problem in self.plan_problems:
                    tr.write_line(f"  it {problem}")
            else:
                tr.write_line("directline-conformance: the plan fits; nothing was sent (--plan)")
            return
        if self.record is None:
            return
        from conformance.summary import summary_lines

        tr.section("directline-conformance verdicts")
        for line, style in summary_lines(self.record, SAME_REASON_SHOWN):
            tr.write_line(line, **style)
        for path in self.report_paths:
            tr.write_line(f"report: {path}")
        problem = getattr(self, "report_error", None)
        if problem:
            tr.write_line(f"directline-conformance: {problem}", red=True, bold=True)
        tr.write_line(f"directline-conformance: {self.record.conclusion}")


#: The longest failure or error text kept per test (a target answering megabytes must not make
#: megabyte reports).
MESSAGE_CHARS = 20_000


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM ends the run like Ctrl-C: the reports of what ran are written."""
    raise KeyboardInterrupt


def _first_cause(exc: BaseException) -> BaseException:
    """The exception that says what happened: inside an exception group, the first one the kit
    raised on purpose (a Violation, a harness error), else the first of the group."""
    group = getattr(exc, "exceptions", None)
    if not isinstance(group, tuple) or not group:
        return exc
    from conformance.errors import KitError, Violation

    flat = [_first_cause(inner) for inner in group]
    for inner in flat:
        if isinstance(inner, Violation | KitError):
            return inner
    return flat[0]


def _is_flaky(exc: BaseException | None) -> bool:
    """Hypothesis saw the same example pass and fail: a verdict cannot stand on that."""
    return exc is not None and any(k.__name__.startswith("Flaky") for k in type(exc).__mro__)


def _flaky_text(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        "inconclusive: Hypothesis saw the same example both pass and fail against the target "
        f"({type(exc).__name__}: {_clip(first, 300)})"
    )


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def dl_target(request: pytest.FixtureRequest) -> Target:
    """The Direct Line endpoint under test (starts the embedded reference server if none given)."""
    return _plugin(request.config).ensure_target()


@pytest.fixture(scope="session")
def dl_profile(dl_target: Target) -> Profile:
    """The profile the target is judged by (features, timings, bot triggers)."""
    return dl_target.profile


@pytest.fixture
def dl_recorder(request: pytest.FixtureRequest) -> Recorder:
    """Every exchange of this test, in order: the evidence of its verdict."""
    from conformance.client import Meter
    from conformance.evidence import Recorder

    recorder = Recorder()
    request.node.stash[RECORDER_KEY] = recorder
    request.node.stash.setdefault(METER_KEY, Meter())
    return recorder


@pytest.fixture
def dl_client_factory(
    request: pytest.FixtureRequest, dl_target: Target, dl_recorder: Recorder
) -> Iterator[Callable[[], DirectLineClient]]:
    """Make more clients for this test (several clients of one conversation); all are recorded."""
    plugin = _plugin(request.config)
    clients: list[DirectLineClient] = []

    def make() -> DirectLineClient:
        client = plugin.make_client(
            dl_target,
            case_id=request.node.nodeid,
            recorder=dl_recorder,
            meter=request.node.stash[METER_KEY],
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def dl_client(dl_client_factory: Callable[[], DirectLineClient]) -> DirectLineClient:
    """A fresh recording client with the target's secret."""
    return dl_client_factory()


@pytest.fixture
def dl_conversation(request: pytest.FixtureRequest, dl_client: DirectLineClient) -> Conversation:
    """A conversation started with the secret: the test's own, or, for a test marked
    ``@pytest.mark.lane(NAME)``, the lane's shared one (precondition: the start gave a usable
    conversation)."""
    name = _lane_name(request.node)
    if name is None:
        return dl_client.new_conversation()
    held = _plugin(request.config).lane(name, dl_client)
    if held.conversation is None:
        return dl_client.new_conversation()  # raises what the start's answer calls for
    return held.conversation


@pytest.fixture
def dl_lane_state(request: pytest.FixtureRequest, dl_conversation: Conversation) -> dict[str, Any]:
    """What the tests of the lane have done to its conversation so far (a dict they share); a
    fresh dict for a test that is in no lane."""
    name = _lane_name(request.node)
    if name is None:
        return {}
    return _plugin(request.config)._lanes[name].state


@pytest.fixture
def dl_start_answer(request: pytest.FixtureRequest, dl_client: DirectLineClient) -> Exchange:
    """The answer to a start with the secret, as it came: the lane's (for a test marked
    ``@pytest.mark.lane(NAME)``, so several rules are judged from one start), else the test's."""
    name = _lane_name(request.node)
    if name is None:
        return dl_client.start_conversation()
    return _plugin(request.config).lane(name, dl_client).answer


@pytest.fixture(scope="session")
def dl_example_client(
    request: pytest.FixtureRequest, dl_target: Target
) -> Callable[[pytest.Item], DirectLineClient]:
    """For Hypothesis tests: ``dl_example_client(request.node)`` makes a fresh recording client
    for one example; its recorder replaces the test's, so a failure shows that example's
    exchanges (what every example sent is counted on the test). Close it after the example (it
    is a context manager)."""
    plugin = _plugin(request.config)

    def make(node: pytest.Item) -> DirectLineClient:
        from conformance.client import Meter
        from conformance.evidence import Recorder

        recorder = Recorder()
        node.stash[RECORDER_KEY] = recorder
        meter = node.stash.setdefault(METER_KEY, Meter())
        return plugin.make_client(dl_target, case_id=node.nodeid, recorder=recorder, meter=meter)

    return make


@pytest.fixture(scope="session")
def dl_fuzz(request: pytest.FixtureRequest, dl_target: Target) -> dict[str, Any]:
    """The fuzz settings of the run: ``level`` (ci or live: --dl-fuzz; default live when the
    profile has limits or the target is not on this machine, else ci), ``seed`` (the live
    level's: --dl-seed, else the profile's; None for ci, which is derandomized), ``database``
    (a directory for Hypothesis's example database, --dl-hypothesis-db; None: in memory only)
    and ``shrink`` (--dl-shrink: whether failing examples are shrunk)."""
    plugin = _plugin(request.config)
    level, seed = plugin.fuzz_level()
    return {
        "level": level,
        "seed": seed,
        "database": plugin.settings.get("hypothesis_db"),
        "shrink": plugin.settings.get("shrink", "yes") == "yes",
    }


# -- helpers ----------------------------------------------------------------------------------
def _is_loopback(base_url: str) -> bool:
    """Whether the target runs on this machine (not a shared live service)."""
    import ipaddress
    from urllib.parse import urlsplit

    try:
        host = urlsplit(base_url).hostname or ""
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text):,} characters)"


#: Seconds a lane's conversation is used when the target says nothing of its token's lifetime.
LANE_LIFETIME = 1800.0


class Lane:
    """A conversation shared by the tests of a lane, with the start answer that made it."""

    def __init__(self, answer: Exchange, lifetime: float) -> None:
        self.answer = answer
        self.conversation: Conversation | None = None
        self.born = time.monotonic()
        self.lifetime = lifetime
        #: What the lane's tests leave for the next ones (e.g. "ended": the conversation was
        #: ended); it goes with the conversation when the lane starts a new one.
        self.state: dict[str, Any] = {}

    def stale(self) -> bool:
        """Whether the token is half spent (the next test would get too little of it)."""
        return time.monotonic() - self.born > self.lifetime / 2


def _parse_start(client: DirectLineClient, answer: Exchange) -> Conversation | None:
    """The conversation a start answer gave, when it is a usable one."""
    from conformance.client.wire import Conversation, id_problem

    data = answer.json_or_none()
    if (
        answer.status is None
        or not 200 <= answer.status < 300
        or not isinstance(data, dict)
        or id_problem(data.get("conversationId")) is not None
    ):
        return None
    expires = data.get("expires_in")
    return Conversation(
        id=data["conversationId"],
        token=data["token"] if isinstance(data.get("token"), str) else None,
        stream_url=data["streamUrl"] if isinstance(data.get("streamUrl"), str) else None,
        expires_in=expires if isinstance(expires, int) and not isinstance(expires, bool) else None,
        answer=answer,
    )


def _lane_name(item: pytest.Item) -> str | None:
    mark = item.get_closest_marker("lane")
    return str(mark.args[0]) if mark is not None else None


def _group_of(item: pytest.Item) -> str | None:
    mark = item.get_closest_marker("xdist_group")
    if mark is None:
        return None
    return str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))


def group_lanes(items: list[pytest.Item]) -> None:
    """The tests of a lane run one after another on one pytest-xdist worker, so its
    conversation is started once."""
    for item in items:
        name = _lane_name(item)
        if name is not None:
            item.add_marker(pytest.mark.xdist_group(name=f"lane:{name}"))


def schedule_timing_tests_first(items: list[pytest.Item]) -> None:
    """Put the tests that wait out real protocol timings first, each in its own xdist group.

    With ``-n N --dist loadgroup`` every long wait then starts at once on its own worker, so a
    run lasts about its longest wait rather than the sum of them. The order is deterministic,
    as pytest-xdist requires of every worker's collection.
    """
    slow = [item for item in items if item.get_closest_marker("slow")]
    for item in slow:
        item.add_marker(pytest.mark.xdist_group(name=f"timing:{item.nodeid}"))
    items[:] = slow + [item for item in items if not item.get_closest_marker("slow")]


def _in_suite(item: pytest.Item) -> bool:
    module = getattr(item, "module", None)
    return bool(module) and str(getattr(module, "__name__", "")).startswith(SUITE_PACKAGE + ".")


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
        return reason[len("Skipped: ") :] if reason.startswith("Skipped: ") else reason
    return str(longrepr or "")


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line for line in text.splitlines())
