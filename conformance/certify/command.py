"""``directline-conformance certify-proxy``: the suite against the upstream and through the proxy.

Two ``run`` subprocesses, one after the other, each writing its own report.json: the first
straight at the upstream, the second through the proxy (``--target``), with one profile, one
seed and one fuzz level. The second is told about the proxy (conformance.proxy.context), so the
PROXY rules apply to it only. Their verdicts are then combined per requirement
(conformance.reports.proxy_combine) into report.json/md/html and junit.xml.

Without ``--upstream`` the kit serves the upstream itself (conformance.certify.upstream) on
``--upstream-port``, the port the proxy under test forwards to, recording what reaches it. With
``--upstream URL`` the upstream is someone else's; ``--recording FILE`` names the recording of a
``serve --record FILE`` upstream, so the rules judged from a recording apply too.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from conformance.config.arguments import port_number
from conformance.config.target import is_loopback_url
from conformance.errors import ConfigError

__all__ = ["add_parser", "certify"]

PROG = "directline-conformance"
DEFAULT_UPSTREAM_PORT = 3978
#: The name of the upstream's recording of the proxied run, kept beside the report.
RECORDING_NAME = "upstream-recording.jsonl"
#: Settings each run gets from certify-proxy itself rather than from the user's flags.
_OWN_SETTINGS = frozenset({"target", "report_dir", "fuzz", "seed", "timing"})


#: What the command line hands over of ``run``: its setting flags, its check of a configuration
#: (a one-line ConfigError), the settings the user gave (this package imports nothing of cli.py).
SettingFlags = Callable[[argparse.ArgumentParser], None]
CheckConfiguration = Callable[[argparse.Namespace], None]
GivenSettings = Callable[[argparse.Namespace], dict[str, Any]]


def add_parser(
    commands: Any,
    *,
    setting_flags: SettingFlags,
    check: CheckConfiguration,
    given: GivenSettings,
) -> None:
    """The ``certify-proxy`` subcommand, with the ``run`` command's setting flags."""
    parser = commands.add_parser(
        "certify-proxy",
        help="certify a proxy from both sides: the suite against the upstream and through "
        "the proxy, and what reached the upstream",
        description="Run the suite against the upstream directly and through the proxy "
        "(--target), with one profile and seed, and report per requirement: holds, broken by "
        "the proxy, inherited (fails on both), fixed by the proxy. Without --upstream the kit "
        "serves the upstream itself on 127.0.0.1:--upstream-port (point the proxy there) and "
        "records what reaches it. Exit 1 when the proxy breaks a requirement, 2 for no "
        "conclusion. Arguments after -- go to both pytest runs.",
    )
    setting_flags(parser)
    parser.add_argument(
        "--upstream",
        metavar="URL",
        help="the base URL the proxy forwards to (default: the kit serves it, recorded)",
    )
    parser.add_argument(
        "--recording",
        metavar="FILE",
        help="with --upstream: the recording of a `serve --record FILE` upstream, so what "
        "reached it is judged too",
    )
    parser.add_argument(
        "--upstream-port",
        type=port_number,
        default=None,
        metavar="PORT",
        help=f"without --upstream: where the kit's upstream listens on 127.0.0.1 (default "
        f"{DEFAULT_UPSTREAM_PORT}): the address the proxy forwards to",
    )
    parser.add_argument(
        "--upstream-behave",
        choices=("reference", "live"),
        default=None,
        help="without --upstream: the kit's upstream as the docs say (reference, the default) "
        "or as the hosted service behaves (live, like serve --behave live)",
    )
    parser.add_argument("-k", metavar="EXPR", help="only tests matching the pytest expression")
    parser.add_argument("-n", metavar="WORKERS", default=None, help="workers of each run")
    parser.add_argument("-q", "--quiet", action="store_true", help="less output")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per test")
    parser.set_defaults(handler=partial(certify, check=check, given=given))


