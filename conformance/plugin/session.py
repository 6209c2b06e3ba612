"""What one conformance run holds in one pytest process, resolved on first use.

Settings (command line > environment > profile > spec defaults), catalog, profile, redactor,
expectations, the run's governor (pace, budget, deadline, a dead target), the target (the
given URL, checked once by the preflight, or the embedded reference server), and the
conversations shared by lanes. A configuration problem found on the way is one clear line and
exit status 2, never a traceback.

Under pytest-xdist the controller and every worker hold one each; what the whole run shares
(rate, budget, stop, the plan a worker computed) lives in a folder the controller hands to its
workers.
"""

from __future__ import annotations

import contextlib
import secrets as secrets_module
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import pytest

from conformance.catalog import Catalog, CatalogError, load_catalog
from conformance.config.expectations import Expectations, load_expectations
from conformance.config.profile import Profile, companion_expectations
from conformance.config.settings import SETTINGS, Resolved, resolve
from conformance.config.target import (
    Target,
    effective_profile,
    is_loopback_url,
    normalise_target_url,
)
from conformance.errors import ConfigError, HarnessError
from conformance.evidence import Recorder, Redactor
from conformance.plugin.clocks import Clocks
from conformance.plugin.lanes import Lane, lane_lifetime, parse_start
from conformance.plugin.plan import Plan, declared_wait

if TYPE_CHECKING:
    from conformance.client import DirectLineClient, Meter, RunGovernor
    from conformance.reference.server import EmbeddedServer

__all__ = ["METER_KEY", "PLUGIN_NAME", "RECORDER_KEY", "RunSession", "session_of"]

T = TypeVar("T")

#: The name the run's session is registered under with pytest.
PLUGIN_NAME = "directline-conformance:session"
#: Where a test keeps its recorder (its evidence) and its meter (what it sent).
RECORDER_KEY = pytest.StashKey[Recorder]()
METER_KEY = pytest.StashKey["Meter"]()

#: Seconds a run may take when neither the settings, the profile nor a plan say.
FALLBACK_DEADLINE = 3600.0


