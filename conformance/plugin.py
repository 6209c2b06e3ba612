"""The pytest plugin: target options, fixtures, the ``requirement`` marker, and verdicts.

Registered through the ``pytest11`` entry point, so it is loaded in every pytest run of an
environment that has the kit installed. It stays inert until used: until collected tests carry
``@pytest.mark.requirement`` (the packaged suite does) or a fixture of it is requested. Heavy
imports (the reference server, websockets, jsonschema) happen only then.

Flow of a run: settings are resolved once (command line > environment > profile > spec
defaults); collection checks every test's requirement IDs against the catalog and marks the
tests whose requirements need a feature the profile lacks as not-applicable; the session target
is resolved (the embedded reference server is started when no target is given); each test gets
clients that record every exchange; a check's Violation becomes a bug report; at the end every
test outcome is folded into one verdict per requirement, which sets the exit status.
"""

from __future__ import annotations

import secrets as secrets_module
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from conformance.settings import SETTINGS, resolve

if TYPE_CHECKING:
    from conformance.catalog import Catalog, Requirement
    from conformance.client import Conversation, DirectLineClient
    from conformance.evidence import Recorder
    from conformance.profile import Profile
    from conformance.target import Target
    from conformance.verdicts import RequirementVerdict, TestResult

__all__ = ["MARKER", "SUITE_PACKAGE", "DirectLinePlugin", "requirement_ids"]