def certify(
    options: argparse.Namespace,
    extra: list[str],
    *,
    check: CheckConfiguration,
    given: GivenSettings,
) -> int:
    """The command; returns its exit status."""
    from conformance.config.settings import CLI_ENV, resolve
    from conformance.config.target import normalise_target_url

    os.environ[CLI_ENV] = "1"
    if not options.target:
        raise ConfigError("certify-proxy needs --target: the base URL of the proxy under test")
    check(options)
    if options.upstream is None:
        if options.recording:
            raise ConfigError("--recording names the recording of an --upstream: give both")
    elif options.upstream_port is not None or options.upstream_behave is not None:
        raise ConfigError("--upstream-port and --upstream-behave are for the kit's own upstream")
    settings = resolve(given(options), cli=True)
    proxy = normalise_target_url(options.target)
    work = Path(tempfile.mkdtemp(prefix="directline-certify-proxy-"))
    try:
        report_dir = Path(settings.get("report_dir") or work / "reports")
        if options.upstream is None:
            return _with_kit_upstream(options, extra, settings, proxy, work, report_dir)
        upstream = normalise_target_url(options.upstream)
        if options.recording and not Path(options.recording).is_file():
            raise ConfigError(f"--recording {options.recording}: no such file")
        return _certify(
            options, extra, settings, proxy, upstream, work, report_dir,
            kit=False, recording=Path(options.recording) if options.recording else None,
            profile_args=[], environment=dict(os.environ),
        )  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _with_kit_upstream(
    options: argparse.Namespace,
    extra: list[str],
    settings: Any,
    proxy: str,
    work: Path,
    report_dir: Path,
) -> int:
    """Serve the upstream (recorded) for the length of both runs."""
    from conformance.certify.upstream import KitUpstream
    from conformance.config.profile import companion_expectations, load_profile
    from conformance.config.profile_toml import profile_toml
    from conformance.config.target import effective_profile

    profile = effective_profile(settings, embedded=True)
    source = load_profile(settings.get("profile") or "reference")
    profile_file = work / "profile.toml"
    profile_file.write_text(profile_toml(profile), encoding="utf-8")
    profile_args = ["--profile", str(profile_file)]
    expect = settings.get("expect") or companion_expectations(source)
    if expect:
        profile_args += ["--expect", str(expect)]
    secret = settings.get("secret") or secrets.token_urlsafe(24)
    environment = {**os.environ, settings["secret_env"]: secret}
    upstream = KitUpstream(
        profile,
        secret=secret,
        recording=work / "recording-upstream-run.jsonl",
        port=options.upstream_port if options.upstream_port is not None else DEFAULT_UPSTREAM_PORT,
        behave=options.upstream_behave or "reference",
    )
    with upstream:
        assert upstream.base_url is not None
        return _certify(
            options, extra, settings, proxy, upstream.base_url, work, report_dir,
            kit=True, recording=work / "recording.jsonl", profile_args=profile_args,
            environment=environment, kit_upstream=upstream, profile=profile,
        )  # fmt: skip


def _certify(
    options: argparse.Namespace,
    extra: list[str],
    settings: Any,
    proxy: str,
    upstream: str,
    work: Path,
    report_dir: Path,
    *,
    kit: bool,
    recording: Path | None,
    profile_args: list[str],
    environment: dict[str, str],
    kit_upstream: Any = None,
    profile: Any = None,
) -> int:
    """Both runs, then the combined verdict and its reports."""
    from conformance.config.target import effective_profile
    from conformance.proxy.context import CONTEXT_ENV, ProxyContext
    from conformance.reports.proxy_combine import combine
    from conformance.reports.proxy_json import (
        Sides,
        build_proxy_report,
        read_figures,
        write_proxy_reports,
    )

    if profile is None:
        profile = effective_profile(settings, embedded=False)
    started = time.time()
    common = _run_flags(options, settings, profile, skip_profile=bool(profile_args)) + profile_args
    environment = {k: v for k, v in environment.items() if k != CONTEXT_ENV}
    kind = "the kit's recording upstream" if kit else "the given upstream"
    _say(f"certify-proxy: proxy {_public(proxy)}, upstream {_public(upstream)} ({kind})")

    _say(f"certify-proxy: 1/2 the suite straight at the upstream {_public(upstream)}")
    upstream_code = _run(upstream, report_dir / "upstream", common, extra, options, environment)

    figures = work / "figures.jsonl"
    context = ProxyContext(
        upstream=upstream,
        recording=str(recording) if recording is not None else None,
        figures=str(figures),
    ).write(work / "proxy-context.json")
    if kit_upstream is not None and recording is not None:
        kit_upstream.switch(recording)
    _say(f"certify-proxy: 2/2 the suite through the proxy {_public(proxy)}")
    proxy_code = _run(
        proxy, report_dir / "proxy", common, extra, options,
        {**environment, CONTEXT_ENV: str(context)},
    )  # fmt: skip

    if settings.get("plan"):
        _say(f"{PROG}: the plans of both runs are above; nothing was sent (--plan)")
        return max(upstream_code, proxy_code)
    reports = {}
    for side, code in (("upstream", upstream_code), ("proxy", proxy_code)):
        loaded = _load(report_dir / side / "report.json")
        if loaded is None:
            where = "straight at the upstream" if side == "upstream" else "through the proxy"
            _say(
                f"{PROG}: error: the run {where} wrote no report (exit {code}): see its output "
                "above; no conclusion (exit 2)",
                error=True,
            )
            return 2
        reports[side] = loaded
    combined = combine(reports["upstream"], reports["proxy"], fail_on=str(settings["fail_on"]))
    kept = None
    if kit and recording is not None and settings.get("report_dir") and recording.is_file():
        shutil.copyfile(recording, report_dir / RECORDING_NAME)
        kept = RECORDING_NAME
    elif recording is not None:
        kept = str(recording)
    report = build_proxy_report(
        combined,
        Sides(proxy, upstream, kit, recording is not None, reports["upstream"], reports["proxy"]),
        started=started,
        finished=time.time(),
        figures=read_figures(figures),
        recording=kept,
    )
    paths = []
    if settings.get("report_dir"):
        try:
            paths = write_proxy_reports(report_dir, report)
        except OSError as exc:
            _say(f"{PROG}: error: the reports could not be written: {exc}", error=True)
            return 2
    for line in summary_lines(report):
        _say(line)
    for path in paths:
        _say(f"report: {path}")
    _say(f"{PROG}: {combined.conclusion}")
    return combined.exit_status


