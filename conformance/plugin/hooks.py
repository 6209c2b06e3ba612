"""How pytest drives a conformance run: options, collection, each test's outcome, the end.

1. settings are resolved once, and the report directory is created and proven writable;
2. collection checks every test's requirement IDs against the catalog, marks the tests whose
   requirements need a feature the profile lacks as not-applicable, and plans the run
   (conformance.plugin.plan). A run that does not fit (or ``--plan``) deselects everything;
3. the target is checked once before the first test (the preflight);
4. each test's report carries its outcome, the requirements a failure names, its text
   (conformance.plugin.outcomes) and what it sent, so a pytest-xdist controller gets them from
   its workers;
5. at the end the outcomes become a RunRecord (conformance.plugin.record) that the reports and
   the terminal summary read. An interrupted or stopped run still writes its reports.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
from collections.abc import Callable, Generator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import pytest

from conformance.config.profile import Profile
from conformance.config.settings import SETTINGS, check_report_dir
from conformance.errors import RunStopped
from conformance.plugin.markers import (
    BOT_NEEDS,
    MARKER,
    NOT_APPLICABLE,
    SUITE_PACKAGE,
    group_of,
    in_suite,
    register_markers,
    requirement_ids,
)
from conformance.plugin.outcomes import classify, skip_reason
from conformance.plugin.plan import Plan, declared_wait, plan_selection
from conformance.plugin.record import build_record
from conformance.plugin.scheduling import (
    GROUPED_DISTS,
    GROUPS_FILE,
    GroupScheduling,
    group_lanes,
    schedule_timing_tests_first,
)
from conformance.plugin.session import METER_KEY, PLUGIN_NAME, RECORDER_KEY, RunSession
from conformance.plugin.summary import plan_lines, summary_lines
from conformance.verdicts import Outcome, RunRecord, TestResult

if TYPE_CHECKING:
    from xdist.workermanage import WorkerController

__all__ = ["DirectLinePlugin", "pytest_addoption", "pytest_configure"]

#: The file of the run folder holding the plan a worker computed, for the controller.
PLAN_FILE = "plan.json"
#: Requirement lines with the same reason the summary shows before it counts the rest.
SAME_REASON_SHOWN = 3


def pytest_addoption(parser: pytest.Parser) -> None:
    """One option per setting (conformance.config.settings)."""
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
            metavar=setting.metavar,
            help=setting.help,
        )


def pytest_configure(config: pytest.Config) -> None:
    register_markers(config)
    config.pluginmanager.register(DirectLinePlugin(config), PLUGIN_NAME)


class DirectLinePlugin(RunSession):
    """The hooks of one conformance run (one instance per pytest process)."""

    def __init__(self, config: pytest.Config) -> None:
        super().__init__(config)
        self.active = False
        self.results: dict[str, TestResult] = {}
        self.record: RunRecord | None = None
        #: Why the run stopped early: deadline, dead target, interrupted (None: it did not).
        self.stopped: str | None = None
        #: --plan, or a plan that does not fit: nothing runs, the plan is the outcome.
        self.plan_only = False
        self.plan_problems: list[str] = []
        #: The pytest-xdist scheduler of a distributed run (the controller's).
        self._scheduler: GroupScheduling | None = None
        #: The report files written at the end of the run (--dl-report-dir), for the summary.
        self.report_paths: list[Path] = []
        #: Why the reports could not be written ("" when they were, or none were asked for).
        self.report_error = ""

    # -- the run folder (pytest-xdist) -------------------------------------------------------
    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: WorkerController) -> None:
        """Give each pytest-xdist worker the run's folder, start time and embedded server."""
        node.workerinput["dl_run_dir"] = str(self.run_folder())
        node.workerinput["dl_started"] = repr(self.started)
        if self._conformance_options_given():
            self.check_catalog_for(node.workerinput)
            self.share_embedded(node.workerinput)
            # a worker's own --dist is "no": whether a clock's tests all come to one worker
            # (conformance.plugin.clocks) is the controller's to say
            node.workerinput["dl_grouped"] = self.config.getvalue("dist") in GROUPED_DISTS

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self._own_folder and self._run_folder is not None:
            shutil.rmtree(self._run_folder, ignore_errors=True)

    def _worker_folder(self) -> Path:
        """The run folder as the controller handed it to this worker."""
        return Path(self.config.workerinput["dl_run_dir"])  # type: ignore[attr-defined]

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
        marked = [item for item in items if requirement_ids(item) or in_suite(item)]
        if marked:
            schedule_timing_tests_first(items, self._declared_wait())
            group_lanes(marked)
            if self.is_worker:
                groups = {item.nodeid: group for item in marked if (group := group_of(item))}
                _write_atomically(self._worker_folder() / GROUPS_FILE, json.dumps(groups))

    def _declared_wait(self) -> Callable[[pytest.Item], float]:
        """A test's declared wait by the profile's timings (a profile that cannot be read
        stops the run here, in one line, as it would when the run is planned)."""
        timings = self.profile.timings
        return lambda item: declared_wait(item, timings)

    @pytest.hookimpl(tryfirst=True, optionalhook=True)
    def pytest_xdist_make_scheduler(
        self, config: pytest.Config, log: Any
    ) -> GroupScheduling | None:
        """A conformance run spreads its tests by group (see conformance.plugin.scheduling)."""
        if config.getvalue("dist") not in GROUPED_DISTS:
            return None
        if not self._conformance_options_given():
            return None
        self._scheduler = GroupScheduling(config, log, self.run_folder() / GROUPS_FILE)
        return self._scheduler

    @pytest.hookimpl(trylast=True, specname="pytest_collection_modifyitems")
    def pytest_collection_modifyitems_plan(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        """After ``-k`` and ``-m`` have deselected: mark what does not apply, plan the rest."""
        marked = [item for item in items if requirement_ids(item) or in_suite(item)]
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
        if self.is_worker:
            workers = int(self.config.workerinput.get("workercount", 1) or 1)  # type: ignore[attr-defined]
        else:
            workers = int(getattr(self.config.option, "numprocesses", 0) or 0)
        self.plan = plan_selection(
            marked,
            profile,
            level=self.fuzz_level()[0],
            workers=workers,
            embedded=self.embedded,
            deadline=self.settings.get("deadline"),
        )
        self.plan_problems = self.plan.problems(profile, self.deadline_seconds)
        self.plan_only = bool(self.settings.get("plan")) or bool(self.plan_problems)
        if self.is_worker:
            _write_atomically(self._worker_folder() / PLAN_FILE, self.plan.to_json())
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

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: WorkerController, ids: list[str]) -> None:
        """In the controller, once a worker has collected and planned (before any test is
        scheduled): show the plan, and check the target before the first test runs."""
        if self.plan is not None:
            return
        path = self.run_folder() / PLAN_FILE
        if not path.is_file():
            return  # not a conformance run
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

    # -- a run that stops ---------------------------------------------------------------------
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Once the run has stopped (deadline, dead target, 429s), later tests are not run:
        each ends at once as an error naming the reason, and the summary says it once."""
        if not requirement_ids(item):
            return
        reason = self.governor.stopped()
        if reason is not None:
            raise RunStopped(f"not run: {reason}")

    # -- outcomes -------------------------------------------------------------------------------
    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        ids = requirement_ids(item)
        if not ids:
            return report
        outcome: Outcome | None = None
        failed_ids: tuple[str, ...] = ()
        if report.skipped and call.when in ("setup", "call"):
            reason = skip_reason(report)
            outcome = (
                Outcome.NOT_APPLICABLE if reason.startswith(NOT_APPLICABLE) else Outcome.SKIPPED
            )
            report.user_properties.append(("dl_message", reason))
        elif report.failed:
            recorder = item.stash.get(RECORDER_KEY, None)
            outcome, failed_ids, text = classify(
                call,
                ids,
                list(recorder.exchanges) if recorder is not None else [],
                catalog=self.catalog,
                redactor=self.redactor,
            )
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

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props: dict[str, Any] = dict(report.user_properties)
        if "dl_outcome" not in props:
            return
        # Under pytest-xdist the controller collects nothing: a worker's verdict-carrying
        # report is what tells it that this is a conformance run.
        self.active = True
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
    @pytest.hookimpl(tryfirst=True, specname="pytest_sessionfinish")
    def pytest_sessionfinish_first(self) -> None:
        """In a pytest-xdist controller every test has ended (it runs no fixtures of its own):
        the server it shares with its workers stops while they exit."""
        if self.distributed and not self.is_worker:
            self.ask_server_to_stop()

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.stop_server()
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
        self.record = build_record(
            catalog=self.catalog,
            results=self.results,
            plan=self.plan,
            profile=self.profile,
            expectations=self.expectations,
            expectations_path=self.expectations_path,
            target=self.settings.get("target"),
            header=self.describe_run(),
            fail_on=self.fail_on,
            started=self.started,
            stopped=self.stopped,
        )
        session.exitstatus = self.record.exit_status
        report_dir = self.settings.get("report_dir")
        if report_dir:
            from conformance.reports.json import write_reports  # the renderers, only now

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

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        tr = terminalreporter
        if self.fatal is not None and not self.is_worker:
            tr.write_line(f"directline-conformance: error: {self.fatal}", red=True, bold=True)
            return
        if self.is_worker or not self.active:
            return
        if self.plan_only and self.plan is not None:
            tr.section("directline-conformance plan")
            for line, style in plan_lines(self.describe_run(), self.plan_problems):
                tr.write_line(line, **style)
            return
        if self.record is None:
            return
        tr.section("directline-conformance verdicts")
        for line, style in summary_lines(self.record, SAME_REASON_SHOWN):
            tr.write_line(line, **style)
        for path in self.report_paths:
            tr.write_line(f"report: {path}")
        if self.report_error:
            tr.write_line(f"directline-conformance: {self.report_error}", red=True, bold=True)
        tr.write_line(f"directline-conformance: {self.record.conclusion}")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM ends the run like Ctrl-C: the reports of what ran are written."""
    raise KeyboardInterrupt


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