class RunSession:
    """The state of one conformance run in this process (the pytest hooks drive it)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        worker = getattr(config, "workerinput", None)
        #: When the run started (the controller's clock, shared with every worker).
        self.started: float = float(worker["dl_started"]) if worker else time.time()
        self._run_folder: Path | None = Path(worker["dl_run_dir"]) if worker else None
        self._own_folder = False
        self._settings: Resolved | None = None
        self._profile: Profile | None = None
        self._catalog: Catalog | None = None
        self._target: Target | None = None
        self._server: EmbeddedServer | None = None
        self._redactor: Redactor | None = None
        self._governor: RunGovernor | None = None
        self._expectations: Expectations | None = None
        self.plan: Plan | None = None
        self._preflight_done = False
        #: Why the run could not start (bad configuration, a target that is no Direct Line
        #: service): one line, exit 2, nothing judged.
        self.fatal: str | None = None
        #: The shared conversations of this process, by lane name.
        self.lanes: dict[str, Lane] = {}
        self._clocks: Clocks | None = None

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
            worker = getattr(self.config, "workerinput", None)
            checked = bool(worker and worker.get("dl_catalog_checked"))
            self._catalog = self._guard(lambda: load_catalog(schema_checked=checked))
        return self._catalog

    def check_catalog_for(self, workerinput: dict[str, object]) -> None:
        """In a pytest-xdist controller: check the packaged catalog once here, so no worker
        checks it again (a catalog that fails is left for the workers to report)."""
        try:
            load_catalog()
        except CatalogError:
            return
        workerinput["dl_catalog_checked"] = True

    @property
    def embedded(self) -> bool:
        return not self.settings.get("target")

    @property
    def profile(self) -> Profile:
        if self._profile is None:
            self._profile = self._guard(
                lambda: effective_profile(self.settings, embedded=self.embedded)
            )
        return self._profile

    @property
    def redactor(self) -> Redactor:
        if self._redactor is None:
            self._redactor = Redactor()
            secret = self.settings.get("secret")
            if secret:
                self._redactor.add_secret(secret, env_var=self.settings["secret_env"])
        return self._redactor

    @property
    def expectations_path(self) -> str | None:
        """--dl-expect, else the file shipped with a built-in profile (NAME.expect.toml)."""
        given = self.settings.get("expect")
        if given:
            return str(given)
        companion = companion_expectations(self.profile)
        return str(companion) if companion else None

    @property
    def expectations(self) -> Expectations:
        """Known deviations and informational rules of the target, from the expectations file."""
        if self._expectations is None:
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
        return timings.deadline if timings.deadline is not None else FALLBACK_DEADLINE

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

    def fuzz_level(self) -> tuple[str, int | None]:
        """(the Hypothesis level, its seed: None for the derandomized ci level)."""
        level = self.settings.get("fuzz")
        if not level:
            limits = self.profile.limits
            limited = any(
                v is not None
                for v in (limits.requests_per_second, limits.conversations, limits.requests)
            )
            loopback = self.embedded or is_loopback_url(str(self.settings.get("target")))
            level = "live" if limited or not loopback else "ci"
        if level == "ci":
            return level, None
        seed = self.settings.get("seed")
        return level, int(seed) if seed is not None else self.profile.fuzz.seed

    # -- problems --------------------------------------------------------------------------------
    def _guard(self, build: Callable[[], T]) -> T:
        """Turn a configuration problem into one clear line and exit status 2, not a traceback."""
        try:
            return build()
        except HarnessError as exc:
            self.stop_with(str(exc))

    def stop_with(self, problem: str) -> NoReturn:
        """End the run at once, before anything is judged: one line, exit status 2."""
        self.fatal = self.redactor.redact(problem) if self._settings is not None else problem
        pytest.exit(f"directline-conformance: {self.fatal}", returncode=2)

    # -- the run folder (pytest-xdist) -------------------------------------------------------
    def run_folder(self) -> Path:
        """The folder the controller shares with its workers (ledger, stop flag, plan)."""
        if self._run_folder is None:
            self._run_folder = Path(tempfile.mkdtemp(prefix="directline-conformance-"))
            self._own_folder = True
        return self._run_folder

    # -- target ---------------------------------------------------------------------------------
    def ensure_target(self) -> Target:
        """The session's Target: the given URL (checked once by the preflight, before the first
        test that uses it; under pytest-xdist by the controller), or the embedded reference
        server."""
        if self._target is None:
            self._target = self._guard(self._start_embedded if self.embedded else self._connect)
        return self._target

    def share_embedded(self, workerinput: dict[str, object]) -> None:
        """In a pytest-xdist controller of an embedded run: start the one reference server
        (here, where the loop that feeds the workers leaves a core's worth of time idle) and
        hand its address to a worker. One server instead of one per worker: no worker pays
        for importing and starting it, nor shares its interpreter with it."""
        if not self.embedded:
            return
        target = self.ensure_target()
        workerinput["dl_embedded_url"] = target.base_url
        workerinput["dl_embedded_secret"] = target.secret

    def ask_server_to_stop(self) -> None:
        """Ask the embedded server to stop without waiting: :meth:`stop_server` waits later,
        and meanwhile its shutdown overlaps the workers' exit."""
        if self._server is not None:
            self._server.stop(drain=False, wait=False)

    def stop_server(self) -> None:
        """Stop the embedded reference server, if this process started one."""
        if self._server is not None:
            # the run is over: no client is left to wait for
            self._server.stop(drain=False)
            self._server = None

    def _start_embedded(self) -> Target:
        worker = getattr(self.config, "workerinput", None)
        if worker and worker.get("dl_embedded_url"):
            # the controller serves every worker (see share_embedded): no server of our own
            secret = str(worker["dl_embedded_secret"])
            self.redactor.add_secret(secret, env_var=self.settings["secret_env"])
            return Target(
                base_url=str(worker["dl_embedded_url"]),
                secret=secret,
                profile=self.profile,
                embedded=True,
            )
        # the server (starlette, uvicorn) is imported only by a run that uses it
        from conformance.reference.config import ServerConfig
        from conformance.reference.server import EmbeddedServer

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
        from conformance.plugin.preflight import preflight  # imports the client

        target = self.ensure_target()
        client = self.make_client(target, case_id="directline-conformance:preflight")
        try:
            preflight(client, target.profile, secret_flag=self.settings.flag("secret_env"))
        finally:
            client.close()

    def preflight_passes(self) -> bool:
        """Run the preflight (once); when the target is no usable Direct Line service, say so
        in one line at the end of the run (exit 2), and False: no test may run."""
        try:
            self.preflight()
        except HarnessError as exc:
            self.fatal = self.redactor.redact(str(exc))
            return False
        return True

    def make_client(
        self,
        target: Target,
        *,
        case_id: str,
        recorder: Recorder | None = None,
        meter: Meter | None = None,
    ) -> DirectLineClient:
        """A recording client of the target that asks the run's governor before each request."""
        # the client (httpx, websockets) is imported once a test talks to the target, not when
        # pytest loads the plugin
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
        held = self.lanes.get(name)
        if held is None or held.stale():
            with client.meter.for_the_lane():
                answer = client.start_conversation()
            held = Lane(answer, lane_lifetime(self.profile.timings.token_lifetime, answer))
            # an answer that gives no usable conversation leaves none: the fixture then starts
            # one itself, which raises what the answer calls for
            with contextlib.suppress(Exception):
                held.conversation = parse_start(answer)
            self.lanes[name] = held
        elif held.answer not in client.recorder.exchanges:
            client.recorder.add(held.answer)
        return held

    @property
    def runs_whole_groups(self) -> bool:
        """Whether this process runs every test of a group it runs (no pytest-xdist, or a
        controller that schedules by group, conformance.plugin.scheduling)."""
        worker = getattr(self.config, "workerinput", None)
        return worker is None or bool(worker.get("dl_grouped"))

    @property
    def clocks(self) -> Clocks:
        """The conversations the timing tests of this process start together (see
        conformance.plugin.clocks): shared where this process runs each clock's every test."""
        if self._clocks is None:
            target, timings = self.ensure_target(), self.profile.timings

            def make_client(item: pytest.Item) -> DirectLineClient:
                from conformance.client import Meter

                recorder = item.stash.setdefault(RECORDER_KEY, Recorder())
                meter = item.stash.setdefault(METER_KEY, Meter())
                return self.make_client(target, case_id=item.nodeid, recorder=recorder, meter=meter)

            self._clocks = Clocks(
                make_client,
                lambda item: declared_wait(item, timings),
                timings_declared=lambda name: getattr(timings, name, None) is not None,
                max_wait=timings.max_wait,
                shared=self.runs_whole_groups,
            )
        return self._clocks

    # -- the header ------------------------------------------------------------------------------
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


def session_of(config: pytest.Config) -> RunSession:
    """The run's session, as the plugin registered it."""
    session = config.pluginmanager.get_plugin(PLUGIN_NAME)
    assert isinstance(session, RunSession)
    return session