def summary_lines(report: dict[str, Any]) -> list[str]:
    """What the terminal shows of a two-sided report."""
    counts = report["summary"]
    lines = ["", "== certify-proxy verdicts =="]
    lines.append("  " + ", ".join(f"{name} {count}" for name, count in counts.items()))
    for standing, title in (
        ("broken-by-proxy", "broken by the proxy"),
        ("fixed-by-proxy", "fixed by the proxy"),
        ("inherited", "inherited (fail on both sides)"),
    ):
        rows = [r for r in report["requirements"] if r["standing"] == standing]
        if not rows:
            continue
        lines.append(f"  {title}:")
        for row in rows[:40]:
            reason = (row["reason"].splitlines() or [""])[0][:160]
            lines.append(f"    {row['id']} ({row['level']}) {row['title']}: {reason}")
        if len(rows) > 40:
            lines.append(f"    ... and {len(rows) - 40} more")
    latency = report.get("latency")
    if latency:
        lines.append(
            f"  stream frames through the proxy: {latency['count']}, delay median "
            f"{latency['median_ms']:g} ms, p95 {latency['p95_ms']:g} ms, max "
            f"{latency['max_ms']:g} ms"
        )
    return lines


def _run_flags(
    options: argparse.Namespace, settings: Any, profile: Any, *, skip_profile: bool
) -> list[str]:
    """The flags both runs share: the user's settings, one fuzz level and one seed."""
    from conformance.config.settings import SETTINGS

    skip = _OWN_SETTINGS | ({"profile", "expect"} if skip_profile else set())
    args: list[str] = []
    for item in SETTINGS:
        if item.flag is None or item.name in skip:
            continue
        value = getattr(options, item.name, None)
        if value is None or value is False:
            continue
        args += [item.flag] if item.switch else [item.flag, str(value)]
    level = settings.get("fuzz")
    if not level:
        limits = profile.limits
        limited = any(
            v is not None
            for v in (limits.requests_per_second, limits.conversations, limits.requests)
        )
        level = "live" if limited or not is_loopback_url(options.target) else "ci"
    args += ["--fuzz", level]
    if level == "live":
        seed = settings.get("seed")
        args += ["--seed", str(seed if seed is not None else profile.fuzz.seed)]
    if options.k:
        args += ["-k", options.k]
    if options.n is not None:
        args += ["-n", options.n]
    if options.quiet:
        args.append("-q")
    if options.verbose:
        args.append("-v")
    return args


def _run(
    target: str,
    report_dir: Path,
    common: list[str],
    extra: list[str],
    options: argparse.Namespace,
    environment: dict[str, str],
) -> int:
    """One ``run`` subprocess, its output passed through; its exit status."""
    command = [sys.executable, "-m", "conformance.cli", "run", "--target", target]
    command += ["--report-dir", str(report_dir), *common]
    if extra:
        command += ["--", *extra]
    completed = subprocess.run(command, env=environment, check=False)
    return completed.returncode


def _load(path: Path) -> dict[str, Any] | None:
    """A run's report.json when it is there and valid, else None."""
    from conformance.reports.json import validate_report

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and not validate_report(data) else None


def _public(url: str) -> str:
    from conformance.reports.json import public_url

    return public_url(url)


def _say(line: str, *, error: bool = False) -> None:
    print(line, file=sys.stderr if error else sys.stdout, flush=True)