MARKER = "requirement"
SUITE_PACKAGE = "conformance.suite"
PLUGIN_NAME = "directline-conformance:session"
NOT_APPLICABLE = "not-applicable: "
TARGET_DEAD = "target-dead: "
RECORDER_KEY = pytest.StashKey["Recorder"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("directline-conformance", "Direct Line 3.0 conformance")
    for setting in SETTINGS:
        group.addoption(
            setting.option,
            dest=f"dl_{setting.name}",
            default=None,
            metavar=setting.name.upper(),
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
        self.started = time.time()
        self._settings: Any = None
        self._profile: Profile | None = None
        self._catalog: Catalog | None = None
        self._target: Target | None = None
        self._server: Any = None
        self._redactor: Any = None
        self._limiter: Any = None
        self._budget: Any = None
        self._expectations: dict[str, str] | None = None
        #: (test where the target stopped answering, what happened); None while it answers.
        self.dead: tuple[str, str] | None = None
        self.skipped_while_dead = 0
        #: The report files written at the end of the run (--dl-report-dir), for the summary.
        self.report_paths: list[Any] = []

    # -- lazily resolved state -------------------------------------------------------------
    @property
    def settings(self) -> Any:
        if self._settings is None:
            cli = {s.name: self.config.getoption(f"dl_{s.name}") for s in SETTINGS}
            self._settings = self._guard(lambda: resolve(cli))
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
    def redactor(self) -> Any:
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
    def expectations(self) -> dict[str, str]:
        """Known deviations of the target (requirement ID -> reason), from --dl-expect."""
        if self._expectations is None:
            from conformance.expectations import load_expectations

            path = self.expectations_path
            self._expectations = (
                self._guard(lambda: load_expectations(path, self.catalog)) if path else {}
            )
        return self._expectations

    @property
    def fail_on(self) -> str:
        return str(self.settings.get("fail_on", "should"))

    def _guard(self, build: Callable[[], Any]) -> Any:
        """Turn a configuration problem into one clear line and exit status 2, not a traceback."""
        from conformance.errors import HarnessError

        try:
            return build()
        except HarnessError as exc:
            pytest.exit(f"directline-conformance: {exc}", returncode=2)

    # -- target ---------------------------------------------------------------------------------
    def ensure_target(self) -> Target:
        """The session's Target: the given URL (checked once), or the embedded reference server."""
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
        from conformance.errors import ConfigError, TargetError
        from conformance.target import Target, normalise_target_url

        base_url = normalise_target_url(self.settings["target"])
        secret = self.settings.get("secret")
        profile = self.profile
        if not secret and profile.supports("auth"):
            raise ConfigError(
                f"no secret for {base_url}: set {self.settings['secret_env']} "
                "(or name another variable with --dl-secret-env)"
            )
        target = Target(base_url=base_url, secret=secret, profile=profile)
        if hasattr(self.config, "workerinput"):
            return target  # the pytest-xdist controller checked it once at session start
        client = self.make_client(target, case_id="directline-conformance:preflight")
        try:
            self._preflight(client, target)
        except TargetError as exc:
            raise ConfigError(f"target {base_url} cannot be used: {exc}") from None
        finally:
            client.close()
        return target

    def _preflight(self, client: DirectLineClient, target: Target) -> None:
        """One cheap request that tells an unreachable target or a refused secret apart early."""
        from conformance.errors import ConfigError

        if not target.profile.supports("auth"):
            client.request("GET", "/conversations/preflight-unknown/activities")
            return
        probe = (
            client.generate_token()
            if target.profile.supports("tokens")
            else client.start_conversation()
        )
        if probe.status in (401, 403) and target.profile.supports("tokens"):
            probe = client.start_conversation()
        if probe.status in (401, 403):
            raise ConfigError(
                f"target {target.base_url} refused the secret ({probe.status}) on both "
                f"tokens/generate and conversations: check {self.settings['secret_env']}"
            )

    def make_client(
        self, target: Target, *, case_id: str, recorder: Recorder | None = None
    ) -> DirectLineClient:
        from conformance.client import ConversationBudget, DirectLineClient, RateLimiter

        if self._limiter is None:
            rate, budget = worker_share(target.profile.limits, self.config)
            self._limiter = RateLimiter(rate)
            self._budget = ConversationBudget(budget)
        return DirectLineClient(
            target.base_url,
            target.secret,
            timeout=target.profile.timings.request_timeout,
            recorder=recorder,
            redactor=self.redactor,
            case_id=case_id,
            limiter=self._limiter,
            budget=self._budget,
        )

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Under pytest-xdist, check a foreign target once, here, in the controller: a worker
        that finds it unreachable could only crash, and every worker would say so."""
        distributed = getattr(self.config.option, "numprocesses", None) not in (None, 0)
        if distributed and not hasattr(self.config, "workerinput") and self.settings.get("target"):
            self.ensure_target()

    # -- collection -----------------------------------------------------------------------------
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        marked = [item for item in items if requirement_ids(item) or _in_suite(item)]
        if not marked:
            return
        self.active = True
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
        schedule_timing_tests_first(items)
        profile = self.profile
        _ = self.expectations  # a bad expectations file stops the run before any test
        for item in marked:
            missing: list[str] = []
            for rid in requirement_ids(item):
                missing += [f for f in profile.missing(self.catalog[rid].needs) if f not in missing]
            if missing:
                item.add_marker(
                    pytest.mark.skip(
                        reason=f"{NOT_APPLICABLE}profile {profile.name!r} does not declare "
                        + ", ".join(missing)
                    )
                )

    def pytest_report_collectionfinish(self, config: pytest.Config) -> list[str]:
        if not self.active:
            return []
        return self.describe_run()

    def describe_run(self) -> list[str]:
        """Target, profile, reading, timings: printed before and after a run."""
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
        return [
            f"directline-conformance: target {where}",
            f"  profile {profile.name} ({profile.source}); endOfConversation reading "
            f"{profile.end_of_conversation}; secret from {'-' if self.embedded else secret_source}",
            f"  timings: stream window {t.stream_connect_window:g} s, token lifetime "
            f"{'as answered' if t.token_lifetime is None else f'{t.token_lifetime:g} s'}, "
            f"request timeout {t.request_timeout:g} s, bot timeout {t.bot_timeout:g} s; "
            f"fail on {self.fail_on.upper()}",
        ] + (
            [
                f"  expectations: {self.expectations_path} "
                f"({len(self.expectations)} known deviations)"
            ]
            if self.expectations
            else []
        )

    # -- a target that dies -------------------------------------------------------------------
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Once the target has stopped accepting connections, later tests are not run (each
        would only fail to connect): unless it answers again, they are skipped as not-tested
        and the run reports the death once."""
        if self.dead is None or not requirement_ids(item):
            return
        if self._target is not None and _accepts_connections(self._target.base_url):
            self.dead = None
            return
        self.skipped_while_dead += 1
        pytest.skip(
            f"{TARGET_DEAD}the target stopped accepting connections during {self.dead[0]} "
            f"({self.dead[1]})"
        )

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
        return report

    def _classify(
        self, item: pytest.Item, call: pytest.CallInfo[None], ids: tuple[str, ...]
    ) -> tuple[Any, tuple[str, ...], str]:
        """(outcome, the requirements a failure names, the redacted text shown for it)."""
        from conformance.errors import ConformanceFailure, HarnessError, TargetUnreachable
        from conformance.evidence import render_transcript
        from conformance.expect import Violation
        from conformance.verdicts import Outcome

        exc = call.excinfo.value if call.excinfo else None
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
        if isinstance(exc, TargetUnreachable) and not self.embedded:
            self.dead = (item.nodeid, str(exc))
        if isinstance(exc, HarnessError):
            text = f"error (not a verdict on {', '.join(ids)}): {exc}"
            if exchanges:
                text += "\n  exchanges:\n" + _indent(
                    render_transcript(exchanges[-8:], self.redactor), 4
                )
            return Outcome.ERROR, (), self.redactor.redact(text)
        longrepr = self.redactor.redact(
            str(call.excinfo.getrepr(style="short")) if call.excinfo else ""
        )
        if isinstance(exc, AssertionError) and call.when == "call":
            return Outcome.FAILED, (), longrepr
        return Outcome.ERROR, (), longrepr

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
        return self.redactor.redact(text)

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
        if previous is not None and _rank(previous.outcome) >= _rank(outcome):
            previous.duration = duration
            return
        self.results[report.nodeid] = TestResult(
            nodeid=report.nodeid,
            requirements=tuple(props["dl_requirements"]),
            outcome=outcome,
            duration=duration,
            message=str(props.get("dl_message", "")),
            failed_requirements=tuple(props.get("dl_failed_requirements", ())),
        )

    # -- the end of the run ---------------------------------------------------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if not self.active or hasattr(self.config, "workerinput"):
            return
        if self.config.option.collectonly:
            return
        if exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR):
            return
        if exitstatus == pytest.ExitCode.USAGE_ERROR:
            return
        from conformance.verdicts import compute_verdicts, exit_status

        self.verdicts = compute_verdicts(self.catalog, self.results.values(), self.expectations)
        session.exitstatus = exit_status(self.verdicts, self.fail_on)
        report_dir = self.settings.get("report_dir")
        if report_dir:
            from conformance.report import write_reports

            self.report_paths = write_reports(report_dir, self, time.time())

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.verdicts:
            return
        from conformance.verdicts import failing, summary_counts

        tr = terminalreporter
        tr.section("directline-conformance verdicts")
        for line in self.describe_run():
            tr.write_line(line)
        from conformance.report_markdown import VERDICT_ORDER

        for level, counts in summary_counts(self.verdicts).items():
            tr.write_line(
                f"{level:<7} "
                + ", ".join(f"{counts[v]} {v}" for v in VERDICT_ORDER if counts.get(v))
            )
        bad = failing(self.verdicts, self.fail_on)
        failed = [v for v in bad if v.verdict.value == "fail"]
        if failed:
            tr.write_line("failing requirements (fail the run):", red=True, bold=True)
            for v in failed:
                tr.write_line(f"  {v.requirement.id} ({v.requirement.level}) {v.requirement.title}")
        unexpected = [v for v in bad if v.verdict.value == "unexpected-pass"]
        if unexpected:
            tr.write_line(
                "failing requirements (fail the run): unexpected passes, listed in the "
                "expectations file but passed (remove them from it):",
                red=True,
                bold=True,
            )
            for v in unexpected:
                tr.write_line(f"  {v.requirement.id} ({v.requirement.level}) {v.requirement.title}")
        ignored = [v for v in self.verdicts if v.verdict.value == "fail" and v not in bad]
        if ignored:
            tr.write_line(
                "failing requirements that do not fail the run (MAY, or below --dl-fail-on):"
            )
            for v in ignored:
                tr.write_line(f"  {v.requirement.id} ({v.requirement.level}) {v.requirement.title}")
        expected = [v for v in self.verdicts if v.verdict.value == "expected-fail"]
        if expected:
            tr.write_line("expected failures (listed in the expectations file):")
            for v in expected:
                tr.write_line(f"  {v.requirement.id}: {v.reason[:160]}")
        dead = [t for t in self.results.values() if t.message.startswith(TARGET_DEAD)]
        if dead:
            tr.write_line(
                f"{dead[0].message[len(TARGET_DEAD) :]}: {len(dead)} later test(s) not run",
                red=True,
                bold=True,
            )
        errors = [v for v in self.verdicts if v.verdict.value == "error"]
        if errors:
            tr.write_line(
                "requirements that could not be judged (harness or target errors):", yellow=True
            )
            for v in errors:
                tr.write_line(f"  {v.requirement.id}: {v.reason[:160]}")
        for path in self.report_paths:
            tr.write_line(f"report: {path}")
        status = session_status(self.verdicts, self.fail_on)
        tr.write_line(f"directline-conformance: {status}")


def session_status(verdicts: list[RequirementVerdict], fail_on: str) -> str:
    """The one-line conclusion of a run."""
    from conformance.verdicts import EXIT_FAILED, EXIT_OK, exit_status

    code = exit_status(verdicts, fail_on)
    if code == EXIT_OK:
        return "conformant for every exercised requirement (exit 0)"
    if code == EXIT_FAILED:
        return "NOT conformant (exit 1)"
    exercised = sum(
        1
        for v in verdicts
        if v.verdict.value in ("pass", "fail", "expected-fail", "unexpected-pass")
    )
    if not exercised:
        return "no requirement was exercised: this run proves nothing (exit 2)"
    return "harness or target errors prevented a verdict (exit 2)"


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
    from conformance.evidence import Recorder

    recorder = Recorder()
    request.node.stash[RECORDER_KEY] = recorder
    return recorder


@pytest.fixture
def dl_client_factory(
    request: pytest.FixtureRequest, dl_target: Target, dl_recorder: Recorder
) -> Iterator[Callable[[], DirectLineClient]]:
    """Make more clients for this test (several clients of one conversation); all are recorded."""
    plugin = _plugin(request.config)
    clients: list[DirectLineClient] = []

    def make() -> DirectLineClient:
        client = plugin.make_client(dl_target, case_id=request.node.nodeid, recorder=dl_recorder)
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
def dl_conversation(dl_client: DirectLineClient) -> Conversation:
    """A conversation started with the secret for this test alone."""
    return dl_client.new_conversation()


@pytest.fixture(scope="session")
def dl_example_client(
    request: pytest.FixtureRequest, dl_target: Target
) -> Callable[[pytest.Item], DirectLineClient]:
    """For Hypothesis tests: ``dl_example_client(request.node)`` makes a fresh recording client
    for one example; its recorder replaces the test's, so a failure shows that example's
    exchanges. Close it after the example (it is a context manager)."""
    plugin = _plugin(request.config)

    def make(node: pytest.Item) -> DirectLineClient:
        from conformance.evidence import Recorder

        recorder = Recorder()
        node.stash[RECORDER_KEY] = recorder
        return plugin.make_client(dl_target, case_id=node.nodeid, recorder=recorder)

    return make


@pytest.fixture(scope="session")
def dl_fuzz(request: pytest.FixtureRequest, dl_target: Target) -> dict[str, Any]:
    """The fuzz settings of the run: ``level`` (ci or live: --dl-fuzz; default ci against the
    embedded server or a loopback target, live otherwise), ``database`` (a directory for
    Hypothesis's example database, --dl-hypothesis-db; None: in memory only) and ``shrink``
    (--dl-shrink: whether failing examples are shrunk)."""
    plugin = _plugin(request.config)
    level = plugin.settings.get("fuzz")
    if not level:
        level = "ci" if dl_target.embedded or _is_loopback(dl_target.base_url) else "live"
    return {
        "level": level,
        "database": plugin.settings.get("hypothesis_db"),
        "shrink": plugin.settings.get("shrink", "yes") == "yes",
    }


# -- helpers ----------------------------------------------------------------------------------
def _is_loopback(base_url: str) -> bool:
    """Whether the target runs on this machine (not a shared live service)."""
    import ipaddress
    from urllib.parse import urlsplit

    host = urlsplit(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def _accepts_connections(base_url: str, timeout: float = 2.0) -> bool:
    """Whether anything accepts a TCP connection at the target's host and port."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def worker_share(limits: Any, config: pytest.Config) -> tuple[float | None, int | None]:
    """This process's share of the run's live-safety limits: under pytest-xdist every worker
    has its own limiter, so each gets 1/N of the rate and of the conversation budget."""
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1) or 1)
    rate = limits.requests_per_second
    budget = limits.conversations
    return (
        None if rate is None else rate / workers,
        None if budget is None else max(1, budget // workers),
    )


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


def _rank(outcome: Any) -> int:
    order = ["skipped", "not-applicable", "passed", "error", "failed"]
    return order.index(outcome.value)


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line for line in text.splitlines())
